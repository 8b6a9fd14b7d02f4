"""Catalogue search ranking and safety."""

from __future__ import annotations

import pytest

from app.services import search


def test_exact_id_ranks_first(conn):
    page = search.search(conn, "key_events", "KE 55")
    assert page.rows[0]["ke_id"] == "KE 55"


def test_title_words_match_with_stemming_and_prefixes(conn):
    page = search.search(conn, "key_events", "oxidative stres")
    assert page.total > 0
    assert "oxidative stress" in page.rows[0]["title"].lower()


def test_pathway_search_finds_gene_symbols(conn):
    page = search.search(conn, "pathways", "NFE2L2")
    assert "WP3" in [r["wp_id"] for r in page.rows] or page.total > 0


def test_fts_syntax_in_user_input_is_harmless(conn):
    for text in ['"', "AND OR NOT", "title:*", "NEAR(a b)", "'; DROP TABLE key_events; --", "(((("]:
        search.search(conn, "key_events", text)
    assert conn.execute("SELECT count(*) FROM key_events").fetchone()[0] == 1619


def test_filter_and_pagination(conn):
    first = search.search(conn, "key_events", "", page=1, per_page=10, filters={"bio_level": "Cellular"})
    second = search.search(conn, "key_events", "", page=2, per_page=10, filters={"bio_level": "Cellular"})
    assert first.total == second.total > 10
    assert {r["bio_level"] for r in first.rows} == {"Cellular"}
    assert not {r["ke_id"] for r in first.rows} & {r["ke_id"] for r in second.rows}


@pytest.mark.parametrize("text", ["55", "KE-55", "ke 55", "KE 55", "ke55"])
def test_every_way_of_writing_a_key_event_id_finds_it_first(conn, text):
    assert search.search(conn, "key_events", text).rows[0]["ke_id"] == "KE 55"


@pytest.mark.parametrize("text", ["WP254", "wp254", "wp 254", "WP-254", "254"])
def test_every_way_of_writing_a_pathway_id_finds_it_first(conn, text):
    assert search.search(conn, "pathways", text).rows[0]["wp_id"] == "WP254"
