"""wait-ready: wait until kewp answers /readyz with 200, then say what runs.

Installed by roles/kewp_host as /usr/local/libexec/kewp/wait-ready and run as kewp.service's
ExecStartPost=, so `systemctl start kewp` only succeeds once the app can serve, and fails
(with the app's last readiness answer in the journal) when it cannot within the timeout.
Also run by the role and by playbooks/deploy.yml as the final readiness check.

On success it prints one line (journal, `systemctl status kewp`) and, when systemd gave a
notify socket (NotifyAccess=all), sets the unit's status text to the same line:

    ready: kewp 0.1.0+g1a2b3c4 (rev 1a2b3c4), 2/2 workers, container 5f0e..., image kewp:...

`systemctl show -p StatusText kewp` then carries the container id too. Only the Python
standard library and the docker CLI are used. Exit 0 ready, 1 not ready, 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.parse

from kewp_host import docker, paths, readiness, systemd

PROGRESS_EVERY = 10.0  # seconds between "still waiting" lines
MAX_INTERVAL = 5.0  # seconds between probes, at most


def log(message: str) -> None:
    print(message, flush=True)


def notify(text: str) -> None:
    """Set the unit's status text (sd_notify STATUS=) when systemd gave us a socket."""
    problem = systemd.notify_status(text)
    if problem:
        log(f"wait-ready: could not set the unit status ({problem})")


def running_workers(name: str) -> int | None:
    """Gunicorn workers = children of the gunicorn master (whose parent is docker-init)."""
    procs = docker.gunicorn_processes(name)
    return None if procs is None else len(docker.split_gunicorn(procs)[1])


def probe(url: str, timeout: float) -> tuple[int | None, str]:
    """(HTTP status or None, short description). Connection resets count as not yet up."""
    status, body, error = readiness.fetch(url, timeout, limit=2000)
    if status is None:
        return None, f"no answer ({error})"
    return status, body.decode(errors="replace")


def describe(container: str, cidfile: str, seconds: float) -> str:
    info, _ = docker.inspect(container)
    if info is None:
        cid = ""
        try:
            with open(cidfile, encoding="ascii") as fh:
                cid = fh.read().strip()
        except OSError:
            pass
        return f"kewp (container {cid[:12] or 'unknown'}, not inspectable), ready in {seconds:.1f} s"
    version, revision = docker.version(info)
    configured = docker.environment(info).get("KEWP_WORKERS", "2")
    workers = running_workers(container)
    return (f"kewp {version} (rev {revision[:12]}), {workers if workers is not None else '?'}/{configured} "
            f"workers, container {info['Id'][:12]}, image {info['Config'].get('Image', '?')}, "
            f"ready in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wait-ready", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", default=readiness.live_url(),
                        help="readiness URL (default: the serving colour's, now %(default)s)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("KEWP_READY_TIMEOUT", "300")),
                        help="seconds to wait (default: $KEWP_READY_TIMEOUT or 300)")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds before the second probe; it grows to 5 s (default: %(default)s)")
    parser.add_argument("--container", default=paths.CONTAINER, help="container name (default: %(default)s)")
    parser.add_argument("--cidfile", default="/run/kewp/kewp.cid", help="docker run --cidfile (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print only the final line")
    args = parser.parse_args(argv)

    start = time.monotonic()
    deadline = start + args.timeout
    last = "nothing yet"
    next_progress = start + PROGRESS_EVERY
    interval = args.interval
    if not args.quiet:
        log(f"wait-ready: waiting up to {args.timeout:.0f} s for 200 from {args.url}")
    notify(f"starting: waiting for {args.url}")
    while True:
        status, body = probe(args.url, timeout=5.0)
        if status == 200:
            line = "ready: " + describe(args.container, args.cidfile, time.monotonic() - start)
            if os.environ.get("KEWP_BLUE_PORT"):  # kewp.service: the colour that serves (kewp-release)
                line += f", colour {os.environ.get('KEWP_COLOUR', 'blue')} ({urllib.parse.urlsplit(args.url).netloc})"
            log(line)
            notify(line)
            return 0
        last = f"HTTP {status}: {body.strip()}" if status else body
        now = time.monotonic()
        if now >= deadline:
            break
        if now >= next_progress:
            if not args.quiet:
                log(f"wait-ready: not ready after {now - start:.0f} s: {last}")
            notify(f"starting: not ready after {now - start:.0f} s")
            next_progress = now + PROGRESS_EVERY
            # A container that is gone will never become ready: stop waiting.
            info, _ = docker.inspect(args.container)
            if info is None:
                last = f"container {args.container} does not exist; last answer: {last}"
                break
            if not info["State"].get("Running", False):
                last = f"container {args.container} is {info['State'].get('Status')}; last answer: {last}"
                break
        # Back off (each probe is a line in the app's access log), but stay quick at first.
        time.sleep(max(0.0, min(interval, deadline - now)))
        interval = min(interval * 1.5, MAX_INTERVAL)
    message = f"not ready after {time.monotonic() - start:.0f} s: {last}"
    log(f"wait-ready: {message}")
    notify(message)
    return 1


if __name__ == "__main__":
    sys.exit(main())
