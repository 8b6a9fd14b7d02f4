"""Catalogue refresh time: the shipped catalogue with 5% of its items changed (their descriptions
gain a sentence, so they must be re-embedded) against a full re-embed of the same release (no
store to reuse). Both through the app's own `catalog_refresh.refresh` with the real model.

    .venv/bin/python -m bench.catalog_refresh [--quick]     (quick: the 5% refresh only)
    .venv/bin/python -m bench --only catalog_refresh
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from app import db
from app.config import default_model_path
from app.services import catalog_refresh
from app.services.encoder import Encoder
from tests.catalog_release import make_release, share_edits

from .common import load_average, machine
from .server import copy_data, seed_database

SHARE = 0.05


def _refresh(template_dir: Path, directory: Path, release: Path, encoder: Encoder, *, keep_store: bool) -> dict:
    database = copy_data(template_dir, directory)
    if not keep_store:
        shutil.rmtree(directory / "embeddings")
    conn = db.connect(database)
    try:
        started = time.monotonic()
        report = catalog_refresh.refresh(conn, catalog_refresh.read_release(release), directory / "embeddings",
                                         encoder, data_dir=directory, thresholds=catalog_refresh.Thresholds(),
                                         progress=None)
        seconds = time.monotonic() - started
    finally:
        conn.close()
    return {"seconds": round(seconds, 1), "embed_seconds": round(report.embed_seconds, 1),
            "embedded": report.reembedded, "reused": report.reused, "load_average": load_average()}


def run(template_dir: Path, work: Path, quick: bool) -> dict[str, Any]:
    edits = share_edits(SHARE)
    release = make_release(work / "release-5pct", edits, version="bench-5pct")
    encoder = Encoder.load(default_model_path())
    result: dict[str, Any] = {"changed_items": len(edits.redescribe), "share": SHARE}
    result["incremental"] = _refresh(template_dir, work / "incremental", release, encoder, keep_store=True)
    if not quick:
        result["full"] = _refresh(template_dir, work / "full", release, encoder, keep_store=False)
        result["ratio_full_to_incremental"] = round(result["full"]["seconds"] / result["incremental"]["seconds"], 1)
    print(f"catalogue refresh, {result['changed_items']} items changed ({SHARE:.0%} of KEs and pathways):")
    for name in ("incremental", "full"):
        if name in result:
            r = result[name]
            print(f"  {name:<12} {r['seconds']:>7.1f} s (embedding {r['embed_seconds']:.1f} s; {r['embedded']} "
                  f"embedded, {r['reused']} reused; load {r['load_average'][0]:.1f})")
    if "ratio_full_to_incremental" in result:
        print(f"  full / incremental: {result['ratio_full_to_incremental']}x")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the 5%% refresh only (no full re-embed)")
    args = parser.parse_args()
    print(f"{machine()}")
    with tempfile.TemporaryDirectory(prefix="kewp-bench-refresh-", dir="/var/tmp") as scratch:
        work = Path(scratch)
        template = seed_database(work / "template")
        run(template.parent, work, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
