"""Import curated KE -> pathway links (JSON lines) as approved mappings, with their provenance.

`flask --app app catalog import data/seed/mappings.jsonl data/seed/curated_links_dev.jsonl`
(after the catalogue) makes each link an approved mapping: proposed and approved by
``import``, its rationale saying where it came from (file, source, diagrams, approval date,
connection type), its confidence and assessment answers as the source gives them (answers
the source does not give are left empty; a link without a confidence is imported as
``medium`` and its rationale says so), and an audit row. Idempotent: a pair that is already
mapped is left as it is (a curator's later change wins); a link whose KE or pathway is not in
the catalogue is rejected with the reason. No Flask imports.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..db import write_transaction
from . import confidence
from .catalog_import import (
    ImportFileError,
    ImportReport,
    RowError,
    catalog_version,
    normalize_ke_id,
    normalize_wp_id,
    read_rows,
)
from .checksums import sha256_file
from .mappings import MAX_RATIONALE, _audit, _mapping_row

KIND = "mappings"
ACTOR = "import"
DEFAULT_CONFIDENCE = "medium"
# The molAOP Builder's assessment names, as our questions spell them.
_ANSWER_NAMES = {"basis": "evidence"}
_ANSWER_VALUES = {"keysteps": "key_steps"}


def looks_like_links(path: Path) -> bool:
    """Whether the file's first readable record has both a ke_id and a wp_id (a link, not a catalogue row)."""
    for _lineno, record in read_rows(path):
        if isinstance(record, dict):
            return "ke_id" in record and "wp_id" in record and "ker_id" not in record
    return False


def _answers(record: dict[str, Any]) -> dict[str, str]:
    given = record.get("mapping_assessment") or {}
    if not isinstance(given, dict):
        raise RowError("mapping_assessment must be an object of answers")
    answers = dict.fromkeys(confidence.FIELDS, "")
    for name, raw in given.items():
        field, value = _ANSWER_NAMES.get(name, name), _ANSWER_VALUES.get(str(raw), str(raw))
        if field in confidence.QUESTION_BY_NAME and value in confidence.QUESTION_BY_NAME[field].values:
            answers[field] = value
    connection = record.get("mapping_connection")
    if not answers["relationship"] and connection in confidence.QUESTION_BY_NAME["relationship"].values:
        answers["relationship"] = connection
    return answers


def _rationale(record: dict[str, Any], source_file: str, level_given: bool) -> str:
    parts = [f"Imported from {source_file}"]
    if record.get("source"):
        parts.append(f"source: {record['source']}")
    diagrams = record.get("source_pathways") or ([record["source_pathway"]] if record.get("source_pathway") else [])
    if diagrams:
        parts.append(f"diagram{'s' if len(diagrams) > 1 else ''} {', '.join(map(str, diagrams))}")
    if record.get("mapping_approved_date"):
        parts.append(f"approved there on {record['mapping_approved_date']}")
    if record.get("mapping_connection"):
        parts.append(f"connection type {record['mapping_connection']}")
    if not level_given:
        parts.append(f"the source gives no confidence: imported as {DEFAULT_CONFIDENCE}")
    return ("; ".join(parts) + ".")[:MAX_RATIONALE]


def _row(record: dict[str, Any], source_file: str) -> dict[str, Any]:
    level = record.get("mapping_confidence") or record.get("confidence")
    if level is not None and level not in confidence.LEVELS:
        raise RowError(f"confidence {level!r} is not one of {', '.join(confidence.LEVELS)}")
    return {"ke_id": normalize_ke_id(record.get("ke_id")), "wp_id": normalize_wp_id(record.get("wp_id")),
            **_answers(record), "confidence": level or DEFAULT_CONFIDENCE,
            "rationale": _rationale(record, source_file, level is not None)}


def import_links(conn: sqlite3.Connection, path: str | Path) -> ImportReport:
    """Import one links file as approved mappings (one transaction); see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    report = ImportReport(KIND, path.name)
    with write_transaction(conn):
        versions = (catalog_version(conn, "key_events"), catalog_version(conn, "pathways"))
        for lineno, record in read_rows(path):
            try:
                if isinstance(record, RowError):
                    raise record
                row = _row(record, path.name)
                for table, key in (("key_events", "ke_id"), ("pathways", "wp_id")):
                    if conn.execute(f"SELECT 1 FROM {table} WHERE {key} = ?", (row[key],)).fetchone() is None:
                        raise RowError(f"{row[key]} is not in the catalogue (an old id, or the catalogue is "
                                       "not imported yet: import it before the links)")
            except RowError as exc:
                report.rejected.append((lineno, str(exc)))
                continue
            if conn.execute("SELECT 1 FROM mappings WHERE ke_id = ? AND wp_id = ?",
                            (row["ke_id"], row["wp_id"])).fetchone() is not None:
                report.unchanged += 1
                continue
            cur = conn.execute(
                "INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
                "rationale, proposed_by, approved_by, ke_catalog_version, wp_catalog_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["ke_id"], row["wp_id"], row["relationship"], row["evidence"], row["specificity"],
                 row["coverage"], row["confidence"], row["rationale"], ACTOR, ACTOR, *versions))
            _audit(conn, ACTOR, "created", "mapping", cur.lastrowid, before=None,
                   after=_mapping_row(conn, cur.lastrowid), note=f"imported from {path.name}")
            report.inserted += 1
        conn.execute("INSERT INTO catalog_imports (kind, source, sha256, inserted, updated, unchanged, rejected) "
                     "VALUES (?, ?, ?, ?, 0, ?, ?)",
                     (KIND, path.name, sha256_file(path), report.inserted, report.unchanged, len(report.rejected)))
    return report

