"""Downloads of the approved mappings: CSV, JSON, RDF/Turtle and GMT gene sets per Key Event."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, Response, abort, current_app, render_template, request

from ..db import get_db
from ..services import catalog, confidence, exports
from .api import public_url

log = logging.getLogger(__name__)
bp = Blueprint("exports", __name__)

# format -> (file stem, extension, Content-Type, what it is)
FORMATS: dict[str, tuple[str, str, str, str]] = {
    "csv": ("mappings", "csv", "text/csv; charset=utf-8",
            "One row per mapping with the assessment, rationale and provenance; opens in a spreadsheet."),
    "json": ("mappings", "json", "application/json",
             "The same records as a JSON document, with the filter and the time it was made."),
    "ttl": ("mappings", "ttl", "text/turtle; charset=utf-8",
            "RDF/Turtle in SSSOM's RDF form: identifiers.org IRIs for KEs and pathways, "
            "skos:relatedMatch links, each annotated by an owl:Axiom with the SSSOM provenance."),
    "gmt": ("ke-gene-sets", "gmt", "text/plain; charset=utf-8",
            "GMT gene sets for enrichment tools: one set per Key Event, the union of the genes "
            "of its mapped pathways."),
}


def _min_confidence() -> str | None:
    try:
        return exports.parse_confidence(request.args.get("min_confidence"))
    except exports.InvalidParameter as exc:
        abort(400, str(exc))


@bp.get("/export")
def index():
    min_confidence = _min_confidence()
    counts = exports.confidence_counts(get_db())
    selected = sum(counts[level] for level in exports.levels_at_least(min_confidence))
    return render_template("exports/index.html", formats=FORMATS, counts=counts, selected=selected,
                           levels=confidence.LEVELS_BEST_FIRST, min_confidence=min_confidence or "")


def _download(fmt: str, body: str, min_confidence: str | None) -> Response:
    stem, extension, content_type, _ = FORMATS[fmt]
    response = Response(body, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{exports.download_name(stem, extension, min_confidence)}"')
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/export/mappings.<any(csv, json, ttl):fmt>")
def mappings(fmt: str):
    min_confidence = _min_confidence()
    rows = exports.fetch_mappings(get_db(), exports.MappingFilter(min_confidence=min_confidence))
    now = datetime.now(UTC)
    if fmt == "csv":
        body = exports.to_csv(rows)
    elif fmt == "json":
        body = exports.to_json(rows, min_confidence, now)
    else:
        # Each mapping's IRI is its API URL: /api/v1/mappings/<id> answers with the record.
        body = exports.to_turtle(rows, now, site=current_app.config["PUBLIC_URL"],
                                 mapping_base=public_url("api.mappings") + "/",
                                 imports=catalog.imports(get_db()), min_confidence=min_confidence)
    log.info("export %s: %d mappings (min_confidence=%s)", fmt, len(rows), min_confidence)
    return _download(fmt, body, min_confidence)


@bp.get("/export/ke-gene-sets.gmt")
def gene_sets():
    min_confidence = _min_confidence()
    sets = exports.gene_sets(get_db(), min_confidence)
    log.info("export gmt: %d gene sets (min_confidence=%s)", len(sets), min_confidence)
    return _download("gmt", exports.to_gmt(sets), min_confidence)
