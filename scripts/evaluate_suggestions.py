#!/usr/bin/env python3
"""Measure suggestions: recall@1/5/10/50 and MRR on curated links, cross-validated by Key Event.

    python scripts/evaluate_suggestions.py --database DB [--store DIR] [--links FILE ...]

Each curated KE -> pathway link is one test: the curated pathway's rank among the store's
pathways for its KE, from the scores the app's KE suggestions are sorted by
(app/services/evaluation.py). The KEs are dealt into --folds groups; each fold's links are
ranked with weights chosen on the other folds, and the approved-neighbour signal of a fold
knows only the other folds' links (a KE's own links never help rank it). One row per
signal combination (ablation), with 95% bootstrap intervals over KEs; then the weights
chosen on all links, with their interval. Links whose KE or pathway is not in the
catalogue or the store are skipped, and listed.

The database needs only the catalogue (flask --app app catalog import ...); its approved
mappings are not used: the links files are the approvals.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import db
from app.services.catalog import Catalog, load_catalog
from app.services.embeddings import EmbeddingsError, EmbeddingStore
from app.services.encoder import Encoder
from app.services.evaluation import (
    CHOSEN,
    COMPARISONS,
    SIGNALS,
    Evaluator,
    Grid,
    Report,
    Variant,
    Weights,
    ablation_variants,
    format_report,
    free_text_variants,
    read_links,
)
from app.services.neighbours import ApprovedLink, ApprovedSuggester, NeighbourConfig
from app.services.suggestions import SuggestConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LINKS = [REPO / "data" / "seed" / "mappings.jsonl", REPO / "data" / "seed" / "curated_links_dev.jsonl"]


def tqdm_progress(items, total, desc):
    from tqdm import tqdm

    return tqdm(items, total=total, desc=desc, file=sys.stderr, disable=None, leave=False)


BEFORE = "fixed: issue 15 part 1 (gene 0.2, go 0.05, approved 1, n 3, p 3)"
APP = "fixed: app defaults (SuggestConfig + NeighbourConfig; chosen on all links)"


def app_variants(free_text: bool = False) -> list[Variant]:
    """The weights the app had before this round and has now (not fitted), and the CV choice."""
    app, neighbour = SuggestConfig(), NeighbourConfig()
    before = Weights(not free_text, 0.2, 0.05, 0.0 if free_text else 1.0, 3, 3.0)  # for_text had no approvals
    after = Weights(not free_text and app.neighbour_weight > 0, app.gene_weight, app.go_weight, neighbour.weight,
                    neighbour.top_n, neighbour.power, app.gene_hit_weight, neighbour.prior_weight)
    chosen = [] if free_text else [Variant(CHOSEN, frozenset(SIGNALS), any_subset=True)]
    return [Variant(BEFORE, frozenset(SIGNALS), before), Variant(APP, frozenset(SIGNALS), after), *chosen]


def compare_rows(report: Report, other: EmbeddingStore, catalog: Catalog, links: list[ApprovedLink], *,
                 args: argparse.Namespace, encoder: Encoder | None) -> list[tuple[str, str]]:
    """Evaluate the text-only and app-default variants on another store (same links and folds) and
    add its rows to `report`; returns the (this store, other store) pairs to compare."""
    text_only = "text only" if args.free_text else "text only (title + description)"
    mine = [v for v in [*app_variants(args.free_text), *ablation_variants(), *free_text_variants()]
            if v.name in (APP, text_only)]
    evaluator = Evaluator(ApprovedSuggester(other, catalog, encoder=encoder), links, folds=args.folds,
                          seed=args.seed, progress=tqdm_progress, free_text=args.free_text,
                          grid=Grid(adjacent=(0.0,), same_aop=(0.0,)) if args.free_text else None)
    rows = evaluator.run(mine, draws=0).rows
    label = f" [store {other.recipe}]"
    for row in rows:
        row.variant = Variant(row.variant.name + label, row.variant.signals, row.variant.fixed, row.variant.where)
    report.rows += rows
    return [(v.name, v.name + label) for v in mine]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("KEWP_DATABASE"),
                        help="SQLite database with the catalogue (default: KEWP_DATABASE)")
    parser.add_argument("--store", help="embeddings store (default: embeddings/ next to the database)")
    parser.add_argument("--links", action="append", type=Path,
                        help="curated links, JSON lines with ke_id, wp_id and optional mapping_confidence; "
                             "repeat for several files (default: data/seed/mappings.jsonl and "
                             "data/seed/curated_links_dev.jsonl)")
    parser.add_argument("--folds", type=int, default=5, help="folds grouped by KE (default: %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=2000,
                        help="bootstrap draws for the metrics' intervals (default: %(default)s)")
    parser.add_argument("--choice-draws", type=int, default=200,
                        help="bootstrap draws for the interval of the chosen weights (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--free-text", action="store_true",
                        help="type each KE's title as free text (for_text's path; loads the model)")
    parser.add_argument("--compare-store", type=Path,
                        help="another embeddings store of the same catalogue (e.g. built with another "
                             "--recipe): its text-only and app-default rows are added, with the paired "
                             "difference to this store's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.database or not Path(args.database).is_file():
        parser.error(f"database {args.database!r} not found; give --database or set KEWP_DATABASE")
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    store_dir = Path(args.store or Path(args.database).parent / "embeddings")
    conn = db.connect(args.database)
    try:
        catalog = load_catalog(conn)
    finally:
        conn.close()
    try:
        store = EmbeddingStore.load(store_dir)
    except EmbeddingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    link_files = args.links or DEFAULT_LINKS
    links = read_links(link_files)
    print(f"links: {', '.join(str(p) for p in link_files)}; store: {store_dir} (model {store.model.get('name')}, "
          f"recipe {store.recipe}, {len(store.get('pathways'))} pathways)")
    started = time.monotonic()
    encoder = None
    if args.free_text:
        from app.config import default_model_path

        encoder = Encoder.load(os.environ.get("KEWP_MODEL_PATH") or default_model_path())
    evaluator = Evaluator(ApprovedSuggester(store, catalog, encoder=encoder), links, folds=args.folds,
                          seed=args.seed, progress=tqdm_progress, free_text=args.free_text,
                          grid=Grid(adjacent=(0.0,), same_aop=(0.0,)) if args.free_text else None)  # no KE: no AOP
    if args.free_text:
        variants = [*app_variants(free_text=True), *free_text_variants()]
        comparisons = [(CHOSEN, "text only"), (APP, "text only"), (APP, BEFORE)]
    else:
        variants = [*app_variants(), *ablation_variants()]
        comparisons = [(CHOSEN, BEFORE), (APP, BEFORE), *COMPARISONS]
    choose = [v for v in variants if v.name == CHOSEN]
    report = evaluator.run(variants, draws=args.choice_draws, choose=choose)
    if args.compare_store:
        try:
            other = EmbeddingStore.load(args.compare_store)
        except EmbeddingsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        comparisons = [*comparisons, *compare_rows(report, other, catalog, links, args=args, encoder=encoder)]
    print(format_report(report, draws=args.bootstrap, seed=args.seed, comparisons=comparisons))
    print(f"\n({time.monotonic() - started:.1f}s)")
    return 0 if report.mismatched == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
