"""Browse and search Key Events and pathways; a KE page shows ranked pathway suggestions."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, g, render_template, request

from ..db import get_db
from ..engine import get_engine
from ..services import ids, search
from .paging import page_arg

log = logging.getLogger(__name__)
bp = Blueprint("catalog", __name__)
PER_PAGE = 25


@bp.get("/")
def index():
    conn = get_db()
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("key_events", "pathways", "mappings")}
    counts["pending"] = conn.execute("SELECT count(*) FROM proposals WHERE status = 'pending'").fetchone()[0]
    return render_template("index.html", counts=counts)


@bp.get("/ke")
def key_events():
    q = request.args.get("q", "")
    level = search.bio_level(request.args.get("level"))
    if level is None:
        abort(400, search.unknown_bio_level("level", request.args["level"]))
    result = search.search(get_db(), "key_events", q, page=page_arg(), per_page=PER_PAGE,
                           filters={"bio_level": level})
    levels = [r[0] for r in get_db().execute(
        "SELECT DISTINCT bio_level FROM key_events WHERE bio_level IS NOT NULL ORDER BY 1")]
    return render_template("ke_list.html", result=result, q=q, level=level, levels=levels)


def _ke_or_404(number: int):
    row = get_db().execute("SELECT * FROM key_events WHERE ke_id = ?", (ids.ke_for(number),)).fetchone()
    if row is None:
        abort(404, f"There is no Key Event {ids.ke_for(number)} in the catalogue.")
    return row


@bp.get("/ke/<sqlite_int:number>")
def key_event(number: int):
    conn = get_db()
    ke = _ke_or_404(number)
    extra = json.loads(ke["extra"])
    upstream = conn.execute(
        "SELECT k.ke_id, k.title FROM ke_relationships r JOIN key_events k ON k.ke_id = r.upstream_ke_id "
        "WHERE r.downstream_ke_id = ? ORDER BY k.title", (ke["ke_id"],)).fetchall()
    downstream = conn.execute(
        "SELECT k.ke_id, k.title FROM ke_relationships r JOIN key_events k ON k.ke_id = r.downstream_ke_id "
        "WHERE r.upstream_ke_id = ? ORDER BY k.title", (ke["ke_id"],)).fetchall()
    mappings = conn.execute(
        "SELECT m.*, p.title AS wp_title FROM mappings m JOIN pathways p USING (wp_id) WHERE m.ke_id = ? "
        "ORDER BY m.confidence, p.title", (ke["ke_id"],)).fetchall()
    # Pending proposals are for signed-in users (like the proposal pages they link to).
    pending = conn.execute(
        "SELECT pr.*, p.title AS wp_title FROM proposals pr JOIN pathways p USING (wp_id) "
        "WHERE pr.ke_id = ? AND pr.status = 'pending' ORDER BY pr.proposed_at", (ke["ke_id"],)).fetchall() \
        if g.user is not None else []
    engine = get_engine()
    status = engine.status()
    suggestions, notice = [], None
    if status["ready"]:
        try:
            suggestions = engine.suggest_for_ke(ke["ke_id"], k=10)
        except LookupError as exc:  # e.g. a KE imported after the embeddings were built
            notice = f"Suggestions are unavailable for this Key Event: {exc}"
    else:
        notice = f"Suggestions are unavailable: {status.get('embeddings')}"
    mapped = {m["wp_id"] for m in mappings} | {p["wp_id"] for p in pending}
    return render_template("ke_detail.html", ke=ke, extra=extra, upstream=upstream, downstream=downstream,
                           mappings=mappings, pending=pending, suggestions=suggestions, mapped=mapped,
                           notice=notice)


@bp.get("/pathways")
def pathways():
    q = request.args.get("q", "")
    result = search.search(get_db(), "pathways", q, page=page_arg(), per_page=PER_PAGE)
    return render_template("pathway_list.html", result=result, q=q)


@bp.get("/pathways/WP<sqlite_int:number>")
def pathway(number: int):
    conn = get_db()
    wp = conn.execute("SELECT * FROM pathways WHERE wp_id = ?", (ids.wp_for(number),)).fetchone()
    if wp is None:
        abort(404, f"There is no pathway {ids.wp_for(number)} in the catalogue.")
    mappings = conn.execute(
        "SELECT m.*, k.title AS ke_title FROM mappings m JOIN key_events k USING (ke_id) WHERE m.wp_id = ? "
        "ORDER BY k.title", (wp["wp_id"],)).fetchall()
    return render_template("pathway_detail.html", wp=wp, genes=json.loads(wp["genes"]),
                           extra=json.loads(wp["extra"]), mappings=mappings)


@bp.get("/suggest")
def suggest_text():
    """Pathways for free text a curator types, encoded with the preloaded model."""
    text = request.args.get("text", "").strip()
    if len(text) > 2000:
        abort(400, "The text is longer than 2000 characters; shorten it.")
    engine = get_engine()
    results, notice = [], None
    if text:
        status = engine.status()
        if status["ready"] and status.get("model") == "loaded":
            results = engine.suggest_for_text(text, k=10)
        else:
            notice = f"Free-text suggestions are unavailable: model {status.get('model')}"
    return render_template("suggest.html", text=text, results=results, notice=notice)
