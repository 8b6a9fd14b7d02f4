"""Mapping proposals by curators (being built: see issue 2, part 3)."""

from flask import Blueprint, abort

bp = Blueprint("mappings", __name__)


@bp.get("/mappings")
def index():
    abort(501, "Mappings are not available yet.")


@bp.get("/mappings/propose")
def propose():
    abort(501, "Proposing mappings is not available yet.")
