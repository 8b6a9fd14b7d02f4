"""Catalogue search: exact id, then FTS5 (bm25, title weighted over description), then substring."""

from __future__ import annotations

import re
import sqlite3

from . import ids
from .paging import Page

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY = 200
# AOP-Wiki's levels of biological organisation, the values of key_events.bio_level.
BIO_LEVELS = ("Molecular", "Cellular", "Tissue", "Organ", "Individual", "Population")


def bio_level(value: str | None) -> str | None:
    """'' for no filter, the canonical level for any letter case ('cellular' -> 'Cellular'), None if unknown."""
    text = (value or "").strip()
    if not text:
        return ""
    return next((level for level in BIO_LEVELS if level.lower() == text.lower()), None)


def unknown_bio_level(parameter: str, value: str) -> str:
    return f"{parameter}={value[:40]!r} is not a biological level; use one of {', '.join(BIO_LEVELS)}"


def fts_query(text: str) -> str:
    """Each word as a quoted prefix term, ANDed: user input can never be FTS5 syntax."""
    words = WORD.findall(text[:MAX_QUERY])
    return " ".join(f'"{w}"*' for w in words)


SPECS = {
    # table, key column, fts table, bm25 weights (title, description[, genes]), id prefix
    "key_events": ("key_events", "ke_id", "key_events_fts", "10.0, 1.0", "KE"),
    "pathways": ("pathways", "wp_id", "pathways_fts", "10.0, 1.0, 3.0", "WP"),
}


def search(conn: sqlite3.Connection, kind: str, text: str = "", *, page: int = 1, per_page: int = 25,
           filters: dict[str, str] | None = None, include_withdrawn: bool = False) -> Page:
    """One page of a catalogue kind. Items a catalogue release withdrew are left out unless asked for,
    except an exact id match: someone who types a withdrawn KE's id is looking for it."""
    table, key, fts, weights, id_prefix = SPECS[kind]
    page = max(1, page)
    # Column names come from the code, values are bound: no user text is ever spliced into SQL.
    params = {f"f_{column}": value for column, value in (filters or {}).items() if value}
    where = [f"t.{name[2:]} = :{name}" for name in params]
    current_only = not include_withdrawn
    text = (text or "").strip()[:MAX_QUERY]
    offset = (page - 1) * per_page

    if not text:
        conditions = where + (["t.withdrawn_at IS NULL"] if current_only else [])
        clause = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        total = conn.execute(f"SELECT count(*) FROM {table} t {clause}", params).fetchone()[0]
        order = ids.sql_number(f"t.{key}", ids.KE_PREFIX if kind == "key_events" else ids.WP_PREFIX)
        rows = conn.execute(f"SELECT t.* FROM {table} t {clause} ORDER BY {order} LIMIT :limit OFFSET :offset",
                            {**params, "limit": per_page, "offset": offset}).fetchall()
        return Page(rows, total, page, per_page)

    # 'KE 55', 'ke 55', 'KE-55' and '55' all put KE 55 first.
    exact_id = ids.search_id(id_prefix, text)
    match = fts_query(text)
    conditions = where + (["(t.withdrawn_at IS NULL OR best.tier = 0)"] if current_only else [])
    extra = f"AND {' AND '.join(conditions)}" if conditions else ""
    # Rank 0: exact id; 1: FTS hit (ordered by bm25); 2: substring hit the tokenizer missed.
    sql = f"""
        WITH hits AS (
            SELECT t.rowid AS rid, 0 AS tier, 0.0 AS score FROM {table} t WHERE t.{key} = :exact
            UNION ALL
            SELECT f.rowid, 1, bm25({fts}, {weights}) FROM {fts} f WHERE :match != '' AND {fts} MATCH :match
            UNION ALL
            SELECT t.rowid, 2, 0.0 FROM {table} t WHERE instr(lower(t.title), lower(:text)) > 0
        ), best AS (
            SELECT rid, min(tier) AS tier, min(score) AS score FROM hits GROUP BY rid
        )
        SELECT t.*, best.tier AS tier FROM best JOIN {table} t ON t.rowid = best.rid
        WHERE 1 = 1 {extra}
        ORDER BY best.tier, best.score, t.{key}
    """
    rows = conn.execute(sql, {**params, "exact": exact_id, "match": match, "text": text}).fetchall()
    return Page(rows[offset:offset + per_page], len(rows), page, per_page)
