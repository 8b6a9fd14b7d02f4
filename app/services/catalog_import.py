"""Import Key Events, pathways and KE relationships from JSONL, CSV or TSV (optionally .gz).

Idempotent upsert: a row whose content is unchanged is counted as such and not rewritten.
A bad row is rejected with its line number and the reason; good rows around it still load.
No Flask imports: used by the CLI, the tests and the benchmarks alike.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..db import write_transaction
from . import ids
from .checksums import sha256_file

KINDS = ("key_events", "pathways", "ke_relationships")
BATCH = 500
MAX_TITLE = 1000
MAX_TEXT = 100_000


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unknown format or kind); nothing was written."""


class RowError(ValueError):
    """One row is invalid; the message says which field and why."""


def normalize_ke_id(value: Any) -> str:
    ke_id = ids.ke_id(str(value)) if value is not None else None
    if ke_id is None:
        raise RowError(f"ke_id {value!r} is not a Key Event id like 'KE 1234'")
    return ke_id


def normalize_wp_id(value: Any) -> str:
    wp_id = ids.wp_id(str(value)) if value is not None else None
    if wp_id is None:
        raise RowError(f"wp_id {value!r} is not a WikiPathways id like 'WP1234'")
    return wp_id


@dataclass
class ImportReport:
    kind: str
    source: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged + len(self.rejected)

    def summary(self) -> str:
        return (f"{self.source}: {self.kind}: {self.inserted} inserted, {self.updated} updated, "
                f"{self.unchanged} unchanged, {len(self.rejected)} rejected")


# --- reading -------------------------------------------------------------------------------

def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open(encoding="utf-8", newline="")


def _format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for ext in ("jsonl", "ndjson", "csv", "tsv"):
        if name.endswith("." + ext):
            return "jsonl" if ext == "ndjson" else ext
    raise ImportFileError(f"{path.name}: unknown format; use .jsonl, .csv or .tsv (optionally .gz)")


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """(line number, record) pairs; a line that cannot be parsed yields a RowError instead."""
    fmt = _format(path)
    with _open_text(path) as handle:
        if fmt == "jsonl":
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, RowError(f"not valid JSON ({exc.msg} at column {exc.colno})")
                    continue
                if not isinstance(record, dict):
                    yield lineno, RowError("a JSON object is expected on each line")
                    continue
                yield lineno, record
        else:
            reader = csv.DictReader(handle, delimiter="," if fmt == "csv" else "\t")
            if not reader.fieldnames:
                raise ImportFileError(f"{path.name}: no header line")
            for record in reader:
                if None in record:
                    yield reader.line_num, RowError("more fields than the header has")
                    continue
                yield reader.line_num, {k.strip(): (v.strip() if isinstance(v, str) else v)
                                        for k, v in record.items() if k}


def detect_kind(record: dict[str, Any]) -> str:
    if "ker_id" in record or "upstream_ke_id" in record:
        return "ke_relationships"
    if "ke_id" in record and "wp_id" not in record:
        return "key_events"
    if "wp_id" in record and "ke_id" not in record:
        return "pathways"
    raise ImportFileError("cannot tell what the file holds: expected a 'ke_id' column (key events), "
                          "a 'wp_id' column (pathways) or 'ker_id' (KE relationships); use --kind")


# --- validation ---------------------------------------------------------------------------

def _text(record: dict[str, Any], name: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowError(f"{name} is missing or empty")
        return None
    if not isinstance(value, str):
        raise RowError(f"{name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise RowError(f"{name} is {len(value)} characters long; the limit is {limit}")
    return value.strip()


def _list(record: dict[str, Any], name: str) -> list[str]:
    value = record.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):  # CSV/TSV: separated by ';' or ','
        return [part.strip() for part in re.split(r"[;,|]", value) if part.strip()]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise RowError(f"{name} must be a list of strings or a ';'-separated string")


def _ke_row(record: dict[str, Any]) -> dict[str, Any]:
    aops = record.get("aops")
    aop_ids = []
    if isinstance(aops, list):
        aop_ids = [a.get("aop_id") for a in aops if isinstance(a, dict) and a.get("aop_id")]
    aop_ids += _list(record, "aop_ids")
    normalized = []
    for aop in aop_ids:
        aop_id = ids.aop_id(str(aop))
        if aop_id is None:
            raise RowError(f"AOP id {aop!r} is not like 'AOP 123'")
        normalized.append(aop_id)
    extra = {k: record[k] for k in ("ke_iri", "aops", "roles", "event_components") if record.get(k)}
    return {
        "ke_id": normalize_ke_id(record.get("ke_id")),
        "title": _text(record, "title", required=True, limit=MAX_TITLE),
        "bio_level": _text(record, "bio_level", limit=100),
        "description": _text(record, "description"),
        "aop_ids": json.dumps(sorted(set(normalized), key=ids.id_number)),
        "extra": json.dumps(extra, sort_keys=True),
    }


def _pathway_row(record: dict[str, Any]) -> dict[str, Any]:
    genes = _list(record, "genes")
    for gene in genes:
        if len(gene) > 50 or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._@/-]*$", gene):
            raise RowError(f"gene symbol {gene[:60]!r} is not a valid symbol")
    extra = {k: record[k] for k in ("entrez_ids", "ensembl_ids", "ontology_ids", "communities",
                                    "revision", "last_edited") if record.get(k)}
    return {
        "wp_id": normalize_wp_id(record.get("wp_id")),
        "title": _text(record, "title", required=True, limit=MAX_TITLE),
        "organism": _text(record, "organism", limit=200),
        "description": _text(record, "description"),
        "genes": json.dumps(sorted(set(genes))),
        "extra": json.dumps(extra, sort_keys=True),
    }


def _ker_row(record: dict[str, Any]) -> dict[str, Any]:
    ker_id = ids.ker_id(str(record.get("ker_id", "")))
    if ker_id is None:
        raise RowError(f"ker_id {record.get('ker_id')!r} is not like 'KER 123'")
    return {
        "ker_id": ker_id,
        "upstream_ke_id": normalize_ke_id(record.get("upstream_ke_id")),
        "downstream_ke_id": normalize_ke_id(record.get("downstream_ke_id")),
    }


TABLES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "key_events": ("ke_id", _ke_row),
    "pathways": ("wp_id", _pathway_row),
    "ke_relationships": ("ker_id", _ker_row),
}


# --- writing ------------------------------------------------------------------------------

def upsert(conn: sqlite3.Connection, kind: str, row: dict[str, Any]) -> str:
    key, _ = TABLES[kind]
    columns = list(row)
    existing = conn.execute(f"SELECT {', '.join(columns)} FROM {kind} WHERE {key} = ?", (row[key],)).fetchone()
    if existing is None:
        conn.execute(f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                     [row[c] for c in columns])
        return "inserted"
    if all(existing[c] == row[c] for c in columns):
        return "unchanged"
    assignments = ", ".join(f"{c} = ?" for c in columns if c != key)
    touch = ", updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')" if kind != "ke_relationships" else ""
    conn.execute(f"UPDATE {kind} SET {assignments}{touch} WHERE {key} = ?",
                 [row[c] for c in columns if c != key] + [row[key]])
    return "updated"


def import_file(conn: sqlite3.Connection, path: str | Path, kind: str | None = None,
                progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None) -> ImportReport:
    """Import one file; rows are written in short batches so curators are never blocked long."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    if kind is not None and kind not in KINDS:
        raise ImportFileError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    rows: Iterable[tuple[int, dict[str, Any] | RowError]] = read_rows(path)
    if progress is not None:
        rows = progress(rows)
    report: ImportReport | None = None
    batch: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()

    def flush() -> None:
        with write_transaction(conn):
            for lineno, row in batch:
                try:
                    outcome = upsert(conn, report.kind, row)
                except sqlite3.IntegrityError as exc:
                    report.rejected.append((lineno, f"rejected by the database: {exc}"))
                    continue
                setattr(report, outcome, getattr(report, outcome) + 1)
        batch.clear()

    for lineno, record in rows:
        if isinstance(record, RowError):
            if report is None:
                report = ImportReport(kind or "unknown", path.name)
            report.rejected.append((lineno, str(record)))
            continue
        if report is None or report.kind == "unknown":
            detected = kind or detect_kind(record)
            rejected = report.rejected if report else []
            report = ImportReport(detected, path.name, rejected=rejected)
        key, build = TABLES[report.kind]
        try:
            row = build(record)
        except RowError as exc:
            report.rejected.append((lineno, str(exc)))
            continue
        if row[key] in seen:
            report.rejected.append((lineno, f"{row[key]} appears more than once in this file"))
            continue
        seen.add(row[key])
        batch.append((lineno, row))
        if len(batch) >= BATCH:
            flush()
    if report is None or report.kind == "unknown":
        raise ImportFileError(f"{path.name}: no importable rows" +
                              (f" ({len(report.rejected)} unreadable)" if report else " (empty file)"))
    if batch:
        flush()
    with write_transaction(conn):
        conn.execute("INSERT INTO catalog_imports (kind, source, sha256, inserted, updated, unchanged, rejected) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (report.kind, path.name, sha256_file(path), report.inserted, report.updated,
                      report.unchanged, len(report.rejected)))
    return report


def catalog_version(conn: sqlite3.Connection, kind: str) -> int | None:
    """The id of the newest import of this kind: stamped on each approved mapping."""
    row = conn.execute("SELECT max(id) FROM catalog_imports WHERE kind = ?", (kind,)).fetchone()
    return row[0]
