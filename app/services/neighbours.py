"""The approved-neighbour signal: pathways approved for the Key Events most like this one.

kewp accumulates approved mappings, and similar KEs are mapped to similar pathways. For a
KE x the signal takes the ``top_n`` KEs with approved mappings whose precomputed vectors
are most similar to x's (x itself never counts: its own approvals must not suggest its
own pathways), and gives each of their approved pathways

    approved(wp) = sum over those KEs y that have wp approved of  max(sim(x, y), 0) ** power * w(confidence)

which is added to the text-and-gene score with ``weight`` (``NeighbourConfig``; the values
are chosen by grouped cross-validation, ``flask --app app suggestions evaluate``).

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
from .suggestions import Scores, SuggestConfig, Suggester, Suggestion

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
    intervals over KEs: weight [0.2, 1], top_n [3, 10], power [1, 3]."""

    weight: float = 1.0
    top_n: int = 3
    power: float = 3.0


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

    def __len__(self) -> int:
        return len(self.ke_ids)

    def scores(self, vector: np.ndarray | None, exclude: str, config: NeighbourConfig) -> NeighbourScores:
        """The signal for a KE with this vector; the approvals of `exclude` (the KE itself) never count."""
        values = np.zeros(self.n_pathways, dtype=np.float64)
        if vector is None or not self.ke_ids or config.top_n <= 0:
            return NeighbourScores(values)
        sims = self.matrix @ np.asarray(vector, dtype=np.float32)
        own = self.position.get(exclude)
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

    def neighbour_scores(self, ke_id: str, index: ApprovedIndex | None = None) -> NeighbourScores:
        index = index if index is not None else self.approved_index()
        if index is None:
            return NeighbourScores(np.zeros(len(self.wp_ids)))
        return index.scores(self.ke.vector(ke_id), ke_id, self.neighbour_config)

    def scores_for_ke(self, ke_id: str) -> ApprovedScores:
        base = super().scores_for_ke(ke_id)
        weight = self.neighbour_config.weight
        signal = self.neighbour_scores(ke_id) if weight else NeighbourScores(np.zeros_like(base.total))
        return ApprovedScores(total=combine(base.total, weight, signal.values), text=base.text, gene=base.gene,
                              go=base.go, go_best=base.go_best, approved=signal.values, support=signal.support)

    def for_ke(self, ke_id: str, k: int = 10) -> list[Suggestion]:
        scores = self.scores_for_ke(ke_id)
        results = []
        for suggestion in self._top(scores, k, self._gene_query_for_ke(ke_id)):
            j = self._columns[suggestion.wp_id]
            support = scores.support.get(j, [])
            if support:
                suggestion.reasons.append(approved_reason(support))
            results.append(ApprovedSuggestion(**vars(suggestion), approved_score=float(scores.approved[j]),
                                              similar_kes=[ke for ke, _ in support]))
        return results


def combine(total: np.ndarray, weight: float, approved: np.ndarray) -> np.ndarray:
    """The ranked score: text and gene evidence (the Suggester's total) plus the weighted signal.
    The evaluator's weight search uses this same sum, so its ranks equal the app's."""
    return total + weight * approved
