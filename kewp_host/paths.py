"""Where kewp lives on the VPS: the defaults every host tool starts from (the roles write the same paths)."""

from __future__ import annotations

DATA_DIR = "/var/lib/kewp"
DB_NAME = "ke_wp_mapping.db"
DB_PATH = f"{DATA_DIR}/{DB_NAME}"
BACKUP_DIR = "/var/backups/kewp"
BACKUP_TOOL = "/usr/local/sbin/kewp-backup"
HEALTHCHECK_STATE_DIR = "/var/lib/kewp-healthcheck"
SERVICE = "kewp.service"
CONTAINER = "kewp"
RUNBOOK = "/usr/local/share/doc/kewp/oncall.md"
