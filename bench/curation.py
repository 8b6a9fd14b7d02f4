"""Concurrent curation: 1 to 64 curators proposing mappings through HTTP at 2 workers.

Every post is a write transaction (BEGIN IMMEDIATE, proposal row and audit row, COMMIT) on
the one SQLite file in WAL mode. The goal is no `database is locked` and no 5xx at any
concurrency: a busy writer waits (busy_timeout, then app.db's retry) instead of failing.
The server runs with KEWP_LOAD_MODEL=false: proposing does not use the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import print_table
from .server import Server, copy_data
from .writers import COMMITTED, Writers

LEVELS = (1, 8, 32, 64)


def run(template: Path, work: Path, quick: bool) -> dict[str, Any]:
    database = copy_data(template, work / "curation")
    rows = []
    with Server(database, workers=2, load_model=False) as server:
        writers = Writers(server.port, database, max(LEVELS))
        writers.sign_in()
        for count in LEVELS:
            before = writers.locked_errors
            total, seconds = (max(60, 3 * count), 10.0) if quick else (max(400, 10 * count), 40.0)
            result = writers.run(count, total, seconds)
            summary = result.summary(COMMITTED)
            rows.append({"writers": count, "commits": summary["ok"], "commits_per_second": summary["per_second"],
                         "p50_ms": summary["p50_ms"], "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"],
                         "errors": summary["errors"], "server_errors": summary["server_errors"],
                         "database_locked": writers.locked_errors - before,
                         "error_samples": sorted({o.error[:120] for o in result.outcomes if o.error})[:3]})
    base = rows[0]["commits_per_second"] or 1
    for r in rows:
        r["throughput_vs_1"] = round(r["commits_per_second"] / base, 2)
    print_table("concurrent curation, 2 workers (commits/s, ms)", rows,
                ["writers", "commits", "commits_per_second", "throughput_vs_1", "p50_ms", "p99_ms", "max_ms",
                 "errors", "server_errors", "database_locked"])
    return {"workers": 2, "rows": rows}
