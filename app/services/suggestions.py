"""The scorer: pathway suggestions for a Key Event (or for free text), with scores and reasons.

Data flow: the KE's precomputed unit vector (or the curator's text, encoded with the
preloaded model) -> one matrix-vector product over the pathway matrix (text similarity)
-> plus gene evidence (genes named in the KE that the pathway contains; genes of the KE's
GO process) -> top-k with argpartition -> ``Suggestion`` objects with readable reasons.

Scoring, with few parameters chosen for what they mean rather than fitted per link
(``scripts/evaluate_suggestions.py`` measures each part on the curated links):

    score = text + gene_weight * [log1p(E_named) + description_gene_weight * log1p(E_described)]
                 + go_weight * max_t IC(t) * log1p(E_go(t)) + gene_hit_weight * H

``text`` is the cosine between the KE and pathway vectors; each vector is the normalized
sum of the embeddings of the title and of the title plus the opening of the description
(so it equals the mean of the four title/description cross-similarities, up to norms), and
for a KE of its event components' object and process names (text_recipes, recipe
title+description+components).
``E`` is the hypergeometric enrichment -log10 p of the overlap between a KE gene set and
the pathway's genes: one shared gene in a 19-gene pathway gives E = 2.7, in a 300-gene
pathway E = 1.5, so specific pathways count more. ``IC`` damps broad GO terms. ``H`` is the
share of the KE's named genes the pathway contains (a flat bonus, whatever the pathway's size).
Genes are found by symbol, alias or full name (genes.GeneMatcher), in KE text and free text.
With ``neighbour_weight`` (default 0.25) the KE vector is first blended with the mean
vector of the KEs directly upstream and downstream of it (its AOP context).

Measured on the 21 usable curated links of data/seed (recall@10 / MRR): title embeddings
0.57 / 0.486; title + description 0.67 / 0.570; + named genes 0.76 / 0.628; + described
genes 0.81 / 0.607; + GO 0.86 / 0.611; + AOP context (the defaults) 0.86 / 0.613.

No Flask imports: built from an EmbeddingStore plus the catalogue read from SQLite
(catalog.load_catalog); the texts behind the vectors are made in text_recipes.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .catalog import Catalog
from .embeddings import KE_SET, WP_SET, EmbeddingStore
from .encoder import Encoder
from .genes import GeneMatcher, Hypergeometric, information_content
from .text_recipes import clean_text, encode_items, item_of

log = logging.getLogger(__name__)


class SuggestionError(LookupError):
    """A suggestion cannot be made for this input; the message says why."""


# --- results ----------------------------------------------------------------------------------

@dataclass
class Suggestion:
    wp_id: str
    title: str
    score: float
    text_score: float
    gene_score: float = 0.0
    go_score: float = 0.0
    shared_genes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"wp_id": self.wp_id, "title": self.title, "score": round(self.score, 4),
                "text_score": round(self.text_score, 4), "gene_score": round(self.gene_score, 4),
                "go_score": round(self.go_score, 4), "shared_genes": self.shared_genes, "reasons": self.reasons}


@dataclass(frozen=True)
class SuggestConfig:
    """Weights of the signals; see the module docstring. 0 switches a signal off."""

    gene_weight: float = 0.2
    description_gene_weight: float = 0.5
    # A flat bonus times the share of the KE's named genes the pathway contains: enrichment alone
    # lets a big pathway that has the gene lose to a text false friend ("ACE" for "AChE").
    # 0.15 fixes KE 12 and is neutral by grouped CV (MRR +0.005 [-0.00,+0.01], R@10 +0.000).
    gene_hit_weight: float = 0.15
    go_weight: float = 0.05
    neighbour_weight: float = 0.25
    # A GO overlap is named as a reason when IC * log1p(-log10 p) reaches this: a specific term
    # (thyroid hormone generation, 14 genes) with p < 0.01 does; "signaling" (3,300 genes) never does.
    min_go_reason: float = 1.0


@dataclass
class GeneQuery:
    """Gene sets of one query: named in the title/event components, in the description, GO terms."""

    named: dict[str, float] = field(default_factory=dict)
    described: dict[str, float] = field(default_factory=dict)
    go_terms: list[str] = field(default_factory=list)


@dataclass
class Scores:
    """Full score vectors over the store's pathways (for ranking and for evaluation)."""

    total: np.ndarray
    text: np.ndarray
    gene: np.ndarray
    go: np.ndarray
    go_best: list[tuple[str, int] | None]
    hit: np.ndarray


def _format_genes(genes: list[str], limit: int = 6) -> str:
    shown = ", ".join(genes[:limit])
    return shown + (f" (+{len(genes) - limit} more)" if len(genes) > limit else "")


class Suggester:
    """Ranks the store's pathways for a KE id or a text."""

    def __init__(self, store: EmbeddingStore, catalog: Catalog, encoder: Encoder | None = None,
                 config: SuggestConfig | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.encoder = encoder
        self.config = config or SuggestConfig()
        self.ke = store.get(KE_SET)
        self.wp = store.get(WP_SET)
        self.wp_ids: list[str] = [str(i) for i in self.wp.ids.tolist()]
        genes_extra = store.extras.get("genes") or {}
        self.matcher = GeneMatcher(genes_extra.get("aliases") or {}, genes_extra.get("names") or {})
        self.ke_genes: dict[str, dict[str, dict[str, float]]] = genes_extra.get("ke_genes") or {}
        self.ke_go: dict[str, list[str]] = genes_extra.get("ke_go") or {}
        self.go_terms: dict[str, dict[str, Any]] = genes_extra.get("go_terms") or {}
        # Pathway genes (from the database: the current catalogue) as an inverted index.
        self._wp_genes: list[set[str]] = []
        by_gene: dict[str, list[int]] = defaultdict(list)
        for j, wp_id in enumerate(self.wp_ids):
            pathway = catalog.pathways.get(wp_id)
            genes = set(pathway.genes) if pathway else set()
            self._wp_genes.append(genes)
            for gene in genes:
                by_gene[gene].append(j)
        self._gene_index = {g: np.array(rows, dtype=np.int64) for g, rows in by_gene.items()}
        self._wp_sizes = np.array([len(g) for g in self._wp_genes], dtype=np.int64)
        self.universe = len(self._gene_index)
        self._hyper = Hypergeometric(max(self.universe, 1))
        self._go_cache: dict[str, tuple[np.ndarray, int] | None] = {}
        missing = len(set(catalog.pathways) - set(self.wp_ids))
        if missing:
            log.warning("%d pathways in the database have no embedding and are never suggested; "
                        "rebuild with `flask --app app embeddings build`", missing)

    # --- public ---------------------------------------------------------------------------

    def for_ke(self, ke_id: str, k: int = 10) -> list[Suggestion]:
        genes = self._gene_query_for_ke(ke_id)
        return self._top(self._score(self._ke_vector(ke_id), genes), k, genes)

    def for_text(self, text: str, k: int = 10) -> list[Suggestion]:
        query, genes = self.text_query(text)
        return self._top(self._score(query, genes), k, genes)

    def text_query(self, text: str) -> tuple[np.ndarray, GeneQuery]:
        """The encoded text and the genes it names (by symbol, alias or full name)."""
        text = (text or "").strip()
        if not text:
            raise SuggestionError("the text is empty; type a few words describing the Key Event")
        if self.encoder is None:
            raise SuggestionError("free-text suggestions need the model, which is not loaded "
                                  "(KEWP_LOAD_MODEL=false or it failed to load; see /readyz)")
        return np.asarray(self.encoder.encode_one(text), dtype=np.float32), GeneQuery(named=self.matcher.find(text))

    def scores_for_ke(self, ke_id: str) -> Scores:
        return self._score(self._ke_vector(ke_id), self._gene_query_for_ke(ke_id))

    def score_for_pair(self, ke_id: str, wp_id: str) -> float | None:
        """The combined score `for_ke` ranks this pathway by, or None when the store has no such
        pathway; raises SuggestionError as `for_ke` does for a KE it cannot score."""
        try:
            j = self.wp_ids.index(wp_id)
        except ValueError:
            return None
        return float(self.scores_for_ke(ke_id).total[j])

    # --- internals ------------------------------------------------------------------------

    def _ke_vector(self, ke_id: str) -> np.ndarray:
        vector = self.ke.vector(ke_id)
        if vector is None:
            ke = self.catalog.key_events.get(ke_id)
            if ke is None:
                raise SuggestionError(f"{ke_id!r} is not a Key Event in the catalogue")
            if self.encoder is None:
                raise SuggestionError(f"{ke_id} has no precomputed embedding (imported after the last build) "
                                      "and the model is not loaded; run `flask --app app embeddings build`")
            vector = encode_items(self.encoder, self.store.recipe, [item_of(ke)])[0]
        vector = np.asarray(vector, dtype=np.float32)
        if self.config.neighbour_weight:
            rows = [self.ke.index[n] for n in self.catalog.neighbours.get(ke_id, ()) if n in self.ke.index]
            if rows:
                context = np.asarray(self.ke.vectors[rows], dtype=np.float32).mean(axis=0)
                vector = vector + self.config.neighbour_weight * context
                vector = vector / np.linalg.norm(vector)
        return vector

    def _gene_query_for_ke(self, ke_id: str) -> GeneQuery:
        if ke_id in self.ke.index:  # built with the store (a KE without genes has no entry)
            stored = self.ke_genes.get(ke_id, {})
            return GeneQuery(named=dict(stored.get("named", {})), described=dict(stored.get("described", {})),
                             go_terms=list(self.ke_go.get(ke_id, [])))
        ke = self.catalog.key_events.get(ke_id)
        if ke is None:
            return GeneQuery()
        return GeneQuery(named=self.matcher.find(ke.title), described=self.matcher.find(clean_text(ke.description)))

    def _overlap(self, genes: Iterable[str]) -> np.ndarray:
        counts = np.zeros(len(self.wp_ids), dtype=np.int64)
        for gene in genes:
            rows = self._gene_index.get(gene)
            if rows is not None:
                counts[rows] += 1
        return counts

    def _enrichment(self, genes: Iterable[str]) -> np.ndarray:
        present = [g for g in genes if g in self._gene_index]
        if not present:
            return np.zeros(len(self.wp_ids))
        return self._hyper.neg_log10_p(self._overlap(present), len(present), self._wp_sizes)

    def _go_values(self, go_id: str) -> tuple[np.ndarray, int] | None:
        """IC * log1p(enrichment) of a GO term over all pathways, and the term's size (cached:
        a term's value depends only on the store and the catalogue)."""
        if go_id not in self._go_cache:
            term = self.go_terms.get(go_id) or {}
            term_genes = [g for g in term.get("genes", []) if g in self._gene_index]
            if not term_genes:
                self._go_cache[go_id] = None
            else:
                value = information_content(len(term_genes), self.universe) * np.log1p(self._enrichment(term_genes))
                self._go_cache[go_id] = (value, len(term_genes))
        return self._go_cache[go_id]

    def _score(self, query: np.ndarray, genes: GeneQuery) -> Scores:
        config = self.config
        text = np.asarray(self.wp.vectors @ query, dtype=np.float64)
        gene = np.zeros_like(text)
        if config.gene_weight:
            named = set(genes.named)
            gene += np.log1p(self._enrichment(named))
            described = set(genes.described) - named
            if config.description_gene_weight and described:
                gene += config.description_gene_weight * np.log1p(self._enrichment(described))
        hit = np.zeros_like(text)
        if config.gene_hit_weight and genes.named:
            for gene_symbol, share in genes.named.items():
                rows = self._gene_index.get(gene_symbol)
                if rows is not None:
                    hit[rows] += share
            hit /= sum(genes.named.values())
        go = np.zeros_like(text)
        go_best: list[tuple[str, int] | None] = [None] * len(text)
        if config.go_weight:  # a GO overlap is named as a reason only when it counts in the score
            for go_id in genes.go_terms:
                cached = self._go_values(go_id)
                if cached is None:
                    continue
                value, size = cached
                better = np.flatnonzero((value > go) & (value >= config.min_go_reason))
                for j in better.tolist():
                    go_best[j] = (go_id, size)
                go = np.maximum(go, value)
        total = text + config.gene_weight * gene + config.go_weight * go + config.gene_hit_weight * hit
        return Scores(total=total, text=text, gene=gene, go=go, go_best=go_best, hit=hit)

    def _top(self, scores: Scores, k: int, genes: GeneQuery) -> list[Suggestion]:
        n = len(self.wp_ids)
        if n == 0 or k <= 0:
            return []
        k = min(k, n)
        top = np.argpartition(-scores.total, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores.total[top], kind="stable")]
        results = []
        for j in top.tolist():
            wp_id = self.wp_ids[j]
            pathway = self.catalog.pathways.get(wp_id)
            pathway_genes = self._wp_genes[j]
            # name only the evidence that counts in the score
            counted = self.config.gene_weight > 0 or self.config.gene_hit_weight > 0
            named = sorted(g for g in genes.named if g in pathway_genes) if counted else []
            described = sorted(g for g in genes.described if g in pathway_genes and g not in genes.named) \
                if counted and self.config.description_gene_weight else []
            reasons = [f"text similarity {scores.text[j]:.2f}"]
            if named:
                reasons.append(f"shared genes: {_format_genes(named)} (of {len(pathway_genes)} pathway genes)")
            if described:
                reasons.append(f"genes in the KE description: {_format_genes(described)}")
            best = scores.go_best[j]
            if best is not None:
                go_id, size = best
                overlap = len(pathway_genes & set(self.go_terms[go_id]["genes"]))
                reasons.append(f"GO process: {self.go_terms[go_id].get('name', go_id)} ({go_id}; "
                               f"{overlap} of its {size} genes are in this pathway)")
            results.append(Suggestion(
                wp_id=wp_id, title=pathway.title if pathway else wp_id, score=float(scores.total[j]),
                text_score=float(scores.text[j]), gene_score=float(scores.gene[j]), go_score=float(scores.go[j]),
                shared_genes=named + described, reasons=reasons))
        return results
