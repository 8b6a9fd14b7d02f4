"""Exports of approved mappings (being built: see issue 2, part 4)."""

from flask import Blueprint, abort

bp = Blueprint("exports", __name__)


@bp.get("/export")
def index():
    abort(501, "Exports are not available yet.")
