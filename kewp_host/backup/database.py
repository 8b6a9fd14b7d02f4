"""The SQLite side: a consistent online snapshot, and what a database file holds."""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any

from kewp_host.backup.common import EXIT_CHECK_FAILED, TABLES, Failure
from kewp_host.backup.store import Backup


def open_readonly(path: Path, timeout: float = 30.0) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def inspect_db(path: Path) -> dict[str, Any]:
    """integrity_check, row counts of the main tables, schema version and page figures."""
    conn = open_readonly(path)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        integrity = "ok" if rows == ["ok"] else "; ".join(rows[:10])
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES if t in existing}
        return {
            "integrity_check": integrity,
            "row_counts": counts,
            "schema_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "page_size": conn.execute("PRAGMA page_size").fetchone()[0],
            "page_count": conn.execute("PRAGMA page_count").fetchone()[0],
        }
    finally:
        conn.close()


def snapshot(db: Path, dest: Path) -> None:
    """Copy the live database with the online backup API, in one step.

    One step copies one consistent read snapshot while writers go on in the WAL (a backup done
    in several steps restarts whenever another connection writes, so it may never finish).
    """
    src = open_readonly(db)
    try:
        dst = sqlite3.connect(str(dest), isolation_level=None)
        try:
            src.backup(dst)
            # A self-contained file: no -wal beside it when it is checked, copied or restored.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def check_db(path: Path, backup: Backup) -> dict[str, Any]:
    """integrity_check, row counts and schema version of a database file against a manifest."""
    try:
        facts = inspect_db(path)
    except sqlite3.Error as exc:
        raise Failure(EXIT_CHECK_FAILED, f"{path}: not a readable SQLite database ({exc})") from exc
    if facts["integrity_check"] != "ok":
        raise Failure(EXIT_CHECK_FAILED, f"{path}: integrity_check failed: {facts['integrity_check']}")
    expected = backup.manifest
    if facts["row_counts"] != expected["row_counts"]:
        raise Failure(EXIT_CHECK_FAILED, f"{path}: row counts {facts['row_counts']} differ from the "
                                         f"manifest's {expected['row_counts']}")
    if facts["schema_version"] != expected.get("schema_version", facts["schema_version"]):
        raise Failure(EXIT_CHECK_FAILED, f"{path}: schema version {facts['schema_version']}, the manifest "
                                         f"says {expected['schema_version']}")
    return facts


