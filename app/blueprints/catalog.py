"""Browse and search Key Events and pathways; a KE page shows ranked pathway suggestions."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, g, render_template, request

from ..db import get_db
from ..engine import get_engine
from ..services import catalog, ids, search
from ..services import mappings as mapping_reads
from .lookups import key_event_or_404, pathway_or_404
from .paging import page_arg

log = logging.getLogger(__name__)
bp = Blueprint("catalog", __name__)
PER_PAGE = 25


def show_withdrawn() -> bool:
    """`?withdrawn=1` lists the items catalogue releases withdrew too (hidden by default)."""
    raw = request.args.get("withdrawn", "")
    if raw not in ("", "0", "1"):
        abort(400, f"withdrawn={raw[:40]!r} is not allowed: use 1 to list withdrawn items too, or leave it out")
    return raw == "1"


@bp.get("/")
def index():
    return render_template("index.html", counts=catalog.overview_counts(get_db()))


@bp.get("/ke")
def key_events():
    q = request.args.get("q", "")
    level = search.bio_level(request.args.get("level"))
    if level is None:
        abort(400, search.unknown_bio_level("level", request.args["level"]))
    withdrawn = show_withdrawn()
    result = search.search(get_db(), "key_events", q, page=page_arg(), per_page=PER_PAGE,
                           filters={"bio_level": level}, include_withdrawn=withdrawn)
    levels = catalog.bio_levels(get_db())
    return render_template("ke_list.html", result=result, q=q, level=level, levels=levels, withdrawn=withdrawn,
                           withdrawn_total=catalog.withdrawn_count(get_db(), "key_events"))


@bp.get("/ke/<sqlite_int:number>")
def key_event(number: int):
    conn = get_db()
    ke = key_event_or_404(ids.ke_for(number))
    extra = json.loads(ke["extra"])
    upstream = catalog.neighbours(conn, ke["ke_id"], "upstream")
    downstream = catalog.neighbours(conn, ke["ke_id"], "downstream")
    mappings = mapping_reads.mappings_of_ke(conn, ke["ke_id"])
    # Pending proposals are for signed-in users (like the proposal pages they link to).
    pending = mapping_reads.pending_of_ke(conn, ke["ke_id"]) if g.user is not None else []
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
    withdrawn = show_withdrawn()
    result = search.search(get_db(), "pathways", q, page=page_arg(), per_page=PER_PAGE, include_withdrawn=withdrawn)
    return render_template("pathway_list.html", result=result, q=q, withdrawn=withdrawn,
                           withdrawn_total=catalog.withdrawn_count(get_db(), "pathways"))


@bp.get("/pathways/WP<sqlite_int:number>")
def pathway(number: int):
    conn = get_db()
    wp = pathway_or_404(ids.wp_for(number))
    mappings = mapping_reads.mappings_of_pathway(conn, wp["wp_id"])
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
