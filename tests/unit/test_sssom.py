"""The SSSOM TSV of approved mappings, read back and validated by the reference `sssom` package."""

from __future__ import annotations

import logging
import sqlite3
from datetime import date

import pytest
import yaml

from app.services import catalog, exports, sssom_tsv

from .helpers import TRICKY_RATIONALE, add_mapping, parse_sssom

SITE = "https://kewp.example.org"
MAPPING_SET = sssom_tsv.MappingSet(
    site=SITE, mapping_set_id=f"{SITE}/api/v1/releases/1/files/kewp-mappings.sssom.tsv", version="1",
    title="kewp mappings", description="Approved KE to pathway mappings.", published=date(2026, 12, 1))


@pytest.fixture
def tsv(conn: sqlite3.Connection) -> str:
    add_mapping(conn, "KE 55", "WP254", "high", rationale=TRICKY_RATIONALE, score=0.83)
    add_mapping(conn, "KE 55", "WP3915", "low", rationale="\"Quoted\"\tand\ttabbed")
    add_mapping(conn, "KE 66", "WP3", "medium", score=None)
    return sssom_tsv.to_sssom_tsv(exports.fetch_mappings(conn), MAPPING_SET, catalog.imports(conn))


def header(text: str) -> dict:
    return yaml.safe_load("\n".join(line[2:] for line in text.splitlines() if line.startswith("# ")))


def test_the_sssom_package_validates_the_mapping_set_without_warnings(tsv, tmp_path, caplog):
    from sssom.validators import validate

    with caplog.at_level(logging.WARNING):
        msdf = parse_sssom(tsv, tmp_path)
        reports = validate(msdf, fail_on_error=False)
    assert {kind.value: report.results for kind, report in reports.items()} == {
        "JsonSchema": [], "PrefixMapCompleteness": [], "StrictCurieFormat": []}
    # Unknown metadata keys and redefined built-in prefixes are only logged by the parser.
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("sssom") or r.name == "root"]


def test_parsed_back_the_set_has_the_same_pairs_confidences_and_justification(tsv, tmp_path):
    rows = parse_sssom(tsv, tmp_path).df.to_dict("records")
    assert [(r["subject_id"], r["object_id"], r["confidence"]) for r in rows] == [
        ("aop.events:55", "wikipathways:WP254", 0.9), ("aop.events:55", "wikipathways:WP3915", 0.3),
        ("aop.events:66", "wikipathways:WP3", 0.6)]
    assert {r["mapping_justification"] for r in rows} == {"semapv:ManualMappingCuration"}
    assert {r["predicate_id"] for r in rows} == {"skos:relatedMatch"}


def test_identifiers_expand_to_the_identifiers_org_iris_the_turtle_uses(tsv, tmp_path):
    msdf = parse_sssom(tsv, tmp_path)
    assert msdf.converter.expand("aop.events:55") == f"{exports.KE_IRI}55"
    assert msdf.converter.expand("wikipathways:WP254") == f"{exports.WP_IRI}WP254"
    assert msdf.converter.expand("kewp:user/cora") == f"{SITE}/user/cora"


def test_curators_are_ids_below_the_site_and_the_rationale_survives_quotes(tsv, tmp_path):
    first, second, _ = parse_sssom(tsv, tmp_path).df.to_dict("records")
    assert (first["author_id"], first["reviewer_id"]) == ("kewp:user/cora", "kewp:user/ada")
    assert first["comment"] == " ".join(TRICKY_RATIONALE.split())
    assert second["comment"] == '"Quoted" and tabbed'
    assert first["similarity_score"] == pytest.approx(0.83)
    assert first["other"] == ("confidence=high|relationship=causative|evidence=known|"
                              "specificity=specific|coverage=key steps")


def test_each_row_names_the_catalogue_imports_its_mapping_was_approved_against(tsv, tmp_path, conn):
    imports = catalog.imports(conn)
    first = parse_sssom(tsv, tmp_path).df.to_dict("records")[0]
    assert first["subject_source_version"].startswith(f"kewp catalogue import 1: {imports[1]['source']}, ")
    assert first["subject_source_version"].endswith(imports[1]["sha256"])
    assert first["object_source_version"].startswith(f"kewp catalogue import 2: {imports[2]['source']}, ")


def test_the_header_carries_the_set_id_version_licence_and_prefixes(tsv):
    meta = header(tsv)
    assert meta["mapping_set_id"] == MAPPING_SET.mapping_set_id
    assert meta["mapping_set_version"] == "1"
    assert meta["license"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert set(meta["curie_map"]) == {"aop.events", "wikipathways", "skos", "semapv", "kewp"}


def test_a_set_without_mappings_is_a_header_and_the_column_names():
    text = sssom_tsv.to_sssom_tsv([], MAPPING_SET, {})
    assert text.splitlines()[-1] == "\t".join(sssom_tsv.COLUMNS)
