"""The backup's CPU priority once the database is released.

The snapshot runs at the unit's priority on purpose: it holds one read transaction of the live
database, and while it does, the app's checkpoints cannot recycle the WAL (starved of CPU under
curators, a 200 MB snapshot took 65 s instead of 2 and the WAL grew to 423 MB:
bench/backup_phases.py). What follows it (integrity_check, sha256, zstd: most of the backup's
CPU) reads only the copy, so it may wait for whatever CPU the app leaves.
"""

from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")
LOWEST = 19


def background() -> list[str]:
    """Make this process and the children it starts yield the CPU to the app; returns what it set.

    Only when the process leads its session, as a systemd service does (or `setsid kewp-backup
    backup`): the kernel groups a session's processes (its autogroup) and weighs the groups
    against each other, so a service's nice ranks only its own processes; the autogroup's nice is
    what counts against the app's. Run from a shell, or called inside another program, it changes
    nothing (it would slow the whole session down). Lowering one's own priority needs no
    privilege; a setting the kernel refuses is skipped (the backup is still right, less gentle).
    """
    if os.getsid(0) != os.getpid():
        return []
    done = []
    for name, lower in ((f"autogroup nice {LOWEST}", lambda: AUTOGROUP.write_text(str(LOWEST))),
                        (f"nice {LOWEST}", lambda: os.setpriority(os.PRIO_PROCESS, 0, LOWEST)),
                        ("SCHED_IDLE", lambda: os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)))):
        try:
            lower()
            done.append(name)
        except OSError:
            pass
    return done
