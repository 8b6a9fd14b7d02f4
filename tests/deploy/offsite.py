"""The local backup VPS of the off-site deploy tests (role backup_host), and how to reach it.

A second local VPS (KEWP_BACKUP_VPS_NAME / KEWP_BACKUP_VPS_SUBNET, defaults kewp-bkup on
10.233.0.0/24) with the app VPS's /24 as its only peer (scripts/local-vps KEWP_VPS_PEERS), so
the two reach each other directly and no other local VPS. inventory/local/backup_vps.py puts it
in the kewp_backup_hosts group while KEWP_BACKUP_VPS_SUBNET is set.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .conftest import LOCAL_VPS, REPO, SSH_CONFIG, PlaybookRun, run_playbook

APP_SUBNET = os.environ.get("KEWP_VPS_SUBNET", "10.232.0.0/24")
BACKUP_NAME = os.environ.get("KEWP_BACKUP_VPS_NAME", "kewp-bkup")
BACKUP_SUBNET = os.environ.setdefault("KEWP_BACKUP_VPS_SUBNET", "10.233.0.0/24")
BACKUP_ADDRESS = BACKUP_SUBNET.removesuffix(".0/24") + ".2"
BACKUP_INVENTORY_NAME = "local-backup"


def backup_vps(*args: str, peers: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """scripts/local-vps ARGS for the backup VPS (peers: the app VPSes' /24s it may talk to)."""
    env = {**os.environ, "KEWP_VPS_NAME": BACKUP_NAME, "KEWP_VPS_SUBNET": BACKUP_SUBNET,
           "KEWP_VPS_PEERS": " ".join(peers if peers is not None else [APP_SUBNET])}
    return subprocess.run([str(LOCAL_VPS), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)


def converge_backup_host(label: str, accounts: list[dict[str, object]] | None = None) -> PlaybookRun:
    """site.yml limited to the backup VPS (its own plays only); accounts overrides site.yml's list."""
    extra = ["--limit", BACKUP_INVENTORY_NAME]
    if accounts is not None:
        extra += ["-e", json.dumps({"backup_host_accounts": accounts})]
    return run_playbook(*extra, label=label)


@dataclass
class SftpAccount:
    """A backup account as a client sees it: key, pinned host key, and sftp/ssh commands."""

    name: str
    key: Path
    known_hosts: Path

    def options(self) -> list[str]:
        return ["-F", "/dev/null", "-i", str(self.key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=10"]

    def sftp(self, batch: str) -> subprocess.CompletedProcess[str]:
        """Run an sftp batch (one command a line); '-' before a command lets it fail."""
        return subprocess.run(["sftp", *self.options(), "-b", "-", f"{self.name}@{BACKUP_ADDRESS}"],
                              input=batch, capture_output=True, text=True, check=False, timeout=60)

    def ssh(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ssh", *self.options(), *args, f"{self.name}@{BACKUP_ADDRESS}"],
                              capture_output=True, text=True, check=False, timeout=60, stdin=subprocess.DEVNULL)


def backup_root_ssh(command: str) -> str:
    """Run a command as root on the backup VPS (through the test ssh config); must exit 0."""
    proc = subprocess.run(["ssh", "-F", str(SSH_CONFIG), f"root@{BACKUP_ADDRESS}", command],
                          capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"on the backup VPS, {command!r} exited {proc.returncode}: {proc.stderr}")
    return proc.stdout
