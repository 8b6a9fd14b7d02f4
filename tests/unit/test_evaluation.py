"""The suggestion evaluator: metrics on hand-made ranks, and grouped cross-validation on real data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from app import db
from app.services.catalog import load_catalog
from app.services.embeddings import EmbeddingStore
from app.services.evaluation import (
    Evaluator,
    Grid,
    Variant,
    bootstrap,
    grouped_folds,
    metrics,
    rank_of,
    read_links,
)
from app.services.neighbours import ApprovedLink, ApprovedSuggester, NeighbourConfig

from .helpers import SEED


def test_metrics_of_known_ranks() -> None:
    got = metrics([1, 3, 12, 60])
    assert got["R@1"] == 0.25
    assert got["R@5"] == 0.5
    assert got["R@10"] == 0.5
    assert got["R@50"] == 0.75
    assert math.isclose(got["MRR"], (1 + 1 / 3 + 1 / 12 + 1 / 60) / 4)


def test_rank_counts_only_pathways_scored_strictly_higher() -> None:
    total = np.array([0.5, 0.9, 0.5, 0.1])
    assert rank_of(total, 1) == 1
    assert rank_of(total, 0) == 2
    assert rank_of(total, 2) == 2
    assert rank_of(total, 3) == 4


def test_bootstrap_of_identical_kes_is_the_point_value() -> None:
    groups = [[1, 20], [1, 20], [1, 20]]
    ci = bootstrap(groups, draws=200)
    assert ci["R@10"] == (0.5, 0.5)
    assert ci["MRR"][0] == pytest.approx((1 + 1 / 20) / 2)


def test_bootstrap_resamples_whole_kes() -> None:
    # One KE with ten links all at rank 1, nine KEs with one link at rank 100: a link-level
    # bootstrap would put R@1 near 10/19; drawing KEs lets it range from none to most.
    groups = [[1] * 10] + [[100]] * 9
    low, high = bootstrap(groups, draws=2000)["R@1"]
    assert low == 0.0
    assert high > 0.7


def test_paired_difference_with_itself_is_zero() -> None:
    groups = [[1, 4], [7], [30, 2, 9]]
    assert all(v == (0.0, 0.0) for v in bootstrap(groups, draws=100, other=groups).values())


def test_folds_are_grouped_by_ke_and_cover_every_ke_once() -> None:
    kes = [f"KE {i}" for i in range(23)] * 2  # a KE with two links is one item
    folds = grouped_folds(kes, 5, seed=3)
    flat = [ke for fold in folds for ke in fold]
    assert sorted(flat) == sorted(set(kes))
    assert {len(f) for f in folds} <= {4, 5}
    assert folds == grouped_folds(kes, 5, seed=3)


def test_links_files_are_read_once_per_pair_with_their_confidence(tmp_path: Path) -> None:
    path = tmp_path / "links.jsonl"
    rows = [{"ke_id": "KE 1", "wp_id": "WP2", "mapping_confidence": "high"},
            {"ke_id": "KE 1", "wp_id": "WP2", "mapping_confidence": "low"},
            {"ke_id": "KE 3", "wp_id": "WP4"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert read_links([path]) == [ApprovedLink("KE 1", "WP2", "high"), ApprovedLink("KE 3", "WP4", None)]


# --- on the real catalogue and the shipped embeddings -----------------------------------------

@pytest.fixture(scope="module")
def real_suggester(seeded_db_template: Path) -> ApprovedSuggester:
    conn = db.connect(seeded_db_template)
    try:
        catalog = load_catalog(conn)
    finally:
        conn.close()
    return ApprovedSuggester(EmbeddingStore.load(SEED / "embeddings"), catalog)


@pytest.fixture(scope="module")
def dev_links() -> list[ApprovedLink]:
    return read_links([SEED / "curated_links_dev.jsonl"])


SMALL_GRID = Grid(gene=(0.0, 0.2), go=(0.0, 0.05), approved=(0.0, 0.5), top_n=(5,), power=(2.0,))


def test_a_kes_own_approvals_never_count_for_it(real_suggester: ApprovedSuggester) -> None:
    own = [ApprovedLink("KE 55", "WP254", "high"), ApprovedLink("KE 55", "WP528", "high")]
    index = real_suggester.index_for(own)
    scores = index.scores(real_suggester.ke.vector("KE 55"), "KE 55", NeighbourConfig(1.0, 10, 1.0))
    assert not scores.values.any()
    assert scores.support == {}


def test_a_folds_approvals_come_from_the_other_folds_only(real_suggester, dev_links) -> None:
    evaluator = Evaluator(real_suggester, dev_links, folds=5, grid=SMALL_GRID)
    for f, held_out in enumerate(evaluator.folds):
        assert not set(evaluator.pool(f).ke_ids) & set(held_out)
        assert set(evaluator.pool(f).ke_ids) | set(held_out) == set(evaluator.kes)


def test_held_out_ranks_are_the_apps_ranks_and_the_signal_helps(real_suggester, dev_links) -> None:
    evaluator = Evaluator(real_suggester, dev_links, folds=4, grid=SMALL_GRID)
    report = evaluator.run([Variant("text", frozenset()), Variant("text + approved", frozenset({"approved"}))],
                           draws=5)
    assert report.checked == 2 * len(evaluator.links)
    assert report.mismatched == 0  # the weight search ranks exactly as ApprovedSuggester.scores_for_ke does
    text, approved = (metrics(row.flat) for row in report.rows)
    assert approved["MRR"] > text["MRR"]
    assert all(w.approved == 0.5 for w in report.rows[1].chosen)
