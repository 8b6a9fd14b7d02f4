"""The approved-neighbour signal: pathways approved for the Key Events most like this one.

kewp accumulates approved mappings, and similar KEs are mapped to similar pathways. For a
KE x the signal takes the ``top_n`` KEs with approved mappings whose precomputed vectors
are most similar to x's (x itself never counts: its own approvals must not suggest its
own pathways), and gives each of their approved pathways

    approved(wp) = sum over those KEs y that have wp approved of  max(sim(x, y), 0) ** power * w(confidence)

which is added to the text-and-gene score with ``weight`` (``NeighbourConfig``; the values
are chosen by grouped cross-validation, ``scripts/evaluate_suggestions.py``). Free text uses
the KEs most like the text. Three more uses of the approvals, each with its own weight: the
approvals of the KEs directly up- or downstream of x (``adjacent_weight``), of the other KEs
of x's AOPs (``same_aop_weight``; both sum w(confidence)), and a hub prior
``prior_weight * log1p(KEs other than x that have wp approved)`` (< 0 would be a penalty).

The approved mappings are read from the database at query time (``LiveApproved``): a
cheap version query (max audit id, count and max id of the mappings) decides whether the
small in-memory index is rebuilt, so an approval or a deletion counts at once, without a
rebuild or a restart. No Flask imports.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..db import connect
from .catalog import Catalog
from .embeddings import EmbeddingSet, EmbeddingStore
from .suggestions import GeneQuery, Scores, SuggestConfig, Suggester, Suggestion

log = logging.getLogger(__name__)

# How much one approval counts, by its confidence (links without one count as medium).
CONFIDENCE_WEIGHT = {"high": 1.0, "medium": 0.75, "low": 0.5}
DEFAULT_CONFIDENCE = "medium"
REASON_KES = 3  # similar KEs named in a reason


@dataclass(frozen=True)
class ApprovedLink:
    ke_id: str
    wp_id: str
    confidence: str | None = None

    @property
    def weight(self) -> float:
        return CONFIDENCE_WEIGHT.get(self.confidence or DEFAULT_CONFIDENCE, CONFIDENCE_WEIGHT[DEFAULT_CONFIDENCE])


@dataclass(frozen=True)
class NeighbourConfig:
    """How the approved-neighbour signal is made and weighted; weight 0 switches it off.

    Chosen by grouped 5-fold cross-validation beside SuggestConfig()'s gene and GO weights on
    the 180 usable shipped + dev curated links (scripts/evaluate_suggestions.py); 95% bootstrap
    intervals over KEs: weight [0.2, 1], top_n [3, 10], power [1, 3]. The hub prior/penalty and
    the adjacent / same-AOP approvals stay 0: in the second round's ablation none of them moved MRR
    or recall beyond its 95% interval (hub prior +0.009 [-0.00,+0.02], adjacent +0.010 [-0.01,+0.03],
    same AOP -0.013 [-0.03,+0.00])."""

    weight: float = 1.0
    top_n: int = 3
    power: float = 3.0
    # Hub pathways: prior_weight * log1p(number of other KEs that have the pathway approved);
    # > 0 is a prior for pathways curators often choose, < 0 a penalty.
    prior_weight: float = 0.0
    # Approvals of the KEs next to this one in its AOPs: directly up- or downstream (a KE
    # relationship), or anywhere in an AOP it belongs to; each approval counts its confidence weight.
    adjacent_weight: float = 0.0
    same_aop_weight: float = 0.0


@dataclass
class NeighbourScores:
    values: np.ndarray                                   # over the suggester's pathways
    support: dict[int, list[tuple[str, float]]] = field(default_factory=dict)  # column -> (KE, similarity)


class ApprovedIndex:
    """Approved links over one store: the vectors of the KEs that have approvals, and their pathways."""

    def __init__(self, links: Iterable[ApprovedLink], ke_set: EmbeddingSet, wp_ids: list[str]) -> None:
        column = {wp: j for j, wp in enumerate(wp_ids)}
        by_ke: dict[str, dict[int, float]] = {}
        for link in links:
            j = column.get(link.wp_id)
            if j is None or link.ke_id not in ke_set.index:
                continue  # no vector for the KE or the pathway: it cannot count
            pathways = by_ke.setdefault(link.ke_id, {})
            pathways[j] = max(pathways.get(j, 0.0), link.weight)
        self.n_pathways = len(wp_ids)
        self.ke_ids = list(by_ke)
        self.position = {ke: i for i, ke in enumerate(self.ke_ids)}
        rows = [ke_set.index[ke] for ke in self.ke_ids]
        self.matrix = np.asarray(ke_set.vectors[rows], dtype=np.float32).reshape(len(rows), ke_set.vectors.shape[1])
        self.columns = [np.fromiter(by_ke[ke], dtype=np.int64) for ke in self.ke_ids]
        self.weights = [np.fromiter(by_ke[ke].values(), dtype=np.float64) for ke in self.ke_ids]
        self.approvals = np.zeros(len(wp_ids), dtype=np.float64)  # KEs that have each pathway approved
        for columns in self.columns:
            self.approvals[columns] += 1.0

    def __len__(self) -> int:
        return len(self.ke_ids)

    def prior(self, exclude: str | None) -> np.ndarray:
        """log1p of how many KEs (other than `exclude`) have each pathway approved."""
        counts = self.approvals.copy()
        own = self.position.get(exclude) if exclude else None
        if own is not None:
            counts[self.columns[own]] -= 1.0
        return np.log1p(counts)

    def near(self, kes: Iterable[str], exclude: str | None) -> NeighbourScores:
        """The approvals of these KEs (not `exclude`'s), by confidence weight, and who has them."""
        values = np.zeros(self.n_pathways, dtype=np.float64)
        support: dict[int, list[tuple[str, float]]] = {}
        for ke in sorted(kes):
            i = self.position.get(ke)
            if i is None or ke == exclude:
                continue
            values[self.columns[i]] += self.weights[i]
            for j in self.columns[i].tolist():
                support.setdefault(j, []).append((ke, 1.0))
        return NeighbourScores(values, support)

    def scores(self, vector: np.ndarray | None, exclude: str | None, config: NeighbourConfig) -> NeighbourScores:
        """The signal for a KE with this vector; the approvals of `exclude` (the KE itself) never count."""
        values = np.zeros(self.n_pathways, dtype=np.float64)
        if vector is None or not self.ke_ids or config.top_n <= 0:
            return NeighbourScores(values)
        sims = self.matrix @ np.asarray(vector, dtype=np.float32)
        own = self.position.get(exclude) if exclude else None
        if own is not None:
            sims[own] = -np.inf
        n = min(config.top_n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n]
        top = top[np.argsort(-sims[top], kind="stable")]
        support: dict[int, list[tuple[str, float]]] = {}
        for i in top.tolist():
            sim = float(sims[i])
            if not sim > 0:
                break
            values[self.columns[i]] += (sim ** config.power) * self.weights[i]
            for j in self.columns[i].tolist():
                support.setdefault(j, []).append((self.ke_ids[i], sim))
        return NeighbourScores(values, support)


# Every change the app makes to a mapping writes an audit row in the same transaction; count and
# max id also catch rows inserted or deleted by hand.
VERSION_SQL = "SELECT (SELECT coalesce(max(id), 0) FROM audit_log), count(*), coalesce(max(id), 0) FROM mappings"
LINKS_SQL = "SELECT ke_id, wp_id, confidence FROM mappings"


class LiveApproved:
    """The approved mappings in the database as an ApprovedIndex, rebuilt only when they change.

    One connection per process (opened in the process that first asks: a gunicorn worker,
    never inherited from the master); a database error keeps the last index (suggestions
    still work, the signal may be stale) and is logged.
    """

    def __init__(self, database: str | Path, ke_set: EmbeddingSet, wp_ids: list[str]) -> None:
        self.database = str(database)
        self.ke_set = ke_set
        self.wp_ids = wp_ids
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._conn: sqlite3.Connection | None = None
        self._key: tuple[Any, ...] | None = None
        self._index: ApprovedIndex | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = connect(self.database), os.getpid()  # a parent's is left open, unused
        return self._conn

    def __call__(self) -> ApprovedIndex | None:
        with self._lock:
            try:
                conn = self._connection()
                key = tuple(conn.execute(VERSION_SQL).fetchone())
                if key != self._key:
                    links = [ApprovedLink(r[0], r[1], r[2]) for r in conn.execute(LINKS_SQL)]
                    self._index, self._key = ApprovedIndex(links, self.ke_set, self.wp_ids), key
            except sqlite3.Error as exc:
                log.warning("approved mappings not re-read from %s (the similar-KE signal may be stale): %s",
                            self.database, exc)
        return self._index


@dataclass
class ApprovedScores(Scores):
    approved: np.ndarray
    support: dict[int, list[tuple[str, float]]]
    prior: np.ndarray
    adjacent: NeighbourScores
    same_aop: NeighbourScores


@dataclass
class ApprovedSuggestion(Suggestion):
    approved_score: float = 0.0
    similar_kes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "approved_score": round(self.approved_score, 4),
                "similar_kes": self.similar_kes}


def approved_reason(support: list[tuple[str, float]]) -> str:
    named = ", ".join(f"{ke} ({sim:.2f})" for ke, sim in support[:REASON_KES])
    more = f", +{len(support) - REASON_KES} more" if len(support) > REASON_KES else ""
    n = len(support)
    return f"approved for {n} similar KE{'s' if n != 1 else ''}: {named}{more}"


class ApprovedSuggester(Suggester):
    """The Suggester plus the approved-neighbour signal for KE suggestions (free text has no KE)."""

    def __init__(self, store: EmbeddingStore, catalog: Catalog, encoder: Any = None,
                 config: SuggestConfig | None = None, *, approved: Any = None,
                 neighbour_config: NeighbourConfig | None = None) -> None:
        super().__init__(store, catalog, encoder=encoder, config=config)
        members: dict[str, set[str]] = {}
        for ke in catalog.key_events.values():
            for aop in ke.aop_titles:
                members.setdefault(aop, set()).add(ke.ke_id)
        self._aop_members = members
        self.approved = approved  # an ApprovedIndex, a callable returning one (LiveApproved), or None
        self.neighbour_config = neighbour_config or NeighbourConfig()
        self._columns = {wp: j for j, wp in enumerate(self.wp_ids)}

    @classmethod
    def live(cls, store: EmbeddingStore, catalog: Catalog, database: str | Path, **kwargs: Any) -> ApprovedSuggester:
        suggester = cls(store, catalog, **kwargs)
        suggester.approved = LiveApproved(database, suggester.ke, suggester.wp_ids)
        return suggester

    def index_for(self, links: Iterable[ApprovedLink]) -> ApprovedIndex:
        return ApprovedIndex(links, self.ke, self.wp_ids)

    def approved_index(self) -> ApprovedIndex | None:
        return self.approved() if callable(self.approved) else self.approved

    def neighbour_scores(self, ke_id: str | None, index: ApprovedIndex | None = None,
                         vector: np.ndarray | None = None) -> NeighbourScores:
        """The signal for a KE (its stored vector; its own approvals never count) or for a text's vector."""
        index = index if index is not None else self.approved_index()
        if index is None:
            return NeighbourScores(np.zeros(len(self.wp_ids)))
        return index.scores(self.ke.vector(ke_id) if vector is None else vector, ke_id, self.neighbour_config)

    def aop_kes(self, ke_id: str | None) -> tuple[set[str], set[str]]:
        """The KEs directly up- or downstream of this one, and the others in its AOPs."""
        ke = self.catalog.key_events.get(ke_id) if ke_id else None
        if ke is None:
            return set(), set()
        adjacent = set(self.catalog.neighbours.get(ke.ke_id, ())) - {ke.ke_id}
        same = set().union(*(self._aop_members.get(a, set()) for a in ke.aop_titles)) - adjacent - {ke.ke_id}
        return adjacent, same

    def _with_approved(self, base: Scores, ke_id: str | None, vector: np.ndarray | None = None) -> ApprovedScores:
        config = self.neighbour_config
        zeros = np.zeros_like(base.total)
        used = config.weight or config.prior_weight or config.adjacent_weight or config.same_aop_weight
        index = self.approved_index() if used else None
        signal = self.neighbour_scores(ke_id, index, vector) if config.weight and index is not None \
            else NeighbourScores(zeros)
        prior = index.prior(ke_id) if config.prior_weight and index is not None else zeros
        adjacent_kes, same_kes = self.aop_kes(ke_id) if vector is None else (set(), set())  # text: no KE
        adjacent = index.near(adjacent_kes, ke_id) if config.adjacent_weight and index is not None \
            else NeighbourScores(zeros)
        same = index.near(same_kes, ke_id) if config.same_aop_weight and index is not None else NeighbourScores(zeros)
        total = combine(base.total, (config.weight, signal.values), (config.prior_weight, prior),
                        (config.adjacent_weight, adjacent.values), (config.same_aop_weight, same.values))
        return ApprovedScores(total=total, text=base.text, gene=base.gene, go=base.go, go_best=base.go_best,
                              hit=base.hit, approved=signal.values, support=signal.support, prior=prior,
                              adjacent=adjacent, same_aop=same)

    def scores_for_ke(self, ke_id: str) -> ApprovedScores:
        return self._with_approved(super().scores_for_ke(ke_id), ke_id)

    def scores_for_text(self, text: str, exclude: str | None = None) -> tuple[ApprovedScores, GeneQuery]:
        """Free text: the KEs most like the text lend their approvals too (`exclude`: a KE whose own
        approvals must not count, when the text is that KE's title, as in the evaluation)."""
        query, genes = self.text_query(text)
        return self._with_approved(self._score(query, genes), exclude, query), genes

    def for_ke(self, ke_id: str, k: int = 10) -> list[Suggestion]:
        return self._explained(self.scores_for_ke(ke_id), k, self._gene_query_for_ke(ke_id))

    def for_text(self, text: str, k: int = 10) -> list[Suggestion]:
        scores, genes = self.scores_for_text(text)
        return self._explained(scores, k, genes)

    def _explained(self, scores: ApprovedScores, k: int, genes: GeneQuery) -> list[Suggestion]:
        results = []
        for suggestion in self._top(scores, k, genes):
            j = self._columns[suggestion.wp_id]
            support = scores.support.get(j, [])
            if support:
                suggestion.reasons.append(approved_reason(support))
            for what, near in (("next to this KE in its AOPs", scores.adjacent),
                               ("in the same AOP", scores.same_aop)):
                kes = [ke for ke, _ in near.support.get(j, [])] if near.values[j] else []
                if kes:
                    more = f", +{len(kes) - REASON_KES} more" if len(kes) > REASON_KES else ""
                    suggestion.reasons.append(f"approved for {'a KE' if len(kes) == 1 else f'{len(kes)} KEs'} "
                                              f"{what}: {', '.join(kes[:REASON_KES])}{more}")
            results.append(ApprovedSuggestion(**vars(suggestion), approved_score=float(scores.approved[j]),
                                              similar_kes=[ke for ke, _ in support]))
        return results


def combine(total: np.ndarray, *parts: tuple[Any, np.ndarray]) -> np.ndarray:
    """The ranked score: text and gene evidence (the Suggester's total) plus each (weight, values)
    of the approval signals, in a fixed order (similar KEs, hub prior, adjacent KEs, same AOP).
    The evaluator's weight search uses this same sum, so its ranks equal the app's."""
    for weight, values in parts:
        total = total + weight * values
    return total
