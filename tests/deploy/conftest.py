"""Deploy tests: converge playbooks/site.yml on a fresh local VPS, then check the host.

The session starts with `scripts/local-vps down; up` (a new VPS from the cached image),
converges `playbooks/site.yml` with `inventory/local`, converges it again, and hands a
testinfra host to the tests. Needs root (the local VPS does). Slow: run it on its own with
`.venv/bin/pytest tests/deploy`.

Environment:
  KEWP_KEEP_VPS=1          leave the VPS running at the end (to look around: scripts/local-vps ssh)
  KEWP_REUSE_VPS=1         while developing: keep a running VPS and converge it once instead of a
                           fresh VPS converged twice (the converge tests of test_site then skip)
  KEWP_DEPLOY_TAGS=a,b     converge (and check) only these roles' tags, e.g. common,docker while
                           working on them; the tests of the other roles then fail
  KEWP_MORE_DEPLOY_TESTS=1 also run the suites that converge the VPS again or boot a second one
                           (MORE_SUITES below; `make deploy-test-more`); `make test` leaves them out
                           to stay inside CI's time

Ansible output is kept in build/deploy-tests/*.log.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra
from testinfra.host import Host

REPO = Path(__file__).resolve().parents[2]
LOCAL_VPS = REPO / "scripts" / "local-vps"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SITE_PLAYBOOK = REPO / "playbooks" / "site.yml"
INVENTORY = REPO / "inventory" / "local"
VPS_FILES = Path(os.environ.get("KEWP_VPS_CACHE", REPO / ".cache" / "local-vps"))
SSH_CONFIG = VPS_FILES / "ssh_config"
SSH_KEY = VPS_FILES / "id_ed25519"
LOG_DIR = REPO / "build" / "deploy-tests"
REUSE_VPS = os.environ.get("KEWP_REUSE_VPS") == "1"

# Each of these converges the shared VPS again (off-site on and off, a failing ACME server, SSH on
# another port) or boots a VPS of its own (a backup VPS, disaster recovery, README's production
# walkthrough from scratch), or deploys new versions under load (blue/green): together about
# 30 min more than `make test` may take.
MORE_SUITES = ["test_backup_host.py", "test_replicate.py", "test_offsite_restic.py", "test_nginx_acme_failure.py",
               "test_disaster_recovery.py", "test_ssh_port.py", "test_bluegreen.py",
               "test_production_walkthrough.py"]
collect_ignore = [] if os.environ.get("KEWP_MORE_DEPLOY_TESTS") == "1" else MORE_SUITES

# Units whose journal a failing test shows; a test module can set JOURNAL_UNITS instead.
DEFAULT_JOURNAL_UNITS = ("docker", "containerd", "systemd-journald", "systemd-timesyncd")

RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.MULTILINE,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deploy: converges and checks the local VPS (slow; needs root)")


def link_ip(vps_address: str) -> str:
    """This machine's end of a local VPS's link (.1 of its /24): where test servers for it listen."""
    return vps_address.rsplit(".", 1)[0] + ".1"


def live_port(host: Host) -> int:
    """The loopback port of the colour that serves (blue/green, kewp-release's live.env); 8000 before any switch."""
    got = host.run("sed -n 's/^KEWP_HOST_PORT=//p' /var/lib/kewp-release/live.env 2>/dev/null")
    return int(got.stdout.strip() or 8000)


@dataclass
class PlaybookRun:
    """One ansible-playbook run: its command, exit code, output and PLAY RECAP counts."""

    args: list[str]
    returncode: int
    output: str
    seconds: float
    log: Path

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(v) for k, v in m.groupdict().items() if k != "host"}
            for m in RECAP_LINE.finditer(self.output)
        }

    def total(self, counter: str) -> int:
        return sum(counts[counter] for counts in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported `changed`, for a readable failure."""
        tasks, current = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:"):
                tasks.append(current)
        return tasks

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_playbook(*extra: str, label: str, playbook: Path = SITE_PLAYBOOK,
                 env: dict[str, str] | None = None) -> PlaybookRun:
    """Run a playbook (site.yml) against the local VPS with extra arguments and environment
    (env: e.g. another KEWP_VPS_SUBNET for another app VPS); never raises."""
    args = [str(ANSIBLE_PLAYBOOK), "-i", str(INVENTORY), str(playbook), *extra]
    tags = os.environ.get("KEWP_DEPLOY_TAGS", "").strip()
    if tags and "--tags" not in extra:
        args += ["--tags", tags]
    env = {
        **os.environ,
        **(env or {}),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PYTHONUNBUFFERED": "1",
    }
    start = time.monotonic()
    proc = subprocess.run(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    seconds = time.monotonic() - start
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{label}.log"
    log.write_text(f"$ {' '.join(args)}\n{proc.stdout}\n[exit {proc.returncode}, {seconds:.1f} s]\n")
    return PlaybookRun(args, proc.returncode, proc.stdout, seconds, log)


def local_vps(*args: str) -> str:
    proc = subprocess.run(
        [str(LOCAL_VPS), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/local-vps {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


@dataclass
class Deployment:
    """The converged local VPS: its address and the two converge runs."""

    address: str
    first: PlaybookRun
    second: PlaybookRun
    timings: dict[str, float] = field(default_factory=dict)


_timings: dict[str, float] = {}
# Figures a suite wants in the run's summary (e.g. the fault suite's acknowledged vs stored).
summary_lines: list[str] = []


def _say(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"deploy: {message}")


@pytest.fixture(scope="session")
def vps_address(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh local VPS for this session; torn down at the end unless KEWP_KEEP_VPS=1."""
    if os.geteuid() != 0:
        pytest.fail("the deploy tests need root (scripts/local-vps boots a systemd-nspawn VPS): run them with sudo")
    config = request.config
    if REUSE_VPS and subprocess.run([str(LOCAL_VPS), "status"], capture_output=True, check=False).returncode == 0:
        _say(config, "KEWP_REUSE_VPS=1: using the running local VPS")
        yield local_vps("address").strip()
        return
    _say(config, "replacing the local VPS with a fresh one (scripts/local-vps down; up)")
    local_vps("down")
    start = time.monotonic()
    local_vps("up")
    _timings["local-vps up"] = time.monotonic() - start
    address = local_vps("address").strip()
    yield address
    if os.environ.get("KEWP_KEEP_VPS") == "1":
        _say(config, f"KEWP_KEEP_VPS=1: the VPS stays up at {address} (scripts/local-vps ssh; down)")
    else:
        local_vps("down")


@pytest.fixture(scope="session")
def deployment(request: pytest.FixtureRequest, vps_address: str) -> Deployment:
    """The local VPS converged twice with playbooks/site.yml."""
    config = request.config
    _say(config, f"converging playbooks/site.yml on {vps_address} (a few minutes)")
    first = run_playbook(label="converge-1")
    _timings["fresh converge"] = first.seconds
    if first.returncode != 0:
        pytest.fail(f"the first converge failed (exit {first.returncode}; log {first.log}):\n{first.tail()}")
    if REUSE_VPS:
        return Deployment(vps_address, first, first, dict(_timings))
    _say(config, f"converged in {first.seconds:.0f} s; converging again (must change nothing)")
    second = run_playbook(label="converge-2")
    _timings["idempotent re-run"] = second.seconds
    if second.returncode != 0:
        pytest.fail(f"the second converge failed (exit {second.returncode}; log {second.log}):\n{second.tail()}")
    return Deployment(vps_address, first, second, dict(_timings))


def settled(host: Host, unit: str, timeout: float = 180) -> dict[str, str]:
    """The unit's properties once its run (started by OnSuccess= or by hand) is over: no start job
    queued for it and not active(ating)."""
    deadline = time.monotonic() + timeout
    while True:
        out = host.check_output(f"systemctl show {unit} -p ActiveState -p Result -p ExecMainStatus")
        props = dict(line.split("=", 1) for line in out.splitlines())
        queued = host.check_output(f"systemctl list-jobs --no-legend {unit} || true")
        if (props["ActiveState"] in ("inactive", "failed") and not queued) or time.monotonic() > deadline:
            return props
        time.sleep(1)


@pytest.fixture(scope="session")
def site_playbook(vps_address: str) -> Callable[..., PlaybookRun]:
    """Run playbooks/site.yml on the local VPS with extra arguments: site_playbook(*args, label=...)."""
    return run_playbook


@pytest.fixture(scope="session")
def host(deployment: Deployment) -> Host:
    """The converged VPS, as root over ssh (overrides testinfra's own `host` fixture)."""
    return testinfra.get_host(
        f"ssh://root@{deployment.address}", ssh_config=str(SSH_CONFIG), ssh_identity_file=str(SSH_KEY)
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test, attach the journal of the units it is about (from the VPS)."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    test_host = getattr(item, "funcargs", {}).get("host")
    if test_host is None:
        return
    units = getattr(item.module, "JOURNAL_UNITS", DEFAULT_JOURNAL_UNITS)
    unit_args = " ".join(f"-u {unit}" for unit in units)
    try:
        journal = test_host.run(f"journalctl --no-pager -n 100 {unit_args}").stdout
    except Exception as exc:  # noqa: BLE001 - the report must not hide the test's own failure
        journal = f"(could not read the journal: {exc})"
    report.sections.append((f"journalctl {unit_args} -n 100 (on the VPS)", journal))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _timings:
        figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in _timings.items())
        terminalreporter.write_line(f"deploy timings: {figures}")
    for line in summary_lines:
        terminalreporter.write_line(line)
