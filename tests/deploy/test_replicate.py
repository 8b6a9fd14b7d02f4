"""kewp_replicate on the converged local VPS, streaming to a second local VPS (role backup_host):
the pinned Litestream, the hardened unit, a change on the replica within seconds, a pinned host
key, kewpctl status's lag line, and the backup host lost for a while: the app serves, the health
watch alerts, replication catches up and nothing is lost.

The shared converged VPS is converged once more with the backup VPS in the inventory; at the end
replication is switched off again there (the other suites never see it) and the backup VPS goes.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
from testinfra.host import Host

from .conftest import REUSE_VPS, Deployment
from .offsite import APP_SUBNET, BACKUP_SUBNET, backup_vps, converge_with_backup_host

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp-replicate", "kewp-healthcheck", "kewp-alert@*")
DB = "/var/lib/kewp/ke_wp_mapping.db"
LITESTREAM = "CREDENTIALS_DIRECTORY=/etc/kewp/offsite /usr/local/bin/litestream"
SQL = f"runuser -u kewp -- python3 -c \"import sqlite3,sys; c=sqlite3.connect('{DB}', timeout=10); "


def write_marks(host: Host, base: int, n: int) -> None:
    """n committed rows (each its own transaction: Key Events KE base .. KE base+n-1)."""
    host.check_output(SQL + "[(c.execute('INSERT INTO key_events (ke_id, title) VALUES (?, ?)', "
                      f"('KE %d' % ({base} + i), 'replication test')), c.commit()) for i in range({n})]\"")


def replica_txid(host: Host) -> int:
    listed = host.run(f"{LITESTREAM} ltx -json -level all {DB}")
    assert listed.rc == 0, listed.stderr
    return max((int(f["max_txid"], 16) for f in json.loads(listed.stdout or "[]")), default=0)


def local_txid(host: Host) -> int:
    status = json.loads(host.check_output(f"{LITESTREAM} status -json {DB}"))
    return int(status[0]["local_txid"], 16)


def restored_marks(host: Host, base: int) -> int:
    host.check_output(f"rm -f /tmp/replica-check.db* && {LITESTREAM} restore -o /tmp/replica-check.db {DB}")
    return int(host.check_output(f"python3 -c \"import sqlite3; print(sqlite3.connect('/tmp/replica-check.db')"
                                 f".execute(\\\"SELECT count(*) FROM key_events WHERE title = 'replication test' AND "
                                 f"CAST(substr(ke_id, 4) AS INTEGER) BETWEEN {base} AND {base + 999}\\\")"
                                 ".fetchone()[0])\""))


@pytest.fixture(scope="module")
def replicating(host: Host, deployment: Deployment) -> Iterator[Host]:
    """The shared VPS converged again with the backup VPS in the inventory (replication on)."""
    if not (REUSE_VPS and backup_vps("status").returncode == 0):
        backup_vps("down")
        up = backup_vps("up", peers=[APP_SUBNET])
        assert up.returncode == 0, up.stdout + up.stderr
    run = converge_with_backup_host(label="converge-replicate")
    assert run.returncode == 0, f"converge with the backup host failed (log {run.log}):\n{run.tail()}"
    yield host
    host.run("systemctl disable --now kewp-replicate.service; rm -f /etc/litestream.yml "
             "/etc/systemd/system/kewp-healthcheck.service.d/20-replication.conf; systemctl daemon-reload; "
             "systemctl reset-failed kewp-healthcheck.service")
    if not REUSE_VPS:
        backup_vps("down")


def test_litestream_is_the_pinned_binary(replicating: Host) -> None:
    assert replicating.check_output("/usr/local/bin/litestream version") == "0.5.17"
    digest = replicating.check_output("sha256sum $(readlink -f /usr/local/bin/litestream)").split()[0]
    assert digest == "200e4248a4cc83da2ca52babe66774f1a71afa993d31373adb0ce0fe12154647"


def test_replication_runs_as_kewp_in_the_shared_sandbox(replicating: Host) -> None:
    props = dict(line.split("=", 1) for line in replicating.check_output(
        "systemctl show kewp-replicate.service -p ActiveState -p User -p Restart -p NoNewPrivileges "
        "-p ProtectSystem -p PrivateUsers -p DropInPaths").splitlines())
    assert props["ActiveState"] == "active" and props["User"] == "kewp" and props["Restart"] == "on-failure"
    assert props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict", props
    assert "kewp-.service.d/10-hardening.conf" in props["DropInPaths"]


def test_a_change_is_on_the_replica_within_seconds(replicating: Host) -> None:
    write_marks(replicating, 970000, 5)
    start = time.monotonic()
    target = local_txid(replicating)
    while replica_txid(replicating) < target:
        assert time.monotonic() - start < 30, f"the replica did not reach txid {target} in 30 s"
        time.sleep(0.5)
    print(f"replica caught up with txid {target} in {time.monotonic() - start:.1f} s")
    assert restored_marks(replicating, 970000) == 5


def test_the_replicas_host_key_is_pinned(replicating: Host) -> None:
    replicating.check_output("rm -f /tmp/other_key* && ssh-keygen -q -t ed25519 -N '' -f /tmp/other_key")
    other = replicating.check_output("cut -d' ' -f1,2 /tmp/other_key.pub")
    replicating.check_output(f"sed 's|host-key: .*|host-key: \"{other}\"|' /etc/litestream.yml > /tmp/wrong.yml")
    wrong = replicating.run(f"{LITESTREAM} ltx -config /tmp/wrong.yml {DB}")
    assert wrong.rc != 0 and "key" in (wrong.stderr + wrong.stdout).lower(), wrong.stderr


def test_kewpctl_status_shows_the_replication_lag(replicating: Host) -> None:
    status = replicating.run("kewpctl status")
    line = [text for text in status.stdout.splitlines() if text.startswith("replica")]
    assert line and " lag " in line[0] and "limit 60 s" in line[0], status.stdout


def test_backup_host_away_app_serves_alert_fires_replica_catches_up(replicating: Host) -> None:
    cut = ["-t", "mangle", "-I", "FORWARD", "-d", BACKUP_SUBNET, "-j", "DROP"]
    subprocess.run(["iptables", "-w", *cut], check=True)
    try:
        write_marks(replicating, 980000, 20)
        ready = replicating.run("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/readyz")
        assert ready.stdout == "200", "the app must serve while the backup host is away"
        for _ in range(2):
            replicating.run("systemctl start kewp-healthcheck.service")
        journal = replicating.check_output("journalctl -t kewp-healthcheck -n 20 --no-pager")
        assert "ALERT: the backup host cannot be reached" in journal, journal
        status = replicating.run("kewpctl status")
        assert status.rc == 1 and "backup host UNREACHABLE" in status.stdout, status.stdout
    finally:
        subprocess.run(["iptables", "-w", "-t", "mangle", "-D", *cut[3:]], check=True)
    start, target = time.monotonic(), local_txid(replicating)
    while True:
        try:
            if replica_txid(replicating) >= target:
                break
        except AssertionError:
            pass
        assert time.monotonic() - start < 240, f"replication did not catch up with txid {target} in 240 s"
        time.sleep(2)
    print(f"caught up {time.monotonic() - start:.1f} s after the backup host came back")
    assert restored_marks(replicating, 980000) == 20
    replicating.run("systemctl start kewp-healthcheck.service")
    assert "replication caught up" in replicating.check_output("journalctl -t kewp-healthcheck -n 5 --no-pager")
