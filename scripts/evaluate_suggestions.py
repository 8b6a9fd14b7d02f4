#!/usr/bin/env python3
"""Measure suggestions: recall@1/5/10 and MRR of the curated pathway for its Key Event.

    python scripts/evaluate_suggestions.py --database DB --store DIR [--links data/seed/mappings.jsonl]

Each curated KE -> pathway link is one test: rank the catalogue's pathways for the KE
and find the curated pathway's rank (a KE with two curated pathways is two tests; a link
listed more than once counts once). Links whose KE or pathway is not in the catalogue are
skipped, and the script says how many. Variants, from the plain title embeddings (the
baseline) to the full scoring (the app's defaults, SuggestConfig()), are run through the
same Suggester the app uses. The baseline needs title-only vectors: they are built with
the same code into --baseline-store (kept for the next run) unless it exists.

Nothing here is fitted to individual links; the weights are the app's defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import db
from app.config import default_model_path
from app.services.catalog import load_catalog
from app.services.embeddings import EmbeddingsError, EmbeddingStore
from app.services.encoder import Encoder, ModelError
from app.services.precompute import build_store
from app.services.suggestions import SuggestConfig, Suggester

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    name: str
    ranks: list[int]

    def recall(self, k: int) -> float:
        return float(np.mean([r <= k for r in self.ranks])) if self.ranks else 0.0

    @property
    def mrr(self) -> float:
        return float(np.mean([1.0 / r for r in self.ranks])) if self.ranks else 0.0


def read_links(path: Path) -> list[tuple[str, str]]:
    links = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                links.append((record["ke_id"], record["wp_id"]))
    return links


def rank_links(suggester: Suggester, links: list[tuple[str, str]]) -> list[int]:
    index = {wp: j for j, wp in enumerate(suggester.wp_ids)}
    ranks = []
    for ke_id, wp_id in links:
        total = suggester.scores_for_ke(ke_id).total
        ranks.append(1 + int((total > total[index[wp_id]]).sum()))
    return ranks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=os.environ.get("KEWP_DATABASE"),
                        help="SQLite database with the catalogue (default: KEWP_DATABASE)")
    parser.add_argument("--store", help="embeddings store to evaluate (default: embeddings/ next to the database)")
    parser.add_argument("--links", default=str(REPO / "data" / "seed" / "mappings.jsonl"),
                        help="curated links, JSON lines with ke_id and wp_id (default: %(default)s)")
    parser.add_argument("--baseline-store", help="title-only store, built if missing (default: <store>-title)")
    parser.add_argument("--model", default=os.environ.get("KEWP_MODEL_PATH") or default_model_path(),
                        help="model folder, used only to build the baseline store")
    parser.add_argument("--ranks", action="store_true", help="also print each link's rank per variant")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.database or not Path(args.database).is_file():
        parser.error(f"database {args.database!r} not found; give --database or set KEWP_DATABASE")
    store_dir = Path(args.store or Path(args.database).parent / "embeddings")
    baseline_dir = Path(args.baseline_store or f"{store_dir}-title")

    conn = db.connect(args.database)
    try:
        catalog = load_catalog(conn)
        try:
            store = EmbeddingStore.load(store_dir)
            if not (baseline_dir / "manifest.json").is_file():
                print(f"building the title-only baseline store in {baseline_dir} ...", file=sys.stderr)
                build_store(conn, Encoder.load(args.model), baseline_dir, recipe_name="title")
            baseline = EmbeddingStore.load(baseline_dir)
        except (EmbeddingsError, ModelError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    finally:
        conn.close()
    if baseline.recipe.name != "title":
        print(f"error: {baseline_dir} holds recipe {baseline.recipe}, not the title-only baseline", file=sys.stderr)
        return 1

    records = read_links(Path(args.links))
    unique = list(dict.fromkeys(records))
    usable = [(ke, wp) for ke, wp in unique if ke in catalog.key_events and wp in catalog.pathways
              and ke in store.get("key_events").index and wp in store.get("pathways").index]
    skipped = [link for link in unique if link not in usable]
    print(f"{len(records)} curated links in {args.links}: {len(unique)} distinct; {len(skipped)} skipped "
          f"(KE or pathway not in the catalogue: {', '.join(f'{k}->{w}' for k, w in skipped) or 'none'}); "
          f"{len(usable)} evaluated against {len(store.get('pathways'))} pathways.")
    print(f"store: {store_dir} (model {store.model.get('name')}, recipe {store.recipe}); "
          f"baseline: {baseline_dir} (recipe {baseline.recipe})\n")

    final = SuggestConfig()
    text_only = SuggestConfig(gene_weight=0.0, go_weight=0.0, neighbour_weight=0.0)
    named = replace(text_only, gene_weight=final.gene_weight, description_gene_weight=0.0)
    described = replace(named, description_gene_weight=final.description_gene_weight)
    with_go = replace(described, go_weight=final.go_weight)
    variants: list[tuple[str, EmbeddingStore, SuggestConfig]] = [
        ("baseline: title embeddings", baseline, text_only),
        ("text: title + description opening", store, text_only),
        (f"  + genes named in KE title/components (w {final.gene_weight})", store, named),
        (f"  + genes in KE description (x{final.description_gene_weight})", store, described),
        (f"  + GO process enrichment (w {final.go_weight})", store, with_go),
        (f"  + neighbour KE context (w {final.neighbour_weight})", store,
         replace(with_go, neighbour_weight=final.neighbour_weight)),
        ("ablation: FINAL on title embeddings", baseline, final),
        ("ablation: FINAL without gene evidence", store, replace(final, gene_weight=0.0, go_weight=0.0)),
        ("FINAL (app defaults, SuggestConfig())", store, final),
    ]
    results = []
    started = time.monotonic()
    for name, variant_store, config in variants:
        suggester = Suggester(variant_store, catalog, config=config)
        results.append(Result(name, rank_links(suggester, usable)))
    elapsed = time.monotonic() - started

    width = max(len(r.name) for r in results)
    print(f"| {'variant':<{width}} | R@1  | R@5  | R@10 | MRR   |")
    print(f"|{'-' * (width + 2)}|------|------|------|-------|")
    for r in results:
        print(f"| {r.name:<{width}} | {r.recall(1):.2f} | {r.recall(5):.2f} | {r.recall(10):.2f} | {r.mrr:.3f} |")
    n_queries = len(results) * len(usable)
    print(f"\n({n_queries} rankings in {elapsed:.2f}s, {1000 * elapsed / max(n_queries, 1):.1f} ms each)")
    if args.ranks:
        print("\nrank of the curated pathway per link (columns = variants in the order above):")
        for i, (ke, wp) in enumerate(usable):
            ranks = " ".join(f"{r.ranks[i]:4d}" for r in results)
            titles = f"{catalog.key_events[ke].title[:40]} -> {catalog.pathways[wp].title[:40]}"
            print(f"{ke:>8} -> {wp:<7} {ranks}  {titles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
