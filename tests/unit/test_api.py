"""The read-only public API under /api/v1, against the real seeded SQLite file."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import urllib.parse
from types import SimpleNamespace
from typing import Any

import pytest

from app.blueprints import api as api_module
from app.services import exports, openapi

from .helpers import TRICKY_RATIONALE, add_mapping, assert_error, validator_for


@pytest.fixture
def mapped(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "KE 55/WP254": add_mapping(conn, "KE 55", "WP254", "high", rationale=TRICKY_RATIONALE, score=0.83),
        "KE 55/WP3915": add_mapping(conn, "KE 55", "WP3915", "low"),
        "KE 66/WP3": add_mapping(conn, "KE 66", "WP3", "medium"),
        "KE 479/WP2879": add_mapping(conn, "KE 479", "WP2879", "medium"),
    }


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


class ReadyEngine:
    """Stands in for the suggestion engine once it has loaded the model and embeddings."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def status(self) -> dict[str, Any]:
        return {"ready": True, "model": "loaded", "embeddings": "loaded: 1020 pathways"}

    def _results(self, k: int) -> list[SimpleNamespace]:
        found = [SimpleNamespace(wp_id="WP254", title="Apoptosis", score=0.91, text_score=0.8,
                                 reasons=["text similarity 0.80", "shared genes: BAX, BCL2"]),
                 SimpleNamespace(wp_id="WP3", title="NRF2", score=0.5, text_score=None, reasons=[])]
        return found[:k]

    def suggest_for_ke(self, ke_id: str, k: int = 10) -> list[SimpleNamespace]:
        self.calls.append((ke_id, k))
        return self._results(k)

    def suggest_for_text(self, text: str, k: int = 10) -> list[SimpleNamespace]:
        self.calls.append((text, k))
        return self._results(k)


@pytest.fixture
def ready_engine(monkeypatch: pytest.MonkeyPatch) -> ReadyEngine:
    engine = ReadyEngine()
    monkeypatch.setattr(api_module, "get_engine", lambda: engine)
    return engine


@pytest.fixture
def not_ready_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    status = {"ready": False, "model": "disabled", "embeddings": "missing: run scripts/precompute_embeddings.py"}
    monkeypatch.setattr(api_module, "get_engine",
                        lambda: SimpleNamespace(status=lambda: status))


# --- the description ----------------------------------------------------------------------

def test_index_links_the_resources_and_the_description(client):
    body = client.get("/api/v1/").get_json()
    assert body["openapi"] == "http://127.0.0.1:8000/api/v1/openapi.json"
    assert body["resources"]["mappings"] == "http://127.0.0.1:8000/api/v1/mappings"


def test_openapi_description_is_openapi_3_1_json(spec):
    assert spec["openapi"].startswith("3.1.")
    assert spec["servers"] == [{"url": "http://127.0.0.1:8000/api/v1"}]


def test_openapi_describes_exactly_the_registered_api_routes(app, spec):
    """Flask's /api/v1 rules and the description's paths cannot drift apart."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes == described


def test_openapi_path_parameters_match_the_route_placeholders(spec):
    for path, item in spec["paths"].items():
        placeholders = set(re.findall(r"{([^}]+)}", path))
        for operation in item.values():
            named = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"}
            assert named == placeholders, path


def test_openapi_references_all_resolve(spec):
    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(spec):
        target: Any = spec
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, f"{ref} does not resolve"
            target = target[part]


@pytest.mark.parametrize(("path", "schema"), [
    ("/api/v1/", "Index"),
    ("/api/v1/key-events?q=liver", "KeyEventPage"),
    ("/api/v1/key-events/KE55", "KeyEvent"),
    ("/api/v1/pathways?per_page=3", "PathwayPage"),
    ("/api/v1/pathways/WP254", "Pathway"),
    ("/api/v1/mappings", "MappingPage"),
    ("/api/v1/aops?unmapped=true&per_page=5", "AopPage"),
    ("/api/v1/aops/AOP25", "Aop"),
    ("/api/v1/aops/AOP471", "Aop"),
    ("/api/v1/key-events/KE99999", "Error"),
    ("/api/v1/mappings?confidence=certain", "Error"),
])
def test_responses_match_their_openapi_schema(client, spec, mapped, path, schema):
    body = client.get(path).get_json()
    errors = sorted(validator_for(spec, schema).iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]


def test_mapping_schema_lists_every_exported_field(spec):
    assert set(spec["components"]["schemas"]["Mapping"]["properties"]) == {*exports.MAPPING_FIELDS, "url"}


# --- key events ---------------------------------------------------------------------------

def test_key_events_are_paginated_with_totals_in_the_body(client):
    body = client.get("/api/v1/key-events?per_page=10&page=2").get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 10, 1619)
    assert body["pages"] == 162
    assert len(body["items"]) == 10
    assert body["links"]["next"] == "http://127.0.0.1:8000/api/v1/key-events?per_page=10&page=3"


def test_list_link_header_has_first_prev_next_and_last(client):
    response = client.get("/api/v1/key-events?per_page=10&page=2")
    links = dict((rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["Link"]))
    assert links == {
        "first": "http://127.0.0.1:8000/api/v1/key-events?per_page=10&page=1",
        "prev": "http://127.0.0.1:8000/api/v1/key-events?per_page=10&page=1",
        "next": "http://127.0.0.1:8000/api/v1/key-events?per_page=10&page=3",
        "last": "http://127.0.0.1:8000/api/v1/key-events?per_page=10&page=162",
    }
    assert response.headers["X-Total-Count"] == "1619"


def test_link_header_keeps_the_search_and_filters(client):
    response = client.get("/api/v1/key-events?q=cell&bio_level=Cellular&per_page=5")
    assert "q=cell" in response.headers["Link"]
    assert "bio_level=Cellular" in response.headers["Link"]
    assert all(item["bio_level"] == "Cellular" for item in response.get_json()["items"])


def test_key_event_search_puts_the_exact_id_first(client):
    items = client.get("/api/v1/key-events?q=KE%2055").get_json()["items"]
    assert items[0]["ke_id"] == "KE 55"


def test_key_event_search_finds_words_in_titles(client):
    items = client.get("/api/v1/key-events?q=fibrosis").get_json()["items"]
    assert items
    assert "fibrosis" in items[0]["title"].lower()


def test_page_past_the_end_is_an_empty_page(client):
    body = client.get("/api/v1/key-events?per_page=100&page=999").get_json()
    assert body["items"] == []
    assert body["total"] == 1619
    assert "next" not in body["links"]


@pytest.mark.parametrize("ke_id", ["KE55", "55", "KE%2055", "ke_55", "KE:55"])
def test_key_event_accepts_every_documented_id_form(client, ke_id):
    response = client.get(f"/api/v1/key-events/{ke_id}")
    assert response.status_code == 200
    assert response.get_json()["ke_id"] == "KE 55"


def test_key_event_has_description_links_and_neighbours(client, mapped):
    body = client.get("/api/v1/key-events/KE55").get_json()
    assert body["iri"] == "https://identifiers.org/aop.events:55"
    assert body["aopwiki_url"] == "https://aopwiki.org/events/55"
    assert body["description"]
    assert body["upstream_ke_ids"] or body["downstream_ke_ids"]
    assert body["mapping_count"] == 2
    assert body["mappings_url"] == "http://127.0.0.1:8000/api/v1/mappings?ke=KE55"


def test_unknown_key_event_is_a_json_404_naming_it(client):
    assert_error(client.get("/api/v1/key-events/KE99999"), 404, "KE 99999")


@pytest.mark.parametrize("ke_id", ["WP254", "KE", "KE55x", "%20", "KE-55"])
def test_malformed_key_event_id_is_a_json_400_naming_the_parameter(client, ke_id):
    assert_error(client.get(f"/api/v1/key-events/{ke_id}"), 400, "ke_id", "KE55")


# --- pathways -----------------------------------------------------------------------------

def test_pathway_includes_its_genes(client):
    body = client.get("/api/v1/pathways/WP254").get_json()
    assert body["title"] == "Apoptosis"
    assert "BAX" in body["genes"]
    assert body["gene_count"] == len(body["genes"])
    assert body["iri"] == "https://identifiers.org/wikipathways:WP254"


@pytest.mark.parametrize("wp_id", ["WP254", "wp254", "254"])
def test_pathway_accepts_every_documented_id_form(client, wp_id):
    assert client.get(f"/api/v1/pathways/{wp_id}").get_json()["wp_id"] == "WP254"


def test_pathway_search_finds_by_title(client):
    items = client.get("/api/v1/pathways?q=apoptosis").get_json()["items"]
    assert "WP254" in [i["wp_id"] for i in items]


def test_pathways_filter_by_organism(client):
    assert client.get("/api/v1/pathways?organism=Homo%20sapiens").get_json()["total"] == 1020
    assert client.get("/api/v1/pathways?organism=Mus%20musculus").get_json()["total"] == 0


def test_unknown_pathway_is_a_json_404(client):
    assert_error(client.get("/api/v1/pathways/WP999999"), 404, "WP999999")


def test_malformed_pathway_id_is_a_json_400(client):
    assert_error(client.get("/api/v1/pathways/KE55"), 400, "wp_id", "WP254")


# --- mappings -----------------------------------------------------------------------------

def pairs(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["ke_id"], m["wp_id"]) for m in body["items"]]


def test_mappings_list_every_approved_mapping_in_ke_order(client, mapped):
    body = client.get("/api/v1/mappings").get_json()
    assert body["total"] == 4
    assert pairs(body) == [("KE 55", "WP254"), ("KE 55", "WP3915"), ("KE 66", "WP3"), ("KE 479", "WP2879")]
    assert body["items"][0]["rationale"] == TRICKY_RATIONALE


@pytest.mark.parametrize("ke", ["KE55", "KE%2055", "55"])
def test_mappings_filter_by_key_event(client, mapped, ke):
    assert pairs(client.get(f"/api/v1/mappings?ke={ke}").get_json()) == [("KE 55", "WP254"), ("KE 55", "WP3915")]


def test_mappings_filter_by_pathway(client, mapped):
    assert pairs(client.get("/api/v1/mappings?pathway=WP3").get_json()) == [("KE 66", "WP3")]


def test_mappings_filter_by_exact_confidence(client, mapped):
    body = client.get("/api/v1/mappings?confidence=medium").get_json()
    assert pairs(body) == [("KE 66", "WP3"), ("KE 479", "WP2879")]


def test_mappings_filter_by_min_confidence(client, mapped):
    body = client.get("/api/v1/mappings?min_confidence=medium").get_json()
    assert {m["confidence"] for m in body["items"]} == {"high", "medium"}
    assert body["total"] == 3


def test_mapping_filters_combine(client, mapped):
    assert pairs(client.get("/api/v1/mappings?ke=55&min_confidence=high").get_json()) == [("KE 55", "WP254")]


def test_mappings_paginate(client, mapped):
    body = client.get("/api/v1/mappings?per_page=3&page=2").get_json()
    assert pairs(body) == [("KE 479", "WP2879")]
    assert (body["total"], body["pages"]) == (4, 2)


def test_mapping_by_id(client, mapped):
    body = client.get(f"/api/v1/mappings/{mapped['KE 66/WP3']}").get_json()
    assert (body["ke_id"], body["wp_id"], body["confidence"]) == ("KE 66", "WP3", "medium")
    assert body["url"] == f"http://127.0.0.1:8000/api/v1/mappings/{mapped['KE 66/WP3']}"


def test_unknown_mapping_is_a_json_404(client):
    assert_error(client.get("/api/v1/mappings/424242"), 404, "424242")


def test_malformed_mapping_id_is_a_json_400(client):
    assert_error(client.get("/api/v1/mappings/abc"), 400, "mapping_id")


@pytest.mark.parametrize(("query", "parameter"), [
    ("confidence=certain", "confidence"),
    ("min_confidence=HIGHEST", "min_confidence"),
])
def test_bad_confidence_is_a_400_naming_the_parameter_and_the_allowed_values(client, query, parameter):
    assert_error(client.get(f"/api/v1/mappings?{query}"), 400, parameter, "high, medium, low")


@pytest.mark.parametrize(("query", "parameter"), [("ke=WP3", "ke"), ("pathway=KE55", "pathway")])
def test_bad_id_filter_is_a_400_naming_the_parameter(client, query, parameter):
    assert_error(client.get(f"/api/v1/mappings?{query}"), 400, f"{parameter}=")


# --- parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize(("query", "parameter"), [
    ("per_page=101", "per_page"), ("per_page=0", "per_page"), ("per_page=ten", "per_page"),
    ("page=0", "page"), ("page=-1", "page"), ("page=1.5", "page"),
])
def test_out_of_range_paging_is_a_400_with_the_allowed_range(client, query, parameter):
    body = assert_error(client.get(f"/api/v1/key-events?{query}"), 400, parameter, "whole number from 1 to")
    if parameter == "per_page":
        assert f"to {openapi.PER_PAGE_MAX}" in body["error"]["message"]


def test_unknown_query_parameter_is_a_400_listing_the_accepted_ones(client):
    assert_error(client.get("/api/v1/mappings?min_confidance=high"), 400,
                 "min_confidance", "ke, pathway, confidence, min_confidence, page, per_page")


def test_repeated_query_parameter_is_a_400(client):
    assert_error(client.get("/api/v1/mappings?ke=55&ke=66"), 400, "ke is given more than once")


def test_overlong_search_is_a_400(client):
    assert_error(client.get("/api/v1/key-events?q=" + "a" * (openapi.Q_MAX + 1)), 400, "q is", "limit")


# --- CSV by content negotiation -------------------------------------------------------------

def test_mappings_as_csv_when_the_client_accepts_text_csv(client, mapped):
    response = client.get("/api/v1/mappings", headers={"Accept": "text/csv"})
    assert response.mimetype == "text/csv"
    assert response.headers["X-Total-Count"] == "4"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert (rows[0]["ke_id"], rows[0]["wp_id"]) == ("KE 55", "WP254")
    assert rows[0]["rationale"] == TRICKY_RATIONALE
    assert rows[0]["url"].endswith(f"/api/v1/mappings/{mapped['KE 55/WP254']}")


def test_key_events_as_csv_keep_the_page_and_list_aop_ids(client):
    response = client.get("/api/v1/key-events?per_page=5", headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert len(rows) == 5
    assert list(rows[0]) == list(api_module.KE_CSV_FIELDS)
    assert 'rel="next"' in response.headers["Link"]


def test_json_is_the_default_for_browsers_and_clients_without_accept(client):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert client.get("/api/v1/pathways", headers={"Accept": browser}).mimetype == "application/json"
    assert client.get("/api/v1/pathways").mimetype == "application/json"


def test_unacceptable_accept_header_is_a_json_406(client):
    assert_error(client.get("/api/v1/mappings", headers={"Accept": "application/xml"}), 406, "text/csv")


def test_list_responses_vary_on_accept(client):
    assert "Accept" in client.get("/api/v1/mappings").headers["Vary"]


# --- suggestions --------------------------------------------------------------------------

def test_suggestions_for_a_key_event_give_scores_and_reasons(client, ready_engine):
    body = client.get("/api/v1/key-events/KE55/suggestions?k=2").get_json()
    assert body["ke_id"] == "KE 55"
    assert body["items"][0] == {"wp_id": "WP254", "title": "Apoptosis", "score": 0.91, "text_score": 0.8,
                                "reasons": ["text similarity 0.80", "shared genes: BAX, BCL2"],
                                "url": "http://127.0.0.1:8000/api/v1/pathways/WP254"}
    assert ready_engine.calls == [("KE 55", 2)]


def test_suggestions_accept_the_id_with_a_space(client, ready_engine):
    assert client.get("/api/v1/key-events/KE%2055/suggestions").status_code == 200
    assert ready_engine.calls == [("KE 55", openapi.K_DEFAULT)]


def test_suggestions_match_their_openapi_schema(client, spec, ready_engine):
    body = client.get("/api/v1/key-events/55/suggestions").get_json()
    assert not list(validator_for(spec, "Suggestions").iter_errors(body))


def test_suggestions_include_gene_and_go_signals_when_the_engine_gives_them(client, spec, ready_engine, monkeypatch):
    rich = SimpleNamespace(wp_id="WP254", title="Apoptosis", score=0.912345, text_score=0.7, gene_score=0.25,
                           go_score=0.1, shared_genes=["BAX", "BCL2"], reasons=["shared genes: BAX, BCL2"])
    monkeypatch.setattr(ready_engine, "suggest_for_ke", lambda ke_id, k=10: [rich])
    body = client.get("/api/v1/key-events/KE55/suggestions").get_json()
    item = body["items"][0]
    assert (item["score"], item["gene_score"], item["shared_genes"]) == (0.9123, 0.25, ["BAX", "BCL2"])
    assert not list(validator_for(spec, "Suggestions").iter_errors(body))


def test_a_key_event_without_an_embedding_is_a_503_saying_why(client, ready_engine, monkeypatch):
    def missing(ke_id: str, k: int = 10) -> list[SimpleNamespace]:
        raise LookupError(f"{ke_id} has no precomputed embedding (imported after the last build)")

    monkeypatch.setattr(ready_engine, "suggest_for_ke", missing)
    body = assert_error(client.get("/api/v1/key-events/KE55/suggestions"), 503, "KE 55 has no precomputed embedding")
    assert body["error"]["engine"]["ready"] is True


def test_suggestions_when_the_engine_is_not_ready_are_503_with_its_status(client, not_ready_engine):
    body = assert_error(client.get("/api/v1/key-events/KE55/suggestions"), 503, "not available")
    assert body["error"]["engine"]["ready"] is False
    assert "precompute_embeddings" in body["error"]["message"]


def test_suggestions_with_the_real_engine_are_200_or_503(client):
    """Whatever state the app's own engine is in, the answer is JSON, never a traceback."""
    response = client.get("/api/v1/key-events/KE55/suggestions?k=3")
    assert response.status_code in (200, 503)
    assert response.mimetype == "application/json"


def test_suggestions_for_an_unknown_key_event_are_404_even_when_not_ready(client, not_ready_engine):
    assert_error(client.get("/api/v1/key-events/KE99999/suggestions"), 404, "KE 99999")


@pytest.mark.parametrize("k", ["0", "51", "x"])
def test_suggestions_k_out_of_range_is_a_400(client, ready_engine, k):
    assert_error(client.get(f"/api/v1/key-events/KE55/suggestions?k={k}"), 400, "k=", f"to {openapi.K_MAX}")
    assert ready_engine.calls == []


def test_free_text_suggestions(client, ready_engine):
    body = client.get("/api/v1/suggestions?text=programmed%20cell%20death&k=1").get_json()
    assert body["text"] == "programmed cell death"
    assert [s["wp_id"] for s in body["items"]] == ["WP254"]


def test_free_text_suggestions_need_text(client, ready_engine):
    assert_error(client.get("/api/v1/suggestions"), 400, "text is required")


def test_free_text_suggestions_without_the_model_are_503(client, not_ready_engine):
    assert_error(client.get("/api/v1/suggestions?text=apoptosis"), 503, "Free-text suggestions")


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/key-events/KE55/nothing", "/api/v2/key-events"])
def test_unknown_api_routes_are_json_404(client, path):
    assert_error(client.get(path), 404)


def test_writes_are_refused_with_a_json_405(client):
    response = client.post("/api/v1/mappings", json={"ke_id": "KE 55"})
    assert_error(response, 405)


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(client, monkeypatch):
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals /srv/app/db.py line 12")

    monkeypatch.setattr(exports, "count_mappings", broken)
    body = assert_error(client.get("/api/v1/mappings"), 500)
    assert "secret internals" not in body["error"]["message"]


def test_api_is_readable_from_any_origin(client):
    assert client.get("/api/v1/key-events/KE55").headers["Access-Control-Allow-Origin"] == "*"


# --- links come from KEWP_PUBLIC_URL --------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/", "/api/v1/openapi.json", "/api/v1/key-events?per_page=2&page=2", "/api/v1/key-events/KE55",
    "/api/v1/pathways?per_page=2&page=2", "/api/v1/pathways/WP254", "/api/v1/mappings?per_page=1&page=2",
    "/api/v1/mappings/{id}", "/export/mappings.ttl", "/api/v1/aops?per_page=2&page=2", "/api/v1/aops/AOP25",
])
def test_links_and_iris_come_from_the_public_url_never_from_a_forged_host(make_app, mapped, monkeypatch, path):
    monkeypatch.setenv("KEWP_PUBLIC_URL", "https://kewp.example.org/")
    monkeypatch.setenv("KEWP_TRUSTED_PROXIES", "1")  # even a trusted proxy's X-Forwarded-Host is not used
    client = make_app().test_client()
    response = client.get(path.format(id=mapped["KE 55/WP254"]),
                          headers={"Host": "evil.example", "X-Forwarded-Host": "evil2.example"})
    assert response.status_code == 200
    text = response.get_data(as_text=True) + response.headers.get("Link", "")
    assert "evil" not in text
    assert "https://kewp.example.org/api/v1" in text
    assert "https://kewp.example.org//" not in text


def test_a_405_says_which_methods_are_allowed(client):
    response = client.delete("/api/v1/mappings")
    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_405_page_says_which_methods_are_allowed(client):
    response = client.put("/ke")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


# --- bio_level and the OpenAPI id patterns ---------------------------------------------------

def test_an_unknown_bio_level_is_a_400_listing_the_levels(client):
    assert_error(client.get("/api/v1/key-events?bio_level=Nonsense"), 400, "bio_level='Nonsense'",
                 "Molecular, Cellular, Tissue, Organ, Individual, Population")


def test_bio_level_matches_any_letter_case(client):
    body = client.get("/api/v1/key-events?bio_level=cellular&per_page=5").get_json()
    assert body["total"] > 0
    assert {item["bio_level"] for item in body["items"]} == {"Cellular"}


def test_the_key_event_page_refuses_an_unknown_level_with_a_400(client):
    response = client.get("/ke?level=Nonsense")
    assert response.status_code == 400
    assert "Molecular, Cellular" in response.get_data(as_text=True)


def _parameter(spec: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    return next(p for p in spec["paths"][path]["get"]["parameters"] if p.get("name") == name)


@pytest.mark.parametrize("case", [
    ("/key-events/{ke_id}", "ke_id", "/api/v1/key-events/{}",
     ["KE55", "55", "KE 55", "ke_55", "KE:55", " KE 55 ", "WP254", "KE-55", "KE55x", "\u0665\u0665", "KE", ""]),
    ("/pathways/{wp_id}", "wp_id", "/api/v1/pathways/{}", ["WP254", "wp254", "wp 254", "254", "KE55", "WP-254"]),
    ("/mappings/{mapping_id}", "mapping_id", "/api/v1/mappings/{}", ["1", "007", "abc", "1.5", "-1", "\u0661"]),
    ("/mappings", "ke", "/api/v1/mappings?ke={}", ["KE55", "55", "KE 55", "KE-55", "WP3"]),
    ("/mappings", "pathway", "/api/v1/mappings?pathway={}", ["WP254", "254", "KE55", "WP 254"]),
])
def test_openapi_id_patterns_accept_exactly_what_the_api_accepts(client, spec, case):
    path, name, url, values = case
    pattern = re.compile(_parameter(spec, path, name)["schema"]["pattern"])
    for value in values:
        if not value and "{}" in url.split("?")[0]:
            continue  # an empty path segment is another route
        status = client.get(url.format(urllib.parse.quote(value))).status_code
        assert (status != 400) == bool(pattern.search(value)), (value, status)
