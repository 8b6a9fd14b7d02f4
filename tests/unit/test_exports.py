"""Exports of approved mappings: each format parsed back, filters, file names, CSV safety."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import UTC, datetime

import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from app.services import exports

from .helpers import TRICKY_RATIONALE, add_mapping

KE = Namespace("https://identifiers.org/aop.events:")
WP = Namespace("https://identifiers.org/wikipathways:")
SSSOM = Namespace("https://w3id.org/sssom/")
SEMAPV = Namespace("https://w3id.org/semapv/vocab/")
PAV = Namespace("http://purl.org/pav/")


@pytest.fixture
def mapped(conn: sqlite3.Connection) -> dict[str, int]:
    """KE 55: WP254 (high) + WP3915 (low), which share AKT1; KE 66: WP3 (medium);
    KE 479: WP715 (medium), a pathway that lists no genes."""
    return {
        "KE 55/WP254": add_mapping(conn, "KE 55", "WP254", "high", rationale=TRICKY_RATIONALE, score=0.83),
        "KE 55/WP3915": add_mapping(conn, "KE 55", "WP3915", "low"),
        "KE 66/WP3": add_mapping(conn, "KE 66", "WP3", "medium", rationale="=HYPERLINK(\"http://evil\")"),
        "KE 479/WP715": add_mapping(conn, "KE 479", "WP715", "medium", rationale="@SUM(A1:A9)", score=None),
    }


def genes(conn: sqlite3.Connection, wp_id: str) -> set[str]:
    return set(json.loads(conn.execute("SELECT genes FROM pathways WHERE wp_id = ?", (wp_id,)).fetchone()[0]))


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


TODAY = datetime.now(UTC).date().isoformat()


# --- the export page ----------------------------------------------------------------------

def test_export_page_lists_every_format_with_download_links(client, mapped):
    html = client.get("/export").get_data(as_text=True)
    for href in ("/export/mappings.csv", "/export/mappings.json", "/export/mappings.ttl",
                 "/export/ke-gene-sets.gmt"):
        assert f'href="{href}"' in html
    assert "4 approved mappings" in html


def test_export_page_carries_the_min_confidence_filter_into_the_links(client, mapped):
    html = client.get("/export?min_confidence=medium").get_data(as_text=True)
    assert 'href="/export/mappings.csv?min_confidence=medium"' in html
    assert 'href="/export/ke-gene-sets.gmt?min_confidence=medium"' in html
    assert re.search(r'<option value="medium"\s+selected', html)
    assert "3 mappings pass this filter" in html


def test_export_page_works_without_any_mapping(client):
    response = client.get("/export")
    assert response.status_code == 200
    assert "0 approved mappings" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/export", "/export/mappings.csv", "/export/ke-gene-sets.gmt"])
def test_unknown_min_confidence_is_refused_with_the_allowed_values(client, path):
    response = client.get(f"{path}?min_confidence=certain")
    assert response.status_code == 400
    assert "min_confidence" in response.get_data(as_text=True)
    assert "high, medium, low" in response.get_data(as_text=True)


def test_unknown_export_format_is_404(client):
    assert client.get("/export/mappings.xml").status_code == 404


# --- downloads ----------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "content_type", "filename"), [
    ("/export/mappings.csv", "text/csv; charset=utf-8", f"kewp-mappings-{TODAY}.csv"),
    ("/export/mappings.json", "application/json", f"kewp-mappings-{TODAY}.json"),
    ("/export/mappings.ttl", "text/turtle; charset=utf-8", f"kewp-mappings-{TODAY}.ttl"),
    ("/export/ke-gene-sets.gmt", "text/plain; charset=utf-8", f"kewp-ke-gene-sets-{TODAY}.gmt"),
])
def test_download_has_content_type_and_dated_attachment_filename(client, mapped, path, content_type, filename):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'


def test_filtered_download_names_the_filter_in_the_filename(client, mapped):
    response = client.get("/export/mappings.csv?min_confidence=high")
    assert response.headers["Content-Disposition"] == f'attachment; filename="kewp-mappings-min-high-{TODAY}.csv"'


# --- CSV ----------------------------------------------------------------------------------

def test_csv_round_trips_a_rationale_with_commas_quotes_and_newlines(client, mapped):
    rows = read_csv(client.get("/export/mappings.csv").get_data(as_text=True))
    row = next(r for r in rows if r["wp_id"] == "WP254")
    assert row["rationale"] == TRICKY_RATIONALE
    assert row["ke_title"] == "Increase, Cell injury/death"
    assert float(row["suggestion_score"]) == pytest.approx(0.83)


def test_csv_has_a_header_and_one_row_per_mapping_in_ke_order(client, mapped):
    text = client.get("/export/mappings.csv").get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(exports.MAPPING_FIELDS)
    rows = read_csv(text)
    assert [(r["ke_id"], r["wp_id"]) for r in rows] == [
        ("KE 55", "WP254"), ("KE 55", "WP3915"), ("KE 66", "WP3"), ("KE 479", "WP715")]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_start_with_a_quote(client, mapped):
    rows = {r["wp_id"]: r for r in read_csv(client.get("/export/mappings.csv").get_data(as_text=True))}
    assert rows["WP3"]["rationale"] == "'=HYPERLINK(\"http://evil\")"
    assert rows["WP715"]["rationale"] == "'@SUM(A1:A9)"
    assert rows["WP715"]["suggestion_score"] == ""


@pytest.mark.parametrize("value", ["=1+2", "+1", "-1+2", "@cmd", "\tx", "\r=x"])
def test_safe_cell_quotes_every_formula_prefix(value):
    assert exports.safe_cell(value) == "'" + value


def test_safe_cell_leaves_numbers_and_plain_text_alone():
    assert exports.safe_cell(-0.25) == -0.25
    assert exports.safe_cell("Apoptosis - intrinsic") == "Apoptosis - intrinsic"
    assert exports.safe_cell(None) == ""


def test_csv_filters_by_min_confidence(client, mapped):
    rows = read_csv(client.get("/export/mappings.csv?min_confidence=medium").get_data(as_text=True))
    assert {r["confidence"] for r in rows} == {"high", "medium"}
    assert len(rows) == 3


def test_csv_without_mappings_is_just_the_header(client):
    text = client.get("/export/mappings.csv").get_data(as_text=True)
    assert text == ",".join(exports.MAPPING_FIELDS) + "\r\n"


# --- JSON ---------------------------------------------------------------------------------

def test_json_export_holds_every_field_and_the_count(client, mapped):
    document = json.loads(client.get("/export/mappings.json").get_data(as_text=True))
    assert document["count"] == 4
    assert document["min_confidence"] is None
    first = document["mappings"][0]
    assert set(first) == set(exports.MAPPING_FIELDS)
    assert (first["ke_id"], first["wp_id"], first["confidence"]) == ("KE 55", "WP254", "high")
    assert first["rationale"] == TRICKY_RATIONALE
    assert first["id"] == mapped["KE 55/WP254"]


def test_json_export_filters_by_min_confidence(client, mapped):
    document = json.loads(client.get("/export/mappings.json?min_confidence=high").get_data(as_text=True))
    assert document["min_confidence"] == "high"
    assert [(m["ke_id"], m["wp_id"]) for m in document["mappings"]] == [("KE 55", "WP254")]
    assert document["count"] == 1


# --- Turtle -------------------------------------------------------------------------------

def parse_turtle(client, query: str = "") -> Graph:
    response = client.get(f"/export/mappings.ttl{query}")
    assert response.status_code == 200
    return Graph().parse(data=response.get_data(as_text=True), format="turtle")


def test_turtle_links_identifiers_org_key_events_to_pathways(client, mapped):
    graph = parse_turtle(client)
    assert (KE["55"], SKOS.relatedMatch, WP["WP254"]) in graph
    assert (KE["66"], SKOS.relatedMatch, WP["WP3"]) in graph
    assert len(list(graph.subject_objects(SKOS.relatedMatch))) == 4


def test_turtle_describes_each_mapping_as_an_sssom_axiom_on_that_link(client, mapped):
    graph = parse_turtle(client)
    node = URIRef(f"http://127.0.0.1:8000/api/v1/mappings/{mapped['KE 55/WP254']}")
    assert (node, RDF.type, OWL.Axiom) in graph
    assert graph.value(node, OWL.annotatedSource) == KE["55"]
    assert graph.value(node, OWL.annotatedProperty) == SKOS.relatedMatch
    assert graph.value(node, OWL.annotatedTarget) == WP["WP254"]
    assert graph.value(node, SSSOM.mapping_justification) == SEMAPV.ManualMappingCuration
    assert graph.value(node, SSSOM.confidence).toPython() == pytest.approx(0.9)
    assert "confidence=high" in str(graph.value(node, SSSOM.other))
    assert str(graph.value(node, RDFS.comment)) == TRICKY_RATIONALE
    assert graph.value(node, SSSOM.similarity_score).toPython() == pytest.approx(0.83)
    assert graph.value(node, PAV.authoredBy) == URIRef("http://127.0.0.1:8000/user/cora")
    assert graph.value(node, SSSOM.reviewer_id) == URIRef("http://127.0.0.1:8000/user/ada")
    assert len(list(graph.subjects(RDF.type, OWL.Axiom))) == 4


def test_turtle_uses_only_registered_vocabularies(client, mapped):
    graph = parse_turtle(client)
    used = {str(term) for triple in graph for term in triple if isinstance(term, URIRef)}
    assert not [iri for iri in used if "w3id.org/kewp" in iri]
    assert (URIRef("http://127.0.0.1:8000/api/v1/mappings/"), RDF.type, SSSOM.MappingSet) in graph


def test_turtle_mapping_iri_is_the_api_url_of_that_mapping(client, mapped):
    graph = parse_turtle(client)
    node = next(iter(graph.subjects(OWL.annotatedTarget, WP["WP3"])))
    record = client.get(str(node).removeprefix("http://localhost")).get_json()
    assert (record["ke_id"], record["wp_id"]) == ("KE 66", "WP3")


def test_turtle_names_the_catalogue_import_each_mapping_was_approved_against(client, conn, mapped):
    graph = parse_turtle(client)
    node = URIRef(f"http://127.0.0.1:8000/api/v1/mappings/{mapped['KE 66/WP3']}")
    source = conn.execute("SELECT source FROM catalog_imports WHERE id = 2").fetchone()[0]
    assert f"kewp catalogue import 2: {source}" in str(graph.value(node, SSSOM.object_source_version))


def test_turtle_filters_by_min_confidence(client, mapped):
    graph = parse_turtle(client, "?min_confidence=medium")
    scores = {o.toPython() for o in graph.objects(None, SSSOM.confidence)}
    assert scores == {0.9, 0.6}
    assert (KE["55"], SKOS.relatedMatch, WP["WP3915"]) not in graph


def test_turtle_without_mappings_still_parses(client):
    graph = parse_turtle(client)
    assert not list(graph.subjects(RDF.type, OWL.Axiom))


# --- GMT ----------------------------------------------------------------------------------

def gmt_lines(client, query: str = "") -> dict[str, list[str]]:
    text = client.get(f"/export/ke-gene-sets.gmt{query}").get_data(as_text=True)
    assert text == "" or text.endswith("\n")
    lines = {}
    for line in text.splitlines():
        fields = line.split("\t")
        assert len(fields) >= 3, f"a GMT line needs a name, a description and genes: {line!r}"
        lines[fields[0]] = fields[1:]
    return lines


def test_gmt_has_one_gene_set_per_ke_with_the_union_of_its_pathways_genes(client, conn, mapped):
    sets = gmt_lines(client)
    description, *ke55_genes = sets["KE_55"]
    assert description == "Increase, Cell injury/death"
    expected = genes(conn, "WP254") | genes(conn, "WP3915")
    assert "AKT1" in genes(conn, "WP254") & genes(conn, "WP3915")
    assert ke55_genes == sorted(expected)  # the shared AKT1 appears once
    assert sets["KE_66"][1:] == sorted(genes(conn, "WP3"))


def test_gmt_leaves_out_a_ke_whose_pathways_list_no_genes(client, conn, mapped):
    assert genes(conn, "WP715") == set()
    assert "KE_479" not in gmt_lines(client)


def test_gmt_filters_by_min_confidence(client, conn, mapped):
    sets = gmt_lines(client, "?min_confidence=high")
    assert list(sets) == ["KE_55"]
    assert sets["KE_55"][1:] == sorted(genes(conn, "WP254"))


def test_gmt_description_is_one_line_without_tabs():
    text = exports.to_gmt([("KE 7", "Title\twith a tab\nand a newline", ["A", "B"])])
    assert text == "KE_7\tTitle with a tab and a newline\tA\tB\n"


def test_gmt_without_mappings_is_empty(client):
    assert client.get("/export/ke-gene-sets.gmt").get_data(as_text=True) == ""
