"""The app's container as docker sees it: its inspect record, version, and gunicorn processes."""

from __future__ import annotations

import json
from typing import Any

from kewp_host.commands import run_tolerant

VERSION_LABEL = "org.opencontainers.image.version"
REVISION_LABEL = "org.opencontainers.image.revision"


def docker(*args: str, timeout: float = 20) -> tuple[str | None, str]:
    """(stdout, stderr) of a docker command; stdout is None when it failed or could not run."""
    got = run_tolerant("docker", *args, timeout=timeout)
    return (got.stdout if got.returncode == 0 else None), got.stderr


def inspect(name: str) -> tuple[dict[str, Any] | None, str]:
    """(the container's inspect record or None, docker's stderr)."""
    out, err = docker("inspect", "--type", "container", name)
    if not out:
        return None, err
    try:
        info = json.loads(out)[0]
    except (ValueError, IndexError, KeyError):
        return None, err
    return (info if isinstance(info, dict) and info else None), err


def environment(info: dict[str, Any]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in (info.get("Config") or {}).get("Env") or [] if "=" in item)


def version(info: dict[str, Any]) -> tuple[str, str]:
    """(version, revision) of the app in the container: KEWP_VERSION, else the image's labels."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    return (environment(info).get("KEWP_VERSION") or labels.get(VERSION_LABEL, "unknown"),
            labels.get(REVISION_LABEL, "unknown"))


def parse_top(text: str) -> list[tuple[int, int, str]]:
    """`docker top NAME -o pid,ppid,args` output: the gunicorn processes as (pid, ppid, args)."""
    procs = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            procs.append((int(parts[0]), int(parts[1]), parts[2]))
    return [p for p in procs if "gunicorn" in p[2] and "docker-init" not in p[2]]


def split_gunicorn(procs: list[tuple[int, int, str]]) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    """(masters, workers): a master's parent is not gunicorn (it is docker-init); workers are its children."""
    pids = {pid for pid, _, _ in procs}
    masters = [p for p in procs if p[1] not in pids]
    master_pids = {pid for pid, _, _ in masters}
    return masters, [p for p in procs if p[1] in master_pids]


def gunicorn_processes(name: str) -> list[tuple[int, int, str]] | None:
    """The container's gunicorn processes; None when docker top failed."""
    out, _ = docker("top", name, "-o", "pid,ppid,args")
    return None if out is None else parse_top(out)
