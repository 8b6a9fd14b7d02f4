"""The kewp_oncall role on the converged local VPS: kewpctl status tells the truth (exit 0 when
healthy, 1 naming the cause when not) and the health watch restarts a hung app, alerts, and
stops at its limit.

The health watch is exercised by starting kewp-healthcheck.service directly (one check per
start) with short thresholds in a runtime drop-in (/run/systemd/system/...d/), never by waiting
for the timer, which is held for the whole module. Needs the app (kewp_app in site.yml).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from testinfra.host import Host

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "kewp-healthcheck", "kewp-alert@*", "kewp-backup", "nginx")

WATCH = "kewp-healthcheck.service"
TIMER = "kewp-healthcheck.timer"
ALERT = f"kewp-alert@{WATCH}.service"
STATE_DIR = "/var/lib/kewp-healthcheck"
DROPIN_DIR = f"/run/systemd/system/{WATCH}.d"
TEST_ENV = "/run/kewp-healthcheck-test.env"


def sh(host: Host, command: str) -> str:
    result = host.run(command)
    assert result.rc == 0, f"{command} -> exit {result.rc}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def kewpctl_status(host: Host, env: str = "") -> tuple[int, str]:
    result = host.run(f"{env} kewpctl status")
    return result.rc, result.stdout + result.stderr


def container_state(host: Host) -> str:
    result = host.run("docker inspect --format '{{.State.Status}} {{.Id}}' kewp")
    return result.stdout.strip() if result.rc == 0 else "absent -"


def watch_state(host: Host, directory: str = STATE_DIR) -> dict:
    result = host.run(f"cat {directory}/state.json")
    return json.loads(result.stdout) if result.rc == 0 else {}


def run_watch(host: Host) -> int:
    """One check: start the service (returns when the oneshot ends); its main exit status."""
    host.run(f"systemctl start {WATCH}")
    return int(host.service(WATCH).systemd_properties["ExecMainStatus"])


def set_watch(host: Host, **settings: str | int) -> None:
    """Short thresholds for this test. EnvironmentFile= overrides Environment=, so the drop-in
    adds a second environment file, read after /etc/default/kewp-healthcheck."""
    lines = "".join(f"KEWP_HEALTHCHECK_{k}={v}\\n" for k, v in settings.items())
    sh(host, f"mkdir -p {DROPIN_DIR} && printf '{lines}' > {TEST_ENV} "
             f"&& printf '[Service]\\nEnvironmentFile={TEST_ENV}\\n' > {DROPIN_DIR}/90-test.conf "
             "&& systemctl daemon-reload")


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    pytest.fail(f"not within {seconds:.0f} s: {what}")


def ensure_app_ready(host: Host) -> None:
    if not host.service("kewp.service").is_running or not container_state(host).startswith("running"):
        host.run("docker unpause kewp")
        host.run("systemctl reset-failed kewp.service")
        sh(host, "systemctl restart kewp.service")
    sh(host, "/usr/local/libexec/kewp/wait-ready --quiet --timeout 300")


@pytest.fixture(scope="module", autouse=True)
def app(host: Host) -> Iterator[None]:
    """The app running and ready, a good backup taken, the timer held; all restored afterwards."""
    if not host.file("/etc/systemd/system/kewp.service").exists:
        pytest.skip("kewp.service is not installed: the kewp_app role is not in playbooks/site.yml yet")
    sh(host, f"systemctl stop {TIMER}")
    ensure_app_ready(host)
    sh(host, "kewpctl backup-now")
    yield
    host.run(f"rm -rf {DROPIN_DIR} {TEST_ENV} && systemctl daemon-reload")
    ensure_app_ready(host)
    host.run(f"systemctl reset-failed {WATCH} kewp-backup.service 'kewp-alert@*'")
    sh(host, f"systemctl start {TIMER}")


# ---------------------------------------------------------------- installed


def test_kewpctl_is_installed_for_root(host: Host) -> None:
    f = host.file("/usr/local/bin/kewpctl")
    assert f.user == "root" and f.mode == 0o755


def test_health_watch_runs_as_root_without_capabilities_and_read_only(host: Host) -> None:
    props = host.service(WATCH).systemd_properties
    # An empty bounding set: testinfra leaves empty properties out.
    assert sh(host, f"systemctl show -p CapabilityBoundingSet --value {WATCH}").strip() == ""
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    assert "kewp-healthcheck" in props["StateDirectory"]
    assert props["OnFailure"] == ALERT


def test_health_watch_timer_is_enabled(host: Host) -> None:
    assert host.service(TIMER).is_enabled


def test_units_pass_systemd_analyze_verify(host: Host) -> None:
    sh(host, f"systemd-analyze verify --man=no {WATCH} {TIMER}")


# ---------------------------------------------------------------- kewpctl status


def test_status_exits_0_on_a_healthy_host(host: Host) -> None:
    # The held timer is itself a finding: the watch is off during this module.
    code, out = kewpctl_status(host)
    problems = [line for line in out.splitlines() if line.startswith("! ")]
    assert problems == [f"! the health watch is OFF ({TIMER} is inactive): systemctl start {TIMER} "
                        "when maintenance is over"], out
    sh(host, f"systemctl start {TIMER}")
    try:
        code, out = kewpctl_status(host)
    finally:
        sh(host, f"systemctl stop {TIMER}")
    assert code == 0, out
    for label in ("service", "container", "version", "ready", "health", "workers", "database", "backups",
                  "disk", "units"):
        assert any(line.startswith(label) for line in out.splitlines()), f"no {label} line:\n{out}"
    assert "ready      yes" in out
    assert "2 of 2 running" in out, out


def test_status_shows_the_container_id_that_systemctl_show_gives(host: Host) -> None:
    status_text = host.service("kewp.service").systemd_properties["StatusText"]
    container_id = container_state(host).split()[1][:12]
    assert container_id in status_text
    assert container_id in kewpctl_status(host)[1]


def test_status_names_a_container_stopped_behind_systemds_back(host: Host) -> None:
    # docker stop ends `docker run` (SIGKILL after 10 s: exit 137); systemd restarts the unit after
    # RestartSec=10, and until the app is ready again kewpctl must say why it is down.
    sh(host, "docker stop kewp")
    try:
        code, out = kewpctl_status(host)
        assert code == 1, out
        assert "docker stop kewp" in out, out
        assert "NOT READY" in out, out
    finally:
        ensure_app_ready(host)


def test_status_names_a_paused_container(host: Host) -> None:
    sh(host, "docker pause kewp")
    try:
        code, out = kewpctl_status(host)
        assert code == 1, out
        assert "is PAUSED" in out, out
    finally:
        sh(host, "docker unpause kewp")


def test_status_names_a_backup_older_than_its_threshold(host: Host) -> None:
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    directory = "/var/backups/kewp-oncall-test"
    sh(host, f"rm -rf {directory} && install -d -o kewp -g kewp -m 0750 {directory}")
    sh(host, f"runuser -u kewp -- kewp-backup --dir {directory} backup --now {old}")
    try:
        code, out = kewpctl_status(host, env=f"KEWP_ONCALL_BACKUP_DIR={directory}")
        assert code == 1, out
        assert "the newest good backup is 5 h" in out and "over the 2 h limit" in out, out
        # A smaller threshold makes the real, fresh backup "old" too.
        code, out = kewpctl_status(host, env="KEWP_ONCALL_BACKUP_MAX_AGE_HOURS=0.0001")
        assert code == 1 and "over the 0.0001 h limit" in out, out
    finally:
        host.run(f"rm -rf {directory}")


def test_status_names_a_failed_backup_unit(host: Host) -> None:
    dropin = "/run/systemd/system/kewp-backup.service.d"
    sh(host, f"mkdir -p {dropin} && printf '[Service]\\nEnvironment=KEWP_BACKUP_DB=/var/lib/kewp/missing.db\\n' "
             f"> {dropin}/90-test.conf && systemctl daemon-reload")
    try:
        assert host.run("kewpctl backup-now").rc == 1
        code, out = kewpctl_status(host)
        assert code == 1, out
        assert "kewp-backup.service FAILED" in out and "runbook: backup-failed" in out, out
    finally:
        host.run(f"rm -rf {dropin} && systemctl daemon-reload && systemctl reset-failed kewp-backup.service")
    assert host.run("kewpctl backup-now").rc == 0


# ---------------------------------------------------------------- health watch


def test_watch_restarts_a_hung_app_and_alerts(host: Host) -> None:
    set_watch(host, FAILURES=2, TIMEOUT=3, BACKOFF=0)
    host.run(f"systemctl reset-failed {WATCH} {ALERT}")
    before = watch_state(host).get("restarts_total", 0)
    old_id = container_state(host).split()[1]
    alerts_before = host.run(f"journalctl -u {ALERT} -o cat --no-pager | grep -c 'ALERT kewp'").stdout.strip()
    sh(host, "docker pause kewp")
    started = time.monotonic()
    assert run_watch(host) == 0, "one failed check is below the threshold of 2"
    assert watch_state(host)["consecutive_failures"] == 1
    assert run_watch(host) == 3, "the second failed check restarts the app"
    took = time.monotonic() - started
    state, new = watch_state(host), container_state(host)
    assert new.startswith("running ") and new.split()[1] != old_id, new
    assert state["restarts_total"] == before + 1
    assert host.file(f"{STATE_DIR}/restarts").content_string.strip() == str(before + 1)
    assert took < 360, f"the hung app was back after {took:.0f} s"
    journal = sh(host, f"journalctl -u {WATCH} -o cat --no-pager -n 20")
    assert f"RESTART #{before + 1} of kewp.service" in journal
    wait_for(lambda: host.run(f"journalctl -u {ALERT} -o cat --no-pager | grep -c 'ALERT kewp'").stdout.strip()
             != alerts_before, 60, f"{ALERT} logs a new alert")
    alert = sh(host, f"journalctl -u {ALERT} -o cat --no-pager | grep 'ALERT kewp' | tail -n 1")
    assert "runbook: docs/oncall.md#health-watch-alerts;" in alert   # the watch's section, not the backup's
    assert f"watch restarts: {before + 1} total" in kewpctl_status(host)[1]


def test_watch_does_not_restart_a_permanently_broken_app_beyond_its_limit(host: Host) -> None:
    directory = f"{STATE_DIR}/limit-test"
    host.run(f"rm -rf {directory}")
    set_watch(host, FAILURES=1, TIMEOUT=3, BACKOFF=0, MAX_RESTARTS=2, STATE_DIR=directory)
    codes = []
    try:
        for _ in range(4):
            # Permanently broken: whatever the watch does, the app hangs again.
            if container_state(host).startswith("running"):
                sh(host, "docker pause kewp")
            host.run(f"systemctl reset-failed {WATCH}")
            codes.append(run_watch(host))
        state = watch_state(host, directory)
        assert codes == [3, 3, 4, 0], codes
        assert state["restarts_total"] == 2
        assert state["gave_up_at"]
        assert container_state(host).startswith("paused"), "after giving up the app is left alone"
        assert "giving up" in sh(host, f"journalctl -u {WATCH} -o cat --no-pager -n 30")
        # Fixed by a human: the next good check re-arms the watch.
        sh(host, "docker unpause kewp")
        assert run_watch(host) == 0
        assert not watch_state(host, directory)["gave_up_at"]
    finally:
        host.run("docker unpause kewp")
        host.run(f"rm -rf {directory}")
