"""PNG plots from a run's JSON: total PSS against workers, and suggestion latency against catalogue size.

    python -m bench.plots bench/results/<run>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def pss_vs_workers(memory: dict, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for preload, label in ((True, "preload_app (kewp)"), (False, "no preload")):
        rows = sorted((r for r in memory["runs"] if r["preload"] is preload), key=lambda r: r["workers"])
        ax.plot([r["workers"] for r in rows], [r["total_pss_mib"] for r in rows], marker="o", label=label)
    ax.set_xlabel("gunicorn workers")
    ax.set_ylabel("total PSS, master + workers (MiB)")
    ax.set_title(f"Memory after {memory['per_worker_requests']} suggestions per worker")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    path = out / "pss_vs_workers.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_vs_catalogue(suggestions: dict, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = suggestions["rows"]
    for clients in sorted({r["clients"] for r in rows}):
        mine = sorted((r for r in rows if r["clients"] == clients), key=lambda r: r["pathways"])
        sizes = [r["pathways"] for r in mine]
        line, = ax.plot(sizes, [r["p50_ms"] for r in mine], marker="o", label=f"p50, {clients} clients")
        ax.plot(sizes, [r["p99_ms"] for r in mine], marker="x", linestyle="--", color=line.get_color(),
                label=f"p99, {clients} clients")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pathways in the catalogue")
    ax.set_ylabel("latency of KE top-10 suggestions (ms)")
    ax.set_title("Suggestion latency vs catalogue size (2 workers)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    path = out / "latency_vs_catalogue.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw(run_dir: Path) -> list[Path]:
    drawn = []
    if (run_dir / "memory.json").is_file():
        drawn.append(pss_vs_workers(json.loads((run_dir / "memory.json").read_text()), run_dir))
    if (run_dir / "suggestions.json").is_file():
        drawn.append(latency_vs_catalogue(json.loads((run_dir / "suggestions.json").read_text()), run_dir))
    for path in drawn:
        print(f"-> {path}")
    return drawn


if __name__ == "__main__":
    draw(Path(sys.argv[1]))
