"""Items a catalogue release withdrew: hidden from lists and searches, found by id, marked everywhere."""

from __future__ import annotations

import pytest

WITHDRAWN_AT = "2026-11-30T12:00:00Z"


@pytest.fixture
def withdrawn(conn):
    """Withdraw the first Key Event and the first pathway, as a catalogue refresh does (rows kept)."""
    ke_id, ke_title = conn.execute("SELECT ke_id, title FROM key_events ORDER BY rowid LIMIT 1").fetchone()
    wp_id, wp_title = conn.execute("SELECT wp_id, title FROM pathways ORDER BY rowid LIMIT 1").fetchone()
    with conn:
        conn.execute("UPDATE key_events SET withdrawn_at = ? WHERE ke_id = ?", (WITHDRAWN_AT, ke_id))
        conn.execute("UPDATE pathways SET withdrawn_at = ? WHERE wp_id = ?", (WITHDRAWN_AT, wp_id))
    return {"ke_id": ke_id, "ke_title": ke_title, "wp_id": wp_id, "wp_title": wp_title}


def _api_ids(client, path: str, key: str, **query: str) -> list[str]:
    response = client.get(path, query_string={"per_page": 100, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item[key] for item in response.get_json()["items"]]


def test_lists_leave_withdrawn_items_out_and_say_how_many(client, conn, withdrawn):
    total = conn.execute("SELECT count(*) FROM key_events").fetchone()[0]
    page = client.get("/ke").get_data(as_text=True)
    assert f"{total - 1} results" in page
    assert "1 item withdrawn by catalogue releases is not listed" in page
    shown = client.get("/ke?withdrawn=1").get_data(as_text=True)
    assert f"{total} results" in shown and ">withdrawn</span>" in shown
    pathways = client.get("/pathways").get_data(as_text=True)
    assert "1 item withdrawn by catalogue releases is not listed" in pathways


def test_a_text_search_skips_them_but_an_exact_id_finds_them(client, withdrawn):
    hits = client.get("/ke", query_string={"q": withdrawn["ke_title"]}).get_data(as_text=True)
    assert f'>{withdrawn["ke_id"]}<' not in hits
    by_id = client.get("/ke", query_string={"q": withdrawn["ke_id"]}).get_data(as_text=True)
    assert f'>{withdrawn["ke_id"]}<' in by_id and ">withdrawn</span>" in by_id


def test_detail_pages_say_the_item_was_withdrawn(client, withdrawn):
    ke = client.get(f'/ke/{withdrawn["ke_id"].split()[1]}').get_data(as_text=True)
    assert "Withdrawn from the catalogue on" in ke
    wp = client.get(f'/pathways/{withdrawn["wp_id"]}').get_data(as_text=True)
    assert "Withdrawn from the catalogue on" in wp


def test_the_home_page_counts_current_items_only(client, conn, withdrawn):
    total = conn.execute("SELECT count(*) FROM key_events").fetchone()[0]
    page = client.get("/").get_data(as_text=True)
    assert f"<strong>{total - 1}</strong> Key Events" in page


def test_the_api_lists_them_only_when_asked_and_dates_them(client, withdrawn):
    assert withdrawn["ke_id"] not in _api_ids(client, "/api/v1/key-events", "ke_id")
    assert withdrawn["wp_id"] not in _api_ids(client, "/api/v1/pathways", "wp_id")
    assert withdrawn["ke_id"] not in _api_ids(client, "/api/v1/key-events", "ke_id", q=withdrawn["ke_title"])
    every = client.get("/api/v1/key-events", query_string={"include_withdrawn": "true", "q": withdrawn["ke_title"]})
    dated = {item["ke_id"]: item["withdrawn_at"] for item in every.get_json()["items"]}
    assert dated[withdrawn["ke_id"]] == WITHDRAWN_AT
    assert withdrawn["wp_id"] in _api_ids(client, "/api/v1/pathways", "wp_id", include_withdrawn="TRUE",
                                          q=withdrawn["wp_title"])


@pytest.mark.parametrize(("path", "query"), [("/ke", "withdrawn=yes"), ("/pathways", "withdrawn=2"),
                                             ("/api/v1/key-events", "include_withdrawn=maybe")])
def test_a_bad_switch_is_a_400_that_says_what_to_use(client, path, query):
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert ("use 1" in response.get_data(as_text=True)) or ("use true or false" in response.get_data(as_text=True))
