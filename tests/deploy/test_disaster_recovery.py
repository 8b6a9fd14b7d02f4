"""Disaster recovery end to end: playbooks/recover.yml onto a fresh VPS after the app VPS is lost hard.

Three local VPSes of this suite's own (the session's shared VPS is never touched): the backup host
(offsite.py's backup VPS, role backup_host), an app VPS converged with replication (Litestream) and
off-site restic copies on, and a fresh VPS that replaces it. Eight signed-in curators propose over
HTTPS; each 303 is recorded with its time; then the app VPS's init is SIGKILLed (every process in
it dies at once, no shutdown, nothing flushed) and its files are removed (scripts/local-vps down).
A fresh VPS boots and recover.yml (same inventory name, new address) makes it the kewp host again.

Measured and put in the run's summary:
  RPO  the age, at the loss, of the oldest acknowledged proposal that is missing (0 if none):
       every proposal acknowledged longer ago than that is back. Goal: <= 2 s under 8 writers.
  RTO  from the fresh VPS's boot to the site serving /readyz over HTTPS, split into boot, the
       converge before the restore, the restore, and the rest of the converge up to serving.
       Goal: <= 6 min on this 2-core machine.

Environment (each VPS its own name and /24; defaults kept apart from the other suites'):
  KEWP_DR_APP_VPS_NAME / KEWP_DR_APP_VPS_SUBNET   the app VPS that is lost (kewp-drapp, 10.236.0.0/24)
  KEWP_DR_NEW_VPS_NAME / KEWP_DR_NEW_VPS_SUBNET   the fresh one (kewp-drnew, 10.237.0.0/24)
  KEWP_BACKUP_VPS_NAME / KEWP_BACKUP_VPS_SUBNET   the backup VPS (offsite.py)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import testinfra
from testinfra.host import Host

from .conftest import LOCAL_VPS, REPO, SSH_CONFIG, SSH_KEY, VPS_FILES, PlaybookRun, run_playbook, summary_lines
from .offsite import BACKUP_ADDRESS, BACKUP_SUBNET, backup_host_in_inventory, backup_root_ssh, backup_vps
from .test_faults import Storm, curator_accounts, signed_in_curators, unproposed_pairs

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "kewp-replicate", "kewp-backup", "kewp-offsite")
RECOVER_PLAYBOOK = REPO / "playbooks" / "recover.yml"
APP_NAME = os.environ.get("KEWP_DR_APP_VPS_NAME", "kewp-drapp")
APP_SUBNET = os.environ.get("KEWP_DR_APP_VPS_SUBNET", "10.236.0.0/24")
NEW_NAME = os.environ.get("KEWP_DR_NEW_VPS_NAME", "kewp-drnew")
NEW_SUBNET = os.environ.get("KEWP_DR_NEW_VPS_SUBNET", "10.237.0.0/24")
ACCOUNT = "kewp-local-vps"   # the inventory name local-vps's account on the backup host
DB = "/var/lib/kewp/ke_wp_mapping.db"
SQL = f"runuser -u kewp -- sqlite3 -cmd '.timeout 10000' {DB}"
WRITERS = 8
STORM_SECONDS = 25
RPO_GOAL = 2.0
RTO_GOAL = 6 * 60.0
# Off-site restic copies on, through the same account and pinned keys as replication (kewp_offsite).
OFFSITE_VARS = json.dumps({
    "kewp_backup_offsite_repository": f"sftp:{ACCOUNT}@{BACKUP_ADDRESS}:/restic",
    "kewp_backup_offsite_ssh_key": "/etc/kewp/offsite/kewp-offsite-key",
    "kewp_backup_offsite_known_hosts": "/etc/kewp/offsite/kewp-offsite-known-hosts",
})
PROFILE_LINE = re.compile(r"\(\d+:\d\d:\d\d\.\d+\)\s+(\d+):(\d\d):(\d\d\.\d+)")


def address(subnet: str) -> str:
    return subnet.removesuffix(".0/24") + ".2"


def vps(name: str, subnet: str, *args: str) -> subprocess.CompletedProcess[str]:
    """scripts/local-vps ARGS for one of this suite's app VPSes (its only peer: the backup VPS)."""
    env = {**os.environ, "KEWP_VPS_NAME": name, "KEWP_VPS_SUBNET": subnet, "KEWP_VPS_PEERS": BACKUP_SUBNET}
    return subprocess.run([str(LOCAL_VPS), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)


def vps_up(name: str, subnet: str) -> None:
    vps(name, subnet, "down")
    up = vps(name, subnet, "up")
    assert up.returncode == 0, f"scripts/local-vps up ({name}) failed:\n{up.stdout}{up.stderr}"


def ssh_host(subnet: str) -> Host:
    return testinfra.get_host(f"ssh://root@{address(subnet)}", ssh_config=str(SSH_CONFIG),
                              ssh_identity_file=str(SSH_KEY))


def lose_hard(name: str) -> None:
    """Power cut: SIGKILL the VPS's init (the kernel kills everything in its PID namespace at once;
    nothing is shut down or flushed), then remove its files (scripts/local-vps down)."""
    state = VPS_FILES / "vps" / name
    nspawn = int((state / "nspawn.pid").read_text())
    children = Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()
    assert children, f"systemd-nspawn {nspawn} of {name} has no init"
    os.kill(int(children[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{nspawn}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def playbook(subnet: str, label: str, *extra: str, path: Path | None = None) -> PlaybookRun:
    """site.yml (or path) with the backup VPS in the inventory and local-vps at this subnet's VPS."""
    with backup_host_in_inventory():
        kwargs = {"playbook": path} if path else {}
        return run_playbook("-e", OFFSITE_VARS, *extra, label=label, env={"KEWP_VPS_SUBNET": subnet}, **kwargs)


def task_starts(run: PlaybookRun) -> list[tuple[str, float]]:
    """(task name, seconds since the run started) for each task, from profile_tasks' lines."""
    starts, current = [], None
    for line in run.output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            current = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif current and (m := PROFILE_LINE.search(line)):
            starts.append((current, int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])))
            current = None
    return starts


def first_start(starts: list[tuple[str, float]], fragment: str) -> float:
    found = [t for name, t in starts if fragment in name]
    assert found, f"no task matching {fragment!r} in the run"
    return found[0]


def proposals(host: Host) -> set[str]:
    return set(host.check_output(f"{SQL} \"SELECT rationale FROM proposals WHERE rationale LIKE "
                                 "'Fault test dr-%'\"").splitlines())


def serving(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", verify=False, timeout=5).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class Loss:
    """What happened: the storm, the loss, the recovery and its timings."""

    storm: Storm
    lost_at: float   # time.time() of the SIGKILL
    base: str        # the new host's https://
    host: Host       # the new host
    recover: PlaybookRun
    rto: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def backup_host() -> Iterator[None]:
    """The backup VPS, peered with this suite's two app VPSes only."""
    backup_vps("down")
    up = backup_vps("up", peers=[APP_SUBNET, NEW_SUBNET])
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    backup_vps("down")


@pytest.fixture(scope="module")
def loss(backup_host: None) -> Iterator[Loss]:
    """Converge, storm, lose the app VPS hard, recover onto a fresh one."""
    suite_started = time.monotonic()
    vps_up(APP_NAME, APP_SUBNET)
    try:
        first = playbook(APP_SUBNET, "dr-converge")
        assert first.returncode == 0, f"the app VPS's converge failed (log {first.log}):\n{first.tail()}"
        app = ssh_host(APP_SUBNET)
        accounts = curator_accounts(app, 2)
        curators = signed_in_curators(f"https://{address(APP_SUBNET)}", accounts, WRITERS)
        storm = Storm(curators, unproposed_pairs(app), "dr-" + os.urandom(3).hex())
        with storm:
            time.sleep(STORM_SECONDS)
            lost_at = time.time()
            lose_hard(APP_NAME)
    finally:
        vps(APP_NAME, APP_SUBNET, "down")
    assert storm.acknowledged(), f"no proposal was acknowledged before the loss:\n{storm.report()}"

    boot = time.monotonic()
    vps_up(NEW_NAME, NEW_SUBNET)
    booted = time.monotonic()
    try:
        recover = playbook(NEW_SUBNET, "dr-recover", path=RECOVER_PLAYBOOK)
        assert recover.returncode == 0, f"recover.yml failed (log {recover.log}):\n{recover.tail()}"
        base = f"https://{address(NEW_SUBNET)}"
        while not serving(base):
            assert time.monotonic() - booted < RTO_GOAL * 3, "the recovered site never served /readyz"
            time.sleep(0.5)
        up = time.monotonic()
        starts = task_starts(recover)
        restore_from = first_start(starts, "Look for a live database")
        history = first_start(starts, "Keep the replica restored from as history")
        restore_to = next(t for _, t in starts if t > history)   # site.yml's first task
        rto = {"boot": booted - boot, "converge before the restore": restore_from,
               "restore": restore_to - restore_from,
               "converge to serving": up - booted - restore_to, "RTO": up - boot}
        yield Loss(storm, lost_at, base, ssh_host(NEW_SUBNET), recover, rto)
    finally:
        print(f"\ndisaster recovery suite: {time.monotonic() - suite_started:.0f} s")
        if os.environ.get("KEWP_KEEP_VPS") != "1":
            vps(NEW_NAME, NEW_SUBNET, "down")


def test_every_proposal_acknowledged_before_the_rpo_is_back(loss: Loss) -> None:
    back = proposals(loss.host)
    acked = {r: t for c in loss.storm.curators for r, t in c.tally.acknowledged_at.items()}
    missing = {r: loss.lost_at - t for r, t in acked.items() if r not in back}
    rpo = max(missing.values(), default=0.0)
    newest_missing = min(missing.values(), default=0.0)
    figures = ", ".join(f"{k} {v:.1f} s" for k, v in loss.rto.items())
    summary_lines.append(
        f"disaster recovery: {WRITERS} writers, {loss.storm.posted()} posted, {len(acked)} acknowledged, "
        f"{len(missing)} acknowledged but missing after recover.yml; RPO {rpo:.2f} s (oldest missing; newest "
        f"missing {newest_missing:.2f} s before the loss); {figures}\n{loss.storm.report()}")
    assert rpo <= RPO_GOAL, (f"{len(missing)} acknowledged proposals are missing, the oldest acknowledged "
                             f"{rpo:.2f} s before the loss (goal {RPO_GOAL} s)")
    assert len(back) >= len(acked) - len(missing)


def test_rto_is_within_the_goal(loss: Loss) -> None:
    assert loss.rto["RTO"] <= RTO_GOAL, f"RTO {loss.rto['RTO']:.0f} s > {RTO_GOAL:.0f} s: {loss.rto}"


def test_the_recovered_database_is_intact(loss: Loss) -> None:
    assert loss.host.check_output(f"{SQL} 'PRAGMA integrity_check'") == "ok"
    assert "restored /var/lib/kewp/ke_wp_mapping.db" in loss.recover.output


def test_a_curators_session_survives_the_loss(loss: Loss) -> None:
    """The session cookie from before the loss still signs the curator in on the new host."""
    old = loss.storm.curators[0].session
    session = requests.Session()
    session.trust_env, session.verify = False, False
    for cookie in old.cookies:
        session.cookies.set(cookie.name, cookie.value)
    page = session.get(loss.base + "/mappings/mine", timeout=15, allow_redirects=False)
    assert page.status_code == 200, f"HTTP {page.status_code} (to {page.headers.get('Location')})"


def test_replication_resumes_into_a_new_replica_and_keeps_the_old_one(loss: Loss) -> None:
    assert loss.host.service("kewp-replicate").is_running
    listing = backup_root_ssh(f"ls /srv/kewp-backup/{ACCOUNT}/litestream /srv/kewp-backup/{ACCOUNT}/litestream/history")
    assert "ke_wp_mapping.db-until-" in listing, listing
    status = loss.host.run("kewpctl status")
    assert "replica" in status.stdout and "UNREACHABLE" not in status.stdout, status.stdout
