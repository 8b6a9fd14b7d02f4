"""kewp_app on the converged local VPS: the service, the container, the data, and deploys.

prometheus-community style: one behaviour per test, on the real host (the session fixture
in conftest.py converged site.yml twice). A failing test shows `journalctl -u kewp`.
The tests that change the host (a bad setting, a broken deploy, a reboot) put it back and
run last in this module, the reboot last of all.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from .conftest import ANSIBLE_PLAYBOOK, INVENTORY, LOG_DIR, REPO, PlaybookRun, live_port, local_vps

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "docker")
UID = 10001
DATA_DIR = "/var/lib/kewp"
DATABASE = f"{DATA_DIR}/ke_wp_mapping.db"
READY_TIMEOUT = 240


# ---------------------------------------------------------------- helpers

def readyz(host) -> tuple[int, dict]:
    """/readyz from inside the VPS: (HTTP status, JSON body)."""
    script = (
        "import json, sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen('http://127.0.0.1:{live_port(host)}/readyz', timeout=10)\n"
        "    print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
    )
    out = host.check_output("python3 -c %s", script)
    status, _, body = out.partition("\n")
    return int(status), json.loads(body or "{}")


def wait_until_active(host, timeout: float = READY_TIMEOUT) -> str:
    """Wait for kewp.service to be active (= ready: ExecStartPost waited for /readyz)."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        state = host.run("systemctl is-active kewp.service").stdout.strip()
        if state == "active":
            return state
        time.sleep(2)
    return state


def kewp_as_sql(host, sql: str) -> str:
    """Run SQL on the live database as the kewp user, as the backup job does (never as root,
    which would leave root-owned -wal/-shm files behind)."""
    return host.check_output("runuser -u kewp -- sqlite3 %s %s", DATABASE, sql)


def user_exists(host, name: str) -> bool:
    return kewp_as_sql(host, f"SELECT count(*) FROM users WHERE username = '{name}'") == "1"


def run_deploy(*extra: str, label: str) -> PlaybookRun:
    """playbooks/deploy.yml against the local VPS (the conftest runs site.yml the same way)."""
    args = [str(ANSIBLE_PLAYBOOK), "-i", str(INVENTORY), str(REPO / "playbooks" / "deploy.yml"), *extra]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    proc = subprocess.run(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    seconds = time.monotonic() - start
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{label}.log"
    log.write_text(f"$ {' '.join(args)}\n{proc.stdout}\n[exit {proc.returncode}, {seconds:.1f} s]\n")
    return PlaybookRun(args, proc.returncode, proc.stdout, seconds, log)


def current_image(host) -> str:
    env = host.check_output("systemctl show --property=Environment --value kewp.service")
    return next(item.split("=", 1)[1] for item in env.split() if item.startswith("KEWP_IMAGE="))


# ---------------------------------------------------------------- the service

def test_kewp_service_is_enabled_and_active(host):
    service = host.service("kewp")
    assert service.is_enabled
    assert service.is_running
    assert host.run("systemctl is-active kewp.service").stdout.strip() == "active"


def test_kewp_unit_runs_the_image_built_on_the_host(host):
    image = current_image(host)
    assert image.startswith("kewp:")
    assert host.run("docker image inspect %s", image).rc == 0
    running = host.check_output("docker inspect --format '{{.Config.Image}}' kewp")
    assert running == image


def test_status_line_says_version_workers_and_container(host):
    status = host.check_output("systemctl show --property=StatusText --value kewp.service")
    container_id = host.check_output("docker inspect --format '{{.Id}}' kewp")
    version = host.check_output(
        "docker inspect --format '{{index .Config.Labels \"org.opencontainers.image.version\"}}' kewp")
    assert status.startswith("ready: kewp "), status
    assert version in status
    assert "2/2 workers" in status, status
    assert f"container {container_id[:12]}" in status, status
    assert host.check_output("cat /run/kewp/kewp.cid") == container_id


def test_status_shows_the_readiness_line(host):
    # What on-call sees first: the Status: line of `systemctl status kewp`.
    out = host.run("systemctl status --no-pager --lines 0 kewp.service").stdout
    assert 'Status: "ready: kewp ' in out, out


def test_unit_is_hardened_for_the_docker_client(host):
    props = host.service("kewp").systemd_properties
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert host.check_output("systemctl show --property=CapabilityBoundingSet --value kewp.service") == ""
    assert props["Restart"] == "on-failure"
    assert props["Requires"].split().count("docker.service") == 1


def test_unit_exposure_is_low(host):
    # systemd's own score for what runs in the unit (the docker client and wait-ready).
    out = host.check_output("systemd-analyze security --no-pager kewp.service | tail -n 1")
    score = float(out.split("kewp.service:")[1].split()[0])
    assert score <= 3.0, out


def test_unit_file_verifies(host):
    result = host.run("systemd-analyze verify --man=no /etc/systemd/system/kewp.service")
    assert result.rc == 0, result.stderr


# ---------------------------------------------------------------- the container

def test_container_runs_as_the_kewp_uid(host):
    assert host.user("kewp").uid == UID
    assert host.check_output("docker inspect --format '{{.Config.User}}' kewp") == f"{UID}:{UID}"
    procs = host.check_output("docker top kewp -o pid,uid,args").splitlines()[1:]
    assert len(procs) >= 4, procs  # docker-init, the gunicorn master, two workers
    for line in procs:
        assert line.split()[1] == str(UID), line


def test_container_is_confined(host):
    inspect = json.loads(host.check_output("docker inspect kewp"))[0]["HostConfig"]
    assert inspect["ReadonlyRootfs"] is True
    assert inspect["CapDrop"] == ["ALL"]
    assert any(opt.startswith("no-new-privileges") for opt in inspect["SecurityOpt"])
    assert inspect["Memory"] > 0
    assert inspect["PidsLimit"] > 0
    assert inspect["Init"] is True
    assert inspect["Tmpfs"].keys() == {"/tmp"}
    bindings = inspect["PortBindings"]["8000/tcp"]  # the container's side; the host's is the colour's
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]


def test_data_directory_belongs_to_kewp(host):
    data = host.file(DATA_DIR)
    assert data.is_directory
    assert data.user == "kewp"
    assert data.group == "kewp"
    assert data.mode == 0o750


def test_env_file_is_root_only(host):
    env = host.file("/etc/kewp/kewp.env")
    assert env.user == "root"
    assert env.group == "root"
    assert env.mode == 0o600
    assert env.contains("^KEWP_WORKERS=2$")


def test_app_port_listens_on_loopback_only(host):
    port = live_port(host)  # blue 8000 or green 8001
    sockets = [s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}")]
    assert sockets == [f"tcp://127.0.0.1:{port}"], sockets


def test_app_ports_are_closed_from_outside(host, vps_address):
    for port in (8000, 8001):
        with socket.socket() as sock:
            sock.settimeout(3)
            assert sock.connect_ex((vps_address, port)) != 0


def test_readyz_answers_200_inside_the_vps(host):
    status, body = readyz(host)
    assert status == 200, body
    assert body["ready"] is True


def test_database_is_wal_at_the_fixed_path(host):
    assert host.file(DATABASE).user == "kewp"
    assert kewp_as_sql(host, "PRAGMA journal_mode") == "wal"


def test_embeddings_are_in_the_data_directory(host):
    manifest = host.file(f"{DATA_DIR}/embeddings/manifest.json")
    assert manifest.exists
    assert manifest.user == "kewp"


def test_catalogue_was_imported_once(host):
    assert host.file(f"{DATA_DIR}/.kewp-seed-imported").exists
    assert int(kewp_as_sql(host, "SELECT count(*) FROM key_events")) > 1000


def test_admin_account_exists(host):
    assert kewp_as_sql(host, "SELECT role FROM users WHERE username = 'admin'") == "admin"


def test_report_figures(host, deployment, capsys):
    """Not a check: prints the figures the role's note asks for (image size, memory)."""
    image = current_image(host)
    size = host.check_output("docker image inspect --format '{{.Size}}' %s", image)
    pids = host.check_output("docker top kewp -o pid,ppid,args").splitlines()[1:]
    status = host.check_output("systemctl show --property=StatusText --value kewp.service")
    lines = [f"fresh converge {deployment.first.seconds:.0f} s", f"idempotent re-run {deployment.second.seconds:.0f} s",
             f"image {image}: {int(size) / 1e6:.0f} MB", f"status: {status}"]
    for line in pids:
        pid, ppid, args = line.split(None, 2)
        if "gunicorn" not in args or "docker-init" in args:
            continue
        pss = host.run("awk '/^Pss:/ {print $2}' /proc/%s/smaps_rollup", pid).stdout.strip()
        lines.append(f"pid {pid} (parent {ppid}) PSS {int(pss or 0) / 1024:.0f} MiB: {args[:60]}")
    with capsys.disabled():
        sys.stdout.write("\nkewp_app figures: " + "; ".join(lines) + "\n")
    assert len(lines) >= 7  # master and two workers


# ---------------------------------------------------------------- the role's own checks

def test_wrong_variable_fails_at_the_start_with_the_argument_spec_message(deployment, site_playbook):
    run = site_playbook("--tags", "kewp_app", "-e", "kewp_app_workers=many", label="kewp-app-bad-workers")
    assert run.returncode != 0
    assert "argument 'kewp_app_workers' is of type str and we were unable to convert to int" in run.output, run.tail()
    assert run.total("changed") == 0
    # It is the role's first task that fails: before it only the facts, the argument checks and
    # kewp_host ran (kewp_app's declared dependency runs before kewp_app's own argument check).
    # site.yml's first play (playbooks/preflight.yml, the inventory check) runs before the converge
    # play gathers facts: only the converge play's tasks count here.
    tasks = [line.split("[", 1)[1].rsplit("]", 1)[0] for line in run.output.splitlines() if line.startswith("TASK [")]
    tasks = tasks[tasks.index("Gathering Facts"):]
    assert tasks[-1].startswith("kewp_app : Validating arguments against arg spec 'main'"), tasks
    assert all(t == "Gathering Facts" or "Validating arguments" in t or t.startswith("kewp_host : ")
               for t in tasks), tasks


def test_readiness_failure_fails_the_play_with_the_journal(host, deployment, site_playbook):
    # A setting that makes the app unready (no embeddings there) and a short timeout.
    bad = site_playbook(
        "--tags", "kewp_app", "-e", "kewp_app_ready_timeout=30",
        "-e", '{"kewp_app_extra_env": {"KEWP_EMBEDDINGS_DIR": "/app/data/no-such-dir"}}',
        label="kewp-app-not-ready",
    )
    good = site_playbook("--tags", "kewp_app", label="kewp-app-restored")
    assert bad.returncode != 0
    assert "Fail because kewp did not become ready" in bad.output
    assert "journalctl -u kewp -n 50:" in bad.output
    assert "kewp.service (kewp:" in bad.output
    assert good.returncode == 0, good.tail()
    assert wait_until_active(host) == "active"


def test_deploy_of_a_broken_version_rolls_back(host, tmp_path):
    before = current_image(host)
    # A copy of the repository whose app cannot start: a new version that must not stay.
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "build", "node_modules",
                                                            "__pycache__", "test-artifacts"))
    (src / "gunicorn.conf.py").write_text((REPO / "gunicorn.conf.py").read_text()
                                          + "\nraise SystemExit('deliberately broken version (deploy test)')\n")
    run = run_deploy("-e", f"kewp_app_source_dir={src}",
                     "-e", f"kewp_app_wheelhouse_dir={REPO / 'build' / 'wheelhouse'}",
                     "-e", "kewp_app_version=broken-deploy-test", "-e", "kewp_app_ready_timeout=60",
                     label="deploy-broken")
    assert run.returncode != 0
    assert "ROLLED BACK" in run.output, run.tail()
    assert wait_until_active(host) == "active"
    assert current_image(host) == before
    assert readyz(host)[0] == 200


def test_deploy_of_the_same_version_changes_nothing(host):
    before = current_image(host)
    run = run_deploy(label="deploy-same")
    assert run.returncode == 0, run.tail()
    assert run.total("changed") == 0, run.changed_tasks()
    assert current_image(host) == before


# ---------------------------------------------------------------- a write that lasts (reboot last)

def test_curator_write_survives_restart_and_reboot(host, vps_address):
    name = f"curator-{uuid.uuid4().hex[:8]}"
    created = host.run("printf '%%s\\n' %s | docker exec -i kewp flask --app app users add %s --role curator "
                       "--password-stdin", uuid.uuid4().hex, name)
    assert created.rc == 0, created.stderr
    assert user_exists(host, name)

    assert host.run("systemctl restart kewp.service").rc == 0
    assert wait_until_active(host) == "active"
    assert user_exists(host, name)
    assert readyz(host)[0] == 200

    host.run("systemctl reboot")  # the connection drops (ssh exit 255): expected
    time.sleep(5)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        probe = subprocess.run([str(REPO / "scripts" / "local-vps"), "ssh", "--", "true"], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            break
        time.sleep(2)
    else:
        pytest.fail(f"the VPS did not come back after a reboot:\n{local_vps('status')}")
    assert wait_until_active(host) == "active", host.run("journalctl -b -u kewp --no-pager -n 50").stdout
    assert host.service("kewp").is_enabled
    assert user_exists(host, name)
    assert readyz(host)[0] == 200
