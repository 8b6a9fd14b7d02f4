"""Suggestions on a slice of the real catalogue with the real model."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app import db
from app.services.catalog import KeyEvent, load_catalog
from app.services.embeddings import EmbeddingStore
from app.services.encoder import Encoder
from app.services.genes import GeneMatcher, Hypergeometric, build_alias_map, information_content
from app.services.suggestions import SuggestConfig, Suggester, SuggestionError
from app.services.text_recipes import RECIPES, clean_text, opening, views

pytest_plugins = ["tests.unit.suggest_fixtures"]  # shared session fixtures: built once per run


NO_GENES = SuggestConfig(gene_weight=0.0, go_weight=0.0, neighbour_weight=0.0)


@pytest.fixture(scope="module")
def catalog(small_db: Path):
    conn = db.connect(small_db)
    try:
        return load_catalog(conn)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def store(small_store: Path) -> EmbeddingStore:
    return EmbeddingStore.load(small_store)


def suggester(store, catalog, encoder=None, **config) -> Suggester:
    return Suggester(store, catalog, encoder=encoder, config=replace(SuggestConfig(), **config))


def rank(s: Suggester, ke_id: str, wp_id: str) -> int:
    total = s.scores_for_ke(ke_id).total
    return 1 + int((total > total[s.wp_ids.index(wp_id)]).sum())


# --- ranking ---------------------------------------------------------------------------------

def test_ke_suggestions_are_ranked_with_scores_and_reasons(store, catalog) -> None:
    results = suggester(store, catalog).for_ke("KE 277", k=5)
    assert len(results) == 5
    assert results[0].wp_id == "WP1981"  # Thyroid hormone synthesis -> Thyroxine (thyroid hormone) production
    assert results[0].title == "Thyroxine (thyroid hormone) production"
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    for r in results:
        assert r.reasons[0] == f"text similarity {r.text_score:.2f}"
        assert -1.0 <= r.text_score <= 1.0 and r.score >= r.text_score


def test_top_k_is_the_head_of_the_full_ranking(store, catalog) -> None:
    s = suggester(store, catalog, neighbour_weight=0.0)
    total = s.scores_for_ke("KE 1115").total
    expected = [s.wp_ids[j] for j in np.argsort(-total, kind="stable")[:7]]
    assert [r.wp_id for r in s.for_ke("KE 1115", k=7)] == expected
    text = store.get("pathways").vectors @ store.get("key_events").vector("KE 1115")
    np.testing.assert_allclose(s.scores_for_ke("KE 1115").text, text, rtol=1e-6)  # a plain dot product


def test_k_larger_than_the_catalogue_returns_every_pathway_once(store, catalog) -> None:
    results = suggester(store, catalog).for_ke("KE 55", k=10_000)
    assert sorted(r.wp_id for r in results) == sorted(store.get("pathways").ids.tolist())


def test_gene_named_in_the_ke_lifts_its_pathway_and_says_so(store, catalog) -> None:
    with_genes = suggester(store, catalog)
    without = suggester(store, catalog, gene_weight=0.0, gene_hit_weight=0.0)
    assert rank(with_genes, "KE 479", "WP2879") < rank(without, "KE 479", "WP2879")
    top = {r.wp_id: r for r in with_genes.for_ke("KE 479", k=5)}  # Activation, NR1H4 -> Farnesoid X receptor
    assert "WP2879" in top
    assert top["WP2879"].shared_genes == ["NR1H4"]
    assert any(reason.startswith("shared genes: NR1H4 (of 19 pathway genes)") for reason in top["WP2879"].reasons)
    unweighted = {r.wp_id: r for r in without.for_ke("KE 479", k=50)}["WP2879"]
    assert unweighted.shared_genes == [] and len(unweighted.reasons) == 1  # not named when it does not count


def test_go_process_counts_and_is_named_only_when_weighted(store, catalog) -> None:
    weighted = suggester(store, catalog, go_weight=0.1).for_ke("KE 277", k=3)
    assert any("GO process: thyroid hormone generation (GO:0006590" in r for r in weighted[0].reasons)
    assert weighted[0].go_score > 0
    plain = suggester(store, catalog, go_weight=0.0).for_ke("KE 277", k=3)
    assert not any("GO process" in reason for r in plain for reason in r.reasons)


def test_neighbour_context_changes_the_query_vector(store, catalog) -> None:
    assert catalog.neighbours.get("KE 1115")
    plain = suggester(store, catalog, neighbour_weight=0.0).scores_for_ke("KE 1115").text
    context = suggester(store, catalog, neighbour_weight=0.25).scores_for_ke("KE 1115").text
    assert not np.allclose(plain, context)


def test_free_text_is_encoded_and_ranked_the_same_way(store, catalog, real_encoder: Encoder) -> None:
    s = suggester(store, catalog, encoder=real_encoder)
    results = s.for_text("decreased synthesis of thyroid hormone", k=3)
    assert "WP1981" in [r.wp_id for r in results]
    gene_hit = {r.wp_id: r for r in s.for_text("activation of NR1H4", k=5)}
    assert "NR1H4" in gene_hit["WP2879"].shared_genes


def test_free_text_needs_the_model(store, catalog) -> None:
    with pytest.raises(SuggestionError, match="need the model"):
        suggester(store, catalog).for_text("oxidative stress")


def test_empty_free_text_is_refused(store, catalog, real_encoder: Encoder) -> None:
    with pytest.raises(SuggestionError, match="empty"):
        suggester(store, catalog, encoder=real_encoder).for_text("   ")


def test_unknown_ke_is_a_clear_error(store, catalog) -> None:
    with pytest.raises(SuggestionError, match="'KE 999999' is not a Key Event"):
        suggester(store, catalog).for_ke("KE 999999")


def test_ke_imported_after_the_build_is_encoded_with_the_model(store, catalog, real_encoder: Encoder) -> None:
    catalog.key_events["KE 900001"] = KeyEvent("KE 900001", "Decreased thyroxine (T4) synthesis in the thyroid")
    try:
        with pytest.raises(SuggestionError, match=r"no precomputed embedding.*embeddings build"):
            suggester(store, catalog).for_ke("KE 900001")
        results = suggester(store, catalog, encoder=real_encoder).for_ke("KE 900001", k=3)
        assert "WP1981" in [r.wp_id for r in results]
    finally:
        del catalog.key_events["KE 900001"]


# --- the store's gene evidence ---------------------------------------------------------------------

def test_store_carries_gene_evidence_from_the_reference_files(store) -> None:
    genes = store.extras["genes"]
    assert genes["ke_genes"]["KE 479"]["named"] == {"NR1H4": 1.0}
    assert genes["ke_genes"]["KE 66"]["named"] == {"MLXIPL": 1.0}  # ChREBP is an alias of MLXIPL
    assert "GO:0006590" in genes["ke_go"]["KE 277"]
    assert "TPO" in genes["go_terms"]["GO:0006590"]["genes"]
    assert genes["aliases"]["NR1H4"] == ["NR1H4"]


# --- texts --------------------------------------------------------------------------------------

def test_texts_are_cleaned_and_cut_at_a_word() -> None:
    assert clean_text("ROS&nbsp;levels <b>rise</b>, see [WP1](https://x)\n\n ok") == "ROS levels rise , see WP1 ok"
    cut = opening("word " * 200)
    assert len(cut) <= 300 and cut.endswith("word")
    assert views(RECIPES["title"], "T", "some description") == ["T"]
    assert views(RECIPES["title+description"], "T", "some description") == ["T", "T. some description"]
    assert views(RECIPES["title+description"], "T", None) == ["T"]


# --- gene matching and enrichment ---------------------------------------------------------------

ALIASES = build_alias_map([
    ("NFE2L2", "NFE2L2"), ("NFE2L2", "NRF2"), ("GABPA", "GABPA"), ("GABPA", "NRF2"), ("IL6", "IL6"),
    ("IL6", "IL-6"), ("ROS1", "ROS1"), ("ROS1", "ROS"), ("CA2", "CA2"), ("CAMP", "CAMP"), ("TP53", "TP53"),
    ("TP53", "p53"), ("NR1H4", "NR1H4"), ("NR1H4", "FXR"), ("FAS", "FAS"), ("FASN", "FAS"), ("TPO", "TPO"),
], universe={"NFE2L2", "GABPA", "IL6", "ROS1", "CA2", "CAMP", "TP53", "NR1H4", "FAS", "FASN", "TPO"})


def test_gene_names_are_found_and_mapped_to_symbols() -> None:
    found = GeneMatcher(ALIASES).find("Activation of Nrf2 and IL-6; p53 and NR1H4; TPO inhibition")
    assert found == {"NFE2L2": 0.5, "GABPA": 0.5, "IL6": 1.0, "TP53": 1.0, "NR1H4": 1.0, "TPO": 1.0}


def test_short_aliases_without_a_digit_are_too_ambiguous() -> None:
    assert GeneMatcher(ALIASES).find("FXR activation") == {}  # FXR: 3 letters, an alias, not a symbol


@pytest.mark.parametrize("text", ["ROS production", "Ca2+ influx", "cAMP signalling", "cell death", "the cat"])
def test_abbreviations_that_are_not_genes_are_ignored(text: str) -> None:
    assert GeneMatcher(ALIASES).find(text) == {}


def test_official_symbol_wins_over_an_alias_of_another_gene() -> None:
    assert GeneMatcher(ALIASES).find("FAS activation") == {"FAS": 1.0}


def _exact_tail(o: int, n: int, m: int, universe: int) -> float:
    total = math.comb(universe, n)
    p = sum(math.comb(m, k) * math.comb(universe - m, n - k) for k in range(o, min(n, m) + 1)) / total
    return -math.log10(p)


@pytest.mark.parametrize(("o", "n", "m"), [(1, 1, 19), (1, 1, 300), (3, 13, 40), (5, 450, 120), (2, 5, 2)])
def test_hypergeometric_tail_is_exact(o: int, n: int, m: int) -> None:
    got = Hypergeometric(9000).neg_log10_p(np.array([o, 0]), n, np.array([m, m]))
    assert got[0] == pytest.approx(_exact_tail(o, n, m, 9000), rel=1e-6)
    assert got[1] == 0.0


def test_one_shared_gene_counts_more_in_a_small_pathway() -> None:
    small, large = Hypergeometric(9000).neg_log10_p(np.array([1, 1]), 1, np.array([19, 300]))
    assert small == pytest.approx(math.log10(9000 / 19)) and small > large


def test_information_content_ranks_specific_terms_higher() -> None:
    assert information_content(13, 9000) > information_content(3300, 9000) > 0.0
    assert information_content(9000, 9000) == 0.0
