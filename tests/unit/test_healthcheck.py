"""kewp-healthcheck (kewp_host.healthcheck) against a local HTTP server and a stand-in systemctl:
threshold, restart, back-off, limit, re-arming, and an app that is ready behind a failing front door.
Its main() runs in this process; the installed shape (a thin entry point under python -I) once."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kewp_host import healthcheck

from .host_helpers import ReadyzApp, call, clean_environ, entry_point, run_entry, stand_in

FAKE_SYSTEMCTL = """#!/bin/sh
case "$1" in
  show) printf 'LoadState=loaded\\nActiveState=%s\\nSubState=running\\nUnitFileState=enabled\\n' \
        "$(cat "$FAKE_DIR/active" 2>/dev/null || echo active)";;
  restart) echo "$2" >> "$FAKE_DIR/restarts.log";;
esac
exit 0
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, object]]:
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "systemctl", FAKE_SYSTEMCTL)
    front, direct = ReadyzApp(), ReadyzApp()
    yield {"tmp": tmp_path, "front": front, "direct": direct, "vars": {
        **clean_environ(), "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path),
        "KEWP_HEALTHCHECK_URL": front.url, "KEWP_HEALTHCHECK_DIRECT_URL": direct.url,
        "KEWP_HEALTHCHECK_STATE_DIR": str(tmp_path / "state"), "KEWP_HEALTHCHECK_TIMEOUT": "2",
        "KEWP_HEALTHCHECK_FAILURES": "2", "KEWP_HEALTHCHECK_MAX_RESTARTS": "2",
        "KEWP_HEALTHCHECK_BACKOFF": "0"}}
    front.close()
    direct.close()


def check(env: dict, **extra: str) -> tuple[int, str]:
    proc = call(healthcheck.main, [], {**env["vars"], **extra})
    return proc.returncode, proc.stdout + proc.stderr


def restarts(env: dict) -> int:
    log = env["tmp"] / "restarts.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def state(env: dict) -> dict:
    return json.loads((env["tmp"] / "state" / "state.json").read_text())


def test_a_ready_app_is_left_alone(env: dict) -> None:
    assert check(env)[0] == 0
    assert restarts(env) == 0
    assert state(env)["last_ok"] is True


def test_failures_below_the_threshold_do_not_restart(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    code, out = check(env)
    assert code == 0 and "check failed (1 of 2 in a row)" in out
    assert restarts(env) == 0


def test_the_threshold_restarts_once_and_counts_it(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    check(env)
    code, out = check(env)
    assert code == 3, out
    assert "RESTART #1 of kewp.service" in out
    assert restarts(env) == 1
    assert (env["tmp"] / "state" / "restarts").read_text() == "1\n"


def test_backoff_holds_the_next_restart(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    for _ in range(2):
        check(env)
    for _ in range(2):
        code, out = check(env, KEWP_HEALTHCHECK_BACKOFF="600")
    assert code == 0 and "back-off" in out, out
    assert restarts(env) == 1


def test_the_limit_gives_up_once_and_rearms_after_a_good_check(env: dict) -> None:
    env["front"].status = env["direct"].status = None
    codes = [check(env, KEWP_HEALTHCHECK_FAILURES="1")[0] for _ in range(5)]
    assert codes == [3, 3, 4, 0, 0]
    assert restarts(env) == 2
    assert state(env)["gave_up_at"]
    env["front"].status = env["direct"].status = 200
    code, out = check(env)
    assert code == 0 and "armed again" in out
    assert not state(env)["gave_up_at"]


def test_a_ready_app_behind_a_failing_front_door_is_not_restarted(env: dict) -> None:
    env["front"].status = 502
    codes = [check(env)[0] for _ in range(4)]
    assert codes == [0, 4, 0, 0], "one alert, no restart"
    assert restarts(env) == 0


def test_a_ready_app_that_cannot_save_is_alerted_once_and_never_restarted(env: dict) -> None:
    env["front"].writable = env["direct"].writable = False
    results = [check(env) for _ in range(4)]
    assert [code for code, _ in results] == [4, 0, 0, 0], "one alert, no restart loop"
    assert "ALERT: kewp cannot save" in results[0][1] and "only 0.0 MiB free" in results[0][1]
    assert restarts(env) == 0
    env["front"].writable = env["direct"].writable = True
    code, out = check(env)
    assert code == 0 and "can save again" in out
    env["front"].writable = False
    assert check(env)[0] == 4, "a new episode is alerted again"


def test_an_app_not_ready_because_its_disk_is_full_is_alerted_and_never_restarted(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    env["front"].writable = env["direct"].writable = False
    codes = [check(env)[0] for _ in range(5)]
    assert codes == [0, 4, 0, 0, 0]
    assert restarts(env) == 0


def test_a_unit_that_is_starting_is_not_checked(env: dict) -> None:
    (env["tmp"] / "active").write_text("activating")
    env["front"].status = env["direct"].status = 503
    for _ in range(3):
        code, out = check(env)
        assert code == 0 and "not checking" in out
    assert restarts(env) == 0


def test_a_bad_setting_is_named(env: dict) -> None:
    code, out = check(env, KEWP_HEALTHCHECK_FAILURES="three")
    assert code == 2 and "KEWP_HEALTHCHECK_FAILURES='three'" in out


def test_the_probe_carries_the_apps_writable_flag(env: dict) -> None:
    env["front"].writable = False
    said = healthcheck.probe(env["front"].url, "", 2, verify=False)
    assert said.ready is True and said.writable is False
    assert "NOT WRITABLE: only 0.0 MiB free" in said.detail
    env["front"].status = 503
    said = healthcheck.probe(env["front"].url, "", 2, verify=False)
    assert said.ready is False and said.writable is False
    env["front"].status, env["front"].writable = 200, True
    said = healthcheck.probe(env["front"].url, "", 2, verify=False)
    assert (said.ready, said.writable) == (True, True) and "NOT WRITABLE" not in said.detail


def test_a_database_that_only_says_not_writable_in_its_text_is_not_a_full_disk(env: dict) -> None:
    """The decision follows the app's "writable" flag, not words in its answer."""
    env["front"].status = env["direct"].status = 503
    env["front"].database = env["direct"].database = "NOT WRITABLE (disk full), error: test"
    codes = [check(env, KEWP_HEALTHCHECK_FAILURES="1", KEWP_HEALTHCHECK_BACKOFF="600")[0] for _ in range(2)]
    assert codes == [3, 0]
    assert restarts(env) == 1


def test_the_installed_entry_point_checks_and_answers_help(env: dict) -> None:
    tool = entry_point(env["tmp"], "kewp-healthcheck", "kewp_host.healthcheck")
    done = run_entry(tool, env=env["vars"])
    assert done.returncode == 0, done.stderr
    assert state(env)["last_ok"] is True
    helped = run_entry(tool, "--help", env=env["vars"])
    assert helped.returncode == 0 and helped.stdout.startswith("kewp-healthcheck: probe kewp")
    assert run_entry(tool, "now", env=env["vars"]).returncode == 2
    journal = run_entry(tool, env={**env["vars"], "JOURNAL_STREAM": "8:1", "KEWP_HEALTHCHECK_FAILURES": "x"})
    assert journal.returncode == 2 and journal.stdout.startswith("<3>KEWP_HEALTHCHECK_FAILURES='x'")


def test_an_off_site_copy_past_its_age_limit_is_alerted_once_and_rearmed(env: dict, tmp_path: Path) -> None:
    """The real kewp-backup and restic: a copy of a back-dated backup is too old; a fresh one re-arms."""
    from .test_backup_script import make_db  # the app's schema, as the backup tests make it

    make_db(tmp_path / "live.db")
    (tmp_path / "backups").mkdir()
    (tmp_path / "pw").write_text("a password\n")
    backup_env = {"KEWP_BACKUP_CONFIG": "/nonexistent", "KEWP_BACKUP_DB": str(tmp_path / "live.db"),
                  "KEWP_BACKUP_DIR": str(tmp_path / "backups"), "KEWP_BACKUP_RESERVE_MB": "0",
                  "KEWP_BACKUP_OFFSITE_REPOSITORY": str(tmp_path / "repo"),
                  "KEWP_BACKUP_OFFSITE_PASSWORD_FILE": str(tmp_path / "pw")}
    tool = entry_point(tmp_path, "kewp-backup", "kewp_host.backup.cli")
    all_env = {**env["vars"], **backup_env, "KEWP_HEALTHCHECK_BACKUP_TOOL": str(tool)}
    for args in (("backup", "--now", "2026-01-01T00:00:00Z"), ("offsite-copy",)):
        assert run_entry(tool, *args, env=all_env).returncode == 0
    results = [check(env, **backup_env, KEWP_HEALTHCHECK_BACKUP_TOOL=str(tool)) for _ in range(2)]
    assert [code for code, _ in results] == [4, 0], "one alert per episode"
    assert "ALERT: the newest off-site copy (kewp-20260101T000000Z) is" in results[0][1]
    for args in (("backup",), ("offsite-copy",)):
        assert run_entry(tool, *args, env=all_env).returncode == 0
    code, out = check(env, **backup_env, KEWP_HEALTHCHECK_BACKUP_TOOL=str(tool))
    assert code == 0 and "fresh again" in out
