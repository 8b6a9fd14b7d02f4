"""Measure KE suggestions on curated links: recall@1/5/10/50 and MRR, grouped by Key Event.

Each curated KE -> pathway link is one test: the rank of the curated pathway among all the
store's pathways for its KE (1 + the number of pathways scored strictly higher). Ranks come
from ``ApprovedSuggester.scores_for_ke``, the scores ``for_ke`` (and so the API and the KE
page) sort by.

Cross-validation is grouped by KE: the KEs are dealt into ``folds`` groups; for each fold
the weights are chosen on the other folds' links (best mean MRR over a small grid) and the
fold's links are ranked with them. The approved-neighbour signal of a fold is built from the
other folds' links only, and a KE's own links never count for that KE (also while choosing
weights on the training folds). Intervals are percentile bootstraps over KEs (a KE and all its
links are drawn together). No Flask imports.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .neighbours import ApprovedIndex, ApprovedLink, ApprovedSuggester, NeighbourConfig, combine
from .suggestions import SuggestConfig, Suggester

KS = (1, 5, 10, 50)
METRICS = (*(f"R@{k}" for k in KS), "MRR")
SIGNALS = ("context", "genes", "hit", "go", "approved", "prior", "adjacent", "same_aop")
SIGNAL_NAMES = {"context": "AOP context (KE vector blended with its up/downstream KEs)",
                "genes": "genes named in the KE (title, components, description)",
                "hit": "flat bonus for containing the KE's named genes",
                "go": "GO process enrichment", "approved": "approved pathways of similar KEs",
                "prior": "hub prior (> 0) or penalty (< 0) by how many KEs have the pathway approved",
                "adjacent": "approvals of the KEs directly up/downstream",
                "same_aop": "approvals of the KEs in its AOPs"}
CONTEXT_WEIGHT = SuggestConfig().neighbour_weight  # the AOP-context blend, on or off


# --- links and metrics ------------------------------------------------------------------------

def read_links(paths: Iterable[str | Path]) -> list[ApprovedLink]:
    """Curated links from JSON lines (ke_id, wp_id, optional mapping_confidence / confidence);
    a pair listed more than once counts once (its first confidence is kept)."""
    seen: dict[tuple[str, str], ApprovedLink] = {}
    for path in paths:
        with Path(path).open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    r = json.loads(line)
                    key = (r["ke_id"], r["wp_id"])
                    seen.setdefault(key, ApprovedLink(*key, r.get("mapping_confidence") or r.get("confidence")))
    return list(seen.values())


def rank_of(total: np.ndarray, column: int) -> int:
    return 1 + int((total > total[column]).sum())


def metrics(ranks: Sequence[int]) -> dict[str, float]:
    r = np.asarray(ranks, dtype=np.float64)
    if not len(r):
        return dict.fromkeys(METRICS, 0.0)
    return {**{f"R@{k}": float((r <= k).mean()) for k in KS}, "MRR": float((1.0 / r).mean())}


def bootstrap(groups: Sequence[Sequence[int]], draws: int = 2000, seed: int = 0,
              other: Sequence[Sequence[int]] | None = None) -> dict[str, tuple[float, float]]:
    """95% percentile intervals of each metric, resampling the groups (KEs) with replacement.
    With `other` (the same KEs' ranks under another variant) the interval is of the difference."""
    def sums(gs: Sequence[Sequence[int]]) -> np.ndarray:  # per group: links, hits@k..., sum 1/r
        return np.array([[len(g), *((np.asarray(g) <= k).sum() for k in KS), (1.0 / np.asarray(g)).sum()]
                         for g in gs], dtype=np.float64)

    base = sums(groups)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(groups), size=(draws, len(groups)))
    totals = base[picks].sum(axis=1)
    values = totals[:, 1:] / totals[:, :1]
    if other is not None:
        second = sums(other)[picks].sum(axis=1)
        values = values - second[:, 1:] / second[:, :1]
    low, high = np.percentile(values, [2.5, 97.5], axis=0)
    return {m: (float(a), float(b)) for m, a, b in zip(METRICS, low, high, strict=True)}


def grouped_folds(ke_ids: Iterable[str], folds: int, seed: int = 0) -> list[list[str]]:
    kes = sorted(set(ke_ids))
    np.random.default_rng(seed).shuffle(kes)
    return [sorted(kes[i::folds]) for i in range(folds)]


# --- the weight grid --------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    context: bool
    gene: float
    go: float
    approved: float
    top_n: int
    power: float
    hit: float = 0.0
    prior: float = 0.0
    adjacent: float = 0.0
    same_aop: float = 0.0

    def signals(self) -> set[str]:
        on = {"context"} if self.context else set()
        return on | {s for s, w in (("genes", self.gene), ("hit", self.hit), ("go", self.go),
                                    ("approved", self.approved), ("prior", self.prior),
                                    ("adjacent", self.adjacent), ("same_aop", self.same_aop)) if w}

    def configs(self) -> tuple[SuggestConfig, NeighbourConfig]:
        return (SuggestConfig(gene_weight=self.gene, go_weight=self.go, gene_hit_weight=self.hit,
                              neighbour_weight=CONTEXT_WEIGHT if self.context else 0.0),
                NeighbourConfig(weight=self.approved, top_n=self.top_n, power=self.power, prior_weight=self.prior,
                                adjacent_weight=self.adjacent, same_aop_weight=self.same_aop))

    def short(self) -> str:
        parts = [f"gene {self.gene:g}", f"go {self.go:g}"]
        if self.hit:
            parts.append(f"hit {self.hit:g}")
        if self.approved:
            parts.append(f"approved {self.approved:g} (n {self.top_n}, p {self.power:g})")
        if self.prior:
            parts.append(f"prior {self.prior:g}")
        if self.adjacent or self.same_aop:
            parts.append(f"adjacent {self.adjacent:g}, same AOP {self.same_aop:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Grid:
    # Around the values chosen before (part 1: gene 0.2-0.3, go 0.05-0.2, approved 0.5-1 with
    # top_n 3 and power 3 on all links), so the grid (432 weights) is quick to search on 2 busy cores.
    gene: tuple[float, ...] = (0.0, 0.2)
    go: tuple[float, ...] = (0.0, 0.05, 0.2)
    approved: tuple[float, ...] = (0.0, 0.5, 1.0)
    top_n: tuple[int, ...] = (3,)
    power: tuple[float, ...] = (3.0,)
    hit: tuple[float, ...] = (0.0, 0.15)
    prior: tuple[float, ...] = (0.0, 0.03)
    adjacent: tuple[float, ...] = (0.0, 0.2, 0.4)
    same_aop: tuple[float, ...] = (0.0, 0.15)

    def shapes(self) -> list[tuple[int, float]]:
        return list(itertools.product(self.top_n, self.power))

    def weights(self, context: bool) -> list[Weights]:
        out = []
        for gene, hit, go, approved, prior, adjacent, same in itertools.product(
                self.gene, self.hit, self.go, self.approved, self.prior, self.adjacent, self.same_aop):
            shapes = self.shapes() if approved else self.shapes()[:1]
            out += [Weights(context, gene, go, approved, n, p, hit, prior, adjacent, same) for n, p in shapes]
        return out


@dataclass(frozen=True)
class Variant:
    name: str
    signals: frozenset[str]           # the signals that are on (their weight is chosen > 0)
    fixed: Weights | None = None      # not fitted: these weights on every fold
    where: Callable[[Weights], bool] | None = None  # a further restriction of the grid
    any_subset: bool = False          # the folds choose which signals are on, too

    def allows(self, w: Weights) -> bool:
        on = w.signals() <= self.signals if self.any_subset else w.signals() == self.signals
        return on and (self.where is None or self.where(w))


def ablation_variants() -> list[Variant]:
    everything = frozenset(SIGNALS)
    rows = [Variant("text only (title + description)", frozenset())]
    rows += [Variant(f"text + {s}", frozenset({s})) for s in SIGNALS]
    rows += [Variant("all signals", everything)]
    rows += [Variant(f"all - {s}", everything - {s}) for s in SIGNALS]
    return rows


def free_text_variants() -> list[Variant]:
    """Free text has no KE: no AOP context, and the similar KEs are those most like the text."""
    signals = frozenset(SIGNALS) - {"context", "adjacent", "same_aop"}
    return [Variant("text only", frozenset()),
            Variant("text + genes + hit (genes named in the text)", frozenset({"genes", "hit"}), any_subset=True),
            Variant("text + approved (KEs most like the text)", frozenset({"approved"})),
            Variant(CHOSEN, signals, any_subset=True)]


CHOSEN = "chosen by CV (any subset of the signals)"


# --- the evaluation ---------------------------------------------------------------------------

@dataclass
class Row:
    variant: Variant
    ranks: dict[str, list[int]]                       # KE -> held-out ranks of its links
    chosen: list[Weights] = field(default_factory=list)  # per fold

    @property
    def flat(self) -> list[int]:
        return [r for ranks in self.ranks.values() for r in ranks]


@dataclass
class Report:
    links: list[ApprovedLink]
    skipped: list[ApprovedLink]
    folds: list[list[str]]
    rows: list[Row]
    # variant name -> (weights chosen on all links, the same choice on bootstrap resamples of KEs)
    choices: dict[str, tuple[Weights, list[Weights]]]
    checked: int = 0                                  # held-out ranks recomputed through the app's path
    mismatched: int = 0


Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


def _no_progress(items: Iterable[Any], _total: int, _desc: str) -> Iterable[Any]:
    return items


class Evaluator:
    """Ranks every link under every grid weight once per pool (fast path, for choosing weights),
    then ranks the held-out links through ApprovedSuggester (the app's path) with the chosen ones."""

    def __init__(self, suggester: ApprovedSuggester, links: Sequence[ApprovedLink], *, folds: int = 5,
                 seed: int = 0, grid: Grid | None = None, progress: Progress | None = None,
                 free_text: bool = False) -> None:
        # free_text: each KE's title is typed as text (for_text's path: no stored vector, no AOP context)
        self.free_text = free_text
        if free_text:
            if suggester.encoder is None:
                raise ValueError("the free-text evaluation needs the model (the suggester has no encoder)")
            suggester = _with_encoder(suggester, MemoEncoder(suggester.encoder))
        self.suggester = suggester
        self.grid = grid or Grid()
        self.progress = progress or _no_progress
        self.seed = seed
        column = {wp: j for j, wp in enumerate(suggester.wp_ids)}
        self.column = column
        usable = [x for x in links if x.ke_id in suggester.ke.index and x.ke_id in suggester.catalog.key_events
                  and x.wp_id in column]
        self.links = usable
        self.skipped = [x for x in links if x not in usable]
        self.by_ke: dict[str, list[int]] = {}
        for i, x in enumerate(usable):
            self.by_ke.setdefault(x.ke_id, []).append(i)
        self.kes = sorted(self.by_ke)
        self.folds = grouped_folds(self.kes, folds, seed)
        self.fold_of = {ke: f for f, group in enumerate(self.folds) for ke in group}
        self.contexts = (False,) if free_text else (True, False)
        self.weights = {ctx: self.grid.weights(ctx) for ctx in self.contexts}

    # pools: fold f -> the links of the other folds; None -> all links (leave one KE out)
    def pool(self, fold: int | None) -> ApprovedIndex:
        return self.suggester.index_for([x for x in self.links if fold is None or self.fold_of[x.ke_id] != fold])

    def _suggester(self, weights: Weights, index: ApprovedIndex) -> ApprovedSuggester:
        config, neighbour = weights.configs()
        clone = _with_encoder(self.suggester, self.suggester.encoder)
        clone.config, clone.neighbour_config, clone.approved = config, neighbour, index
        return clone

    def total(self, suggester: ApprovedSuggester, ke: str) -> np.ndarray:
        """The scores the app ranks by: for_ke's, or for_text's of the KE's title."""
        if self.free_text:
            return suggester.scores_for_text(self.suggester.catalog.key_events[ke].title, exclude=ke)[0].total
        return suggester.scores_for_ke(ke).total

    def _rank_matrix(self, pools: list[int | None]) -> dict[tuple[int | None, bool], np.ndarray]:
        """ranks[pool, context][link, weight index] for every link under every grid weight."""
        out = {(p, ctx): np.zeros((len(self.links), len(self.weights[ctx])), dtype=np.int64)
               for p in pools for ctx in self.contexts}
        indexes = {p: self.pool(p) for p in pools}
        shapes = self.grid.shapes()
        for ke in self.progress(self.kes, len(self.kes), "ranking links under the weight grid"):
            cols = np.array([self.column[self.links[i].wp_id] for i in self.by_ke[ke]])
            if self.free_text:
                query, genes = self.suggester.text_query(self.suggester.catalog.key_events[ke].title)
                vector = query
            else:
                vector = self.suggester.ke.vector(ke)
            signals = {(p, n, power): index.scores(vector, ke, NeighbourConfig(1.0, n, power)).values
                       for p, index in indexes.items() for n, power in shapes}
            priors = {p: index.prior(ke) for p, index in indexes.items()}
            adjacent_kes, same_kes = self.suggester.aop_kes(None if self.free_text else ke)
            near = {p: (index.near(adjacent_kes, ke).values, index.near(same_kes, ke).values)
                    for p, index in indexes.items()}
            for ctx in self.contexts:
                unweighted = self._suggester(Weights(ctx, 1.0, 1.0, 0.0, 1, 1.0, 1.0), indexes[None])
                # text, gene, hit and GO values, unweighted
                scores = unweighted._score(query, genes) if self.free_text else Suggester.scores_for_ke(unweighted, ke)
                ws = self.weights[ctx]
                gene = np.array([w.gene for w in ws])[:, None]
                hit = np.array([w.hit for w in ws])[:, None]
                go = np.array([w.go for w in ws])[:, None]
                aw = np.array([w.approved for w in ws])[:, None]
                pw = np.array([w.prior for w in ws])[:, None]
                adj = np.array([w.adjacent for w in ws])[:, None]
                same = np.array([w.same_aop for w in ws])[:, None]
                shape_of = [shapes.index((w.top_n, w.power)) for w in ws]
                base = (scores.text[None, :] + gene * scores.gene[None, :] + go * scores.go[None, :]
                        + hit * scores.hit[None, :])
                for p in pools:
                    stack = np.stack([signals[p, n, power] for n, power in shapes])[shape_of]
                    total = combine(base, (aw, stack), (pw, priors[p][None, :]), (adj, near[p][0][None, :]),
                                    (same, near[p][1][None, :]))
                    ranks = 1 + (total[:, None, :] > total[:, cols][:, :, None]).sum(axis=2)  # (weights, links)
                    out[p, ctx][self.by_ke[ke], :] = ranks.T
        return out

    def _choose(self, ranks: dict[tuple[int | None, bool], np.ndarray], pool: int | None, variant: Variant,
                rows: np.ndarray, weights_per_link: np.ndarray | None = None) -> Weights:
        best: tuple[float, Weights] | None = None
        for ctx in self.contexts:
            allowed = [i for i, w in enumerate(self.weights[ctx]) if variant.allows(w)]
            if not allowed:
                continue
            matrix = ranks[pool, ctx][rows][:, allowed]
            mrr = (1.0 / matrix).T @ weights_per_link / weights_per_link.sum() if weights_per_link is not None \
                else (1.0 / matrix).mean(axis=0)
            i = int(np.argmax(mrr))  # the first best: grid order puts smaller weights first
            if best is None or mrr[i] > best[0]:
                best = (float(mrr[i]), self.weights[ctx][allowed[i]])
        assert best is not None, f"no grid weights for {variant.name}"
        return best[1]

    def run(self, variants: Sequence[Variant], draws: int = 200, choose: Sequence[Variant] = ()) -> Report:
        """Held-out ranks of each variant; with `choose`, also the weights each of those variants
        picks on all links, with `draws` bootstrap resamples of KEs for their interval."""
        folds = list(range(len(self.folds)))
        ranks = self._rank_matrix([*folds, None])
        rows = []
        checked = mismatched = 0
        for variant in variants:
            row = Row(variant, {})
            for f in folds:
                train = np.array([i for i, x in enumerate(self.links) if self.fold_of[x.ke_id] != f])
                chosen = variant.fixed or self._choose(ranks, f, variant, train)
                row.chosen.append(chosen)
                clone = self._suggester(chosen, self.pool(f))
                for ke in self.folds[f]:
                    total = self.total(clone, ke)
                    got = [rank_of(total, self.column[self.links[i].wp_id]) for i in self.by_ke[ke]]
                    row.ranks[ke] = got
                    if variant.fixed is None:
                        ctx = chosen.context
                        fast = ranks[f, ctx][self.by_ke[ke], self.weights[ctx].index(chosen)].tolist()
                        checked += len(got)
                        mismatched += sum(a != b for a, b in zip(got, fast, strict=True))
            rows.append(row)
        choices = {c.name: self._choose_all(ranks, c, draws) for c in choose}
        return Report(self.links, self.skipped, self.folds, rows, choices, checked, mismatched)

    def _choose_all(self, ranks: dict[tuple[int | None, bool], np.ndarray], variant: Variant,
                    draws: int) -> tuple[Weights, list[Weights]]:
        """The weights chosen on all links (approvals: every other KE's), and on resamples of KEs."""
        all_rows = np.arange(len(self.links))
        chosen = self._choose(ranks, None, variant, all_rows)
        rng = np.random.default_rng(self.seed + 1)
        resampled = []
        for _ in self.progress(range(draws), draws, f"bootstrapping the weights of {variant.name}"):
            counts = np.bincount(rng.integers(0, len(self.kes), size=len(self.kes)), minlength=len(self.kes))
            per_link = np.zeros(len(self.links))
            for k, ke in enumerate(self.kes):
                per_link[self.by_ke[ke]] = counts[k]
            resampled.append(self._choose(ranks, None, variant, all_rows, per_link))
        return chosen, resampled


class MemoEncoder:
    """The suggester's encoder, remembering each text's vector: the free-text evaluation ranks every
    title under many weights, and the vector does not depend on them."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.info = encoder.info
        self.dimension = encoder.dimension
        self._memo: dict[str, np.ndarray] = {}

    def encode_one(self, text: str) -> np.ndarray:
        if text not in self._memo:
            self._memo[text] = self.encoder.encode_one(text)
        return self._memo[text]

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        return self.encoder.encode(texts, **kwargs)


def _with_encoder(suggester: ApprovedSuggester, encoder: Any) -> ApprovedSuggester:
    clone = ApprovedSuggester.__new__(ApprovedSuggester)
    clone.__dict__.update(suggester.__dict__)  # shares the gene index and caches; only the weights differ
    clone.encoder = encoder
    return clone


# --- the printed table ------------------------------------------------------------------------

def _interval(values: Sequence[float]) -> str:
    low, high = np.percentile(np.asarray(values, dtype=np.float64), [2.5, 97.5])
    return f"[{low:g}, {high:g}]"


COMPARISONS = (*(("all signals", f"all - {s}") for s in SIGNALS),
               ("text + approved", "text only (title + description)"))


def format_report(report: Report, draws: int = 2000, seed: int = 0,
                  comparisons: Sequence[tuple[str, str]] = COMPARISONS) -> str:
    lines = [f"{len(report.links)} links on {len({x.ke_id for x in report.links})} KEs evaluated "
             f"({len(report.skipped)} skipped: KE or pathway not in the catalogue or store: "
             f"{', '.join(f'{x.ke_id}->{x.wp_id}' for x in report.skipped) or 'none'}); "
             f"{len(report.folds)} folds grouped by KE; 95% bootstrap intervals over KEs ({draws} draws).", ""]
    width = max(len(r.variant.name) for r in report.rows)
    head = " | ".join(f"{m:^17}" for m in METRICS)
    lines += [f"| {'variant':<{width}} | {head} | weights chosen per fold |",
              f"|{'-' * (width + 2)}|" + "|".join("-" * 19 for _ in METRICS) + "|---|"]
    groups = {}
    for row in report.rows:
        keys = sorted(row.ranks)
        groups[row.variant.name] = [row.ranks[k] for k in keys]
        point = metrics(row.flat)
        ci = bootstrap(groups[row.variant.name], draws, seed)
        cells = " | ".join(f"{point[m]:.3f} [{ci[m][0]:.2f},{ci[m][1]:.2f}]" for m in METRICS)
        chosen = "; ".join(dict.fromkeys(w.short() for w in row.chosen)) if row.variant.fixed is None \
            else f"fixed: {row.variant.fixed.short()}"
        lines.append(f"| {row.variant.name:<{width}} | {cells} | {chosen} |")
    for compare, baseline in comparisons:
        if baseline in groups and compare in groups:
            diff = bootstrap(groups[compare], draws, seed, other=groups[baseline])
            a, b = (metrics([r for g in groups[name] for r in g]) for name in (compare, baseline))
            lines += ["", f"{compare!r} minus {baseline!r} (paired over KEs): " + ", ".join(
                f"{m} {a[m] - b[m]:+.3f} [{diff[m][0]:+.2f},{diff[m][1]:+.2f}]" for m in METRICS)]
    for name, (c, d) in report.choices.items():
        lines += ["", f"weights chosen for {name!r} on all links (approvals of every other KE): "
                  f"context {'on' if c.context else 'off'}, {c.short()}",
                  f"  95% interval over {len(d)} bootstrap resamples of KEs: gene {_interval([w.gene for w in d])}, "
                  f"go {_interval([w.go for w in d])}, approved {_interval([w.approved for w in d])}, "
                  f"top_n {_interval([w.top_n for w in d])}, power {_interval([w.power for w in d])}; "
                  f"context on in {sum(w.context for w in d)}/{len(d)}"]
    lines += ["", f"held-out ranks recomputed through ApprovedSuggester.scores_for_ke: {report.checked}, "
              f"differing from the weight search: {report.mismatched}"]
    return "\n".join(lines)
