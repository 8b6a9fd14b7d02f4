"""Markdown tables of one run's JSON, for bench/README.md.

    python -m bench.report bench/results/<run>  > /tmp/results.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def _load(result: dict[str, Any]) -> str:
    start, end = result["load_average_start"], result["load_average_end"]
    return f"load average {start[0]:.1f} at start, {end[0]:.1f} at end; {result['seconds']:.0f} s"


def render(run_dir: Path) -> str:
    out: list[str] = []
    results = {p.stem: json.loads(p.read_text()) for p in sorted(run_dir.glob("*.json"))}
    first = next(iter(results.values()))
    m = first["machine"]
    out.append(f"Run `{run_dir.name}` (commit {m['commit']}): {m['nproc']} CPUs ({m['cpu']}), "
               f"{m['memory_gib']} GiB, kernel {m['kernel']}, Python {m['python']}.\n")
    if "memory" in results:
        r = results["memory"]
        out.append(f"### Memory (MiB, after {r['per_worker_requests']} suggestion requests per worker; {_load(r)})\n")
        out.append(table(r["table"], ["workers", "preload_total_pss_mib", "nopreload_total_pss_mib",
                                      "ratio_preload_vs_not", "master_pss_mib", "worker_pss_mib", "worker_uss_mib",
                                      "nopreload_worker_uss_mib"]))
    if "coldstart" in results:
        r = results["coldstart"]
        out.append(f"\n### Cold start (seconds, median of {r['repeats']}; {_load(r)})\n")
        out.append(table(r["table"], ["step", "seconds", "parts"]))
    if "suggestions" in results:
        r = results["suggestions"]
        out.append(f"\n### Suggestions under load (2 workers, KE top-10; {_load(r)})\n")
        out.append(table(r["rows"], ["catalogue", "clients", "ok", "errors", "p50_ms", "p95_ms", "p99_ms",
                                     "per_second", "p50_vs_sample", "rps_vs_sample"]))
    if "curation" in results:
        r = results["curation"]
        out.append(f"\n### Concurrent curation (2 workers, HTTP proposals; {_load(r)})\n")
        out.append(table(r["rows"], ["writers", "commits", "commits_per_second", "throughput_vs_1", "p50_ms",
                                     "p99_ms", "max_ms", "errors", "server_errors", "database_locked"]))
    if "backup" in results:
        r = results["backup"]
        out.append(f"\n### Backup under load (8 HTTP writers, 2 workers; {_load(r)})\n")
        out.append(table(r["table"], ["db_mib", "backup_s", "snapshot_s", "compressed_mib", "p50_without_ms",
                                      "p99_without_ms", "p50_during_ms", "p99_during_ms", "p99_ratio",
                                      "commits_during", "errors", "locked"]))
    if "deploy" in results:
        out.append("\n### Deploy (seconds)\n")
        out.append(table(results["deploy"]["rows"], ["step", "seconds", "exit"]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(Path(sys.argv[1])))
