"""Admin review of proposals (being built: see issue 2, part 3)."""

from flask import Blueprint, abort

bp = Blueprint("review", __name__)


@bp.get("/review")
def queue():
    abort(501, "Review is not available yet.")
