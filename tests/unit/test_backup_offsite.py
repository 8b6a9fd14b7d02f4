"""kewp-backup's off-site copies with the real restic (Debian package) against a local-directory
repository: copy after a good backup, failures that leave the local backups alone and are
recorded, retention by generations, the restore round trip, a tampered repository and a wrong
password. The SFTP transport to a real backup host is tests/deploy's."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from kewp_host import ctl
from kewp_host.backup import cli

from .host_helpers import call, clean_environ
from .test_backup_script import EXIT_CHECK_FAILED, EXIT_NO_BACKUP, Run, insert_mapping, make_db, sha256

EXIT_USAGE = 2


@pytest.fixture(autouse=True, scope="module")
def _restic() -> None:
    if not shutil.which("restic"):
        pytest.fail("restic is not installed: apt-get install restic (make unit installs it)")


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "ke_wp_mapping.db"
    path.parent.mkdir()
    make_db(path)
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "offsite-repo"


@pytest.fixture
def password(tmp_path: Path) -> Path:
    path = tmp_path / "offsite.password"
    path.write_text("correct horse battery staple\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    path = tmp_path / "backups"
    path.mkdir(mode=0o750)
    return path


@pytest.fixture
def run(live: Path, backups: Path, repo: Path, password: Path) -> Run:
    def run(*args: str, env: dict[str, str] | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
        full_env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent/backup.env", KEWP_BACKUP_DB=str(live),
                                 KEWP_BACKUP_DIR=str(backups), KEWP_BACKUP_RESERVE_MB="0",
                                 KEWP_BACKUP_OFFSITE_REPOSITORY=str(repo),
                                 KEWP_BACKUP_OFFSITE_PASSWORD_FILE=str(password))
        full_env.update(env or {})
        result = call(cli.main, list(args), full_env)
        if check and result.returncode != 0:
            pytest.fail(f"kewp-backup {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result
    return run


def offsite_list(run: Run) -> list[dict]:
    return json.loads(run("offsite-list", "--json", check=True).stdout)


def status(run: Run) -> dict:
    return json.loads(run("offsite-status", check=True).stdout)


def good_names(run: Run) -> list[str]:
    return [b["name"] for b in json.loads(run("list", "--json", check=True).stdout) if b["good"]]


def test_a_good_backup_goes_off_site_encrypted_and_is_recorded(run: Run, repo: Path, backups: Path) -> None:
    run("backup", check=True)
    [name] = good_names(run)
    result = run("offsite-copy", check=True)
    assert f"{name}: off-site as snapshot" in result.stdout
    [snap] = offsite_list(run)
    assert snap["backup"] == name
    st = status(run)
    assert st["copy"]["backup"] == name and st["copy"]["snapshot"] == snap["short_id"]
    assert st["age_seconds"] < 600 and not st["overdue"]
    # Encrypted at rest: no byte run of the database is in the repository's files.
    needle = b"Key event 17"
    assert all(needle not in p.read_bytes() for p in repo.rglob("*") if p.is_file())
    # The staging copy is gone; a second run has nothing to do.
    assert not (backups / ".offsite" / "stage").exists()
    assert "already off-site" in run("offsite-copy", check=True).stdout
    assert len(offsite_list(run)) == 1


def test_an_unreachable_repository_fails_the_copy_only_and_is_reported(run: Run, tmp_path: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    run("backup", check=True)
    # A repository path that cannot be created stands in for a backup host that is down.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = run("offsite-copy", env={"KEWP_BACKUP_OFFSITE_REPOSITORY": str(blocker / "repo")})
    assert result.returncode != 0
    assert "off-site copy FAILED (the local backups are fine)" in result.stderr
    assert len(good_names(run)) == 2            # the local backup is good and listed
    assert run("verify", check=True).stdout.endswith(": ok\n")


def test_a_repository_that_vanishes_after_copies_is_an_error_not_a_new_repository(run: Run, repo: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    shutil.rmtree(repo)
    run("backup", check=True)
    result = run("offsite-copy")
    assert result.returncode == EXIT_CHECK_FAILED
    assert "is gone now" in result.stderr and not repo.exists()
    st = status(run)
    assert "is gone now" in st["copy"]["error"]
    assert st["copy"]["snapshot"]   # the last good copy is still on record for kewpctl status


def test_remote_retention_keeps_the_configured_generations(run: Run) -> None:
    stamps = ["2026-03-10T09:00:00Z", "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z", "2026-03-10T12:00:00Z",
              "2026-03-11T12:00:00Z"]
    policy = {"KEWP_BACKUP_OFFSITE_KEEP_HOURLY": "2", "KEWP_BACKUP_OFFSITE_KEEP_DAILY": "2",
              "KEWP_BACKUP_OFFSITE_KEEP_WEEKLY": "0", "KEWP_BACKUP_OFFSITE_KEEP_MONTHLY": "0"}
    for stamp in stamps:
        run("backup", "--now", stamp, check=True)
        run("offsite-copy", env=policy, check=True)
    kept = [s["backup"] for s in offsite_list(run)]
    # hourly 2: 03-11 12:00 and 03-10 12:00; daily 2: the same two days' newest.
    assert kept == ["kewp-20260311T120000Z", "kewp-20260310T120000Z"]


def test_offsite_restore_round_trip_gives_the_backed_up_database(run: Run, live: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(live)
    ids = [insert_mapping(conn, n) for n in range(5)]
    conn.close()
    run("backup", check=True)
    run("offsite-copy", check=True)
    manifest = json.loads(next((tmp_path / "backups").glob("kewp-*.json")).read_text())
    dest = tmp_path / "restored" / "ke_wp_mapping.db"
    dest.parent.mkdir()
    result = run("offsite-restore", "--snapshot", "latest", "--to", str(dest), check=True)
    assert "restored off-site snapshot" in result.stdout
    assert sha256(dest) == manifest["db_sha256"]
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    conn = sqlite3.connect(dest)
    assert [r[0] for r in conn.execute("SELECT id FROM mappings ORDER BY id")] == ids
    conn.close()
    assert [p.name for p in dest.parent.iterdir()] == ["ke_wp_mapping.db"]   # no staging left
    # By ID too, and never over an existing file.
    [snap] = offsite_list(run)
    again = run("offsite-restore", "--snapshot", snap["short_id"], "--to", str(dest))
    assert again.returncode == EXIT_USAGE and "never overwrites" in again.stderr


def tamper(repo: Path) -> None:
    """Flip 16 bytes inside the largest pack file (the database's encrypted data). A deleted pack
    is detected too, but only after restic 0.14's retries (about 90 s), so the tests flip bytes."""
    pack = max((p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    pack.chmod(0o600)
    data = bytearray(pack.read_bytes())
    for i in range(200, 216):
        data[i] ^= 0xFF
    pack.write_bytes(bytes(data))


def test_a_tampered_repository_is_detected_and_nothing_is_restored(run: Run, repo: Path, tmp_path: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    tamper(repo)
    dest = tmp_path / "restored.db"
    result = run("offsite-restore", "--to", str(dest))
    assert result.returncode == EXIT_CHECK_FAILED
    assert "damaged or was tampered with; nothing was written to" in result.stderr
    assert not dest.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
    check = run("offsite-check", "--read-data-subset", "100%")
    assert check.returncode == EXIT_CHECK_FAILED and "damaged or tampered" in check.stderr
    assert status(run)["check"]["ok"] is False


def test_a_wrong_password_is_named_with_the_vault_variable(run: Run, password: Path, tmp_path: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    password.write_text("not the password\n")
    result = run("offsite-restore", "--to", str(tmp_path / "x.db"))
    assert result.returncode == EXIT_USAGE
    assert f"the password in {password} does not open the repository" in result.stderr
    assert "kewp_backup_offsite_password" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_without_a_backup_host_off_site_is_off_and_says_so(run: Run) -> None:
    off = {"KEWP_BACKUP_OFFSITE_REPOSITORY": ""}
    run("backup", check=True)
    result = run("offsite-copy", env=off, check=True)
    assert "off-site copies are OFF: no backup host is configured" in result.stderr
    st = json.loads(run("offsite-status", env=off, check=True).stdout)
    assert st["enabled"] is False and st["overdue"] is False
    listed = run("offsite-list", env=off)
    assert listed.returncode == EXIT_USAGE and "kewp_backup_offsite_repository" in listed.stderr


def test_offsite_restore_of_an_unknown_snapshot_names_offsite_list(run: Run, tmp_path: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    result = run("offsite-restore", "--snapshot", "deadbeef", "--to", str(tmp_path / "x.db"))
    assert result.returncode == EXIT_NO_BACKUP and "kewp-backup offsite-list" in result.stderr


def test_the_drill_also_restores_the_newest_off_site_snapshot(run: Run, repo: Path, backups: Path) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    result = run("drill", check=True)
    assert "off-site snapshot" in result.stderr and "restored to a scratch file and checked" in result.stderr
    assert [p.name for p in backups.iterdir() if p.name.startswith(".tmp-")] == []
    tamper(repo)
    failed = run("drill")
    assert failed.returncode != 0 and "off-site drill FAILED (the local drill passed)" in failed.stderr


def test_kewpctl_status_shows_the_last_off_site_copy_and_its_age(run: Run) -> None:
    run("backup", check=True)
    run("offsite-copy", check=True)
    rep = ctl.Report()
    ctl.offsite_part(json.loads(run("offsite-status", check=True).stdout), rep)
    [(label, text)] = rep.lines
    assert label == "off-site" and "last off-site copy: " in text and " old (limit 3 h)" in text
    assert rep.problems == []
    run("backup", "--now", "2026-01-01T00:00:00Z", check=True)
    run("offsite-copy", "kewp-20260101T000000Z", check=True)
    stale = json.loads(run("offsite-status", check=True).stdout)
    assert stale["overdue"] is True
    rep = ctl.Report()
    ctl.offsite_part(stale, rep)
    assert rep.problems and "off-site-copy-failed" in rep.problems[0]
    rep = ctl.Report()
    ctl.offsite_part(json.loads(run("offsite-status", env={"KEWP_BACKUP_OFFSITE_REPOSITORY": ""}).stdout), rep)
    assert "OFF" in rep.lines[0][1] and rep.problems == []
