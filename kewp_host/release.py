"""kewp-release: start the app (kewp.service's ExecStart) and release a new container blue/green (ExecReload).

Installed by roles/kewp_host as /usr/local/libexec/kewp/kewp-release. Two colours, each with its own
loopback port (the drop-in's KEWP_BLUE_PORT, KEWP_GREEN_PORT); the state file
/var/lib/kewp-release/live.env names the colour that serves (kewp.service reads it as an
EnvironmentFile, so a reboot starts the colour that served last). The container that serves is
always named `kewp` (its docker client is the unit's main process); nginx's upstream is the include
file /var/lib/kewp-release/nginx-upstream.conf.

  kewp-release start    exec `docker run --name kewp` on the live colour's port (the unit's main process)
  kewp-release reload   `systemctl reload kewp`: start `kewp-candidate` on the other colour's port with
                        low CPU weight (the serving container keeps the CPU while the model loads),
                        wait for its /readyz, give it full weight, point nginx at it (nginx -t, then a
                        graceful reload), hand the unit's main PID to its docker client, rename it
                        `kewp`, then stop the old one (docker stop: gunicorn's graceful drain).
                        A candidate that never gets ready is removed: the old one never stopped
                        serving, and the reason is in the journal and in last-release.

The outcome of the last release is one line in /var/lib/kewp-release/last-release (the deploy
play shows it). Exit 0 released (or started), 1 not released, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from kewp_host import docker, readiness, systemd, wait_ready
from kewp_host.files import write_atomic

STATE_DIR = readiness.release_state_dir()
LIVE = "kewp"
CANDIDATE = "kewp-candidate"
DRAINING = "kewp-draining"
RUN_DIR = Path("/run/kewp")
CANDIDATE_CPU_SHARES = "128"  # docker's default is 1024: the serving container gets ~8x the CPU
FULL_CPU_SHARES = "1024"
DRAIN_SECONDS = 30  # docker stop --time: gunicorn's graceful_timeout
NGINX_SETTLE_SECONDS = 10.0  # at most, for nginx's old workers to finish their requests


def log(message: str) -> None:
    print(f"kewp-release: {message}", flush=True)


def colours() -> dict[str, str]:
    """Colour -> loopback port, from the unit's environment (the role's drop-in)."""
    return {"blue": os.environ.get("KEWP_BLUE_PORT", os.environ.get("KEWP_HOST_PORT", "8000")),
            "green": os.environ.get("KEWP_GREEN_PORT", "8001")}


def live_colour() -> str:
    colour = os.environ.get("KEWP_COLOUR", "blue")
    return colour if colour in ("blue", "green") else "blue"


def docker_run_argv(name: str, port: str, cidfile: Path, cpu_shares: str | None = None) -> list[str]:
    """The one `docker run` of the app (the confinement flags live here only)."""
    env = os.environ
    argv = ["/usr/bin/docker", "run", "--rm", "--name", name, "--init", "--pull", "never",
            "--cidfile", str(cidfile),
            "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",  # noqa: S108 (the container's own tmpfs)
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--memory", env["KEWP_MEMORY_LIMIT"], "--memory-swap", env["KEWP_MEMORY_LIMIT"],
            "--pids-limit", env["KEWP_PIDS_LIMIT"],
            "--user", f"{env['KEWP_UID']}:{env['KEWP_GID']}",
            "--publish", f"127.0.0.1:{port}:8000",
            "--volume", f"{env['KEWP_DATA_DIR']}:/app/data",
            "--env-file", env["KEWP_ENV_FILE"]]
    if cpu_shares:
        argv += ["--cpu-shares", cpu_shares]
    return [*argv, env["KEWP_IMAGE"]]


def start() -> int:
    """The unit's main process: the live colour's container, named kewp, in the foreground."""
    colour = live_colour()
    port = colours()[colour]
    log(f"starting {os.environ.get('KEWP_IMAGE', '?')} as {colour} on 127.0.0.1:{port}")
    argv = docker_run_argv(LIVE, port, RUN_DIR / "kewp.cid")
    os.execv(argv[0], argv)  # noqa: S606 (the docker client becomes the unit's main process)
    return 2  # not reached


def remove(name: str) -> None:
    if docker.inspect(name)[0] is not None:
        log(f"removing container {name}")
        docker.docker("rm", "--force", name, timeout=60)


def wait_until_ready(url: str, container: str, timeout: float) -> tuple[bool, str]:
    """(ready, last answer): probe like wait-ready, without touching the unit's status."""
    start_at = time.monotonic()
    deadline = start_at + timeout
    interval, last = 0.5, "nothing yet"
    next_check = start_at + 5.0
    while True:
        status, body = wait_ready.probe(url, timeout=5.0)
        if status == 200:
            return True, f"ready in {time.monotonic() - start_at:.1f} s"
        last = f"HTTP {status}: {body.strip()[:300]}" if status else body
        now = time.monotonic()
        if now >= deadline:
            return False, f"not ready after {now - start_at:.0f} s: {last}"
        if now >= next_check:
            next_check = now + 5.0
            info, _ = docker.inspect(container)
            if info is None or not info["State"].get("Running", False):
                state = "gone" if info is None else info["State"].get("Status")
                return False, f"container {container} {state} after {now - start_at:.0f} s; last answer: {last}"
        time.sleep(max(0.0, min(interval, deadline - now)))
        interval = min(interval * 1.5, 5.0)


def nginx_switch(port: str) -> str | None:
    """Point nginx's upstream at 127.0.0.1:port: write the include, nginx -t, graceful reload.
    Returns None when done, else why not (the previous include is then back in place)."""
    path = STATE_DIR / "nginx-upstream.conf"
    before = path.read_text(encoding="utf-8") if path.exists() else None
    write_atomic(path, f"# written by kewp-release: the colour that serves (live.env)\n"
                           f"server 127.0.0.1:{port};\n")
    # nginx -t opens nginx's logs, which this unit's sandbox keeps read-only: run it outside.
    # -T: test, and print the files read, to be sure nginx's site really includes this one.
    test = subprocess.run(["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
                           "/usr/sbin/nginx", "-T", "-q"], capture_output=True, text=True, check=False)
    problem = None
    if test.returncode != 0:
        problem = f"nginx -t refused the new upstream: {test.stderr.strip()[-500:]}"
    elif f"# configuration file {path}:" not in test.stdout:
        problem = f"nginx's configuration does not include {path} (converge the nginx role: site.yml --tags nginx)"
    if problem:
        if before is not None:
            write_atomic(path, before)
        return problem
    reload = subprocess.run(["systemctl", "reload", "nginx.service"], capture_output=True, text=True, check=False)
    if reload.returncode != 0:
        if before is not None:
            write_atomic(path, before)
        return f"systemctl reload nginx failed: {reload.stderr.strip()[-500:]}"
    return None


def nginx_old_workers_gone(timeout: float) -> None:
    """Wait (bounded) until nginx's old workers, which may still send to the old port, have exited."""
    deadline = time.monotonic() + timeout
    time.sleep(1.0)
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", "nginx: worker process is shutting down"], capture_output=True,
                               check=False)
        if found.returncode != 0:
            return
        time.sleep(0.5)


def record(line: str) -> None:
    write_atomic(STATE_DIR / "last-release", time.strftime("%Y-%m-%d %H:%M:%S UTC ", time.gmtime()) + line + "\n")


def notify(**fields: str) -> None:
    """sd_notify with several fields (MAINPID=, STATUS=); the unit has NotifyAccess=all."""
    text = "\n".join(f"{key}={value}" for key, value in fields.items())
    problem = systemd.notify(text)
    if problem:
        log(f"could not notify systemd ({problem})")


def reload() -> int:
    old = live_colour()
    new = "green" if old == "blue" else "blue"
    ports = colours()
    image = os.environ.get("KEWP_IMAGE", "?")
    timeout = float(os.environ.get("KEWP_READY_TIMEOUT", "300"))
    serving, _ = docker.inspect(LIVE)
    old_image = (serving or {}).get("Config", {}).get("Image", "?")
    if serving is None or not serving["State"].get("Running", False):
        log(f"container {LIVE} is not running: nothing serves to release from (systemctl restart kewp)")
        record(f"failed: container {LIVE} was not running; nothing released")
        return 1
    remove(CANDIDATE)
    cidfile = RUN_DIR / "candidate.cid"
    cidfile.unlink(missing_ok=True)
    log(f"{old} ({old_image}) serves; starting {image} as {new} on 127.0.0.1:{ports[new]} "
        f"(CPU shares {CANDIDATE_CPU_SHARES} until ready)")
    notify(STATUS=f"releasing: {old} serves {old_image}; {new} ({image}) starting")
    # Its output goes to this unit's journal, beside the serving container's.
    candidate = subprocess.Popen(docker_run_argv(CANDIDATE, ports[new], cidfile, CANDIDATE_CPU_SHARES),
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    ready, said = wait_until_ready(f"http://127.0.0.1:{ports[new]}/readyz", CANDIDATE, timeout)
    if ready:
        docker.docker("update", "--cpu-shares", FULL_CPU_SHARES, CANDIDATE)
        problem = nginx_switch(ports[new])
        if problem:
            ready, said = False, problem
    if not ready:
        remove(CANDIDATE)
        candidate.wait(timeout=60)
        line = (f"failed: {image} ({new}) {said}; it was removed and {old} ({old_image}) "
                f"never stopped serving")
        log(line)
        record(line)
        notify(STATUS=wait_ready_line(old))
        return 1
    # The candidate serves now: it becomes the unit's main process and the container named kewp.
    docker.docker("rename", LIVE, DRAINING)
    docker.docker("rename", CANDIDATE, LIVE)
    os.replace(cidfile, RUN_DIR / "kewp.cid")
    write_atomic(STATE_DIR / "live.env", f"KEWP_COLOUR={new}\nKEWP_HOST_PORT={ports[new]}\n")
    notify(MAINPID=str(candidate.pid), STATUS=wait_ready_line(new))
    log(f"nginx sends to {new} ({image}, {said}); draining {old} ({old_image}) for up to {DRAIN_SECONDS} s")
    nginx_old_workers_gone(NGINX_SETTLE_SECONDS)
    docker.docker("stop", "--time", str(DRAIN_SECONDS), DRAINING, timeout=DRAIN_SECONDS + 30)
    remove(DRAINING)
    line = f"released: {image} serves as {new} on 127.0.0.1:{ports[new]} ({said}); {old} ({old_image}) stopped"
    log(line)
    record(line)
    return 0


def wait_ready_line(colour: str) -> str:
    return f"ready: {wait_ready.describe(LIVE, str(RUN_DIR / 'kewp.cid'), 0.0).rsplit(', ready in', 1)[0]}, " \
           f"colour {colour} (127.0.0.1:{colours()[colour]})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kewp-release", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("action", choices=["start", "reload"])
    args = parser.parse_args(argv)
    return start() if args.action == "start" else reload()


if __name__ == "__main__":
    sys.exit(main())
