"""The kewp_backup role on the converged local VPS: timers, a real backup, a full disk with its
alert, a backup under a continuous writer, prune, the drill, and restore.yml end to end.

The database is the app's own (kewp_app). Until that role is part of site.yml, the
`app_db` fixture makes one with the app's schema as the kewp user and a stand-in
kewp.service that holds it open, so restore's stop/start path still runs (test only).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from testinfra.host import Host

from .conftest import REUSE_VPS, Deployment, live_port, settled

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp-backup", "kewp-prune", "kewp-restore-drill", "kewp-alert@*", "kewp")

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
DB = "/var/lib/kewp/ke_wp_mapping.db"
BACKUPS = "/var/backups/kewp"
TIMERS = ("kewp-backup.timer", "kewp-prune.timer", "kewp-restore-drill.timer", "kewp-offsite-check.timer")
SQL = f"runuser -u kewp -- sqlite3 -cmd '.timeout 10000' {DB}"
STUB_UNIT = """\
# Test stand-in for kewp.service (deploy tests of kewp_backup, kewp_app not converged).
[Unit]
Description=kewp test stand-in: holds the database open like the app
[Service]
Type=exec
User=kewp
ExecStart=/usr/bin/python3 -c "import sqlite3, time; c = sqlite3.connect('{db}'); \
c.execute('PRAGMA journal_mode=WAL'); c.execute('SELECT count(*) FROM users').fetchall(); time.sleep(10**9)"
"""


def playbook(host: Host, name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run playbooks/NAME on the VPS that `host` talks to (pinned: never another local VPS)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(REPO / "inventory" / "local"),
                           str(REPO / "playbooks" / name), "-e", f"ansible_host={host.backend.hostname}", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=900)


def sql(host: Host, statement: str) -> str:
    return host.check_output(f"{SQL} \"{statement}\"")


def sh(host: Host, command: str, *args: str) -> None:
    """Run a command on the VPS; it must exit 0 (testinfra's run_test also accepts 1)."""
    host.run_expect([0], command, *args)


def put(host: Host, path: str, content: str) -> None:
    sh(host, "printf '%%s' %s > " + path, content)


def newest_backup(host: Host) -> str:
    """The newest good backup by its manifest's time, as kewp-backup orders them (never by file
    name: two backups in one second are kewp-...Z and kewp-...Z-2, and Z-2.json sorts first)."""
    listing = json.loads(host.check_output("kewp-backup list --json"))
    good = [b["name"] for b in listing if b["good"]]
    assert good, f"no good backup in {BACKUPS}: {listing}"
    return good[0]


@pytest.fixture(scope="module")
def app_db(host: Host) -> str:
    """The live database, with a test Key Event and pathway for mapping rows."""
    if not host.file("/etc/systemd/system/kewp.service").exists:
        sh(host, "install -d -o kewp -g kewp -m 0750 /var/lib/kewp")
        if not host.file(DB).exists:
            schema = (REPO / "app" / "migrations" / "0001_initial.sql").read_text()
            put(host, "/tmp/schema.sql", schema)
            host.check_output(f"{SQL} 'PRAGMA journal_mode=WAL;' '.read /tmp/schema.sql' 'PRAGMA user_version=1;'")
        put(host, "/etc/systemd/system/kewp.service", STUB_UNIT.format(db=DB))
        sh(host, "systemctl daemon-reload && systemctl start kewp.service")
    assert host.service("kewp.service").is_running
    sql(host, "INSERT OR IGNORE INTO key_events (ke_id, title) VALUES ('KE 990001', 'Backup test event');"
              "INSERT OR IGNORE INTO pathways (wp_id, title) VALUES ('WP990001', 'Backup test pathway');")
    return DB


# ---------------------------------------------------------------- the first converge

FIRST_BACKUP_TASK = "kewp_backup : Take the first backup, as the timer would (waits for kewp-backup.service to finish)"


def test_kewpctl_status_is_ok_right_after_the_converge(host: Host) -> None:
    # First in the module, before any test here takes a backup: the converge took the first one.
    result = host.run("kewpctl status")
    assert result.rc == 0, result.stdout + result.stderr
    assert "backups    newest good kewp-" in result.stdout


@pytest.mark.skipif(REUSE_VPS, reason="KEWP_REUSE_VPS=1: the VPS was converged once, and maybe not fresh")
def test_the_first_converge_takes_the_first_backup_and_the_second_none(deployment: Deployment) -> None:
    assert FIRST_BACKUP_TASK in deployment.first.changed_tasks(), deployment.first.log
    assert FIRST_BACKUP_TASK not in deployment.second.changed_tasks()


# ---------------------------------------------------------------- installed units


@pytest.mark.parametrize("timer", TIMERS)
def test_timer_is_enabled_and_active(host: Host, timer: str) -> None:
    assert host.service(timer).is_enabled
    assert host.service(timer).is_running


def test_timers_are_listed_by_list_timers(host: Host) -> None:
    listed = host.check_output("systemctl list-timers 'kewp-*' --no-pager")
    for timer in TIMERS:
        assert timer in listed


def test_timer_schedules_come_from_the_role(host: Host) -> None:
    props = host.service("kewp-backup.timer").systemd_properties
    assert "OnCalendar=*-*-* *:00:00" in props["TimersCalendar"]
    assert props["Persistent"] == "yes"
    assert props["RandomizedDelayUSec"] == "5min"


def test_backup_directory_belongs_to_kewp(host: Host) -> None:
    d = host.file(BACKUPS)
    assert d.is_directory and d.user == "kewp" and d.group == "kewp" and d.mode == 0o750


def test_alert_settings_are_root_only(host: Host) -> None:
    f = host.file("/etc/kewp/alert.env")
    assert f.user == "root" and f.mode == 0o600


def test_units_pass_systemd_analyze_verify(host: Host) -> None:
    units = "kewp-backup.service kewp-prune.service kewp-restore-drill.service kewp-alert@x.service " + \
            "kewp-offsite.service kewp-offsite-check.service " + " ".join(TIMERS)
    result = host.run(f"cd /etc/systemd/system && systemd-analyze verify {units}")
    assert result.rc == 0 and result.stderr.strip() == "", result.stderr


def test_backup_service_is_hardened(host: Host) -> None:
    props = host.service("kewp-backup.service").systemd_properties
    assert props["User"] == "kewp"
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert props["PrivateNetwork"] == "yes"
    assert props["MemoryDenyWriteExecute"] == "yes"
    assert props["RestrictAddressFamilies"] == "AF_UNIX"
    assert set(props["ReadWritePaths"].replace("-", "").split()) == {BACKUPS, "/var/lib/kewp"}
    assert props["OnFailure"] == "kewp-alert@kewp-backup.service.service"


@pytest.mark.parametrize("unit", ["kewp-backup.service", "kewp-prune.service", "kewp-restore-drill.service"])
def test_exposure_is_below_3(host: Host, unit: str) -> None:
    out = host.check_output(f"systemd-analyze security {unit} | tail -n 1")
    exposure = float(re.search(r"exposure level for \S+: ([0-9.]+)", out).group(1))
    assert exposure < 3.0, out


# ---------------------------------------------------------------- backup


def test_starting_the_backup_unit_makes_a_backup_that_passes_integrity_check(host: Host, app_db: str) -> None:
    sh(host, "systemctl start kewp-backup.service")
    name = newest_backup(host)
    manifest = host.file(f"{BACKUPS}/{name}.json")
    assert manifest.user == "kewp" and manifest.mode == 0o600
    assert '"integrity_check": "ok"' in manifest.content_string
    sh(host, f"kewp-backup verify {name}")
    # Independently of the script: decompress and ask sqlite3.
    check = host.check_output(f"zstd -q -d -c {BACKUPS}/{name}.db.zst > /root/check.db && "
                              "sqlite3 /root/check.db 'PRAGMA integrity_check' && rm -f /root/check.db")
    assert check == "ok"
    log = host.check_output("journalctl -u kewp-backup.service -o cat -n 20 --no-pager")
    assert "integrity_check: ok" in log and "compressed:" in log


LOAD = textwrap.dedent("""\
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
    tag = sys.argv[2]   # unique per run: the test can be repeated on the same VPS
    conn.execute("PRAGMA busy_timeout = 10000")
    failed, n = 0, 0
    with open("/tmp/load/committed", "a", buffering=1) as out:
        while True:
            n += 1
            try:
                conn.execute("BEGIN IMMEDIATE")
                ke = f"KE 98{tag}{n:06d}"
                conn.execute("INSERT INTO key_events (ke_id, title) VALUES (?, 'load test')", (ke,))
                cur = conn.execute(
                    "INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, "
                    "confidence, rationale, proposed_by, approved_by) VALUES (?, 'WP990001', 'causative', "
                    "'literature', 'specific', 'complete', 'high', ?, ?, 'load')",
                    (ke, "load test " * 20, f"load-{tag}"))
                conn.execute("COMMIT")
                out.write(f"{cur.lastrowid}\\n")
            except sqlite3.Error as exc:
                failed += 1
                open("/tmp/load/failed", "a").write(f"{exc}\\n")
                conn.execute("ROLLBACK") if conn.in_transaction else None
            time.sleep(0.002)
""")


def test_a_backup_under_continuous_writes_loses_none_and_holds_every_earlier_row(host: Host, app_db: str) -> None:
    sh(host, "rm -rf /tmp/load && install -d -o kewp /tmp/load")
    put(host, "/tmp/load/load.py", LOAD)
    tag = str(int(time.time()))
    # Not named kewp-*: the shared sandbox (kewp-.service.d/) would give it a private /tmp.
    sh(host, f"systemd-run --unit=test-load-kewp --uid=kewp --collect /usr/bin/python3 /tmp/load/load.py {DB} {tag}")
    try:
        deadline = time.monotonic() + 30
        while int(host.check_output("cat /tmp/load/committed 2>/dev/null | wc -l") or 0) < 100:
            assert time.monotonic() < deadline, "the load generator did not start writing"
            time.sleep(0.2)
        last_before = int(host.check_output("tail -n 1 /tmp/load/committed"))
        sh(host, "systemctl start kewp-backup.service")
        time.sleep(0.5)
    finally:
        host.run("systemctl stop test-load-kewp")
    during = int(host.check_output(f"awk '$1 > {last_before}' /tmp/load/committed | wc -l"))
    assert during > 0
    assert not host.file("/tmp/load/failed").exists, host.file("/tmp/load/failed").content_string
    name = newest_backup(host)
    sh(host, f"kewp-backup restore {name} --to /root/load-check.db")
    wanted = host.check_output(f"awk '$1 <= {last_before}' /tmp/load/committed | sort -n | uniq | wc -l")
    present = host.check_output("sqlite3 /root/load-check.db \"SELECT count(*) FROM mappings "
                                f"WHERE proposed_by = 'load-{tag}' AND id <= {last_before}\"")
    host.run("rm -f /root/load-check.db*")
    # Leave the catalogue as found: later suites (the catalogue refresh) see only the shipped KEs.
    sql(host, f"DELETE FROM mappings WHERE proposed_by = 'load-{tag}'; "
              f"DELETE FROM key_events WHERE title = 'load test' AND ke_id LIKE 'KE 98{tag}%';")
    assert present == wanted


def test_a_full_disk_fails_the_unit_fires_the_alert_and_keeps_everything(host: Host, app_db: str) -> None:
    sh(host, "systemctl start kewp-backup.service")
    # Its OnSuccess= off-site copy must be over before the small disk is mounted, or it writes there.
    settled(host, "kewp-offsite.service")
    earlier = newest_backup(host)
    # Rows that exist now must all be there afterwards (the app may add rows meanwhile).
    rows_before = sql(host, "SELECT count(*), max(rowid) FROM key_events; SELECT count(*), max(rowid) FROM mappings;")
    (kes, max_ke), (maps, max_map) = (line.split("|") for line in rows_before.splitlines())
    sh(host, "install -d -m 0700 /root/small && mount -t tmpfs -o size=8m,mode=0750,uid=10001,gid=10001 "
                  f"tmpfs /root/small && cp -a {BACKUPS}/{earlier}.* /root/small/ && "
                  f"mount --bind /root/small {BACKUPS}")
    try:
        before = host.check_output(f"sha256sum {BACKUPS}/*")
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        result = host.run("systemctl start kewp-backup.service")
        assert result.rc != 0
        assert host.check_output("systemctl is-failed kewp-backup.service") == "failed"
        log = host.check_output(f"journalctl -u kewp-backup.service --since '{since}' -o cat --no-pager")
        assert "not enough free space" in log and "bytes) is free" in log
        deadline = time.monotonic() + 30
        alert = ""
        while "ALERT kewp: kewp-backup.service failed" not in alert:
            assert time.monotonic() < deadline, f"no alert in the journal:\n{alert}"
            time.sleep(0.5)
            alert = host.run(f"journalctl -u kewp-alert@kewp-backup.service.service --since '{since}' "
                             "-o cat --no-pager").stdout
        assert "not enough free space" in alert   # the failed run's log lines come with it
        assert "runbook: docs/oncall.md#backup-failed;" in alert
        assert host.check_output(f"sha256sum {BACKUPS}/*") == before
        assert host.check_output(f"ls -A {BACKUPS} | grep '^[.]' || true") == ""
        sh(host, f"kewp-backup verify {earlier} --scratch /root")
    finally:
        host.run(f"umount {BACKUPS}; umount /root/small; rmdir /root/small; systemctl reset-failed kewp-backup")
    assert sql(host, f"SELECT count(*) FROM key_events WHERE rowid <= {max_ke}") == kes
    assert sql(host, f"SELECT count(*) FROM mappings WHERE rowid <= {max_map or 0}") == maps
    assert sql(host, "PRAGMA integrity_check") == "ok"


# ---------------------------------------------------------------- prune and drill


def test_prune_unit_keeps_one_backup_per_hour_of_a_back_dated_series(host: Host, app_db: str) -> None:
    sh(host, f"rm -f {BACKUPS}/kewp-20260101T00*")   # from an earlier run on this VPS
    for minute in ("00", "10", "20"):
        sh(host, f"runuser -u kewp -- kewp-backup backup --now 2026-01-01T00:{minute}:00Z")
    sh(host, "systemctl start kewp-prune.service")
    left = host.check_output(f"ls {BACKUPS} | grep '^kewp-20260101T00' || true").split()
    assert left == ["kewp-20260101T002000Z.db.zst", "kewp-20260101T002000Z.json"]


def test_restore_drill_unit_passes(host: Host, app_db: str) -> None:
    sh(host, "systemctl start kewp-backup.service")
    sh(host, "systemctl start kewp-restore-drill.service")
    log = host.check_output("journalctl -u kewp-restore-drill.service -o cat -n 12 --no-pager")
    assert "row counts match the manifest" in log
    # No scratch copy is left (.offsite/ is the off-site copies' own state, kept on purpose).
    assert host.check_output(f"ls -A {BACKUPS} | grep '^[.]tmp-' || true") == ""


# ---------------------------------------------------------------- restore


MAPPING = ("INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
           "rationale, proposed_by, approved_by) VALUES ('KE 990001', 'WP990001', 'causative', 'literature', "
           "'specific', 'complete', 'high', 'restore test', 'alice', 'alice')")
COUNT = "SELECT count(*) FROM mappings WHERE ke_id = 'KE 990001'"


def test_restore_playbook_brings_back_a_deleted_mapping(host: Host, app_db: str) -> None:
    sql(host, f"DELETE FROM mappings WHERE ke_id = 'KE 990001'; {MAPPING};")
    run = playbook(host, "backup.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    sql(host, "DELETE FROM mappings WHERE ke_id = 'KE 990001'")
    assert sql(host, COUNT) == "0"

    run = playbook(host, "restore.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert sql(host, COUNT) == "1"
    assert host.service("kewp.service").is_running
    restored = host.file(DB)
    assert restored.user == "kewp" and restored.mode == 0o640
    assert host.check_output(f"ls {DB}.before-restore-* | head -n 1")
    if host.run("test -x /usr/local/libexec/kewp/wait-ready").rc == 0:   # the real app
        sh(host, f"curl -fsS http://127.0.0.1:{live_port(host)}/readyz")


def test_restore_refuses_a_truncated_backup_and_changes_nothing(host: Host, app_db: str) -> None:
    sh(host, "systemctl start kewp-backup.service")
    name = newest_backup(host)
    sh(host, f"f={BACKUPS}/{name}.db.zst && truncate -s $(( $(stat -c %s $f) / 2 )) $f")
    before = sql(host, "SELECT count(*) FROM mappings; SELECT count(*) FROM audit_log;")
    pid = host.service("kewp.service").systemd_properties["MainPID"]
    try:
        run = playbook(host, "restore.yml", "-e", f"kewp_backup_restore_file={name}")
        assert run.returncode != 0
        assert "exit code 4" in run.stdout
        assert host.service("kewp.service").systemd_properties["MainPID"] == pid   # never stopped
        assert sql(host, "SELECT count(*) FROM mappings; SELECT count(*) FROM audit_log;") == before
        assert "DAMAGED" in host.check_output("kewp-backup list")
    finally:
        host.run(f"rm -f {BACKUPS}/{name}.db.zst {BACKUPS}/{name}.json")
