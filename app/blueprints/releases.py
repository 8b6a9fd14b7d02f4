"""The public /releases page, and the admin-only form that makes a release (POST, CSRF)."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from ..db import get_db
from ..services import exports, releases
from .api import release_record, releases_root
from .auth import admin_required

log = logging.getLogger(__name__)
bp = Blueprint("releases", __name__)


@bp.get("/releases")
def index():
    found = [release_record(r) for r in releases.list_releases(get_db())]
    return render_template("releases/index.html", releases=found)


def _form(problem: str | None = None, note: str = "", status: int = 200):
    conn = get_db()
    latest = next(iter(releases.list_releases(conn)), None)
    return render_template("releases/new.html", counts=exports.confidence_counts(conn), latest=latest,
                           problem=problem, note=note, note_max=releases.NOTE_MAX), status


@bp.get("/releases/new")
@admin_required
def new():
    return _form()


@bp.post("/releases/new")
@admin_required
def create():
    note = request.form.get("note", "")
    try:
        release = releases.create_release(get_db(), releases_root(), created_by=g.user.username, note=note,
                                          site=current_app.config["PUBLIC_URL"])
    except releases.ReleaseError as exc:
        return _form(problem=str(exc), note=note[:releases.NOTE_MAX], status=400)
    flash(f"Made release {release.number}: {release.mappings} mappings ({release.added} added, "
          f"{release.changed} changed, {release.removed} removed).", "info")
    return redirect(url_for(".index", _anchor=f"release-{release.number}"), code=303)
