"""The public API's contract: its limits and its OpenAPI 3.1 description (no Flask imports).

The API blueprint takes its limits from here and serves `describe()` at /api/v1/openapi.json;
a test checks that every /api/v1 route is described here and nothing else is.
"""

from __future__ import annotations

from typing import Any

from . import ids
from .confidence import LEVELS_BEST_FIRST
from .search import BIO_LEVELS

PER_PAGE_DEFAULT = 25
PER_PAGE_MAX = 100
PAGE_MAX = 10_000
K_DEFAULT = 10
K_MAX = 50
Q_MAX = 200
TEXT_MAX = 2000

JSON = "application/json"
CSV = "text/csv"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", nullable: bool = False, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string", **extra}
    if description:
        schema["description"] = description
    return schema


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page", "pages", "links"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer", "minimum": 0, "description": "Matches over all pages."},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": PER_PAGE_MAX},
            "pages": {"type": "integer", "minimum": 1},
            "links": _ref("PageLinks"),
        },
    }


def _param(name: str, where: str, schema: dict[str, Any], description: str, *,
           required: bool = False, example: Any = None) -> dict[str, Any]:
    param = {"name": name, "in": where, "required": required or where == "path",
             "description": description, "schema": schema}
    if example is not None:
        param["example"] = example
    return param


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


INCLUDE_WITHDRAWN = _param(
    "include_withdrawn", "query", {"type": "string", "enum": ["true", "false"]},
    "`true`: also the items a catalogue release withdrew (their `withdrawn_at` is set). By default they "
    "are left out, except an exact id match.")
PAGING = [
    {"$ref": "#/components/parameters/page"},
    {"$ref": "#/components/parameters/per_page"},
]
# The patterns are the ones the API checks (app/services/ids.py): ASCII digits only; a number past
# 2**63-1 matches the pattern but is refused with 400.
KE_ID_SCHEMA = {"type": "string", "pattern": ids.KE_PARAM_PATTERN}
WP_ID_SCHEMA = {"type": "string", "pattern": ids.WP_PARAM_PATTERN}
KE_PATH = _param("ke_id", "path", KE_ID_SCHEMA,
                 "Key Event id: `KE55`, `55` or `KE 55` (URL-encoded as `KE%2055`).", example="KE55")
WP_PATH = _param("wp_id", "path", WP_ID_SCHEMA, "Pathway id: `WP254` or `254`.", example="WP254")
AOP_PATH = _param("aop_id", "path", {"type": "string", "pattern": ids.AOP_PARAM_PATTERN},
                  "AOP id: `AOP3`, `3` or `AOP 3` (URL-encoded as `AOP%203`).", example="AOP25")
RELEASE_PATH = _param("number", "path", {"type": "string", "pattern": ids.ROW_ID_PATTERN},
                      "The release's number.", example="1")
FILE_NAME_PATTERN = "^[A-Za-z0-9._-]{1,100}$"   # the API also refuses a name starting with '..'


def _list_responses(schema: str, what: str) -> dict[str, Any]:
    return {
        "200": {
            "description": f"One page of {what}. The `Link` header has first/prev/next/last URLs; "
                           "`X-Total-Count` the number of matches.",
            "headers": {"Link": {"$ref": "#/components/headers/Link"},
                        "X-Total-Count": {"$ref": "#/components/headers/X-Total-Count"}},
            "content": {JSON: {"schema": _ref(schema)},
                        CSV: {"schema": {"type": "string",
                                         "description": "The page's items as CSV (send `Accept: text/csv`)."}}},
        },
        "400": _error("A query parameter is not allowed; the message names it and the allowed values."),
        "406": _error("The Accept header allows neither application/json nor text/csv."),
    }


def _paths() -> dict[str, Any]:
    return {
        "/": {"get": {
            "operationId": "index", "summary": "What this API offers, with links.",
            "responses": {"200": {"description": "Links to the resources and this description.",
                                  "content": {JSON: {"schema": _ref("Index")}}}},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This OpenAPI 3.1 description.",
            "responses": {"200": {"description": "The description.",
                                  "content": {JSON: {"schema": {"type": "object"}}}}},
        }},
        "/key-events": {"get": {
            "operationId": "listKeyEvents", "summary": "List or search Key Events.",
            "description": "Without `q`, Key Events in id order. With `q`: an exact id first, then "
                           "full-text matches on title and description (best first), then substring "
                           "matches on the title.",
            "parameters": [
                _param("q", "query", {"type": "string", "maxLength": Q_MAX},
                       "Search words or a KE id.", example="liver fibrosis"),
                _param("bio_level", "query", {"type": "string", "enum": list(BIO_LEVELS)},
                       "Only this biological level (any letter case), e.g. `Cellular`; any other value "
                       "is a 400.", example="Cellular"),
                INCLUDE_WITHDRAWN,
                *PAGING,
            ],
            "responses": _list_responses("KeyEventPage", "Key Events"),
        }},
        "/key-events/{ke_id}": {"get": {
            "operationId": "getKeyEvent", "summary": "One Key Event with its description and neighbours.",
            "parameters": [KE_PATH],
            "responses": {"200": {"description": "The Key Event.", "content": {JSON: {"schema": _ref("KeyEvent")}}},
                          "400": _error("The id is not a Key Event id."),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
        "/key-events/{ke_id}/suggestions": {"get": {
            "operationId": "suggestPathwaysForKeyEvent",
            "summary": "The top-k pathways suggested for a Key Event, with scores and reasons.",
            "parameters": [KE_PATH, {"$ref": "#/components/parameters/k"}],
            "responses": {
                "200": {"description": "Suggestions, best first.",
                        "content": {JSON: {"schema": _ref("Suggestions")}}},
                "400": _error("The id or `k` is not allowed."),
                "404": {"$ref": "#/components/responses/NotFound"},
                "503": {"$ref": "#/components/responses/EngineNotReady"},
            },
        }},
        "/suggestions": {"get": {
            "operationId": "suggestPathwaysForText",
            "summary": "The top-k pathways for free text (encoded with the preloaded model).",
            "parameters": [
                _param("text", "query", {"type": "string", "minLength": 1, "maxLength": TEXT_MAX},
                       "The text to find pathways for.", required=True, example="mitochondrial dysfunction"),
                {"$ref": "#/components/parameters/k"},
            ],
            "responses": {
                "200": {"description": "Suggestions, best first.",
                        "content": {JSON: {"schema": _ref("Suggestions")}}},
                "400": _error("`text` is missing or too long, or `k` is not allowed."),
                "503": {"$ref": "#/components/responses/EngineNotReady"},
            },
        }},
        "/pathways": {"get": {
            "operationId": "listPathways", "summary": "List or search pathways.",
            "description": "Without `q`, pathways in id order. With `q`: an exact id first, then full-text "
                           "matches on title, description and genes (best first), then substring matches.",
            "parameters": [
                _param("q", "query", {"type": "string", "maxLength": Q_MAX},
                       "Search words, a gene symbol or a WP id.", example="apoptosis"),
                _param("organism", "query", {"type": "string"}, "Only this organism (exact).",
                       example="Homo sapiens"),
                INCLUDE_WITHDRAWN,
                *PAGING,
            ],
            "responses": _list_responses("PathwayPage", "pathways"),
        }},
        "/pathways/{wp_id}": {"get": {
            "operationId": "getPathway", "summary": "One pathway with its description and genes.",
            "parameters": [WP_PATH],
            "responses": {"200": {"description": "The pathway.", "content": {JSON: {"schema": _ref("Pathway")}}},
                          "400": _error("The id is not a WikiPathways id."),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
        "/mappings": {"get": {
            "operationId": "listMappings", "summary": "Approved KE→pathway mappings, filtered.",
            "description": "Ordered by KE number, then pathway number. Filters combine (AND).",
            "parameters": [
                _param("ke", "query", KE_ID_SCHEMA, "Only this Key Event (`KE55`, `55`, `KE 55`).",
                       example="KE55"),
                _param("pathway", "query", WP_ID_SCHEMA, "Only this pathway (`WP254`, `254`).",
                       example="WP254"),
                _param("confidence", "query", {"type": "string", "enum": list(LEVELS_BEST_FIRST)},
                       "Only this confidence level."),
                _param("min_confidence", "query", {"type": "string", "enum": list(LEVELS_BEST_FIRST)},
                       "This confidence level or better (high > medium > low)."),
                *PAGING,
            ],
            "responses": _list_responses("MappingPage", "mappings"),
        }},
        "/aops": {"get": {
            "operationId": "listAops", "summary": "AOPs with how many of their Key Events are mapped.",
            "description": "Every AOP that a catalogued Key Event belongs to, by AOP number. A Key Event "
                           "counts as approved when it has an approved mapping, pending when it has none but "
                           "a proposal to map it awaits review, unmapped otherwise.",
            "parameters": [
                _param("unmapped", "query", {"type": "string", "enum": ["true", "false"]},
                       "`true`: only AOPs with at least one unmapped Key Event."),
                *PAGING,
            ],
            "responses": _list_responses("AopPage", "AOPs"),
        }},
        "/aops/{aop_id}": {"get": {
            "operationId": "getAop",
            "summary": "One AOP's Key Events in order along its relationships, with their mapping state.",
            "description": "Upstream before downstream (from the MIE to the AO); a cycle is broken at its "
                           "lowest-numbered Key Event. Relationships are the KERs between two of the AOP's "
                           "Key Events, except those into its MIE or from its AO back to an earlier Key Event.",
            "parameters": [AOP_PATH],
            "responses": {"200": {"description": "The AOP.", "content": {JSON: {"schema": _ref("Aop")}}},
                          "400": _error("The id is not an AOP id."),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
        "/mappings/{mapping_id}": {"get": {
            "operationId": "getMapping", "summary": "One approved mapping.",
            "parameters": [_param("mapping_id", "path", {"type": "string", "pattern": ids.ROW_ID_PATTERN},
                                  f"The mapping's number (ASCII digits, at most {ids.SQLITE_INT_MAX}).",
                                  example="1")],
            "responses": {"200": {"description": "The mapping.", "content": {JSON: {"schema": _ref("Mapping")}}},
                          "400": _error("The id is not a whole number."),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
        "/releases": {"get": {
            "operationId": "listReleases", "summary": "Numbered, immutable releases of the approved mappings.",
            "description": "Newest first. Each release lists its files (SSSOM TSV, CSV, JSON, Turtle, GMT, "
                           "CHANGELOG.md, .zenodo.json, release.json and a zip of them all) with sizes and sha256.",
            "parameters": [*PAGING],
            "responses": _list_responses("ReleasePage", "releases"),
        }},
        "/releases/{number}": {"get": {
            "operationId": "getRelease", "summary": "One release and its files.",
            "parameters": [RELEASE_PATH],
            "responses": {"200": {"description": "The release.", "content": {JSON: {"schema": _ref("Release")}}},
                          "400": _error("The number is not a whole number."),
                          "404": {"$ref": "#/components/responses/NotFound"},
                          "503": _error("The release's files cannot be read right now.")},
        }},
        "/releases/{number}/files/{name}": {"get": {
            "operationId": "getReleaseFile", "summary": "One file of a release, as an attachment.",
            "description": "Never changes once published: the response may be cached for a year "
                           "(`Cache-Control: immutable`); its sha256 is in the release's file list.",
            "parameters": [RELEASE_PATH,
                           _param("name", "path", {"type": "string", "pattern": FILE_NAME_PATTERN},
                                  "A file name the release lists.", example="kewp-mappings.sssom.tsv")],
            "responses": {"200": {"description": "The file, with the media type the release lists.",
                                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
                          "400": _error("The number or the file name is not allowed (e.g. a path)."),
                          "404": {"$ref": "#/components/responses/NotFound"}},
        }},
    }


def _schemas() -> dict[str, Any]:
    url = {"type": "string", "format": "uri"}
    mapping_props: dict[str, Any] = {
        "id": {"type": "integer"},
        "ke_id": _string("Key Event id, e.g. `KE 55`.", pattern="^KE [0-9]+$"),
        "ke_title": _string(),
        "wp_id": _string("Pathway id, e.g. `WP254`.", pattern="^WP[0-9]+$"),
        "wp_title": _string(),
        "confidence": {"type": "string", "enum": list(LEVELS_BEST_FIRST)},
        "relationship": _string("causative, responsive, bidirectional or unclear."),
        "evidence": _string("known, likely, possible or uncertain."),
        "specificity": _string("specific, includes or loose."),
        "coverage": _string("complete, key steps or minor."),
        "rationale": _string("The curator's reasoning (free text)."),
        "suggestion_score": {"type": ["number", "null"],
                             "description": "The suggestion score when the pair was proposed."},
        "proposed_by": _string(),
        "approved_by": _string(),
        "ke_catalog_version": {"type": ["integer", "null"]},
        "wp_catalog_version": {"type": ["integer", "null"]},
        "created_at": _string(format="date-time"),
        "updated_at": _string(format="date-time"),
        "url": url,
    }
    ke_summary = {
        "ke_id": _string(pattern="^KE [0-9]+$"),
        "title": _string(),
        "bio_level": _string("Molecular, Cellular, Tissue, Organ, Individual or Population.", nullable=True),
        "aop_ids": {"type": "array", "items": _string(pattern="^AOP [0-9]+$")},
        "withdrawn_at": _string("When a catalogue release withdrew it; null while it is current.",
                                format="date-time", nullable=True),
        "url": url,
    }
    wp_summary = {
        "wp_id": _string(pattern="^WP[0-9]+$"),
        "title": _string(),
        "organism": _string(nullable=True),
        "gene_count": {"type": "integer", "minimum": 0},
        "withdrawn_at": _string("When a catalogue release withdrew it; null while it is current.",
                                format="date-time", nullable=True),
        "url": url,
    }
    related = {
        "description": _string(nullable=True),
        "iri": {**url, "description": "identifiers.org IRI (as used in the Turtle export)."},
        "mapping_count": {"type": "integer", "minimum": 0, "description": "Approved mappings."},
        "mappings_url": url,
        "updated_at": _string(format="date-time"),
    }
    suggestion = {
        "wp_id": _string(pattern="^WP[0-9]+$"),
        "title": _string(),
        "score": {"type": "number", "description": "Combined score used for the ranking."},
        "text_score": {"type": ["number", "null"], "description": "Text (embedding) similarity alone."},
        "reasons": {"type": "array", "items": _string()},
        "url": url,
    }
    suggestion_extra = {
        "gene_score": {"type": "number", "description": "Gene overlap signal (when the engine reports it)."},
        "go_score": {"type": "number", "description": "GO process overlap signal (when reported)."},
        "shared_genes": {"type": "array", "items": _string(), "description": "Genes shared with the KE's context."},
        "approved_score": {"type": "number", "description": "Approved-for-similar-KEs signal (KE suggestions): "
                           "the sum of similarity^power x confidence weight over the similar KEs."},
        "similar_kes": {"type": "array", "items": _string(),
                        "description": "Similar KEs that have this pathway approved, most similar first."},
    }
    count = {"type": "integer", "minimum": 0}
    aop_summary = {
        "aop_id": _string(pattern="^AOP [0-9]+$"),
        "title": _string(),
        "ke_count": {**count, "description": "Key Events in the AOP."},
        "approved_ke_count": {**count, "description": "Of them, with an approved mapping."},
        "pending_ke_count": {**count, "description": "Without one, but with a proposal awaiting review."},
        "unmapped_ke_count": {**count, "description": "With neither."},
        "url": url,
    }
    aop_ke = {
        "position": {"type": "integer", "minimum": 1, "description": "Place along the relationships."},
        "ke_id": _string(pattern="^KE [0-9]+$"),
        "title": _string(),
        "bio_level": _string(nullable=True),
        "role": {"type": ["string", "null"], "enum": ["MIE", "KE", "AO", None],
                 "description": "Its role in this AOP, when AOP-Wiki states it."},
        "state": {"type": "string", "enum": ["approved", "pending", "none"]},
        "best_confidence": {"type": ["string", "null"], "enum": [*LEVELS_BEST_FIRST, None],
                            "description": "The best confidence of its approved mappings."},
        "approved_mapping_count": count,
        "pending_proposal_count": {**count, "description": "Proposals to map it awaiting review."},
        "upstream_ke_ids": {"type": "array", "items": _string(pattern="^KE [0-9]+$"),
                            "description": "This AOP's Key Events directly upstream of it."},
        "url": url,
        "mappings_url": url,
    }
    release_file = {
        "name": _string(pattern=FILE_NAME_PATTERN),
        "media_type": _string(),
        "size": {"type": "integer", "minimum": 0, "description": "Bytes."},
        "sha256": _string(pattern="^[0-9a-f]{64}$"),
        "description": _string(),
        "url": url,
    }
    release = {
        "number": {"type": "integer", "minimum": 1},
        "created_at": _string(format="date-time"),
        "created_by": _string("The admin (or `cli`) who made it."),
        "note": _string(),
        "mappings": {**count, "description": "Approved mappings in the release."},
        "added": {**count, "description": "KE-pathway pairs new since the previous release."},
        "changed": {**count, "description": "Pairs whose curated fields changed since the previous release."},
        "removed": {**count, "description": "Pairs in the previous release and not in this one."},
        "manifest_sha256": _string("sha256 of release.json, which lists every other file's.",
                                   pattern="^[0-9a-f]{64}$"),
        "url": url,
        "files": {"type": "array", "items": _ref("ReleaseFile")},
    }
    return {
        "Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["status", "message"],
                "properties": {"status": {"type": "integer"}, "message": _string(),
                               "engine": {"type": "object", "description": "Suggestion engine status (503)."}},
            }},
        },
        "PageLinks": {
            "type": "object", "required": ["self"],
            "properties": {name: url for name in ("self", "first", "prev", "next", "last")},
        },
        "Index": {
            "type": "object", "required": ["name", "version", "openapi", "resources"],
            "properties": {"name": _string(), "version": _string(), "openapi": url,
                           "resources": {"type": "object", "additionalProperties": url}},
        },
        "KeyEventSummary": {"type": "object", "required": list(ke_summary), "properties": ke_summary},
        "KeyEvent": {
            "type": "object",
            "required": [*ke_summary, *related, "aopwiki_url", "upstream_ke_ids", "downstream_ke_ids",
                         "suggestions_url"],
            "properties": {
                **ke_summary, **related,
                "aopwiki_url": url,
                "upstream_ke_ids": {"type": "array", "items": _string(pattern="^KE [0-9]+$")},
                "downstream_ke_ids": {"type": "array", "items": _string(pattern="^KE [0-9]+$")},
                "suggestions_url": url,
            },
        },
        "PathwaySummary": {"type": "object", "required": list(wp_summary), "properties": wp_summary},
        "Pathway": {
            "type": "object", "required": [*wp_summary, *related, "genes", "wikipathways_url"],
            "properties": {**wp_summary, **related, "wikipathways_url": url,
                           "genes": {"type": "array", "items": _string("HGNC symbol.")}},
        },
        "Mapping": {"type": "object", "required": list(mapping_props), "properties": mapping_props},
        "Suggestion": {"type": "object", "required": list(suggestion),
                       "properties": {**suggestion, **suggestion_extra}},
        "Suggestions": {
            "type": "object", "required": ["k", "items"],
            "properties": {"ke_id": _string(pattern="^KE [0-9]+$"), "text": _string(),
                           "k": {"type": "integer", "minimum": 1, "maximum": K_MAX},
                           "items": {"type": "array", "items": _ref("Suggestion")}},
        },
        "AopSummary": {"type": "object", "required": list(aop_summary), "properties": aop_summary},
        "Aop": {
            "type": "object", "required": [*aop_summary, "aopwiki_url", "key_events", "relationships"],
            "properties": {
                **aop_summary, "aopwiki_url": url,
                "key_events": {"type": "array", "items": {"type": "object", "required": list(aop_ke),
                                                          "properties": aop_ke}},
                "relationships": {"type": "array", "items": {
                    "type": "object", "required": ["ker_id", "upstream_ke_id", "downstream_ke_id"],
                    "properties": {"ker_id": _string(pattern="^KER [0-9]+$"),
                                   "upstream_ke_id": _string(pattern="^KE [0-9]+$"),
                                   "downstream_ke_id": _string(pattern="^KE [0-9]+$")}}},
            },
        },
        "AopPage": _page_of("AopSummary"),
        "ReleaseFile": {"type": "object", "required": list(release_file), "properties": release_file},
        "Release": {"type": "object", "required": list(release), "properties": release},
        "ReleasePage": _page_of("Release"),
        "KeyEventPage": _page_of("KeyEventSummary"),
        "PathwayPage": _page_of("PathwaySummary"),
        "MappingPage": _page_of("Mapping"),
    }


def describe(version: str, public_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for /api/v1 (paths are relative to the server URL, KEWP_PUBLIC_URL + /api/v1)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kewp API",
            "version": version,
            "summary": "Read-only access to Key Events, pathways, suggestions, approved mappings, releases "
                       "and AOP coverage.",
            "description": "Key Events come from AOP-Wiki (CC BY-SA 4.0), pathways from WikiPathways (CC0). "
                           "Errors are JSON: `{\"error\": {\"status\": 404, \"message\": \"...\"}}`. "
                           "Unknown query parameters are refused with 400 so a typo never silently "
                           "drops a filter.",
        },
        "servers": [{"url": f"{public_url}/api/v1"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "parameters": {
                "page": _param("page", "query", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX,
                                                 "default": 1}, "Page number (a page past the end is empty)."),
                "per_page": _param("per_page", "query", {"type": "integer", "minimum": 1,
                                                         "maximum": PER_PAGE_MAX, "default": PER_PAGE_DEFAULT},
                                   "Items per page."),
                "k": _param("k", "query", {"type": "integer", "minimum": 1, "maximum": K_MAX,
                                           "default": K_DEFAULT}, "How many suggestions."),
            },
            "headers": {
                "Link": {"description": "RFC 8288 links: rel first, prev, next, last.", "schema": {"type": "string"}},
                "X-Total-Count": {"description": "Matches over all pages.", "schema": {"type": "integer"}},
            },
            "responses": {
                "NotFound": _error("No such item (the message names the id)."),
                "EngineNotReady": {
                    "description": "The suggestion engine is not ready; `error.engine` says why "
                                   "(model and embeddings status).",
                    "content": {JSON: {"schema": _ref("Error")}},
                },
            },
        },
    }
