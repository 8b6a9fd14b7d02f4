"""The catalogue (Key Events, pathways, KE relationships) as read from SQLite: rows for the pages,
forms and API, and the in-memory model the suggester ranks and the embeddings are built from.

Search is in search.py, the import in catalog_import.py. No Flask imports.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import ids

# direction -> (the column naming the neighbour, the column naming the KE asked about)
_ENDS = {"upstream": ("upstream_ke_id", "downstream_ke_id"),
         "downstream": ("downstream_ke_id", "upstream_ke_id")}


def overview_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Current Key Events and pathways, approved mappings and pending proposals, for the home page."""
    counts = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE withdrawn_at IS NULL").fetchone()[0]
              for t in ("key_events", "pathways")}
    counts["mappings"] = conn.execute("SELECT count(*) FROM mappings").fetchone()[0]
    counts["pending"] = conn.execute("SELECT count(*) FROM proposals WHERE status = 'pending'").fetchone()[0]
    return counts


def withdrawn_count(conn: sqlite3.Connection, kind: str) -> int:
    """How many Key Events or pathways catalogue releases withdrew (kept for the mappings that cite them)."""
    table = {"key_events": "key_events", "pathways": "pathways"}[kind]
    return conn.execute(f"SELECT count(*) FROM {table} WHERE withdrawn_at IS NOT NULL").fetchone()[0]


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


def imports(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every catalogue import by id: the "catalogue version" a mapping stores is one of these ids."""
    return {row["id"]: dict(row) for row in conn.execute(
        "SELECT id, kind, source, sha256, imported_at FROM catalog_imports ORDER BY id")}


# --- the model the suggester and the embeddings build use ------------------------------------

@dataclass
class KeyEvent:
    ke_id: str
    title: str
    description: str = ""
    bio_level: str = ""
    aop_titles: list[str] = field(default_factory=list)
    event_components: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Pathway:
    wp_id: str
    title: str
    description: str = ""
    genes: list[str] = field(default_factory=list)


@dataclass
class Catalog:
    key_events: dict[str, KeyEvent]
    pathways: dict[str, Pathway]
    neighbours: dict[str, set[str]]


def _json(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return default


def key_event_from_row(row: Any) -> KeyEvent:
    """A KeyEvent from a key_events row (or the same columns as a dict: a release not yet imported)."""
    extra = _json(row["extra"], {})
    aops = extra.get("aops") if isinstance(extra, dict) else None
    components = extra.get("event_components") if isinstance(extra, dict) else None
    return KeyEvent(
        ke_id=row["ke_id"], title=row["title"], description=row["description"] or "",
        bio_level=row["bio_level"] or "",
        aop_titles=[a["aop_title"] for a in aops or [] if isinstance(a, dict) and a.get("aop_title")],
        event_components=[c for c in components or [] if isinstance(c, dict)])


def pathway_from_row(row: Any) -> Pathway:
    """A Pathway from a pathways row (or the same columns as a dict)."""
    genes = _json(row["genes"], [])
    return Pathway(row["wp_id"], row["title"], row["description"] or "", [g for g in genes if isinstance(g, str)])


def neighbour_map(pairs: Any) -> dict[str, set[str]]:
    """Each KE's direct neighbours (either direction) from (upstream, downstream) pairs."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    for upstream, downstream in pairs:
        neighbours[upstream].add(downstream)
        neighbours[downstream].add(upstream)
    return dict(neighbours)


def load_catalog(conn: sqlite3.Connection) -> Catalog:
    """Key Events, pathways and KE relationships as the suggester needs them (withdrawn items left out)."""
    key_events = {row["ke_id"]: key_event_from_row(row) for row in conn.execute(
        "SELECT ke_id, title, description, bio_level, extra FROM key_events WHERE withdrawn_at IS NULL")}
    pathways = {row["wp_id"]: pathway_from_row(row) for row in conn.execute(
        "SELECT wp_id, title, description, genes FROM pathways WHERE withdrawn_at IS NULL")}
    neighbours = neighbour_map(
        (row["upstream_ke_id"], row["downstream_ke_id"])
        for row in conn.execute("SELECT upstream_ke_id, downstream_ke_id FROM ke_relationships"))
    return Catalog(key_events, pathways, neighbours)
