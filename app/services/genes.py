"""Gene evidence for suggestions: gene names written in text, GO processes, enrichment.

Reference data (read at build time only, from ``data/seed/`` or ``--reference-dir``):
``gene_alias.tsv.gz`` (NCBI gene aliases), ``gene_go_bp.tsv.gz`` (direct GO Biological
Process annotations) and ``go_terms.jsonl.gz`` (the GO BP terms and their parents); see
``data/seed`` SOURCES. The builder keeps only what the suggester needs (aliases and GO
gene sets of genes that occur in some pathway) in the embeddings store, so the running
app needs none of these files.

Matching gene names in free text is noisy (many aliases are common abbreviations), so it
is deliberately strict; see ``GeneMatcher``. Overlaps are scored by the hypergeometric
upper tail (-log10 p), which is the "idf" of a single shared gene and favours small,
specific pathways over large ones; callers damp it with log1p before combining it with
text similarity. No Flask imports.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ALIAS_FILE = "gene_alias.tsv.gz"
NAME_FILE = "gene_names.tsv.gz"
GO_ANNOTATION_FILE = "gene_go_bp.tsv.gz"
GO_TERMS_FILE = "go_terms.jsonl.gz"

# Abbreviations that are gene aliases or symbols but in AOP-Wiki text nearly always mean
# something else (a metabolite, an enzyme class, a cell type, a disease, a gene family).
NOT_GENES = frozenset({
    "ATP", "ADP", "AMP", "CAMP", "CGMP", "NAD", "NADH", "NADPH", "NADP", "GSH", "GSSG", "ATPASE",
    "P450", "CYP", "CYP450", "HCC", "NASH", "NAFLD", "COPD", "ARDS", "AOP", "MIE", "DNA", "RNA", "MRNA",
    "ROS", "RNS", "STAT", "TH1", "TH2", "TH17", "HIF-1", "LDL", "HDL", "VLDL", "SOD", "GST", "PCB", "PCBS",
    "PFOS", "PFOA", "TCDD", "BPA", "DDT", "LPS", "CNS", "PNS", "GABA", "ACH", "ECM", "EMT", "ER", "PPAR",
})
MAX_GENES_PER_ALIAS = 3  # an alias shared by more genes cannot tell which one is meant
MIN_ALIAS_LENGTH = 4     # shorter aliases (not official symbols) only when they contain a digit

_TOKEN = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])(?![A-Za-z0-9])")
_SHORT_PROTEIN = re.compile(r"^[a-z][0-9]{2,3}$")  # p53, p38, p21


def _gene_like(token: str) -> bool:
    """Written like a gene or protein name: NR1H4, ChREBP, Nrf2, IL-6, p53 (not 'Cell', 'cAMP')."""
    if len(token) < 3:
        return False
    upper = sum(ch.isupper() for ch in token)
    digit = any(ch.isdigit() for ch in token)
    if token[0].islower() and not _SHORT_PROTEIN.match(token):
        return False  # cAMP, mTOR-style prefixes are too often metabolites
    return upper >= 2 or (upper >= 1 and digit) or bool(_SHORT_PROTEIN.match(token))


class GeneMatcher:
    """Finds gene names in text and maps them to the official symbols used by pathways.

    Rules: an official symbol always means that gene; another alias counts only if it has
    at least 4 characters or contains a digit, is not a known non-gene abbreviation, and
    names at most 3 genes (each then gets an equal share). Tokens followed by '+' are ions
    (Ca2+), never genes.
    """

    def __init__(self, aliases: Mapping[str, list[str]], names: Mapping[str, list[str]] | None = None) -> None:
        self.aliases = aliases
        self.names = names or {}
        self._name_words = max((name.count(" ") + 1 for name in self.names), default=0)

    def find(self, text: str | None) -> dict[str, float]:
        """{symbol: weight} for each gene named in the text (weight <1 for ambiguous names)."""
        found: dict[str, float] = {}
        if not text:
            return found
        for symbols in self._full_names(text):
            for symbol in symbols:
                found[symbol] = max(found.get(symbol, 0.0), 1.0 / len(symbols))
        for match in _TOKEN.finditer(text):
            token = match.group(1)
            end = match.end(1)
            if end < len(text) and text[end] == "+":
                continue
            if not _gene_like(token):
                continue
            key = token.upper()
            symbols = self.aliases.get(key) or self.aliases.get(key.replace("-", ""))
            if not symbols:
                continue
            for symbol in symbols:
                found[symbol] = max(found.get(symbol, 0.0), 1.0 / len(symbols))
        return found

    def _full_names(self, text: str) -> list[list[str]]:
        """Genes written out by their full name ("acetylcholinesterase", "thyroid peroxidase"):
        the longest run of words that is a name wins, so "angiotensin I converting enzyme 2" is ACE2."""
        if not self.names:
            return []
        words = _WORD.findall(text.lower())
        out = []
        i = 0
        while i < len(words):
            for n in range(min(self._name_words, len(words) - i), 0, -1):
                symbols = self.names.get(" ".join(words[i:i + n]))
                if symbols:
                    out.append(symbols)
                    i += n
                    break
            else:
                i += 1
        return out


_WORD = re.compile(r"[a-z0-9][a-z0-9-]*")
_NAME_SUFFIX = re.compile(r"\s*\([^)]*\)\s*$")  # "acetylcholinesterase (Cartwright blood group)"
MIN_NAME_LENGTH = 8  # shorter full names ("actin", "tau") are ordinary words in KE text


def build_name_map(name_rows: Iterable[tuple[str, str]], universe: set[str]) -> dict[str, list[str]]:
    """lower-case full gene name -> symbols, for (symbol, name) rows whose symbol is in `universe`;
    the parenthesised qualifier is dropped; a name of more than MAX_GENES_PER_ALIAS genes is not kept."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for symbol, name in name_rows:
        if symbol not in universe:
            continue
        key = " ".join(_WORD.findall(_NAME_SUFFIX.sub("", name).lower()))
        if len(key) >= MIN_NAME_LENGTH and key.upper() not in NOT_GENES:
            by_name[key].add(symbol)
    return {key: sorted(symbols) for key, symbols in by_name.items() if len(symbols) <= MAX_GENES_PER_ALIAS}


def read_name_rows(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [(row["symbol"], row["name"]) for row in csv.DictReader(handle, delimiter="\t")
                if row.get("symbol") and row.get("name")]


def build_alias_map(alias_rows: Iterable[tuple[str, str]], universe: set[str]) -> dict[str, list[str]]:
    """KEY (upper case) -> symbols, for (symbol, alias) rows whose symbol is in `universe`."""
    official: dict[str, str] = {}
    by_alias: dict[str, set[str]] = defaultdict(set)
    for symbol, alias in alias_rows:
        if symbol not in universe:
            continue
        official[symbol.upper()] = symbol
        by_alias[alias.upper()].add(symbol)
    result: dict[str, list[str]] = {}
    for key, symbols in by_alias.items():
        if key in NOT_GENES or len(key) < 3:
            continue
        if key in official:
            result[key] = [official[key]]
            continue
        if len(key) < MIN_ALIAS_LENGTH and not any(ch.isdigit() for ch in key):
            continue
        if len(symbols) > MAX_GENES_PER_ALIAS:
            continue
        result[key] = sorted(symbols)
    for key, symbol in official.items():
        if key not in NOT_GENES and len(key) >= 3:
            result[key] = [symbol]
    return result


def read_alias_rows(path: Path) -> list[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [(row["symbol"], row["alias"]) for row in csv.DictReader(handle, delimiter="\t")
                if row.get("symbol") and row.get("alias")]


@dataclass
class GoData:
    names: dict[str, str]
    children: dict[str, set[str]]
    genes: dict[str, set[str]]  # direct annotations

    def closure(self, go_id: str) -> set[str]:
        seen = {go_id}
        stack = [go_id]
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def term_genes(self, go_id: str) -> set[str]:
        """Genes annotated to the term or to any term below it (is_a / part_of)."""
        genes: set[str] = set()
        for term in self.closure(go_id):
            genes |= self.genes.get(term, set())
        return genes


def read_go(terms_path: Path, annotations_path: Path) -> GoData:
    names: dict[str, str] = {}
    children: dict[str, set[str]] = defaultdict(set)
    with gzip.open(terms_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            term = json.loads(line)
            names[term["go_id"]] = term["name"]
            for relation in ("is_a", "part_of"):
                for parent in term.get(relation, []):
                    children[parent].add(term["go_id"])
    genes: dict[str, set[str]] = defaultdict(set)
    with gzip.open(annotations_path, "rt", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row.get("evidence") != "ND":  # ND = "no data", not an annotation
                genes[row["go_id"]].add(row["symbol"])
    return GoData(names, dict(children), dict(genes))


# --- enrichment ----------------------------------------------------------------------------

class Hypergeometric:
    """-log10 P(X >= overlap) for X ~ Hypergeom(universe, pathway size, query size), vectorised."""

    def __init__(self, universe: int) -> None:
        self.universe = max(int(universe), 1)
        self._log_factorial = np.concatenate(
            [[0.0], np.cumsum(np.log(np.arange(1, self.universe + 2, dtype=np.float64)))])

    def _log_choose(self, n: np.ndarray, k: np.ndarray) -> np.ndarray:
        lf = self._log_factorial
        return lf[n] - lf[k] - lf[n - k]

    def neg_log10_p(self, overlap: np.ndarray, query_size: int, pathway_sizes: np.ndarray) -> np.ndarray:
        """One value per pathway; 0 where the overlap is 0."""
        overlap = np.asarray(overlap, dtype=np.int64)
        sizes = np.minimum(np.asarray(pathway_sizes, dtype=np.int64), self.universe)
        n = min(int(query_size), self.universe)
        out = np.zeros(overlap.shape, dtype=np.float64)
        hit = np.flatnonzero(overlap > 0)
        if hit.size == 0 or n == 0:
            return out
        o, m = overlap[hit], sizes[hit]
        top = np.minimum(m, n)
        span = int((top - o).max()) + 1
        k = o[:, None] + np.arange(span)[None, :]
        valid = k <= top[:, None]
        k = np.where(valid, k, o[:, None])
        terms = (self._log_choose(m[:, None], k) + self._log_choose(self.universe - m[:, None], n - k)
                 - self._log_choose(np.array(self.universe), np.array(n)))
        terms = np.where(valid & (n - k <= self.universe - m[:, None]), terms, -np.inf)
        peak = terms.max(axis=1)
        log_p = peak + np.log(np.exp(terms - peak[:, None]).sum(axis=1))
        out[hit] = np.maximum(0.0, -log_p / math.log(10))
        return out


def information_content(term_size: int, universe: int) -> float:
    """How specific a gene set is, in [0, 1]: 1 for a single gene, 0 for the whole universe."""
    if term_size <= 0 or universe <= 1:
        return 0.0
    return max(0.0, -math.log(term_size / universe) / math.log(universe))
