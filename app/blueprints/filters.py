"""The filter query arguments the listings share (KE, pathway, confidence, curator), read and checked.

A bad value is a 400 naming the value and what is allowed; nothing is guessed.
"""

from __future__ import annotations

import sqlite3

from flask import abort, request

from ..services import confidence
from ..services import mappings as svc


def id_filters(conn: sqlite3.Connection) -> tuple[str, str, str | None, str | None]:
    """The `ke` and `wp` filters as typed and as normalized ids; 400 for an id that is not in the catalogue."""
    ke_arg, wp_arg = request.args.get("ke", "").strip()[:100], request.args.get("wp", "").strip()[:100]
    ke_id = wp_id = None
    if ke_arg:
        ke_id, error = svc.clean_ke_id(conn, ke_arg)
        if error:
            abort(400, error)
    if wp_arg:
        wp_id, error = svc.clean_wp_id(conn, wp_arg)
        if error:
            abort(400, error)
    return ke_arg, wp_arg, ke_id, wp_id


def confidence_filter(*, allow_none: bool = False) -> str:
    level = request.args.get("confidence", "").strip().lower()
    allowed = (*confidence.LEVELS, "none") if allow_none else confidence.LEVELS
    if level and level not in allowed:
        abort(400, f"confidence must be one of {', '.join(allowed)}, not {level[:20]!r}")
    return level


def curator_filter() -> str:
    curator = request.args.get("curator", "").strip()
    if len(curator) > 100:
        abort(400, "curator is a user name of at most 100 characters")
    return curator
