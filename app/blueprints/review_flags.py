"""Admins clear the "needs re-review" flag a catalogue refresh put on an approved mapping (POST, CSRF)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from ..db import get_db
from ..services import mapping_flags
from ..services import mappings as svc
from .auth import admin_required

bp = Blueprint("review_flags", __name__)


@bp.post("/review/flags/<sqlite_int:flag_id>/clear")
@admin_required
def clear(flag_id: int):
    flag_row = get_db().execute("SELECT mapping_id FROM mapping_flags WHERE id = ?", (flag_id,)).fetchone()
    try:
        mapping_flags.clear(get_db(), flag_id, g.user.username, request.form.get("comment", ""))
    except svc.NotFound as exc:
        abort(404, str(exc))
    except svc.Conflict as exc:
        abort(409, str(exc))
    except svc.ValidationError as exc:
        abort(400, " ".join(exc.errors.values()))
    flash(f"Cleared re-review flag {flag_id}; the mapping's history records it.", "info")
    # Back where the admin pressed it: the mapping's page or the review queue (never a URL from the form).
    if request.form.get("back") == "mapping" and flag_row is not None:
        return redirect(url_for("mappings.detail", mapping_id=flag_row["mapping_id"]), code=303)
    return redirect(url_for("review.queue"), code=303)
