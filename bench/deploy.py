"""Deploy timing (`python -m bench --deploy`, slow): fresh converge and idempotent re-run on the local VPS.

Runs `scripts/local-vps down`, `scripts/local-vps up`, then `ansible-playbook playbooks/site.yml`
twice, timing each step. Needs root (systemd-nspawn) and several minutes; never part of --quick.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from .common import REPO, VENV_BIN, print_table


def _timed(command: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    code = subprocess.run(command, cwd=REPO, check=False, timeout=3600).returncode
    return round(time.monotonic() - started, 1), code


def run() -> dict[str, Any]:
    playbook = [str(VENV_BIN / "ansible-playbook"), "playbooks/site.yml"]
    steps = [("vps down", ["scripts/local-vps", "down"]), ("vps up", ["scripts/local-vps", "up"]),
             ("fresh converge", playbook), ("idempotent re-run", playbook)]
    rows = []
    for name, command in steps:
        seconds, code = _timed(command)
        rows.append({"step": name, "seconds": seconds, "exit": code})
        if code != 0:
            break
    print_table("deploy on the local VPS (seconds)", rows)
    return {"rows": rows}
