"""Cold start: process start to /readyz 200, and the start-up steps timed one by one.

The wall clock is measured against the real gunicorn (preload, 2 workers); the split comes
from bench/coldstart_steps.py in a fresh interpreter calling the same functions. The page
cache is warm after the first start (the model files stay cached), which is what a restart
on a VPS sees; the first start of a fresh boot is slower.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import REPO, print_table
from .server import Server, copy_data

GROUPS = {
    "imports": ["imports_app"],
    "model load": ["import_torch", "import_sentence_transformers", "model_weights"],
    "embeddings load": ["embeddings_store", "catalogue_and_index"],
    "migrations": ["migrations_up_to_date"],
}


def steps_once(database: Path, embeddings: Path, scratch: Path) -> dict[str, float]:
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "bench.coldstart_steps", str(database), str(embeddings), str(scratch)],
                         cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    steps["process_total"] = round(time.monotonic() - t, 3)
    return steps


def run(template: Path, work: Path, quick: bool) -> dict[str, Any]:
    repeats = 1 if quick else 3
    database = copy_data(template, work / "coldstart")
    walls = []
    for _ in range(repeats):
        with Server(database, workers=2) as server:
            walls.append(server.ready_seconds)
    samples = [steps_once(database, database.parent / "embeddings", work) for _ in range(repeats)]
    median = {k: round(statistics.median(s[k] for s in samples), 3) for k in samples[0]}
    table = [{"step": group, "seconds": round(sum(median[p] for p in parts), 3),
              "parts": ", ".join(f"{p} {median[p]:.2f}" for p in parts)} for group, parts in GROUPS.items()]
    table.append({"step": "migrations (new empty db)", "seconds": median["migrations_fresh_db"], "parts": ""})
    table.append({"step": "steps process total", "seconds": median["process_total"], "parts": ""})
    wall = round(statistics.median(walls), 2)
    table.append({"step": "gunicorn start -> /readyz 200", "seconds": wall,
                  "parts": "2 workers, preload; " + ", ".join(f"{w:.1f}" for w in walls)})
    print_table(f"cold start (seconds; median of {repeats})", table)
    return {"repeats": repeats, "steps": median, "samples": samples, "readyz_seconds": walls,
            "readyz_median_seconds": wall, "table": table}
