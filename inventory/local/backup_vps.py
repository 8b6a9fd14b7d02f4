#!/usr/bin/env python3
"""Ansible inventory script: the local backup VPS (group kewp_backup_hosts), when there is one.

The off-site deploy tests boot a second local VPS as the backup host and set
KEWP_BACKUP_VPS_SUBNET (its /24; the VPS is .2). Without it the group is empty, so
site.yml's backup-host play and the off-site roles do nothing on the single local VPS.
"""

import json
import os
import sys
from pathlib import Path

subnet = os.environ.get("KEWP_BACKUP_VPS_SUBNET", "")
cache = os.environ.get("KEWP_VPS_CACHE", str(Path(__file__).resolve().parents[2] / ".cache" / "local-vps"))
inventory: dict = {"kewp_backup_hosts": {"hosts": []}, "_meta": {"hostvars": {}}}
if "--host" in sys.argv:
    inventory = {}
elif subnet:
    if not subnet.endswith(".0/24"):
        sys.exit(f"KEWP_BACKUP_VPS_SUBNET={subnet!r}: give a /24 like 10.242.0.0/24 (the backup VPS is .2)")
    inventory["kewp_backup_hosts"]["hosts"] = ["local-backup"]
    inventory["_meta"]["hostvars"]["local-backup"] = {
        "ansible_host": subnet.removesuffix(".0/24") + ".2",
        "ansible_user": "root",
        "ansible_ssh_common_args": f"-F {cache}/ssh_config",
    }
json.dump(inventory, sys.stdout)
