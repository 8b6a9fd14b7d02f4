"""The signals added in issue 15's second round, on the shipped catalogue and embeddings:
genes written out by their full name, the gene-hit bonus, the hub prior, free text with the
approvals of the KEs most like the text, and the free-text evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from app.services.embeddings import KE_SET, EmbeddingSet
from app.services.encoder import Encoder
from app.services.evaluation import Evaluator, Grid, Variant, read_links
from app.services.neighbours import ApprovedLink, ApprovedSuggester, NeighbourConfig
from app.services.suggestions import SuggestConfig
from app.services.text_recipes import RECIPES, encode_items

from .helpers import SEED

pytest_plugins = ["tests.unit.suggest_fixtures"]

FREE_TEXT = "inhibition of acetylcholinesterase causes cholinergic overstimulation"


@pytest.fixture(scope="module")
def shipped_links() -> list[ApprovedLink]:
    return read_links([SEED / "mappings.jsonl", SEED / "curated_links_dev.jsonl"])


def suggester(store, catalog, links=(), encoder=None, **config) -> ApprovedSuggester:
    s = ApprovedSuggester(store, catalog, encoder=encoder, config=SuggestConfig(**{
        k: v for k, v in config.items() if k in SuggestConfig.__dataclass_fields__}),
        neighbour_config=NeighbourConfig(**{k: v for k, v in config.items()
                                            if k in NeighbourConfig.__dataclass_fields__}))
    s.approved = s.index_for(links)
    return s


def rank(s: ApprovedSuggester, ke: str, wp: str) -> int:
    total = s.scores_for_ke(ke).total
    return 1 + int((total > total[s.wp_ids.index(wp)]).sum())


def test_a_gene_written_out_by_its_full_name_is_found(store, catalog) -> None:
    matcher = ApprovedSuggester(store, catalog).matcher
    assert matcher.find(FREE_TEXT) == {"ACHE": 1.0}
    assert matcher.find("Inhibition, Thyroid peroxidase") == {"TPO": 1.0}
    assert matcher.find("Increased cell proliferation") == {}  # ordinary words are no gene


def test_ke_12s_gene_matching_pathways_outrank_the_ace_false_friend(store, catalog, real_encoder: Encoder) -> None:
    # KE 12 "Acetylcholinesterase (AchE) Inhibition": WP554 "ACE inhibitor pathway" is like it in
    # text only (ACE is not AChE); the pathways that contain ACHE must come first.
    app = ApprovedSuggester(store, catalog)
    with_ache = [wp for wp in app.wp_ids if "ACHE" in catalog.pathways[wp].genes
                 and app.scores_for_ke("KE 12").text[app.wp_ids.index(wp)] >= 0.3]
    assert len(with_ache) >= 4
    assert max(rank(app, "KE 12", wp) for wp in with_ache) < rank(app, "KE 12", "WP554")
    # Each of two things does it alone: the gene-hit bonus, and the event components in the KE's
    # vector ("acetylcholinesterase acetylcholinesterase activity"); with neither, WP554 wins.
    ke = catalog.key_events["KE 12"]
    old_vector = encode_items(real_encoder, RECIPES["title+description"], [(ke.title, ke.description)])[0]
    kes = store.get(KE_SET)
    vectors = np.array(kes.vectors)
    vectors[kes.index["KE 12"]] = old_vector
    old_store = copy.copy(store)
    old_store.sets = {**store.sets, KE_SET: EmbeddingSet(kes.ids, vectors)}  # KE 12 as the old recipe made it

    def worst_ache_and_wp554(s: ApprovedSuggester) -> tuple[int, int]:
        return max(rank(s, "KE 12", wp) for wp in with_ache), rank(s, "KE 12", "WP554")

    worst, false_friend = worst_ache_and_wp554(suggester(store, catalog, gene_hit_weight=0.0))
    assert worst < false_friend
    worst, false_friend = worst_ache_and_wp554(ApprovedSuggester(old_store, catalog))
    assert worst < false_friend
    worst, false_friend = worst_ache_and_wp554(suggester(old_store, catalog, gene_hit_weight=0.0))
    assert worst > false_friend


def test_the_hub_prior_counts_other_kes_approvals_only(store, catalog, shipped_links) -> None:
    s = suggester(store, catalog, shipped_links)
    index = s.approved_index()
    column = s.wp_ids.index("WP5600")
    approving = {x.ke_id for x in shipped_links if x.wp_id == "WP5600"}
    assert len(approving) >= 3  # a hub of the curated links
    one = sorted(approving)[0]
    assert index.prior(None)[column] == pytest.approx(np.log1p(len(approving)))
    assert index.prior(one)[column] == pytest.approx(np.log1p(len(approving) - 1))
    penalised = suggester(store, catalog, shipped_links, weight=0.0, prior_weight=-0.05)
    plain = suggester(store, catalog, shipped_links, weight=0.0)
    ke = "KE 12"
    assert penalised.scores_for_ke(ke).total[column] == pytest.approx(
        plain.scores_for_ke(ke).total[column] - 0.05 * np.log1p(len(approving)))


def test_free_text_gets_the_gene_and_the_approvals_of_similar_kes(store, catalog, shipped_links,
                                                                  real_encoder: Encoder) -> None:
    s = suggester(store, catalog, shipped_links, encoder=real_encoder, gene_hit_weight=0.2)
    top = s.for_text(FREE_TEXT, k=5)
    titles = [x.title.lower() for x in top]
    assert not any("cholest" in t or "bile" in t for t in titles), titles
    assert all("ACHE" in x.shared_genes for x in top), [(x.wp_id, x.shared_genes) for x in top]
    assert any(r.startswith("approved for") for x in top for r in x.reasons)
    text_only = suggester(store, catalog, encoder=real_encoder, gene_weight=0.0, weight=0.0)
    before = [x.title.lower() for x in text_only.for_text(FREE_TEXT, k=5)]
    assert any("cholest" in t or "bile" in t for t in before)  # what text similarity alone does


def test_the_free_text_evaluation_ranks_as_for_text_and_never_uses_the_kes_own_links(
        store, catalog, real_encoder: Encoder) -> None:
    links = read_links([SEED / "curated_links_dev.jsonl"])
    grid = Grid(gene=(0.0, 0.2), go=(0.0,), approved=(0.0, 0.5), top_n=(5,), power=(2.0,), hit=(0.0, 0.2),
                prior=(0.0,))
    evaluator = Evaluator(ApprovedSuggester(store, catalog, encoder=real_encoder), links, folds=3, grid=grid,
                          free_text=True)
    report = evaluator.run([Variant("text", frozenset()), Variant("text + approved", frozenset({"approved"}))],
                           draws=3)
    assert report.mismatched == 0
    assert report.checked == 2 * len(evaluator.links)
    ke = evaluator.kes[0]
    only_own = evaluator.suggester.index_for([x for x in links if x.ke_id == ke])
    title = catalog.key_events[ke].title
    clone = suggester(store, catalog, encoder=real_encoder)
    clone.approved = only_own
    scores, _ = clone.scores_for_text(title, exclude=ke)
    assert not scores.approved.any()


def test_an_approval_next_to_the_ke_in_its_aop_counts_with_its_reason_and_goes_when_deleted(store, catalog) -> None:
    ke = "KE 12"
    upstream_or_downstream = sorted(catalog.neighbours[ke])[0]
    link = ApprovedLink(upstream_or_downstream, "WP4220", "high")  # Neurotransmitter disorders
    with_link = suggester(store, catalog, [link], adjacent_weight=0.4, weight=0.0)
    without = suggester(store, catalog, [], adjacent_weight=0.4, weight=0.0)
    column = with_link.wp_ids.index("WP4220")
    assert with_link.scores_for_ke(ke).total[column] == pytest.approx(without.scores_for_ke(ke).total[column] + 0.4)
    top = {x.wp_id: x for x in with_link.for_ke(ke, k=50)}
    assert f"approved for a KE next to this KE in its AOPs: {upstream_or_downstream}" in top["WP4220"].reasons
    own = suggester(store, catalog, [ApprovedLink(ke, "WP4220", "high")], adjacent_weight=0.4, same_aop_weight=0.4)
    assert own.scores_for_ke(ke).total[column] == pytest.approx(without.scores_for_ke(ke).total[column])


def test_an_approval_elsewhere_in_the_kes_aops_counts_as_same_aop(store, catalog) -> None:
    ke = "KE 12"
    aops = set(catalog.key_events[ke].aop_titles)
    other = sorted(k for k, e in catalog.key_events.items() if aops & set(e.aop_titles)
                   and k != ke and k not in catalog.neighbours[ke])[0]
    s = suggester(store, catalog, [ApprovedLink(other, "WP4220", "low")], same_aop_weight=0.2, weight=0.0)
    base = suggester(store, catalog, [], weight=0.0)
    column = s.wp_ids.index("WP4220")
    assert s.scores_for_ke(ke).total[column] == pytest.approx(base.scores_for_ke(ke).total[column] + 0.2 * 0.5)
