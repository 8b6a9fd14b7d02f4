"""Memory: PSS and USS of the gunicorn master and each worker, with and without preload_app.

PSS charges each shared page to the processes that map it in equal parts, so the PSS of the
master plus the workers is what the app really costs the machine; USS is what killing one
process would free. Both come from /proc/PID/smaps_rollup after every worker has served
suggestions (80% by KE, 20% free text, so the model runs in every worker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import load
from .common import print_table
from .server import Server, copy_data
from .workload import mixed_suggestion_paths


def smaps(pid: int) -> dict[str, float]:
    """rss/pss/uss in MiB from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            fields[name] = int(parts[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {"rss_mib": round(fields.get("Rss", 0) / 1024, 1), "pss_mib": round(fields.get("Pss", 0) / 1024, 1),
            "uss_mib": round(uss / 1024, 1)}


def measure(template: Path, work: Path, workers: int, preload: bool, per_worker: int) -> dict[str, Any]:
    database = copy_data(template, work / f"memory-{workers}-{'preload' if preload else 'nopreload'}")
    with Server(database, workers=workers, preload=preload) as server:
        all_loaded = server.ready_seconds + server.wait_apps_loaded(1 if preload else workers)
        paths = mixed_suggestion_paths(workers * per_worker, seed=workers)
        result = load.run(workers * 2, lambda _c, n: (load.Session(server.port).request("GET", paths[n])[0], ""),
                          total=len(paths), seconds=300)
        master = smaps(server.process.pid)
        worker_stats = [smaps(pid) | {"pid": pid} for pid in server.worker_pids()]
        ready = server.ready_seconds
    total_pss = master["pss_mib"] + sum(w["pss_mib"] for w in worker_stats)
    return {"workers": workers, "preload": preload, "requests": result.summary(), "ready_seconds": round(ready, 1),
            "all_workers_loaded_seconds": round(all_loaded, 1),
            "master": master, "worker_processes": worker_stats, "total_pss_mib": round(total_pss, 1),
            "mean_worker_pss_mib": round(sum(w["pss_mib"] for w in worker_stats) / len(worker_stats), 1),
            "mean_worker_uss_mib": round(sum(w["uss_mib"] for w in worker_stats) / len(worker_stats), 1)}


def run(template: Path, work: Path, quick: bool) -> dict[str, Any]:
    counts = [1, 2] if quick else [1, 2, 4, 8]
    per_worker = 40 if quick else 200
    rows = [measure(template, work, n, preload, per_worker) for n in counts for preload in (True, False)]
    table = []
    for n in counts:
        pre = next(r for r in rows if r["workers"] == n and r["preload"])
        nopre = next(r for r in rows if r["workers"] == n and not r["preload"])
        table.append({"workers": n, "preload_total_pss_mib": pre["total_pss_mib"],
                      "nopreload_total_pss_mib": nopre["total_pss_mib"],
                      "ratio_preload_vs_not": round(pre["total_pss_mib"] / nopre["total_pss_mib"], 2),
                      "master_pss_mib": pre["master"]["pss_mib"], "worker_pss_mib": pre["mean_worker_pss_mib"],
                      "worker_uss_mib": pre["mean_worker_uss_mib"],
                      "nopreload_worker_uss_mib": nopre["mean_worker_uss_mib"],
                      "requests_ok": f"{pre['requests']['ok']}/{pre['requests']['requests']}",
                      "preload_ready_s": pre["ready_seconds"],
                      "nopreload_all_loaded_s": nopre.get("all_workers_loaded_seconds")})
    print_table(f"memory after {per_worker} suggestion requests per worker (MiB)", table)
    return {"per_worker_requests": per_worker, "runs": rows, "table": table}
