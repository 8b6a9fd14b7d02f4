"""Health endpoints for Docker, systemd and nginx: /healthz (alive) and /readyz (can serve)."""

from __future__ import annotations

import os

from flask import Blueprint, current_app, jsonify

from .. import db
from ..engine import get_engine

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="alive", version=current_app.config["VERSION"], pid=os.getpid())


def _database_check() -> tuple[bool, str]:
    try:
        conn = db.get_db()
        version = db.schema_version(conn)
        expected = db.schema_version_expected()
        if version != expected:
            return False, f"schema version {version}, expected {expected}: restart to migrate"
        # Taking the write lock (then releasing it) fails on a read-only file, -wal or directory.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True, f"writable, schema {version}"
    except Exception as exc:  # noqa: BLE001 (any failure means not ready; say which)
        return False, f"error: {exc}"


@bp.get("/readyz")
def readyz():
    db_ok, db_status = _database_check()
    engine_status = get_engine().status()
    ready = db_ok and engine_status["ready"]
    body = {**engine_status, "ready": ready, "database": db_status, "version": current_app.config["VERSION"]}
    return jsonify(body), 200 if ready else 503
