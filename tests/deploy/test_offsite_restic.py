"""Off-site copies over real SFTP: the session's converged app VPS copies its backups with restic
to a chrooted SFTP-only account on a second local VPS (role backup_host).

The module turns off-site copies on (kewp_backup_offsite_* with --tags backup), runs the copy
after a real backup, restores over SFTP, runs the drill, makes the backup host unreachable (the
local backup stays good, the alert fires, the next copy catches up). Tampering is tested with a
local repository in tests/unit/test_backup_offsite.py. It turns them off again at the end and
removes what it added, so the VPS is as it found it. The app host's key pair is made here with
ssh-keygen until the kewp_offsite role makes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from testinfra.host import Host

from .conftest import REUSE_VPS, Deployment, run_playbook, settled
from .offsite import BACKUP_ADDRESS, backup_root_ssh, backup_vps, converge_backup_host

pytestmark = pytest.mark.deploy

ACCOUNT = "kewp-local-vps"
OFFSITE_DIR = "/etc/kewp/offsite"
KEY = f"{OFFSITE_DIR}/kewp-offsite-key"
KNOWN_HOSTS = f"{OFFSITE_DIR}/kewp-offsite-known-hosts"
REPOSITORY = f"sftp:{ACCOUNT}@{BACKUP_ADDRESS}:/restic"
REMOTE = f"/srv/kewp-backup/{ACCOUNT}/restic"
JOURNAL_UNITS = ("kewp-backup", "kewp-offsite", "kewp-offsite-check", "kewp-restore-drill", "kewp-alert@*")


def playbook(label: str, **extra: str) -> None:
    args = ["--limit", "local-vps", "--tags", "backup"]
    if extra:
        args += ["-e", json.dumps(extra)]
    run = run_playbook(*args, label=label)
    assert run.returncode == 0, f"{label} failed (log {run.log}):\n{run.tail()}"


@pytest.fixture(scope="session", autouse=True)
def backup_host_vps() -> Iterator[float]:
    """The backup VPS, up before the session's converge (autouse: site.yml's backup-host play
    needs it once KEWP_BACKUP_VPS_SUBNET is set); seconds it took to boot."""
    started = time.monotonic()
    reuse = REUSE_VPS and backup_vps("status").returncode == 0
    if not reuse:
        backup_vps("down")
        up = backup_vps("up")
        assert up.returncode == 0, up.stdout + up.stderr
    yield time.monotonic() - started
    if not REUSE_VPS:
        backup_vps("down")


@pytest.fixture(scope="module")
def offsite(backup_host_vps: float, host: Host, deployment: Deployment) -> Iterator[dict[str, float]]:
    started = time.monotonic()
    timings = {"backup VPS up": backup_host_vps}
    host.run_expect([0], f"install -d -m 0700 {OFFSITE_DIR} && "
                         f"(test -f {KEY} || ssh-keygen -q -t ed25519 -N '' -C {ACCOUNT} -f {KEY})")
    public_key = host.check_output(f"cat {KEY}.pub").strip()
    t = time.monotonic()
    run = converge_backup_host("offsite-restic-backup-host", [{"name": ACCOUNT, "public_keys": [public_key]}])
    assert run.returncode == 0, f"backup host converge failed (log {run.log}):\n{run.tail()}"
    timings["backup host converge"] = time.monotonic() - t
    host_key = " ".join(backup_root_ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2])
    host.run_expect([0], f"printf '%s\\n' '{BACKUP_ADDRESS} {host_key}' > {KNOWN_HOSTS} && chmod 0600 {KNOWN_HOSTS}")
    t = time.monotonic()
    playbook("offsite-restic-on", kewp_backup_offsite_repository=REPOSITORY, kewp_backup_offsite_ssh_key=KEY,
             kewp_backup_offsite_known_hosts=KNOWN_HOSTS)
    timings["converge with off-site on"] = time.monotonic() - t
    yield timings
    playbook("offsite-restic-off")
    host.run(f"rm -rf {OFFSITE_DIR} /var/backups/kewp/.offsite; systemctl reset-failed 'kewp-*'")
    print(f"\noff-site restic deploy tests: {time.monotonic() - started:.0f} s in all; "
          + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


def take_backup_and_copy(host: Host) -> dict[str, str]:
    host.run_expect([0], "systemctl reset-failed kewp-offsite.service || true")
    host.run_expect([0], "systemctl start kewp-backup.service")
    return settled(host, "kewp-offsite.service")


def newest_backup(host: Host) -> str:
    return next(b["name"] for b in json.loads(host.check_output("kewp-backup list --json")) if b["good"])


@pytest.mark.parametrize("unit", ["kewp-offsite.service", "kewp-offsite-check.service", "kewp-restore-drill.service"])
def test_the_units_that_reach_the_backup_host_stay_sandboxed(host: Host, offsite: dict, unit: str) -> None:
    props = host.service(unit).systemd_properties
    assert props["User"] == "kewp" and props["ProtectSystem"] == "strict"
    assert props["MemoryDenyWriteExecute"] == "yes" and props["NoNewPrivileges"] == "yes"
    assert props["ReadWritePaths"] == "/var/backups/kewp"
    # systemctl show prints LoadCredential= as [unprintable] (systemd 252): read the drop-in.
    assert "LoadCredential=offsite-restic.password:/etc/kewp/offsite-restic.password" in \
        host.check_output(f"systemctl cat {unit}")
    password = host.file("/etc/kewp/offsite-restic.password")
    assert password.user == "root" and password.mode == 0o600
    out = host.check_output(f"systemd-analyze security --no-pager {unit} | tail -n 1")
    assert float(out.split(f"{unit}:")[1].split()[0]) <= 2.0, out


def test_after_a_backup_the_copy_goes_over_sftp_encrypted(host: Host, offsite: dict) -> None:
    props = take_backup_and_copy(host)
    assert props["Result"] == "success", host.run("journalctl -u kewp-offsite -n 30 --no-pager").stdout
    snapshots = json.loads(host.check_output("kewp-backup offsite-list --json"))
    assert snapshots[0]["backup"] == newest_backup(host)
    # On the backup host: a restic repository owned by the account, and no plain database bytes.
    owner = backup_root_ssh(f"stat -c %U {REMOTE}/config").strip()
    assert owner == ACCOUNT
    assert backup_root_ssh(f"grep -rl 'SQLite format 3' {REMOTE} || true").strip() == ""
    status = host.run("kewpctl status").stdout
    assert "last off-site copy: " in status and snapshots[0]["backup"] in status


def test_offsite_restore_and_the_drill_work_over_sftp(host: Host, offsite: dict) -> None:
    host.run("rm -f /root/offsite-restored.db")
    host.run_expect([0], "kewp-backup offsite-restore --snapshot latest --to /root/offsite-restored.db")
    name = json.loads(host.check_output("kewp-backup offsite-list --json"))[0]["backup"]
    manifest = json.loads(host.check_output(f"cat /var/backups/kewp/{name}.json"))
    assert host.check_output("sha256sum /root/offsite-restored.db").split()[0] == manifest["db_sha256"]
    host.run("rm -f /root/offsite-restored.db")
    host.run_expect([0], "systemctl start kewp-restore-drill.service")
    drill = host.check_output("journalctl -u kewp-restore-drill -n 20 --no-pager")
    assert "off-site snapshot" in drill and "restored to a scratch file and checked" in drill
    host.run_expect([0], "systemctl start kewp-offsite-check.service")


def test_a_backup_host_that_is_down_fails_the_copy_only_and_alerts(host: Host, offsite: dict) -> None:
    # The backup host unreachable from the app VPS (and only from it).
    host.run_expect([0], f"ip route add prohibit {BACKUP_ADDRESS}/32")
    try:
        since = host.check_output("date -u '+%Y-%m-%d %H:%M:%S'").strip()
        props = take_backup_and_copy(host)
        assert props["Result"] != "success", "the copy cannot have succeeded with the backup host unreachable"
        assert host.service("kewp-backup.service").systemd_properties["Result"] == "success"
        assert newest_backup(host) in host.check_output("kewp-backup list")
        settled(host, "kewp-alert@kewp-offsite.service.service", 60)
        alert = host.check_output(f"journalctl -u kewp-alert@kewp-offsite.service.service --since '{since}' "
                                  "--no-pager")
        assert "ALERT kewp: kewp-offsite.service failed" in alert and "off-site-copy-failed" in alert
        assert "the last attempt FAILED" in host.run("kewpctl status").stdout
    finally:
        host.run(f"ip route del prohibit {BACKUP_ADDRESS}/32")
    host.run_expect([0], "systemctl reset-failed kewp-offsite.service; systemctl start kewp-offsite.service")
    assert json.loads(host.check_output("kewp-backup offsite-list --json"))[0]["backup"] == newest_backup(host)
