"""kewp-backup (kewp_host.backup) on real WAL databases, its main() called with the CLI's arguments
(no VPS needed); where a real process matters (a kill, the installed shape), through a thin entry point.

Each test gets its own live database (the app's schema, WAL mode) and backup directory; the
tool reads no /etc file (KEWP_BACKUP_CONFIG points nowhere).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from app import db
from kewp_host.backup import cli, common

from .host_helpers import REPO, call, clean_environ, entry_argv, entry_point, run_entry

# Exit codes documented in the tool.
EXIT_NO_SPACE, EXIT_CHECK_FAILED, EXIT_LOCKED, EXIT_NO_BACKUP = 3, 4, 5, 6

Run = Callable[..., subprocess.CompletedProcess[str]]


def make_db(path: Path, kes: int = 50, pathways: int = 50, padding_mb: int = 0) -> None:
    """A live database with the app's schema: catalogue rows, a user, and optional bulk."""
    conn = db.connect(path)
    db.migrate(conn)
    with db.write_transaction(conn):
        conn.executemany("INSERT INTO key_events (ke_id, title) VALUES (?, ?)",
                         [(f"KE {i}", f"Key event {i}") for i in range(1, kes + 1)])
        conn.executemany("INSERT INTO pathways (wp_id, title) VALUES (?, ?)",
                         [(f"WP{i}", f"Pathway {i}") for i in range(1, pathways + 1)])
        conn.execute("INSERT INTO users (username, role) VALUES ('alice', 'admin')")
        # Text that compresses like real audit JSON, not random bytes.
        row = json.dumps({"note": "curated mapping evidence " * 20})
        for i in range(padding_mb * 256):
            conn.execute("INSERT INTO audit_log (actor, action, entity, entity_id, after) "
                         "VALUES ('alice', 'seed', 'padding', ?, ?)", (str(i), row + str(i)))
    conn.close()


def insert_mapping(conn: sqlite3.Connection, n: int, kes: int = 50) -> int:
    ke, wp = n % kes + 1, n // kes + 1
    with db.write_transaction(conn):
        cur = conn.execute(
            "INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
            "rationale, proposed_by, approved_by) VALUES (?, ?, 'causative', 'literature', 'specific', "
            "'complete', 'high', 'test', 'alice', 'alice')", (f"KE {ke}", f"WP{wp}"))
        return cur.lastrowid


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(directory: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "ke_wp_mapping.db"
    path.parent.mkdir()
    make_db(path)
    return path


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    path = tmp_path / "backups"
    path.mkdir(mode=0o750)
    return path


@pytest.fixture
def run(live: Path, backups: Path) -> Run:
    def run(*args: str, env: dict[str, str] | None = None, check: bool = False,
            dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        full_env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent/backup.env", KEWP_BACKUP_DB=str(live),
                                 KEWP_BACKUP_DIR=str(dir or backups), KEWP_BACKUP_RESERVE_MB="0")
        full_env.update(env or {})
        result = call(cli.main, list(args), full_env)
        if check and result.returncode != 0:
            pytest.fail(f"kewp-backup {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result
    return run


def good_backups(run: Run) -> list[dict]:
    return [b for b in json.loads(run("list", "--json", check=True).stdout) if b["good"]]


def restored_rows(run: Run, backup: str, dest: Path, sql: str) -> list[tuple]:
    run("restore", backup, "--to", str(dest), check=True)
    conn = sqlite3.connect(dest)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# ---------------------------------------------------------------- backup


def test_backup_writes_a_checked_compressed_copy_and_its_manifest(run: Run, live: Path, backups: Path) -> None:
    result = run("backup", check=True)
    data = Path(result.stdout.strip())
    manifest = json.loads(data.with_name(data.name.removesuffix(".db.zst") + ".json").read_text())
    assert manifest["integrity_check"] == "ok"
    assert manifest["sha256"] == sha256(data)
    raw = subprocess.run(["zstd", "-d", "-c", str(data)], capture_output=True, check=True).stdout
    assert manifest["db_sha256"] == hashlib.sha256(raw).hexdigest()
    assert manifest["compression"] == "zstd"
    assert manifest["row_counts"] == {"key_events": 50, "pathways": 50, "mappings": 0, "proposals": 0,
                                      "audit_log": 0, "users": 1}
    assert manifest["schema_version"] == db.schema_version_expected()
    assert "snapshot:" in result.stderr and "compressed:" in result.stderr
    assert sorted(p.name for p in backups.iterdir()) == [data.name, manifest["name"] + ".json"]


def test_a_backup_as_a_service_checks_and_compresses_at_background_priority(
        live: Path, backups: Path, tmp_path: Path) -> None:
    # A session of its own, as systemd starts kewp-backup.service: after the snapshot it lowers itself.
    env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live), KEWP_BACKUP_DIR=str(backups),
                        KEWP_BACKUP_RESERVE_MB="0")
    tool = entry_point(tmp_path, "kewp-backup", "kewp_host.backup.cli")
    result = subprocess.run(entry_argv(tool, "backup"), env=env, capture_output=True, text=True, timeout=120,
                            start_new_session=True, check=False)
    assert result.returncode == 0, result.stderr
    log = result.stderr
    lowered = "check and compress at background priority (autogroup nice 19, nice 19, SCHED_IDLE)"
    if not Path("/proc/self/autogroup").exists():  # a kernel without autogroups
        lowered = "check and compress at background priority (nice 19, SCHED_IDLE)"
    assert log.index("snapshot:") < log.index(lowered) < log.index("integrity_check: ok")
    # ...and the process that ran it (this one, not a session leader) was left as it was.
    assert run_backup_in_process_keeps_priority(live, backups)


def run_backup_in_process_keeps_priority(live: Path, backups: Path) -> bool:
    before = (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
    result = call(cli.main, ["backup"], clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live),
                                                      KEWP_BACKUP_DIR=str(backups), KEWP_BACKUP_RESERVE_MB="0"))
    assert result.returncode == 0, result.stderr
    assert "at this session's priority (not a session leader" in result.stderr
    return (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == before


def test_backup_taken_while_a_writer_commits_continuously_loses_no_write(
        run: Run, live: Path, tmp_path: Path) -> None:
    """A writer commits mappings through the app's own db module all through the backup."""
    make_db(bigger := tmp_path / "data" / "big.db", kes=200, pathways=200, padding_mb=40)
    conn = db.connect(bigger)
    committed: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                committed.append(insert_mapping(conn, n, kes=200))
            except Exception as exc:  # noqa: BLE001 (every failure counts)
                failures.append(exc)
            n += 1
            time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 50:
            time.sleep(0.01)
        before_backup = list(committed)
        result = run("backup", env={"KEWP_BACKUP_DB": str(bigger)})
        during = len(committed) - len(before_backup)
    finally:
        stop.set()
        thread.join()
        conn.close()
    assert result.returncode == 0, result.stderr
    assert failures == [], f"writes failed during the backup: {failures[:3]}"
    assert during > 10, f"only {during} writes overlapped the backup: the test did not exercise concurrency"
    ids = {r[0] for r in restored_rows(run, result.stdout.strip(), tmp_path / "r.db", "SELECT id FROM mappings")}
    missing = set(before_backup) - ids
    assert not missing, f"{len(missing)} mappings committed before the backup began are missing"


def test_backup_refuses_root_on_a_database_owned_by_the_app_user(run: Run, live: Path, backups: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    os.chown(live, 10001, 10001)
    result = run("backup")
    assert result.returncode == 2
    assert "not root" in result.stderr
    assert list(backups.iterdir()) == []


def test_a_bad_setting_is_named_with_its_source(run: Run) -> None:
    result = run("list", env={"KEWP_BACKUP_KEEP_DAILY": "seven"})
    assert result.returncode == 2
    assert "KEWP_BACKUP_KEEP_DAILY='seven' (from environment)" in result.stderr


def test_backup_waits_for_the_lock_and_gives_up_with_a_clear_code(run: Run, backups: Path) -> None:
    fd = os.open(backups, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = run("backup", env={"KEWP_BACKUP_LOCK_TIMEOUT": "1"})
    finally:
        os.close(fd)
    assert result.returncode == EXIT_LOCKED
    assert "holds the lock" in result.stderr
    assert list(backups.iterdir()) == []


def test_an_interrupted_backup_leaves_nothing_that_looks_like_a_backup(
        run: Run, tmp_path: Path, backups: Path) -> None:
    make_db(big := tmp_path / "data" / "big.db", padding_mb=60)
    env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(big), KEWP_BACKUP_DIR=str(backups),
                        KEWP_BACKUP_RESERVE_MB="0")
    tool = entry_point(tmp_path, "kewp-backup", "kewp_host.backup.cli")
    proc = subprocess.Popen(entry_argv(tool, "backup"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".tmp-") for p in backups.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the backup never started writing"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)   # no chance to clean up
    proc.wait()
    left = sorted(p.name for p in backups.iterdir())
    assert left and all(name.startswith(".tmp-") for name in left), left
    assert good_backups(run) == []
    assert run("restore", "--to", str(tmp_path / "x.db")).returncode == EXIT_NO_BACKUP
    assert not (tmp_path / "x.db").exists()
    run("backup", check=True)   # the next run clears the leftovers
    assert not [p for p in backups.iterdir() if p.name.startswith(".")]
    assert len(good_backups(run)) == 1


# ---------------------------------------------------------------- verify and restore


def test_a_truncated_backup_is_detected_and_never_restored(run: Run, live: Path, tmp_path: Path,
                                                           backups: Path) -> None:
    older = Path(run("backup", "--now", "2026-01-01T00:00:00Z", check=True).stdout.strip())
    conn = db.connect(live)
    insert_mapping(conn, 1)
    conn.close()
    newest = Path(run("backup", check=True).stdout.strip())
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    target = tmp_path / "target.db"
    target.write_bytes(b"what was here before")

    verified = run("verify", newest.name)
    assert verified.returncode == EXIT_CHECK_FAILED
    assert "damaged" in verified.stderr and "manifest says" in verified.stderr
    restored = run("restore", newest.name, "--to", str(target))
    assert restored.returncode == EXIT_CHECK_FAILED
    assert target.read_bytes() == b"what was here before"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert "DAMAGED" in run("list", check=True).stdout
    # Without a name, restore takes the newest good backup: the older one.
    run("restore", "--to", str(target), check=True)
    assert sha256(target) == json.loads(older.with_suffix("").with_suffix(".json").read_text())["db_sha256"]


def test_a_corrupted_backup_of_the_right_size_is_detected(run: Run, tmp_path: Path) -> None:
    data = Path(run("backup", check=True).stdout.strip())
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    result = run("restore", "--to", str(tmp_path / "t.db"))
    assert result.returncode == EXIT_CHECK_FAILED
    assert "sha256" in result.stderr
    assert not (tmp_path / "t.db").exists()


def test_restore_over_the_live_database_keeps_it_aside_with_its_wal(run: Run, live: Path) -> None:
    name = Path(run("backup", check=True).stdout.strip()).name
    conn = db.connect(live)
    insert_mapping(conn, 7)      # after the backup: only in the safety copy
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    keep_open = db.connect(live)  # another connection keeps -wal and -shm on disk
    keep_open.execute("SELECT 1").fetchall()
    conn.close()
    keep_open.close()
    before = {p.name for p in live.parent.iterdir()}

    run("restore", name, "--no-service", check=True)
    after = {p.name for p in live.parent.iterdir()} - before
    aside = sorted(p for p in live.parent.iterdir() if ".before-restore-" in p.name)
    assert aside and aside[0].name.startswith("ke_wp_mapping.db.before-restore-")
    assert after == {p.name for p in aside} | ({live.name} - before)
    assert oct(live.stat().st_mode & 0o777) == "0o640"
    restored = sqlite3.connect(live)
    assert restored.execute("SELECT count(*) FROM mappings").fetchone()[0] == 0
    restored.close()
    old = sqlite3.connect(aside[0])
    assert old.execute("SELECT count(*) FROM mappings").fetchone()[0] == 1
    old.close()


def test_the_safety_copies_of_a_restore_get_the_live_databases_mode(run: Run, live: Path) -> None:
    name = Path(run("backup", check=True).stdout.strip()).name
    keep_open = db.connect(live)  # keeps -wal and -shm on disk
    keep_open.execute("SELECT 1").fetchall()
    for path in live.parent.iterdir():
        path.chmod(0o644)         # e.g. made by a process with umask 022
    run("restore", name, "--no-service", check=True)
    keep_open.close()
    aside = sorted(p for p in live.parent.iterdir() if ".before-restore-" in p.name)
    assert {p.name.rsplit("Z", 1)[1] for p in aside} == {"", "-wal", "-shm"}
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in aside} == {p.name: "0o640" for p in aside}
    assert oct(live.stat().st_mode & 0o777) == "0o640"


def test_backups_taken_in_the_same_second_list_and_restore_the_later_one_first(run: Run, live: Path,
                                                                              tmp_path: Path) -> None:
    stamp = "2026-06-01T12:00:00Z"
    conn = db.connect(live)
    made = []
    for n in range(11):   # kewp-...Z, then Z-2 ... Z-11: Z-10 and Z-11 sort before Z-2 as text
        insert_mapping(conn, n)
        made.append(Path(run("backup", "--now", stamp, check=True).stdout.strip()).name)
    conn.close()
    listed = [b["name"] for b in good_backups(run)]
    assert listed == [name.removesuffix(".db.zst") for name in reversed(made)]
    assert listed[0].endswith("Z-11") and listed[-1].endswith("Z")
    rows = restored_rows(run, listed[0], tmp_path / "restored.db", "SELECT count(*) FROM mappings")
    assert rows == [(11,)]


def test_drill_restores_the_newest_backup_to_a_scratch_file_and_cleans_up(run: Run, backups: Path) -> None:
    run("backup", check=True)
    before = files(backups)
    result = run("drill", check=True)
    assert "row counts match the manifest" in result.stderr
    assert files(backups) == before


def test_drill_fails_when_the_newest_backup_is_too_old(run: Run) -> None:
    run("backup", "--now", "2026-01-01T00:00:00Z", check=True)
    result = run("drill", "--max-age", "26")
    assert result.returncode == EXIT_CHECK_FAILED
    assert "h old" in result.stderr


# ---------------------------------------------------------------- prune

# Newest first. 2026-03-10 is a Tuesday (ISO week 11), 03-08 a Sunday (week 10).
STAMPS = ["2026-03-10T12:00:00Z", "2026-03-10T11:00:00Z", "2026-03-10T10:00:00Z", "2026-03-10T09:00:00Z",
          "2026-03-09T23:00:00Z", "2026-03-09T12:00:00Z", "2026-03-08T12:00:00Z", "2026-03-02T12:00:00Z",
          "2026-02-20T12:00:00Z", "2026-01-15T12:00:00Z", "2025-12-15T12:00:00Z"]
SMALL_POLICY = {"KEWP_BACKUP_KEEP_HOURLY": "3", "KEWP_BACKUP_KEEP_DAILY": "2",
                "KEWP_BACKUP_KEEP_WEEKLY": "2", "KEWP_BACKUP_KEEP_MONTHLY": "2"}


def name_of(stamp: str) -> str:
    return "kewp-" + stamp.replace("-", "").replace(":", "")


@pytest.fixture
def back_dated(run: Run, backups: Path) -> Iterator[list[str]]:
    """One real backup, then hard-linked copies stamped at STAMPS (prune reads only manifests)."""
    first = Path(run("backup", "--now", STAMPS[-1], check=True).stdout.strip())
    manifest = json.loads(first.with_suffix("").with_suffix(".json").read_text())
    for stamp in STAMPS[:-1]:
        name = name_of(stamp)
        os.link(first, backups / f"{name}.db.zst")
        (backups / f"{name}.json").write_text(json.dumps({**manifest, "name": name, "created_at": stamp,
                                                          "file": f"{name}.db.zst"}))
    yield [name_of(s) for s in STAMPS]


def names(run: Run) -> list[str]:
    return [b["name"] for b in good_backups(run)]


def test_prune_keeps_exactly_the_configured_generations(run: Run, back_dated: list[str]) -> None:
    run("prune", env=SMALL_POLICY, check=True)
    # hourly 3: 03-10 12h, 11h, 10h; daily 2: 03-10, 03-09 (23h); weekly 2: week 11 (03-10 12h),
    # week 10 (03-08); monthly 2: March (03-10 12h), February (02-20).
    assert names(run) == [name_of(s) for s in ("2026-03-10T12:00:00Z", "2026-03-10T11:00:00Z",
                                               "2026-03-10T10:00:00Z", "2026-03-09T23:00:00Z",
                                               "2026-03-08T12:00:00Z", "2026-02-20T12:00:00Z")]


def test_prune_as_of_an_earlier_now_leaves_later_backups_alone(run: Run, back_dated: list[str]) -> None:
    run("prune", "--now", "2026-03-09T23:30:00Z", env=SMALL_POLICY, check=True)
    assert names(run) == [name_of(s) for s in STAMPS[:4]] + [
        name_of(s) for s in ("2026-03-09T23:00:00Z", "2026-03-09T12:00:00Z", "2026-03-08T12:00:00Z",
                             "2026-02-20T12:00:00Z")]


def test_prune_dry_run_lists_what_would_go_and_deletes_nothing(run: Run, back_dated: list[str],
                                                              backups: Path) -> None:
    before = files(backups)
    result = run("prune", "--dry-run", env=SMALL_POLICY, check=True)
    assert files(backups) == before
    doomed = [line.split()[3] for line in result.stderr.splitlines() if "would delete" in line]
    assert doomed == [name_of(s) for s in ("2026-03-10T09:00:00Z", "2026-03-09T12:00:00Z",
                                           "2026-03-02T12:00:00Z", "2026-01-15T12:00:00Z",
                                           "2025-12-15T12:00:00Z")]


def test_prune_never_deletes_the_newest_good_backup(run: Run, back_dated: list[str], backups: Path) -> None:
    newest = backups / f"{back_dated[0]}.db.zst"
    newest.unlink()   # the newest is damaged now: it stays (for a human) and does not count
    zero = dict.fromkeys(SMALL_POLICY, "0")
    result = run("prune", env=zero, check=True)
    assert names(run) == [back_dated[1]]
    assert (backups / f"{back_dated[0]}.json").exists()
    assert "DAMAGED" in result.stderr


def test_prune_with_the_default_policy_on_a_year_of_backups(run: Run, backups: Path) -> None:
    first = Path(run("backup", "--now", "2025-01-01T00:00:00Z", check=True).stdout.strip())
    manifest = json.loads(first.with_suffix("").with_suffix(".json").read_text())
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    stamps = [start + dt.timedelta(hours=3 * i) for i in range(1, 8 * 365)]
    for when in stamps:
        name = "kewp-" + when.strftime("%Y%m%dT%H%M%SZ")
        os.link(first, backups / f"{name}.db.zst")
        (backups / f"{name}.json").write_text(json.dumps(
            {**manifest, "name": name, "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ")}))
    run("prune", check=True)
    kept = [dt.datetime.strptime(n, "kewp-%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC) for n in names(run)]
    everything = sorted([start, *stamps], reverse=True)

    def newest_per(key: Callable[[dt.datetime], object], count: int) -> set[dt.datetime]:
        chosen: dict[object, dt.datetime] = {}
        for when in everything:
            chosen.setdefault(key(when), when)
        return set(sorted(chosen.values(), reverse=True)[:count])

    expected = (newest_per(lambda t: (t.date(), t.hour), 24) | newest_per(lambda t: t.date(), 7)
                | newest_per(lambda t: t.isocalendar()[:2], 4) | newest_per(lambda t: (t.year, t.month), 6))
    assert set(kept) == expected
    assert len(kept) == len(expected) < 24 + 7 + 4 + 6


# ---------------------------------------------------------------- full disk


@pytest.fixture
def small_disk(tmp_path: Path, small_fs) -> Path:
    """A 4 MiB tmpfs as the backup directory."""
    return small_fs(tmp_path / "small", 4 * 2**20)


def test_a_backup_that_would_fill_the_disk_fails_loudly_and_touches_nothing(
        run: Run, live: Path, small_disk: Path) -> None:
    earlier = Path(run("backup", dir=small_disk, check=True).stdout.strip())
    conn = db.connect(live)
    with db.write_transaction(conn):
        conn.executemany("INSERT INTO audit_log (actor, action, entity, entity_id, after) VALUES (?, ?, ?, ?, ?)",
                         [("a", "grow", "x", str(i), "y" * 2000) for i in range(2000)])
    conn.close()
    db_before = {p.name: sha256(p) for p in live.parent.iterdir()}
    backups_before = files(small_disk)

    result = run("backup", dir=small_disk)
    assert result.returncode == EXIT_NO_SPACE, result.stderr
    assert "not enough free space" in result.stderr and "nothing was written" in result.stderr
    assert " bytes), only " in result.stderr   # the numbers, not only a word
    assert files(small_disk) == backups_before
    assert {p.name: sha256(p) for p in live.parent.iterdir()} == db_before
    assert run("verify", earlier.name, dir=small_disk).returncode == 0


# ---------------------------------------------------------------- alert


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alert_writes_a_clear_line_and_posts_to_the_webhook(run: Run) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        result = run("alert", "kewp-backup.service", env={"KEWP_ALERT_WEBHOOK_URL": url})
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr
    assert "ALERT kewp: kewp-backup.service failed on" in result.stderr
    assert _Hook.received and _Hook.received[-1]["unit"] == "kewp-backup.service"
    assert "failed" in _Hook.received[-1]["text"]


def test_alert_fails_when_it_cannot_be_delivered(run: Run) -> None:
    result = run("alert", "kewp-backup.service", env={"KEWP_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/none"})
    assert result.returncode == 1
    assert "could not deliver the alert" in result.stderr


# ---------------------------------------------------------------- settings and the installed shape


def test_the_config_file_is_read_below_the_environment_and_named_in_errors(run: Run, tmp_path: Path) -> None:
    config = tmp_path / "kewp-backup.env"
    config.write_text("# written by the role\nKEWP_BACKUP_KEEP_DAILY='7'\nKEWP_BACKUP_KEEP_WEEKLY=\"four\"\n")
    result = run("list", env={"KEWP_BACKUP_CONFIG": str(config)})
    assert result.returncode == 2
    assert f"KEWP_BACKUP_KEEP_WEEKLY='four' (from {config})" in result.stderr
    assert run("list", env={"KEWP_BACKUP_CONFIG": str(config), "KEWP_BACKUP_KEEP_WEEKLY": "4"}).returncode == 0
    config.write_text("KEWP_BACKUP_KEEP_DAILY\n")
    result = run("list", env={"KEWP_BACKUP_CONFIG": str(config)})
    assert result.returncode == 2 and f"{config}:1: expected KEY=VALUE" in result.stderr


def test_the_default_paths_are_the_vps_data_dir_and_database_name() -> None:
    assert common.CONFIG_KEYS["KEWP_BACKUP_DB"][0] == "/var/lib/kewp/ke_wp_mapping.db"
    assert common.CONFIG_KEYS["KEWP_BACKUP_DIR"][0] == "/var/backups/kewp"


def test_main_leaves_the_callers_signal_handlers_as_they_were(run: Run) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    run("list", check=True)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


def test_the_installed_entry_point_runs_under_python_isolated_mode(live: Path, backups: Path, tmp_path: Path) -> None:
    tool = entry_point(tmp_path, "kewp-backup", "kewp_host.backup.cli")
    env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live), KEWP_BACKUP_DIR=str(backups),
                        KEWP_BACKUP_RESERVE_MB="0")
    helped = run_entry(tool, "--help", env=env)
    assert helped.returncode == 0
    assert helped.stdout.startswith("usage: kewp-backup [-h]")
    assert "online backups of kewp's SQLite database" in helped.stdout
    taken = run_entry(tool, "backup", env=env)
    assert taken.returncode == 0, taken.stderr
    assert "kewp-backup: snapshot:" in taken.stderr   # the plain prefix off the journal
    listed = run_entry(tool, "list", "--json", env=env)
    assert [b["file"] for b in json.loads(listed.stdout)] == [taken.stdout.strip()]
    assert run_entry(tool, "verify", "nonexistent", env=env).returncode == EXIT_NO_BACKUP
    journal = run_entry(tool, "verify", env={**env, "JOURNAL_STREAM": "8:1234"})
    assert journal.returncode == 0 and journal.stderr.startswith("<6>verifying ")


def test_python_dash_m_runs_the_tool_from_the_repository(live: Path, backups: Path) -> None:
    env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live), KEWP_BACKUP_DIR=str(backups))
    env.pop("PYTHONPATH", None)
    for module in ("kewp_host.backup", "kewp_host.backup.cli"):
        result = subprocess.run([sys.executable, "-m", module, "list"], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert "0 backups (0 good)" in result.stdout


def _mapping_release(live: Path, number: int) -> Path:
    """A release folder as app/services/releases.py leaves it: files plus release.json with their sha256."""
    folder = live.parent / "releases" / str(number)
    folder.mkdir(parents=True)
    (folder / "mappings.sssom.tsv").write_text(f"# release {number}\nsubject_id\tobject_id\n")
    (folder / f"kewp-mappings-release-{number}.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    listed = [{"name": "mappings.sssom.tsv", "sha256": sha256(folder / "mappings.sssom.tsv")}]
    (folder / "release.json").write_text(json.dumps({"files": listed}))
    return folder


def test_backup_copies_each_new_mapping_release_once(run: Run, live: Path, backups: Path) -> None:
    _mapping_release(live, 1)
    first = run("backup", check=True)
    assert "mapping releases copied" in first.stderr
    assert files(backups / "releases" / "1") == files(live.parent / "releases" / "1")
    _mapping_release(live, 2)
    second = run("backup", check=True)
    assert "copied to" in second.stderr and ": 2" in second.stderr
    assert sorted(p.name for p in (backups / "releases").iterdir()) == ["1", "2"]
    assert "mapping releases copied" not in run("backup", check=True).stderr  # nothing new: nothing copied


def test_a_mapping_release_that_fails_its_checksums_is_not_backed_up(run: Run, live: Path, backups: Path) -> None:
    folder = _mapping_release(live, 1)
    (folder / "mappings.sssom.tsv").write_text("changed after the release was made\n")
    result = run("backup")
    assert result.returncode != 0
    assert "mapping release 1" in result.stderr and "does not match its release.json" in result.stderr
    assert not (backups / "releases" / "1").exists()
    assert not [p for p in (backups / "releases").iterdir()]
