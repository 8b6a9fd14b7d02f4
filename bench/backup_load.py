"""Backup under load: kewp-backup (kewp_host.backup) on a 200 MB (and, in the full run, 1 GB) live database
while 8 curators propose mappings over HTTP; writer latency during the backup against the
same writers just before it.

The database comes from bench/backup.py's `build` (the app's schema filled with text that
looks like curation), cached in .cache/bench so later runs skip the build; the
backup is invoked the way bench/backup.py invokes it. The server runs without the model.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from . import backup
from .common import REPO, print_table
from .server import Server
from .writers import COMMITTED, Writers

CACHE = REPO / ".cache" / "bench"
WRITERS = 8
UNIT = REPO / "systemd" / "kewp-backup.service"
IOPRIO_CLASSES = {"realtime": 1, "best-effort": 2, "idle": 3}
SYS_IOPRIO_SET = 251  # x86_64


def unit_settings(unit: Path = UNIT) -> dict[str, str]:
    """The [Service] settings of a unit file (the last one wins, as in systemd)."""
    settings: dict[str, str] = {}
    for line in unit.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";", "[")):
            settings[key.strip()] = value.strip()
    return settings


def autogroup_nice(cpu_weight: str) -> int:
    """The autogroup nice whose CFS weight stands to nice 0's as CPUWeight= to the default 100.

    Weights fall by ~1.25x a nice level (1024 at 0, 110 at 10, 15 at 19); 'idle' (cpu.idle=1,
    weight 3 and no wake-up preemption) is as low as nice goes.
    """
    if cpu_weight == "idle":
        return 19
    return max(-20, min(19, round(math.log(100 / int(cpu_weight)) / math.log(1.25))))


def unit_priority(unit: Path = UNIT) -> dict[str, Any]:
    """Popen arguments that start a child with kewp-backup.service's CPU and I/O priority.

    systemd puts the unit in a cgroup of its own, weighted by CPUWeight= against kewp's (100);
    the bench has no systemd, so the child gets a session of its own (the kernel's autogroup,
    what a service without the cpu controller gets too) whose nice stands for CPUWeight=, then
    the unit's Nice=, CPUSchedulingPolicy= and IOSchedulingClass=/IOSchedulingPriority=.
    """
    settings = unit_settings(unit)
    group_nice = autogroup_nice(settings.get("CPUWeight", "100"))
    nice = int(settings.get("Nice", "0"))
    idle = settings.get("CPUSchedulingPolicy") == "idle"
    io_class = IOPRIO_CLASSES.get(settings.get("IOSchedulingClass", ""), 0)
    io_level = int(settings.get("IOSchedulingPriority", "4"))

    def apply() -> None:  # in the child, before exec
        os.setsid()
        Path("/proc/self/autogroup").write_text(str(group_nice))
        os.nice(nice)
        if idle:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        if io_class:
            ctypes.CDLL(None, use_errno=True).syscall(SYS_IOPRIO_SET, 1, 0, (io_class << 13) | io_level)
    return {"preexec_fn": apply}


def cached_database(size_mb: int) -> Path:
    path = CACHE / f"backup-{size_mb}mb.db"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        started = time.monotonic()
        backup.build(partial, size_mb)
        partial.rename(path)
        print(f"built {path} ({path.stat().st_size / 2**20:.0f} MiB) in {time.monotonic() - started:.0f} s")
    return path


def run_backup(live: Path, directory: Path, level: int = 3) -> tuple[float, dict[str, Any]]:
    """kewp-backup backup of `live` into `directory`, with the unit's priority; (wall seconds, manifest)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live), KEWP_BACKUP_DIR=str(directory),
               KEWP_BACKUP_COMPRESS_LEVEL=str(level))
    started = time.monotonic()
    result = subprocess.run([*backup.KEWP_BACKUP, "backup"], cwd=REPO, env=env,
                            capture_output=True, text=True, check=False, timeout=1800, **unit_priority())
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"kewp-backup failed ({result.returncode}): {result.stderr[-500:]}")
    data = Path(result.stdout.strip().splitlines()[-1])
    manifest = json.loads(data.with_name(data.name.removesuffix(".db.zst") + ".json").read_text())
    return wall, manifest


def measure(size_mb: int, work: Path, quick: bool) -> dict[str, Any]:
    source = cached_database(size_mb)
    data = work / f"backup-{size_mb}" / "data"
    if data.parent.exists():
        shutil.rmtree(data.parent)
    data.mkdir(parents=True)
    (data.parent / "backups").mkdir()
    live = data / "ke_wp_mapping.db"
    shutil.copyfile(source, live)
    baseline_seconds = 10.0 if quick else 30.0
    with Server(live, workers=2, load_model=False, ready_path="/healthz",
                embeddings=data / "no-embeddings") as server:
        writers = Writers(server.port, live, WRITERS)
        writers.sign_in()
        baseline = writers.run(WRITERS, total=100_000, seconds=baseline_seconds)
        stop = threading.Event()
        holder: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: holder.update(
            result=writers.run(WRITERS, total=100_000, seconds=1800, stop=stop)))
        thread.start()
        time.sleep(0.5)
        try:
            wall, manifest = run_backup(live, data.parent / "backups")
        finally:
            stop.set()
            thread.join()
    before, during = baseline.summary(COMMITTED), holder["result"].summary(COMMITTED)
    return {"size_mb": size_mb, "db_mib": round(manifest["db_size"] / 2**20), "backup_seconds": round(wall, 1),
            "durations": manifest["durations"], "compressed_mib": round(manifest["size"] / 2**20, 1),
            "ratio": manifest["ratio"], "writers": WRITERS, "without_backup": before, "during_backup": during,
            "p99_during_vs_without": round(during["p99_ms"] / before["p99_ms"], 2) if before["p99_ms"] else None,
            "locked_errors": writers.locked_errors,
            "error_samples": sorted({f"{o.status} {o.error[:200]}"
                                     for o in holder["result"].outcomes + baseline.outcomes if o.error})[:5]}


def run(_template: Path, work: Path, quick: bool) -> dict[str, Any]:
    rows = [measure(size, work, quick) for size in ((200,) if quick else (200, 1024))]
    table = [{"db_mib": r["db_mib"], "backup_s": r["backup_seconds"],
              "snapshot_s": round(r["durations"].get("snapshot", 0), 1), "compressed_mib": r["compressed_mib"],
              "p50_without_ms": r["without_backup"]["p50_ms"], "p99_without_ms": r["without_backup"]["p99_ms"],
              "p50_during_ms": r["during_backup"]["p50_ms"], "p99_during_ms": r["during_backup"]["p99_ms"],
              "p99_ratio": r["p99_during_vs_without"], "commits_during": r["during_backup"]["ok"],
              "errors": r["without_backup"]["errors"] + r["during_backup"]["errors"],
              "locked": r["locked_errors"]} for r in rows]
    print_table(f"backup under load ({WRITERS} HTTP writers, 2 workers; ms)", table)
    return {"rows": rows, "table": table}
