"""Reads of the catalogue (Key Events, pathways, KE relationships) for the pages, forms and API.

Search is in search.py, the import in catalog_import.py. No Flask imports.
"""

from __future__ import annotations

import sqlite3

from . import ids

# direction -> (the column naming the neighbour, the column naming the KE asked about)
_ENDS = {"upstream": ("upstream_ke_id", "downstream_ke_id"),
         "downstream": ("downstream_ke_id", "upstream_ke_id")}


def overview_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Key Events, pathways, approved mappings and pending proposals, for the home page."""
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("key_events", "pathways", "mappings")}
    counts["pending"] = conn.execute("SELECT count(*) FROM proposals WHERE status = 'pending'").fetchone()[0]
    return counts


def bio_levels(conn: sqlite3.Connection) -> list[str]:
    """The biological levels the catalogue's Key Events use, for the list filter."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT bio_level FROM key_events WHERE bio_level IS NOT NULL ORDER BY 1")]


def key_event(conn: sqlite3.Connection, ke_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM key_events WHERE ke_id = ?", (ke_id,)).fetchone()


def pathway(conn: sqlite3.Connection, wp_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM pathways WHERE wp_id = ?", (wp_id,)).fetchone()


def neighbours(conn: sqlite3.Connection, ke_id: str, direction: str) -> list[sqlite3.Row]:
    """The catalogued KEs directly upstream or downstream of `ke_id` (ke_id, title), by title."""
    other, this = _ENDS[direction]
    return conn.execute(
        f"SELECT k.ke_id, k.title FROM ke_relationships r JOIN key_events k ON k.ke_id = r.{other} "
        f"WHERE r.{this} = ? ORDER BY k.title", (ke_id,)).fetchall()


def neighbour_ids(conn: sqlite3.Connection, ke_id: str, direction: str) -> list[str]:
    """The ids of the KEs directly upstream or downstream of `ke_id` by number, as the relationships name them."""
    other, this = _ENDS[direction]
    return [r[0] for r in conn.execute(
        f"SELECT {other} FROM ke_relationships WHERE {this} = ? "
        f"ORDER BY {ids.sql_number(other, ids.KE_PREFIX)}", (ke_id,))]
