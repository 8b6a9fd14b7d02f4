"""Curation statistics (/stats). Approved mappings are public; proposals and their outcomes (pending,
rejected, withdrawn, reviews) are shown to signed-in users only, as everywhere else."""

from __future__ import annotations

from flask import Blueprint, g, render_template

from ..db import get_db
from ..services import stats

bp = Blueprint("stats", __name__)


@bp.get("/stats")
def index():
    conn = get_db()
    signed_in = g.user is not None
    people = stats.contributions(conn)
    if not signed_in:
        people = [p for p in people if p.mappings]
    points = stats.mappings_over_time(conn)
    return render_template(
        "stats.html", signed_in=signed_in, by_confidence=stats.mappings_by_confidence(conn),
        proposals=stats.proposals_by_state(conn) if signed_in else None, levels=stats.LEVELS,
        people=people, coverage=stats.coverage_by_level(conn), points=points, chart=stats.bar_chart(points))
