"""Read-only public JSON API under /api/v1: Key Events, pathways, suggestions, approved mappings,
releases and AOP coverage.

Errors are JSON `{"error": {"status", "message"}}` (app/errors.py); a bad parameter is a 400
whose message names the parameter and the allowed values; an unknown parameter is refused so
a typo never silently drops a filter. Lists are paginated (`page`, `per_page`) with the totals
in the body, an RFC 8288 `Link` header, and CSV instead of JSON for `Accept: text/csv`.
Ids in paths are accepted as `KE55`, `55` or `KE 55` (and `WP254` or `254`, `AOP3` or `3`).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file, url_for

from ..db import get_db
from ..engine import get_engine
from ..errors import error_response
from ..services import aops, catalog, exports, ids, openapi, releases, search
from ..services.exports import InvalidParameter
from .lookups import key_event_or_404, pathway_or_404

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix=releases.API_PREFIX)

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
WHOLE_NUMBER = re.compile(r"^[0-9]{1,9}$")
KE_CSV_FIELDS = ("ke_id", "title", "bio_level", "aop_ids", "withdrawn_at", "url")
WP_CSV_FIELDS = ("wp_id", "title", "organism", "gene_count", "withdrawn_at", "url")
MAPPING_CSV_FIELDS = (*exports.MAPPING_FIELDS, "url")
AOP_CSV_FIELDS = ("aop_id", "title", "ke_count", "approved_ke_count", "pending_ke_count", "unmapped_ke_count",
                  "url")
PAGING = ("page", "per_page")
RELEASE_CSV_FIELDS = ("number", "created_at", "created_by", "note", "mappings", "added", "changed", "removed",
                      "manifest_sha256", "url")
# A file name in a release: one path segment, no leading dot-dot (release.json lists the real ones).
FILE_NAME = re.compile(r"^(?!\.\.)[A-Za-z0-9._-]{1,100}$")

View = TypeVar("View", bound=Callable[..., Any])


@bp.errorhandler(InvalidParameter)
def invalid_parameter(exc: InvalidParameter):
    return error_response(400, str(exc))


@bp.after_request
def public_headers(response: Response) -> Response:
    # Public, read-only, no credentials: any web page may read it.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Accept")
    return response


# --- parameters ---------------------------------------------------------------------------

def params(*allowed: str) -> Callable[[View], View]:
    """Refuse query parameters the view does not take, and parameters given twice."""
    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for name in request.args:
                if name not in allowed:
                    takes = ", ".join(allowed) if allowed else "no query parameters"
                    raise InvalidParameter(name, f"unknown query parameter {name[:40]!r}; this endpoint takes {takes}")
                if len(request.args.getlist(name)) > 1:
                    raise InvalidParameter(name, f"{name} is given more than once; give it once")
            return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


def int_param(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    value = int(raw) if WHOLE_NUMBER.match(raw) else None
    if value is None or not minimum <= value <= maximum:
        raise InvalidParameter(name, f"{name}={raw[:40]!r} is not allowed; "
                                     f"use a whole number from {minimum} to {maximum}")
    return value


def text_param(name: str, limit: int, required: bool = False) -> str:
    value = request.args.get(name, "").strip()
    if required and not value:
        raise InvalidParameter(name, f"{name} is required")
    if len(value) > limit:
        raise InvalidParameter(name, f"{name} is {len(value)} characters long; the limit is {limit}")
    return value


def paging() -> tuple[int, int]:
    return (int_param("page", 1, 1, openapi.PAGE_MAX),
            int_param("per_page", openapi.PER_PAGE_DEFAULT, 1, openapi.PER_PAGE_MAX))


def wants_csv() -> bool:
    """Content negotiation for lists: JSON unless the client prefers text/csv."""
    if not request.accept_mimetypes:
        return False
    best = request.accept_mimetypes.best_match([JSON_TYPE, CSV_TYPE])
    if best is None:
        abort(406, f"Accept: {request.headers.get('Accept', '')[:80]!r} allows neither {JSON_TYPE} "
                   f"nor {CSV_TYPE}; send one of them")
    return best == CSV_TYPE


# --- representations ----------------------------------------------------------------------

def public_url(endpoint: str, **values: Any) -> str:
    """An absolute link on KEWP_PUBLIC_URL; never the request's Host header, which a client chooses."""
    return current_app.config["PUBLIC_URL"] + url_for(endpoint, **values)


def ke_url(ke_id: str) -> str:
    return public_url("api.key_event", ke_id=ids.ke_path(ke_id))


def wp_url(wp_id: str) -> str:
    return public_url("api.pathway", wp_id=wp_id)


def mapping_url(mapping_id: int) -> str:
    return public_url("api.mapping", mapping_id=mapping_id)


def ke_summary(row: sqlite3.Row) -> dict[str, Any]:
    return {"ke_id": row["ke_id"], "title": row["title"], "bio_level": row["bio_level"],
            "aop_ids": json.loads(row["aop_ids"]), "withdrawn_at": row["withdrawn_at"], "url": ke_url(row["ke_id"])}


def wp_summary(row: sqlite3.Row) -> dict[str, Any]:
    return {"wp_id": row["wp_id"], "title": row["title"], "organism": row["organism"],
            "gene_count": len(json.loads(row["genes"])), "withdrawn_at": row["withdrawn_at"],
            "url": wp_url(row["wp_id"])}


def mapping_record(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "url": mapping_url(record["id"])}


def releases_root():
    return releases.root_for(current_app.config["DATABASE"])


def release_record(release: releases.Release) -> dict[str, Any]:
    """A release with each of its files (size, sha256, download URL); a 503 when its files cannot be read."""
    try:
        found = releases.files(releases_root(), release)
    except (releases.ReleaseError, OSError) as exc:
        log.error("release %d: %s", release.number, exc)
        abort(503, f"The files of release {release.number} cannot be read right now; the operators "
                   "have been alerted (the log says why).")
    files = [{**entry, "url": public_url("api.release_file", number=release.number, name=entry["name"])}
             for entry in found]
    return {"number": release.number, "created_at": release.created_at, "created_by": release.created_by,
            "note": release.note, "mappings": release.mappings, "added": release.added,
            "changed": release.changed, "removed": release.removed, "manifest_sha256": release.manifest_sha256,
            "url": public_url("api.release", number=release.number), "files": files}


def release_or_404(number: str) -> releases.Release:
    value = ids.row_id(number)
    if value is None:
        raise InvalidParameter("number", f"number={number[:40]!r} is not allowed; use the release's number "
                                         "(ASCII digits), e.g. /api/v1/releases/1")
    release = releases.get_release(get_db(), value)
    if release is None:
        abort(404, f"There is no release {value}.")
    return release


def _score(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def suggestion_record(suggestion: Any) -> dict[str, Any]:
    record = {"wp_id": suggestion.wp_id, "title": suggestion.title, "score": _score(suggestion.score),
              "text_score": _score(getattr(suggestion, "text_score", None)),
              "reasons": [str(r) for r in suggestion.reasons], "url": wp_url(suggestion.wp_id)}
    # Further signals when the engine reports them (gene and GO overlap, approvals of similar KEs).
    for name in ("gene_score", "go_score", "approved_score"):
        if getattr(suggestion, name, None) is not None:
            record[name] = _score(getattr(suggestion, name))
    if getattr(suggestion, "shared_genes", None) is not None:
        record["shared_genes"] = [str(g) for g in suggestion.shared_genes]
    if getattr(suggestion, "similar_kes", None) is not None:
        record["similar_kes"] = [str(k) for k in suggestion.similar_kes]
    return record


def page_url(page: int) -> str:
    args = {**request.args.to_dict(), "page": page}
    return public_url(request.endpoint or "api.index", **(request.view_args or {}), **args)


def listing(items: list[dict[str, Any]], total: int, page: int, per_page: int, *,
            csv_fields: Sequence[str], as_csv: bool) -> Response:
    """One page of items as JSON (with totals and links) or CSV, plus Link and X-Total-Count headers."""
    pages = max(1, -(-total // per_page))
    links = {"self": page_url(page), "first": page_url(1)}
    if page > 1:
        links["prev"] = page_url(min(page - 1, pages))
    if page < pages:
        links["next"] = page_url(page + 1)
    links["last"] = page_url(pages)
    if as_csv:
        response = Response(exports.to_csv(items, csv_fields), content_type=f"{CSV_TYPE}; charset=utf-8")
    else:
        response = jsonify(items=items, total=total, page=page, per_page=per_page, pages=pages, links=links)
    response.headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if rel != "self")
    response.headers["X-Total-Count"] = str(total)
    return response


def engine_unavailable(status: dict[str, Any], what: str, reason: str | None = None) -> tuple[Response, int]:
    message = f"{what} are not available right now: " + (
        reason or f"model {status.get('model')}, embeddings {status.get('embeddings')}")
    return jsonify(error={"status": 503, "message": message, "engine": status}), 503


def bool_param(name: str) -> bool:
    """A true/false query parameter (any letter case; absent is false)."""
    raw = request.args.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise InvalidParameter(name, f"{name}={raw[:40]!r} is not allowed; use true or false")
    return raw == "true"


def search_listing(kind: str, summary: Callable[[sqlite3.Row], dict[str, Any]], csv_fields: Sequence[str],
                   filters: Callable[[], dict[str, str]]) -> Response:
    """A catalogue list: `q`, paging and the Accept header are checked first, then the view's filters."""
    q = text_param("q", openapi.Q_MAX)
    page, per_page = paging()
    as_csv = wants_csv()
    include_withdrawn = bool_param("include_withdrawn")
    result = search.search(get_db(), kind, q, page=page, per_page=per_page, filters=filters(),
                           include_withdrawn=include_withdrawn)
    return listing([summary(r) for r in result.rows], result.total, page, per_page,
                   csv_fields=csv_fields, as_csv=as_csv)


def catalogue_item(row: sqlite3.Row, summary: Callable[[sqlite3.Row], dict[str, Any]], *,
                   mappings: exports.MappingFilter, mappings_url: str, **fields: Any) -> Response:
    """A Key Event or pathway: its summary, description and own fields, then its approved mappings."""
    return jsonify({**summary(row), "description": row["description"], **fields,
                    "mapping_count": exports.count_mappings(get_db(), mappings), "mappings_url": mappings_url,
                    "updated_at": row["updated_at"]})


def suggestions_or_503(what: str, usable: Callable[[dict[str, Any]], bool], run: Callable[[Any], list[Any]],
                **echo: Any) -> Response | tuple[Response, int]:
    """The engine's suggestions as JSON, or a 503 saying why there are none (`what` names them)."""
    engine = get_engine()
    status = engine.status()
    if not usable(status):
        return engine_unavailable(status, what)
    try:
        results = run(engine)
    except LookupError as exc:  # e.g. a KE imported after the embeddings were built
        return engine_unavailable(status, what, str(exc))
    return jsonify(**echo, items=[suggestion_record(s) for s in results])


# --- routes -------------------------------------------------------------------------------

@bp.get("/")
@params()
def index():
    return jsonify(
        name="kewp", version=current_app.config["VERSION"],
        openapi=public_url("api.openapi"),
        resources={"key_events": public_url("api.key_events"),
                   "pathways": public_url("api.pathways"),
                   "mappings": public_url("api.mappings"),
                   "aops": public_url("api.aops"),
                   "releases": public_url("api.releases"),
                   "suggestions": public_url("api.suggest_text")})


@bp.get("/openapi.json", endpoint="openapi")
@params()
def openapi_description():
    return jsonify(openapi.describe(current_app.config["VERSION"], current_app.config["PUBLIC_URL"]))


@bp.get("/key-events")
@params("q", "bio_level", "include_withdrawn", *PAGING)
def key_events():
    def filters() -> dict[str, str]:
        level = search.bio_level(request.args.get("bio_level"))
        if level is None:
            raise InvalidParameter("bio_level", search.unknown_bio_level("bio_level", request.args["bio_level"]))
        return {"bio_level": level}
    return search_listing("key_events", ke_summary, KE_CSV_FIELDS, filters)


@bp.get("/key-events/<ke_id>")
@params()
def key_event(ke_id: str):
    row = key_event_or_404(exports.parse_ke_id(ke_id, "ke_id"))
    ke_id = row["ke_id"]
    number = ids.id_number(ke_id)
    return catalogue_item(
        row, ke_summary, mappings=exports.MappingFilter(ke_id=ke_id),
        mappings_url=public_url("api.mappings", ke=ids.ke_path(ke_id)),
        iri=f"{exports.KE_IRI}{number}", aopwiki_url=exports.AOPWIKI_URL.format(number),
        upstream_ke_ids=catalog.neighbour_ids(get_db(), ke_id, "upstream"),
        downstream_ke_ids=catalog.neighbour_ids(get_db(), ke_id, "downstream"),
        suggestions_url=public_url("api.ke_suggestions", ke_id=ids.ke_path(ke_id)))


@bp.get("/key-events/<ke_id>/suggestions")
@params("k")
def ke_suggestions(ke_id: str):
    k = int_param("k", openapi.K_DEFAULT, 1, openapi.K_MAX)
    row = key_event_or_404(exports.parse_ke_id(ke_id, "ke_id"))
    return suggestions_or_503("Suggestions", lambda status: bool(status.get("ready")),
                       lambda engine: engine.suggest_for_ke(row["ke_id"], k=k), ke_id=row["ke_id"], k=k)


@bp.get("/suggestions")
@params("text", "k")
def suggest_text():
    text = text_param("text", openapi.TEXT_MAX, required=True)
    k = int_param("k", openapi.K_DEFAULT, 1, openapi.K_MAX)
    return suggestions_or_503("Free-text suggestions",
                       lambda status: bool(status.get("ready") and status.get("model") == "loaded"),
                       lambda engine: engine.suggest_for_text(text, k=k), text=text, k=k)


@bp.get("/pathways")
@params("q", "organism", "include_withdrawn", *PAGING)
def pathways():
    return search_listing("pathways", wp_summary, WP_CSV_FIELDS,
                          lambda: {"organism": request.args.get("organism", "")})


@bp.get("/pathways/<wp_id>")
@params()
def pathway(wp_id: str):
    row = pathway_or_404(exports.parse_wp_id(wp_id, "wp_id"))
    wp_id = row["wp_id"]
    return catalogue_item(
        row, wp_summary, mappings=exports.MappingFilter(wp_id=wp_id),
        mappings_url=public_url("api.mappings", pathway=wp_id),
        genes=json.loads(row["genes"]), iri=f"{exports.WP_IRI}{wp_id}",
        wikipathways_url=exports.WIKIPATHWAYS_URL.format(wp_id))


@bp.get("/mappings")
@params("ke", "pathway", "confidence", "min_confidence", *PAGING)
def mappings():
    ke = request.args.get("ke", "").strip()
    wp = request.args.get("pathway", "").strip()
    filters = exports.MappingFilter(
        ke_id=exports.parse_ke_id(ke, "ke") if ke else None,
        wp_id=exports.parse_wp_id(wp, "pathway") if wp else None,
        confidence=exports.parse_confidence(request.args.get("confidence"), "confidence"),
        min_confidence=exports.parse_confidence(request.args.get("min_confidence"), "min_confidence"),
    )
    page, per_page = paging()
    as_csv = wants_csv()
    conn = get_db()
    total = exports.count_mappings(conn, filters)
    rows = exports.fetch_mappings(conn, filters, limit=per_page, offset=(page - 1) * per_page)
    return listing([mapping_record(r) for r in rows], total, page, per_page,
                   csv_fields=MAPPING_CSV_FIELDS, as_csv=as_csv)


@bp.get("/mappings/<mapping_id>")
@params()
def mapping(mapping_id: str):
    number = ids.row_id(mapping_id)
    if number is None:
        raise InvalidParameter("mapping_id", f"mapping_id={mapping_id[:40]!r} is not allowed; use the mapping's "
                                             f"number (ASCII digits, at most {ids.SQLITE_INT_MAX}), "
                                             "e.g. /api/v1/mappings/12")
    record = exports.get_mapping(get_db(), number)
    if record is None:
        abort(404, f"There is no approved mapping {number}.")
    return jsonify(mapping_record(record))


@bp.get("/releases", endpoint="releases")
@params(*PAGING)
def releases_list():
    page, per_page = paging()
    as_csv = wants_csv()
    found = releases.list_releases(get_db())
    shown = found[(page - 1) * per_page:page * per_page]
    items = [{k: v for k, v in release_record(r).items() if not as_csv or k != "files"} for r in shown]
    return listing(items, len(found), page, per_page, csv_fields=RELEASE_CSV_FIELDS, as_csv=as_csv)


@bp.get("/releases/<number>")
@params()
def release(number: str):
    return jsonify(release_record(release_or_404(number)))


@bp.get("/releases/<number>/files/<path:name>")
@params()
def release_file(number: str, name: str):
    found = release_or_404(number)
    if not FILE_NAME.match(name):
        raise InvalidParameter("name", f"name={name[:60]!r} is not a file name (one path segment of letters, "
                                       f"digits, '.', '_' or '-'); /api/v1/releases/{found.number} lists the files")
    located = releases.file_path(releases_root(), found, name)
    if located is None:
        abort(404, f"Release {found.number} has no file {name!r}; /api/v1/releases/{found.number} lists its files.")
    path, media_type = located
    response = send_file(path, mimetype=media_type, as_attachment=True, download_name=name, conditional=True,
                         etag=True, max_age=365 * 24 * 3600)
    response.cache_control.immutable = True   # a release never changes
    response.cache_control.public = True
    return response


# --- AOP coverage ---------------------------------------------------------------------------

def aop_url(aop_id: str) -> str:
    return public_url("api.aop", aop_id=ids.aop_path(aop_id))


def aop_summary(summary: aops.AopSummary) -> dict[str, Any]:
    return {"aop_id": summary.aop_id, "title": summary.title, "ke_count": summary.ke_count,
            "approved_ke_count": summary.approved, "pending_ke_count": summary.pending,
            "unmapped_ke_count": summary.unmapped, "url": aop_url(summary.aop_id)}


@bp.get("/aops", endpoint="aops")
@params("unmapped", *PAGING)
def aops_list():
    unmapped_only = bool_param("unmapped")
    page, per_page = paging()
    as_csv = wants_csv()
    result = aops.list_aops(get_db(), unmapped_only=unmapped_only, page=page, per_page=per_page)
    return listing([aop_summary(r) for r in result.rows], result.total, page, per_page,
                   csv_fields=AOP_CSV_FIELDS, as_csv=as_csv)


@bp.get("/aops/<aop_id>")
@params()
def aop(aop_id: str):
    parsed = ids.aop_param(aop_id)
    if parsed is None:
        raise InvalidParameter("aop_id", f"aop_id={aop_id[:40]!r} is not allowed; use an AOP id like AOP3 or 3")
    found = aops.get_aop(get_db(), parsed)
    if found is None:
        abort(404, f"No Key Event in the catalogue names {parsed}.")
    number = ids.id_number(parsed)
    return jsonify({
        **aop_summary(found.summary), "aopwiki_url": f"https://aopwiki.org/aops/{number}",
        "key_events": [{"position": k.position, "ke_id": k.ke_id, "title": k.title, "bio_level": k.bio_level,
                        "role": k.role, "state": k.state, "best_confidence": k.best_confidence,
                        "approved_mapping_count": k.approved_count, "pending_proposal_count": k.pending_count,
                        "upstream_ke_ids": k.upstream, "url": ke_url(k.ke_id),
                        "mappings_url": public_url("api.mappings", ke=ids.ke_path(k.ke_id))}
                       for k in found.key_events],
        "relationships": [{"ker_id": r.ker_id, "upstream_ke_id": r.upstream_ke_id,
                           "downstream_ke_id": r.downstream_ke_id} for r in found.relationships],
    })
