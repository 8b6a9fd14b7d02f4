"""Suggestions under load: KE -> pathway top-10 over HTTP at 2 workers, by catalogue size;
and in-process (ApprovedSuggester.for_ke with every signal, the live approved mappings of the
database: the cost of one suggestion without HTTP).

Closed loop: 1, 8 and 32 clients each send their next request as soon as the previous one
is answered, so beyond 2 clients (= workers) the extra latency is queueing; requests/s is
the capacity. Sizes: the sample catalogue and synthetic ones (bench/synthetic_store.py).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from app import db
from app.services.catalog import load_catalog
from app.services.embeddings import EmbeddingStore
from app.services.neighbours import ApprovedSuggester

from . import load, synthetic_store
from .common import print_table
from .server import Server, copy_data
from .workload import ke_suggestion_paths

CLIENTS = (1, 8, 32)


def measure_size(template: Path, work: Path, pathways: int | None, quick: bool) -> list[dict[str, Any]]:
    database = copy_data(template, work / f"suggest-{pathways or 'sample'}")
    embeddings = database.parent / "embeddings"
    if pathways is not None:
        embeddings = synthetic_store.build(template / "embeddings", work / f"store-{pathways}", pathways)
    total, seconds = (120, 10.0) if quick else (600, 45.0)
    rows = []
    with Server(database, workers=2, embeddings=embeddings) as server:
        warm = ke_suggestion_paths(20, seed=99)
        load.run(2, lambda _c, n: (load.Session(server.port).request("GET", warm[n])[0], ""), total=20, seconds=60)
        for clients in CLIENTS:
            paths = ke_suggestion_paths(total, seed=clients)
            result = load.run(clients, lambda _c, n, paths=paths: (
                load.Session(server.port).request("GET", paths[n])[0], ""), total=total, seconds=seconds)
            rows.append({"catalogue": "sample" if pathways is None else f"synthetic {pathways}",
                         "pathways": pathways or 1020, "clients": clients, **result.summary(),
                         "ready_seconds": round(server.ready_seconds, 1)})
    return rows


def in_process(template: Path, work: Path, pathways: int | None, quick: bool) -> dict[str, Any]:
    """for_ke of random KEs in this process, the app's default weights and live approvals."""
    database = template / "ke_wp_mapping.db"
    embeddings = template / "embeddings" if pathways is None else \
        synthetic_store.build(template / "embeddings", work / f"store-{pathways}", pathways)
    conn = db.connect(database)
    try:
        catalog = load_catalog(conn)
    finally:
        conn.close()
    suggester = ApprovedSuggester.live(EmbeddingStore.load(embeddings, verify=False), catalog, database)
    kes = [p.split("/")[4].replace("%20", " ") for p in ke_suggestion_paths(200 if quick else 1000, seed=7)]
    for ke in kes[:20]:
        suggester.for_ke(ke, 10)  # warm: GO caches, the approved index
    times = []
    for ke in kes:
        started = time.perf_counter()
        suggester.for_ke(ke, 10)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"catalogue": "sample" if pathways is None else f"synthetic {pathways}", "pathways": pathways or 1020,
            "calls": len(times), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 2),
            "approved_kes": len(suggester.approved_index() or ())}


def run(template: Path, work: Path, quick: bool) -> dict[str, Any]:
    sizes = [None, 100_000] if quick else [None, 10_000, 100_000]
    local = [in_process(template, work, size, quick) for size in sizes]
    print_table("suggestions in-process, one thread (for_ke, k=10, every signal on; ms)", local,
                ["catalogue", "pathways", "calls", "p50_ms", "p99_ms", "approved_kes"])
    rows = [row for size in sizes for row in measure_size(template, work, size, quick)]
    base = {r["clients"]: r for r in rows if r["catalogue"] == "sample"}
    for r in rows:
        b = base[r["clients"]]
        r["p50_vs_sample"] = round(r["p50_ms"] / b["p50_ms"], 2) if b["p50_ms"] else None
        r["rps_vs_sample"] = round(r["per_second"] / b["per_second"], 2) if b["per_second"] else None
    print_table("suggestions under load, 2 workers (ms, requests/s; ratios against the sample catalogue)", rows,
                ["catalogue", "clients", "ok", "errors", "p50_ms", "p95_ms", "p99_ms", "per_second",
                 "p50_vs_sample", "rps_vs_sample"])
    return {"workers": 2, "k": 10, "rows": rows, "in_process": local}
