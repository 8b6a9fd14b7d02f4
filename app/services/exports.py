"""Approved mappings as CSV, JSON, RDF/Turtle and GMT gene sets; no Flask imports.

One query (`fetch_mappings`) feeds every format and the public API, so a filter means the
same thing everywhere. Confidence is ordered high > medium > low: `min_confidence=medium`
keeps high and medium.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from . import ids
from . import mapping_vocab as vocab
from .confidence import LEVELS_BEST_FIRST
from .mapping_vocab import KE_IRI, WP_IRI, source_version
from .text import strip_forbidden

# Cells a spreadsheet would run as a formula (OWASP "CSV injection") get a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

AOPWIKI_URL = "https://aopwiki.org/events/{}"
WIKIPATHWAYS_URL = "https://www.wikipathways.org/pathways/{}"

MAPPING_FIELDS = (
    "id", "ke_id", "ke_title", "wp_id", "wp_title", "confidence", "relationship", "evidence",
    "specificity", "coverage", "rationale", "suggestion_score", "proposed_by", "approved_by",
    "ke_catalog_version", "wp_catalog_version", "created_at", "updated_at",
)


class InvalidParameter(ValueError):
    """A filter value is not allowed; the message names the parameter and the allowed values."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


# --- parameters ---------------------------------------------------------------------------

def parse_confidence(value: str | None, parameter: str = "min_confidence") -> str | None:
    """'' or None means no filter; anything else must be one of high, medium, low."""
    if value is None or not value.strip():
        return None
    level = value.strip().lower()
    if level not in LEVELS_BEST_FIRST:
        raise InvalidParameter(parameter, f"{parameter}={value[:40]!r} is not allowed; "
                                          f"use one of {', '.join(LEVELS_BEST_FIRST)}")
    return level


def levels_at_least(min_confidence: str | None) -> tuple[str, ...]:
    """The confidence levels that pass a minimum: medium -> (high, medium)."""
    if min_confidence is None:
        return LEVELS_BEST_FIRST
    return LEVELS_BEST_FIRST[:LEVELS_BEST_FIRST.index(min_confidence) + 1]


def parse_ke_id(value: str, parameter: str = "ke_id") -> str:
    """'KE 55', 'KE55', 'ke_55', 'KE:55' and '55' all mean 'KE 55' (ASCII digits only)."""
    return _given(ids.ke_id(value, bare=True), value, parameter, "a Key Event id; use 'KE 55', 'KE55' or '55'")


def parse_wp_id(value: str, parameter: str = "wp_id") -> str:
    """'WP254', 'wp254', 'WP 254' and '254' all mean 'WP254' (ASCII digits only)."""
    return _given(ids.wp_id(value, bare=True), value, parameter, "a WikiPathways id; use 'WP254' or '254'")


def _given(parsed: str | None, value: str, parameter: str, expected: str) -> str:
    """The parsed id, or the 400 that names the parameter and the forms it takes."""
    if parsed is None:
        raise InvalidParameter(parameter, f"{parameter}={(value or '')[:40]!r} is not {expected}")
    return parsed


# --- query --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MappingFilter:
    ke_id: str | None = None
    wp_id: str | None = None
    confidence: str | None = None       # exactly this level
    min_confidence: str | None = None   # this level or better

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.ke_id:
            clauses.append("m.ke_id = ?")
            params.append(self.ke_id)
        if self.wp_id:
            clauses.append("m.wp_id = ?")
            params.append(self.wp_id)
        if self.confidence:
            clauses.append("m.confidence = ?")
            params.append(self.confidence)
        if self.min_confidence:
            levels = levels_at_least(self.min_confidence)
            clauses.append(f"m.confidence IN ({', '.join('?' * len(levels))})")
            params.extend(levels)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


_ORDER = f"ORDER BY {ids.sql_number('m.ke_id', ids.KE_PREFIX)}, {ids.sql_number('m.wp_id', ids.WP_PREFIX)}"


def count_mappings(conn: sqlite3.Connection, filters: MappingFilter = MappingFilter()) -> int:
    where, params = filters.where()
    return conn.execute(f"SELECT count(*) FROM mappings m{where}", params).fetchone()[0]


def fetch_mappings(conn: sqlite3.Connection, filters: MappingFilter = MappingFilter(),
                   limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """Approved mappings with KE and pathway titles, ordered by KE then pathway number."""
    where, params = filters.where()
    page = ""
    if limit is not None:
        page = " LIMIT ? OFFSET ?"
        params = [*params, limit, offset]
    rows = conn.execute(
        "SELECT m.*, k.title AS ke_title, p.title AS wp_title FROM mappings m "
        "JOIN key_events k ON k.ke_id = m.ke_id JOIN pathways p ON p.wp_id = m.wp_id"
        f"{where} {_ORDER}{page}", params).fetchall()
    return [_record(row) for row in rows]


def _record(row: sqlite3.Row) -> dict[str, Any]:
    """The exported fields; text without control/bidi characters (rows stored before the
    forms refused them), so no format emits them raw."""
    return {name: strip_forbidden(row[name]) if isinstance(row[name], str) else row[name]
            for name in MAPPING_FIELDS}


def get_mapping(conn: sqlite3.Connection, mapping_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT m.*, k.title AS ke_title, p.title AS wp_title FROM mappings m "
        "JOIN key_events k ON k.ke_id = m.ke_id JOIN pathways p ON p.wp_id = m.wp_id WHERE m.id = ?",
        (mapping_id,)).fetchone()
    return None if row is None else _record(row)


def confidence_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Approved mappings per confidence level (every level present, zero if none)."""
    counts = dict.fromkeys(LEVELS_BEST_FIRST, 0)
    for level, n in conn.execute("SELECT confidence, count(*) FROM mappings GROUP BY confidence"):
        counts[level] = n
    return counts


# --- formats ------------------------------------------------------------------------------

def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate ('=HYPERLINK(...)', '+1', '@SUM') gets a leading quote;
    control and bidi characters are dropped (any CSV, not only mappings)."""
    if isinstance(value, str):
        value = strip_forbidden(value)
        if value.startswith(FORMULA_START):
            return "'" + value
    return "" if value is None else value


def to_csv(rows: Iterable[dict[str, Any]], fields: Sequence[str] = MAPPING_FIELDS) -> str:
    """RFC 4180 CSV (CRLF rows, fields with commas, quotes or newlines quoted), formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([safe_cell(_csv_value(row.get(name))) for name in fields])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def to_json(mappings: list[dict[str, Any]], min_confidence: str | None, generated_at: datetime) -> str:
    document = {
        "generated_at": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "min_confidence": min_confidence,
        "count": len(mappings),
        "mappings": mappings,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def to_turtle(mappings: list[dict[str, Any]], generated_at: datetime, *, site: str, mapping_base: str,
              imports: dict[int, dict[str, Any]], min_confidence: str | None = None) -> str:
    """SSSOM's RDF form: a sssom:MappingSet whose sssom:mappings are owl:Axiom resources (IRI:
    mapping_base + id) annotating the direct `KE skos:relatedMatch pathway` triple. Only
    registered vocabularies (SSSOM, SEMAPV, SKOS, OWL, DCTERMS, PAV); curators are IRIs below
    `site` (KEWP_PUBLIC_URL); `imports` are the catalogue imports by id (catalog.imports)."""
    from rdflib import OWL, RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, SKOS

    sssom, semapv, pav = Namespace(vocab.SSSOM_IRI), Namespace(vocab.SEMAPV_IRI), Namespace(vocab.PAV_IRI)
    ke_ns, wp_ns = Namespace(KE_IRI), Namespace(WP_IRI)
    graph = Graph()
    for prefix, namespace in (("aopke", ke_ns), ("wp", wp_ns), ("sssom", sssom), ("semapv", semapv),
                              ("pav", pav), ("skos", SKOS), ("owl", OWL), ("dcterms", DCTERMS)):
        graph.bind(prefix, namespace)

    dataset = URIRef(mapping_base)
    graph.add((dataset, RDF.type, sssom.MappingSet))
    graph.add((dataset, DCTERMS.created, Literal(generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                 datatype=XSD.dateTime)))
    graph.add((dataset, DCTERMS.license, URIRef(vocab.LICENSE)))
    if min_confidence:
        graph.add((dataset, RDFS.comment, Literal(f"approved mappings of confidence {min_confidence} or better")))

    predicate = SKOS[vocab.PREDICATE]
    for m in mappings:
        ke = ke_ns[str(ids.id_number(m["ke_id"]))]
        wp = wp_ns[m["wp_id"]]
        node = URIRef(f"{mapping_base}{m['id']}")
        for entity, identifier, label, page in (
                (ke, m["ke_id"], m["ke_title"], AOPWIKI_URL.format(ids.id_number(m["ke_id"]))),
                (wp, m["wp_id"], m["wp_title"], WIKIPATHWAYS_URL.format(m["wp_id"]))):
            graph.add((entity, DCTERMS.identifier, Literal(identifier)))
            graph.add((entity, RDFS.label, Literal(label)))
            graph.add((entity, RDFS.seeAlso, URIRef(page)))
        graph.add((ke, predicate, wp))

        graph.add((dataset, sssom.mappings, node))
        graph.add((node, RDF.type, OWL.Axiom))
        graph.add((node, OWL.annotatedSource, ke))
        graph.add((node, OWL.annotatedProperty, predicate))
        graph.add((node, OWL.annotatedTarget, wp))
        graph.add((node, DCTERMS.identifier, Literal(m["id"])))
        graph.add((node, sssom.subject_label, Literal(m["ke_title"])))
        graph.add((node, sssom.object_label, Literal(m["wp_title"])))
        graph.add((node, sssom.mapping_justification, semapv[vocab.JUSTIFICATION]))
        graph.add((node, sssom.confidence, Literal(vocab.CONFIDENCE_SCORES[m["confidence"]], datatype=XSD.double)))
        graph.add((node, sssom.other, Literal(vocab.assessment(m))))
        graph.add((node, RDFS.comment, Literal(m["rationale"])))
        graph.add((node, pav.authoredBy, URIRef(f"{site}/{vocab.user_path(m['proposed_by'])}")))
        graph.add((node, sssom.reviewer_id, URIRef(f"{site}/{vocab.user_path(m['approved_by'])}")))
        if m["suggestion_score"] is not None:
            graph.add((node, sssom.similarity_score, Literal(float(m["suggestion_score"]), datatype=XSD.double)))
            graph.add((node, sssom.similarity_measure, Literal(vocab.SIMILARITY_MEASURE)))
        for field, prop in (("ke_catalog_version", sssom.subject_source_version),
                            ("wp_catalog_version", sssom.object_source_version)):
            if m[field] in imports:
                graph.add((node, prop, Literal(source_version(imports[m[field]]))))
        graph.add((node, DCTERMS.created, Literal(m["created_at"], datatype=XSD.dateTime)))
        graph.add((node, DCTERMS.modified, Literal(m["updated_at"], datatype=XSD.dateTime)))
    return graph.serialize(format="turtle")


def _one_line(text: str) -> str:
    return " ".join(strip_forbidden(text).split())


def gene_sets(conn: sqlite3.Connection, min_confidence: str | None = None) -> list[tuple[str, str, list[str]]]:
    """(KE id, KE title, sorted genes): per KE, the union of the genes of its mapped pathways.

    A KE whose mapped pathways list no genes has no gene set (tools reject empty sets).
    """
    where, params = MappingFilter(min_confidence=min_confidence).where()
    rows = conn.execute(
        "SELECT m.ke_id, k.title, p.genes FROM mappings m "
        "JOIN key_events k ON k.ke_id = m.ke_id JOIN pathways p ON p.wp_id = m.wp_id"
        f"{where} {_ORDER}", params).fetchall()
    sets: dict[str, tuple[str, set[str]]] = {}
    for ke_id, title, genes in rows:
        sets.setdefault(ke_id, (title, set()))[1].update(g for g in json.loads(genes) if g.strip())
    return [(ke_id, title, sorted(genes)) for ke_id, (title, genes) in sets.items() if genes]


def to_gmt(sets: list[tuple[str, str, list[str]]]) -> str:
    """GMT: one line per KE: `KE_55<TAB>KE title<TAB>GENE1<TAB>GENE2...`."""
    lines = []
    for ke_id, title, genes in sets:
        name = f"KE_{ids.id_number(ke_id)}"
        lines.append("\t".join([name, _one_line(title), *genes]))
    return "".join(line + "\n" for line in lines)


def download_name(stem: str, extension: str, min_confidence: str | None, day: date | None = None) -> str:
    """kewp-mappings-2025-01-31.csv, or kewp-mappings-min-high-2025-01-31.csv when filtered."""
    day = day or datetime.now(UTC).date()
    level = f"-min-{min_confidence}" if min_confidence else ""
    return f"kewp-{stem}{level}-{day.isoformat()}.{extension}"
