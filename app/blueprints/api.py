"""Read-only public JSON API (being built: see issue 2, part 4)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
