"""Health endpoints for Docker, systemd and nginx: /healthz (alive) and /readyz (can serve)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify

from .. import db
from ..engine import get_engine

bp = Blueprint("ops", __name__)
# A write that failed for space keeps /readyz at "not writable" this long, even if space came back.
DISK_FULL_MEMORY_SECONDS = 60


@bp.get("/healthz")
def healthz():
    return jsonify(status="alive", version=current_app.config["VERSION"], pid=os.getpid())


def _database_check() -> tuple[bool, str]:
    try:
        conn = db.get_db()
        version = db.schema_version(conn)
        expected = db.schema_version_expected()
        if version < expected:
            return False, f"schema version {version}, expected {expected}: restart to migrate"
        db.check_write_lock(conn)
        # Newer: a blue/green release's new version migrated (expand only, docs/operations.md), and
        # this one keeps serving until it is drained.
        return True, f"schema {version}" + (f" (newer than this version's {expected})" if version > expected else "")
    except Exception as exc:  # noqa: BLE001 (any failure means not ready; say which)
        return False, f"error: {exc}"


def _disk_check() -> dict[str, object]:
    """Free space on the data directory, and whether a write can be expected to succeed.

    A full disk leaves the app able to serve reads, so it does not make /readyz fail (a restart
    would not help); it says "writable": false, and the health watch alerts on that.
    """
    database = current_app.config["DATABASE"]
    free = db.free_space(database)
    minimum = current_app.config["MIN_FREE_BYTES"]
    failed_at = db.last_disk_full(database)
    recent_failure = failed_at is not None and time.time() - failed_at < DISK_FULL_MEMORY_SECONDS
    writable = free >= minimum and not recent_failure
    if writable:
        status = f"{_mib(free)} free"
    elif recent_failure and free >= minimum:
        status = f"a write failed for lack of space {time.time() - (failed_at or 0):.0f} s ago; {_mib(free)} free now"
    else:
        status = f"only {_mib(free)} free, below KEWP_MIN_FREE_MB={minimum // 2**20}: writes fail; free space"
    return {"writable": writable, "free_bytes": free, "min_free_bytes": minimum, "status": status,
            "path": str(Path(database).parent)}


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


@bp.get("/readyz")
def readyz():
    db_ok, db_status = _database_check()
    disk = _disk_check()
    engine_status = get_engine().status()
    ready = db_ok and engine_status["ready"]
    if db_ok:
        db_status = ("writable, " if disk["writable"] else "NOT WRITABLE (disk full), ") + db_status
    body = {**engine_status, "ready": ready, "writable": db_ok and disk["writable"], "database": db_status,
            "disk": disk, "version": current_app.config["VERSION"]}
    return jsonify(body), 200 if ready else 503
