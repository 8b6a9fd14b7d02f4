"""Approved mappings flagged "needs re-review" by a catalogue refresh (catalog_refresh.py), and an
admin clearing a flag once they have looked (one audit row each). No Flask imports."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from ..db import write_transaction
from .mappings import Conflict, NotFound, audit, clean_comment


@dataclass(frozen=True)
class Flag:
    id: int
    mapping_id: int
    ke_id: str
    wp_id: str
    ke_title: str
    wp_title: str
    reasons: list[str]
    refresh_version: str
    created_at: str


_SELECT = ("SELECT f.id, f.mapping_id, m.ke_id, m.wp_id, k.title AS ke_title, p.title AS wp_title, f.reasons, "
           "r.version AS refresh_version, f.created_at FROM mapping_flags f "
           "JOIN mappings m ON m.id = f.mapping_id JOIN key_events k ON k.ke_id = m.ke_id "
           "JOIN pathways p ON p.wp_id = m.wp_id JOIN catalog_refreshes r ON r.id = f.refresh_id ")


def _flag(row: sqlite3.Row) -> Flag:
    return Flag(**{**dict(row), "reasons": json.loads(row["reasons"])})


def open_flags(conn: sqlite3.Connection, limit: int = 200) -> list[Flag]:
    """Flags not yet cleared, oldest first (the review queue shows them above the proposals)."""
    return [_flag(r) for r in conn.execute(_SELECT + "WHERE f.cleared_at IS NULL ORDER BY f.id LIMIT ?", (limit,))]


def open_flag_of(conn: sqlite3.Connection, mapping_id: int) -> Flag | None:
    row = conn.execute(_SELECT + "WHERE f.mapping_id = ? AND f.cleared_at IS NULL", (mapping_id,)).fetchone()
    return _flag(row) if row else None


def clear(conn: sqlite3.Connection, flag_id: int, actor: str, comment: str | None = None) -> None:
    """Mark a flag reviewed; raises NotFound or Conflict (cleared already)."""
    comment = clean_comment(comment, required=False)
    with write_transaction(conn):
        before = conn.execute("SELECT * FROM mapping_flags WHERE id = ?", (flag_id,)).fetchone()
        if before is None:
            raise NotFound(f"there is no re-review flag {flag_id}")
        if before["cleared_at"] is not None:
            raise Conflict(f"flag {flag_id} was cleared already by {before['cleared_by']} at {before['cleared_at']}",
                           mapping_id=before["mapping_id"])
        conn.execute("UPDATE mapping_flags SET cleared_by = ?, cleared_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), "
                     "comment = ? WHERE id = ?", (actor, comment, flag_id))
        after = conn.execute("SELECT * FROM mapping_flags WHERE id = ?", (flag_id,)).fetchone()
        audit(conn, actor, "clear_review_flag", "mapping", before["mapping_id"], before=before, after=after)
