"""The Key Event or pathway a URL names, or the 404 that says which is missing: pages and API alike."""

from __future__ import annotations

import sqlite3

from flask import abort

from ..db import get_db
from ..services import catalog


def key_event_or_404(ke_id: str) -> sqlite3.Row:
    return _found(catalog.key_event(get_db(), ke_id), f"There is no Key Event {ke_id} in the catalogue.")


def pathway_or_404(wp_id: str) -> sqlite3.Row:
    return _found(catalog.pathway(get_db(), wp_id), f"There is no pathway {wp_id} in the catalogue.")


def _found(row: sqlite3.Row | None, message: str) -> sqlite3.Row:
    if row is None:
        abort(404, message)
    return row
