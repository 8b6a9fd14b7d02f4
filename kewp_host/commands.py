"""Running the host's commands (systemctl, journalctl, docker, zstd) and reading their answers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def run(*argv: str, timeout: float | None = None,
        env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """argv with its output captured as text; never raises for an exit status (OSError does raise)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env=None if env is None else dict(env))


def run_tolerant(*argv: str, timeout: float | None = 30) -> subprocess.CompletedProcess[str]:
    """Like run, in the UTC time zone without colours; a missing program or a timeout is exit status 127
    with the reason on stderr, so a report can go on past it."""
    try:
        return run(*argv, timeout=timeout, env={**os.environ, "TZ": "UTC", "SYSTEMD_COLORS": "0"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: {exc}")
