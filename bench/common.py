"""What every benchmark shares: paths, machine description, percentiles, tables and result files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine() -> dict[str, Any]:
    """nproc, memory, CPU model and kernel: what the numbers were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1), "cpu": cpu,
            "kernel": platform.release(), "python": platform.python_version(), "commit": commit}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(latencies: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {f"p{q}_ms": round(percentile(latencies, q) * 1000, 1) for q in (50, 95, 99)} | {
        "max_ms": round(max(latencies, default=0.0) * 1000, 1)}


def print_table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    """A plain aligned table on stdout."""
    print(f"\n== {title}")
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


class Run:
    """One benchmark run: a directory of JSON results named by its start time and mode."""

    def __init__(self, quick: bool, directory: Path | None = None) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.quick = quick
        self.directory = directory or RESULTS / f"{stamp}-{'quick' if quick else 'full'}"
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, result: dict[str, Any]) -> Path:
        path = self.directory / f"{name}.json"
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"-> {path.relative_to(REPO)}")
        return path


def timed(name: str, quick: bool, body: Any) -> dict[str, Any]:
    """Run `body()` and wrap its result with the machine, the load average at start/end and the duration."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    start_load, started = load_average(), time.monotonic()
    result = body()
    return {"benchmark": name, "quick": quick, "machine": machine(), "started": stamp,
            "load_average_start": start_load, "load_average_end": load_average(),
            "seconds": round(time.monotonic() - started, 1), **result}
