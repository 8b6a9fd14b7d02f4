"""kewpctl (kewp_host.ctl): its settings, the time and size words of its report, and `kewpctl status`
against a stand-in systemctl and docker, a local /readyz, a real database and real kewp-backup backups."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kewp_host import ctl
from kewp_host.backup import cli as backup_cli

from .host_helpers import (
    ReadyzApp,
    WebhookReceiver,
    call,
    clean_environ,
    entry_point,
    environment,
    run_entry,
    stand_in,
    stand_in_docker,
)

FAKE_SYSTEMCTL = """#!/bin/sh
case "$1" in
  show) case "$2" in
      kewp.service) printf 'LoadState=loaded\\nActiveState=active\\nSubState=running\\nUnitFileState=enabled\\n'
                    printf 'ActiveEnterTimestamp=@1700000000\\nNRestarts=0\\n';;
      *.timer) printf 'LoadState=loaded\\nActiveState=active\\nNextElapseUSecRealtime=@4102444800\\n';;
      *) printf 'Result=success\\nExecMainStatus=0\\n';;
    esac;;
  list-units) cat "$FAKE_DIR/failed" 2>/dev/null;;
esac
exit 0
"""


@pytest.fixture
def host(tmp_path: Path) -> Iterator[dict]:
    """A host where all is well: kewp.service active, a ready app, a fresh backup, a watched app."""
    app = ReadyzApp()
    stand_in(tmp_path / "bin", "systemctl", FAKE_SYSTEMCTL)
    stand_in_docker(tmp_path)
    data, backups, state, release = (tmp_path / name for name in ("data", "backups", "healthcheck", "release"))
    for directory in (data, backups, state, release):
        directory.mkdir()
    # kewp-release's record of the colour that serves: kewpctl asks that port
    (release / "live.env").write_text(f"KEWP_COLOUR=green\nKEWP_HOST_PORT={app.url.split(':')[2].split('/')[0]}\n")
    conn = sqlite3.connect(data / "ke_wp_mapping.db")
    conn.execute("CREATE TABLE mappings (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    backup_env = clean_environ(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(data / "ke_wp_mapping.db"),
                               KEWP_BACKUP_DIR=str(backups), KEWP_BACKUP_RESERVE_MB="0")
    assert call(backup_cli.main, ["backup"], backup_env).returncode == 0
    (state / "state.json").write_text(json.dumps({"last_check_at": time.time() - 30, "last_ok": True,
                                                  "restarts_total": 0, "restart_times": []}))
    env = clean_environ(
        PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", FAKE_DIR=str(tmp_path),
        KEWP_RELEASE_STATE_DIR=str(release), KEWP_ONCALL_CONFIG="/nonexistent",
        KEWP_ONCALL_DB=str(data / "ke_wp_mapping.db"), KEWP_ONCALL_BACKUP_DIR=str(backups),
        KEWP_ONCALL_BACKUP_TOOL=str(entry_point(tmp_path, "kewp-backup", "kewp_host.backup.cli")),
        KEWP_ONCALL_HEALTHCHECK_STATE_DIR=str(state), KEWP_ONCALL_DISK_MIN_FREE_PERCENT="0",
        KEWP_ONCALL_DISK_MIN_FREE_MB="0")
    yield {"tmp": tmp_path, "app": app, "env": env}
    app.close()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="kewpctl runs as root only")


@needs_root
def test_status_of_a_healthy_host_is_ok(host: dict) -> None:
    result = call(ctl.main, ["status"], host["env"])
    assert result.returncode == 0, result.stdout
    head, *lines = result.stdout.splitlines()
    assert head.endswith(": OK")
    by_label = {line[:10].strip(): line[11:] for line in lines}
    assert by_label["service"].startswith("kewp.service active (running) since 2023-11-14 22:13:20 UTC")
    assert by_label["container"].startswith("kewp 5f0e1d2c3b4a running (started 2026-11-24 05:00:00 UTC)")
    assert by_label["version"] == "0.1.0+g1a2b3c4 (revision 1a2b3c4d5e6f)"
    assert by_label["ready"].startswith("yes: HTTP 200 in ") and host["app"].url in by_label["ready"]
    assert by_label["health"].startswith("last check ") and " ok; watch restarts: 0 total" in by_label["health"]
    assert by_label["workers"].startswith("2 of 2 running")
    assert by_label["backups"].startswith("newest good kewp-") and "1 good of 1" in by_label["backups"]
    assert by_label["units"] == "failed kewp units: none"
    assert not any(line.startswith("!") for line in lines)


@needs_root
def test_status_names_each_problem_with_what_to_do(host: dict) -> None:
    host["app"].writable = False
    (host["tmp"] / "failed").write_text("kewp-backup.service loaded failed failed kewp backup\n")
    result = call(ctl.main, ["status"], {**host["env"], "KEWP_ONCALL_BACKUP_MAX_AGE_HOURS": "0"})
    assert result.returncode == 1
    assert ": NEEDS A HUMAN (3)" in result.stdout.splitlines()[0]
    problems = [line for line in result.stdout.splitlines() if line.startswith("! ")]
    assert problems[0].startswith("! the app serves pages but CANNOT SAVE: only 0.0 MiB free")
    assert "over the 0 h limit" in problems[1]
    assert problems[2].startswith("! kewp-backup.service FAILED (success, exit status 0)")
    assert "(runbook: backup-failed)" in problems[2]


@needs_root
def test_disk_low_names_the_configured_backup_directory(host: dict) -> None:
    result = call(ctl.main, ["status"], {**host["env"], "KEWP_ONCALL_DISK_MIN_FREE_PERCENT": "100"})
    assert result.returncode == 1
    low = [line for line in result.stdout.splitlines() if line.startswith("! disk LOW for backups")]
    assert low and f"du -xsh /var/lib/docker {host['env']['KEWP_ONCALL_BACKUP_DIR']} /var/log" in low[0]


@needs_root
def test_restore_off_a_terminal_wants_yes(host: dict) -> None:
    tool = entry_point(host["tmp"], "kewpctl", "kewp_host.ctl")
    result = run_entry(tool, "restore", env=host["env"])
    assert result.returncode == 2
    assert "add --yes to confirm" in result.stderr
    assert run_entry(tool, "status", "--bogus", env=host["env"]).returncode == 2
    assert run_entry(tool, "--help", env=host["env"]).stdout.startswith("usage: kewpctl ")


def alert_env(path: Path, webhook: str = "", mail_to: str = "") -> str:
    """An alert.env as the kewp_host role writes it (values double-quoted)."""
    path.write_text(f'# by the role\nKEWP_ALERT_WEBHOOK_URL="{webhook}"\nKEWP_ALERT_MAIL_TO="{mail_to}"\n'
                    'KEWP_ALERT_MAIL_FROM=""\nKEWP_ALERT_SMTP_HOST="localhost"\nKEWP_ALERT_SMTP_PORT="25"\n'
                    'KEWP_ALERT_SMTP_STARTTLS="false"\nKEWP_ALERT_SMTP_USER=""\nKEWP_ALERT_SMTP_PASSWORD=""\n')
    return str(path)


@needs_root
def test_alert_test_posts_a_test_alert_to_the_webhook_and_says_where(host: dict) -> None:
    hook = WebhookReceiver()
    try:
        env = {**host["env"], "KEWP_ONCALL_ALERT_ENV": alert_env(host["tmp"] / "alert.env", webhook=hook.url)}
        result = call(ctl.main, ["alert-test"], env)
    finally:
        hook.close()
    assert result.returncode == 0, result.stderr
    port = hook.url.split("/")[2]
    assert f"sending a test alert to webhook {port} ..." in result.stdout
    assert f"sent: webhook {port} (HTTP 204)" in result.stdout
    assert len(hook.received) == 1
    assert hook.received[0]["unit"] == "alert-test" and hook.received[0]["result"] == "test"
    assert hook.received[0]["text"].startswith("TEST kewp: a test alert from ")


@needs_root
def test_alert_test_without_a_channel_says_alerts_reach_nobody(host: dict) -> None:
    env = {**host["env"], "KEWP_ONCALL_ALERT_ENV": alert_env(host["tmp"] / "alert.env")}
    result = call(ctl.main, ["alert-test"], env)
    assert result.returncode == 1
    assert ("alerts reach nobody: set kewp_host_alert_webhook_url or kewp_host_alert_mail_to in the inventory"
            in result.stderr)
    assert result.stdout == ""


@needs_root
def test_alert_test_fails_when_the_webhook_refuses_it(host: dict) -> None:
    hook = WebhookReceiver()
    hook.status = 500
    try:
        env = {**host["env"], "KEWP_ONCALL_ALERT_ENV": alert_env(host["tmp"] / "alert.env", webhook=hook.url)}
        result = call(ctl.main, ["alert-test"], env)
    finally:
        hook.close()
    assert result.returncode == 1
    assert f"FAILED: webhook {hook.url.split('/')[2]}: HTTP Error 500" in result.stderr


@needs_root
def test_alert_test_without_the_alert_settings_names_the_file(host: dict) -> None:
    env = {**host["env"], "KEWP_ONCALL_ALERT_ENV": str(host["tmp"] / "missing.env")}
    result = call(ctl.main, ["alert-test"], env)
    assert result.returncode == 1
    assert "missing.env" in result.stderr and "playbooks/site.yml" in result.stderr


def test_settings_come_from_the_environment_then_the_file_then_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "kewp-oncall"
    config.write_text('# by the role\nKEWP_ONCALL_SERVICE="other.service"\nKEWP_ONCALL_CONTAINER=c\n'
                      "not a setting line\nKEWP_UNKNOWN=1\n")
    with environment({"KEWP_ONCALL_CONFIG": str(config), "KEWP_ONCALL_CONTAINER": "from-env",
                      "KEWP_ONCALL_DB": "  "}):
        values = ctl.settings()
    assert values["KEWP_ONCALL_SERVICE"] == "other.service"
    assert values["KEWP_ONCALL_CONTAINER"] == "from-env"
    assert values["KEWP_ONCALL_DB"] == "/var/lib/kewp/ke_wp_mapping.db"
    assert "KEWP_UNKNOWN" not in values
    with environment({"KEWP_ONCALL_CONFIG": str(tmp_path / "missing")}):
        assert ctl.settings() == ctl.SETTINGS


def test_systemd_timestamps_spans_and_sizes() -> None:
    assert ctl.epoch("@1700000000") == 1700000000.0
    assert ctl.epoch("Tue 2026-11-24 07:03:14 UTC") == dt.datetime(2026, 11, 24, 7, 3, 14, tzinfo=dt.UTC).timestamp()
    assert [ctl.epoch(v) for v in (None, "", "0", "n/a", "@0", "soon")] == [None] * 6
    assert [ctl.span(s) for s in (59, 600, 7300, 200000)] == ["59 s", "10 min", "2 h 01 min", "2 d 7 h"]
    assert ctl.size(5 * 2**40) == "5.0 TiB"


@needs_root
def test_status_shows_the_catalogue_version_a_refresh_brought_in(host: dict) -> None:
    from app.services.catalog_refresh import KindDiff, RefreshReport, write_status

    def line() -> str:
        result = call(ctl.main, ["status"], host["env"])
        return next(text[11:] for text in result.stdout.splitlines() if text.startswith("catalogue "))
    assert line().startswith("as first imported (no refresh yet); next refresh ")
    report = RefreshReport("2026-12", "/srv/release", {"key_events": KindDiff(added=["KE 90001"]),
                                                       "pathways": KindDiff()},
                           totals={"key_events": 1620, "pathways": 1020}, refresh_id=3, flagged=[7, 9])
    write_status(host["tmp"] / "data", report)
    assert line().startswith("version 2026-12 (refresh 3, ")
    assert "1620 KEs, 1020 pathways; 1 added, 0 changed, 0 withdrawn, 2 mappings flagged; next refresh " in line()
