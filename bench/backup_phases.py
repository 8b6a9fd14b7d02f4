"""What in a backup slows the writers: each step of `kewp-backup backup` on its own, under load.

    .venv/bin/python -m bench.backup_phases [--size-mb 200] [--priority plain,unit]

The app serves a copy of the cached 200 MB database (bench/backup_load.py's) and 8 HTTP curators
propose mappings the whole time; one step at a time runs as a subprocess next to them (the
snapshot in one backup-API step, the snapshot in steps with pauses, integrity_check, sha256,
zstd with all cores and with one, a plain copy of the same bytes with fsync), each once as a
plain child process and once with the unit's CPU priority (bench/backup_load.py's
`unit_priority`). Per step: its wall and CPU seconds, the writers' p50/p99 while it ran against
the quiet window before it, and how big the live WAL grew. Bounded: every step has a deadline.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .backup_load import WRITERS, cached_database, unit_priority
from .common import REPO, latency_summary, load_average, print_table
from .server import Server
from .writers import COMMITTED, Writers

QUIET_SECONDS = 6.0
STEP_DEADLINE = 300.0

SNAPSHOT_STEPPED = """
import sqlite3, sys, time
from kewp_host.backup.database import open_readonly
from pathlib import Path
src, dst = open_readonly(Path(sys.argv[1])), sqlite3.connect(sys.argv[2])
restarts, last = 0, None
def progress(status, remaining, total):
    global restarts, last
    if last is not None and remaining > last:
        restarts += 1
    last = remaining
deadline = time.monotonic() + float(sys.argv[5])
try:
    # Python's backup() loops to the end; a deadline needs a callback that can stop it.
    def guarded(status, remaining, total):
        progress(status, remaining, total)
        if time.monotonic() > deadline:
            raise TimeoutError
    src.backup(dst, pages=int(sys.argv[3]), sleep=float(sys.argv[4]), progress=guarded)
    print(f"done, {restarts} restarts")
except TimeoutError:
    print(f"NOT finished within {sys.argv[5]} s, {restarts} restarts")
    sys.exit(3)
"""


def steps(live: Path, raw: Path, out: Path) -> list[tuple[str, list[str]]]:
    py = [sys.executable, "-c"]
    return [
        ("snapshot, 1 step", [*py, "import sys; from kewp_host.backup.database import snapshot; "
                              "from pathlib import Path; snapshot(Path(sys.argv[1]), Path(sys.argv[2]))",
                              str(live), str(raw)]),
        ("snapshot, 256 pages + 10 ms", [*py, SNAPSHOT_STEPPED, str(live), str(out), "256", "0.01", "120"]),
        ("integrity_check", [*py, "import sys; from pathlib import Path; "
                             "from kewp_host.backup.database import inspect_db; inspect_db(Path(sys.argv[1]))",
                             str(raw)]),
        ("sha256", [*py, "import sys; from pathlib import Path; from kewp_host.files import sha256_file; "
                    "sha256_file(Path(sys.argv[1]))", str(raw)]),
        ("zstd -3 -T0", ["sh", "-c", 'zstd -q -3 -T0 -c "$1" > "$2" && sync "$2"', "zstd", str(raw), str(out)]),
        ("zstd -3 -T1", ["sh", "-c", 'zstd -q -3 -T1 -c "$1" > "$2" && sync "$2"', "zstd", str(raw), str(out)]),
        ("copy + fsync (I/O only)", ["sh", "-c", 'cat "$1" > "$2" && sync "$2"', "cp", str(raw), str(out)]),
    ]


def run_step(argv: list[str], priority: str) -> tuple[float, float, int, str]:
    """(wall s, CPU s of the child and its children, exit code, last output line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **unit_priority() if priority == "unit" else {})
    try:
        output, _ = proc.communicate(timeout=STEP_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, (output.strip().splitlines() or [""])[-1][:80]


def window(outcomes: list[Any], start: float, end: float) -> dict[str, float]:
    return latency_summary([o.seconds for o in outcomes if start <= o.started < end and o.status in COMMITTED])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--priority", default="plain,unit", help="plain (a child as is), unit (the unit's "
                        "CPU priority), or both")
    parser.add_argument("--only", default="", help="comma-separated step names (prefixes) to run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kewp-bench-phases-", dir="/var/tmp"))
    print(f"backup phases: load average {load_average()}; scratch {work}")
    try:
        data = work / "data"
        data.mkdir()
        live = data / "ke_wp_mapping.db"
        shutil.copyfile(cached_database(args.size_mb), live)
        raw, out = work / "raw.db", work / "out"
        wal = live.with_name(live.name + "-wal")
        rows: list[dict[str, Any]] = []
        windows: list[tuple[Any, ...]] = []
        with Server(live, workers=2, load_model=False, ready_path="/healthz", embeddings=data / "none") as server:
            writers = Writers(server.port, live, WRITERS)
            writers.sign_in()
            stop = threading.Event()
            holder: dict[str, Any] = {}
            wal_max = [0]

            def watch_wal() -> None:
                while not stop.wait(0.05):
                    wal_max[0] = max(wal_max[0], wal.stat().st_size if wal.exists() else 0)
            load_thread = threading.Thread(target=lambda: holder.update(
                result=writers.run(WRITERS, total=10**7, seconds=3600, stop=stop)))
            watcher = threading.Thread(target=watch_wal)
            load_thread.start()
            watcher.start()
            try:
                time.sleep(2.0)  # warm up
                # The raw snapshot the later steps read (made once, outside the measurements).
                subprocess.run(steps(live, raw, out)[0][1], cwd=REPO, check=True, timeout=STEP_DEADLINE)
                wanted = [w.strip() for w in args.only.split(",") if w.strip()]
                for priority in [p.strip() for p in args.priority.split(",")]:
                    for name, argv in steps(live, raw, out):
                        if wanted and not any(name.startswith(w) for w in wanted):
                            continue
                        out.unlink(missing_ok=True)
                        quiet_start = time.monotonic()
                        time.sleep(QUIET_SECONDS)
                        wal_max[0] = 0
                        start = time.monotonic()
                        wall, cpu, code, last = run_step(argv, priority)
                        windows.append((name, priority, quiet_start, start, time.monotonic(), wall, cpu, code,
                                        last, wal_max[0]))
                        print(f"  {name} ({priority}): {wall:.1f} s, {cpu:.1f} s CPU, exit {code} {last}",
                              flush=True)
            finally:
                stop.set()
                load_thread.join()
                watcher.join()
        outcomes = holder["result"].outcomes
        for name, priority, quiet_start, start, end, wall, cpu, code, last, wal_peak in windows:
            quiet, during = window(outcomes, quiet_start, start), window(outcomes, start, end)
            rows.append({"step": name, "priority": priority, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "exit": code, "p50_quiet_ms": quiet["p50_ms"], "p99_quiet_ms": quiet["p99_ms"],
                         "p50_during_ms": during["p50_ms"], "p99_during_ms": during["p99_ms"],
                         "p99_ratio": round(during["p99_ms"] / quiet["p99_ms"], 2) if quiet["p99_ms"] else None,
                         "wal_max_mib": round(wal_peak / 2**20, 1), "note": last})
        print_table(f"backup steps under {WRITERS} HTTP writers (2 workers); load average {load_average()}", rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
