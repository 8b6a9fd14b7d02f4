"""Issue 18: AOP coverage: every AOP with its KEs by mapping state, one AOP's KEs in order along its
KERs, the unmapped filter, the same in the API."""

from __future__ import annotations

import json

import pytest

from app.services import aops
from app.services import mappings as svc

from .helpers import LOW, add_mapping, assert_error, propose

# AOP 25 in the sample catalogue: Aromatase inhibition leading to reproductive dysfunction.
AOP = "AOP 25"
ALONG = ["KE 36", "KE 3", "KE 219", "KE 285", "KE 221", "KE 309", "KE 78", "KE 360"]


def test_an_aops_key_events_come_in_order_along_its_relationships_from_mie_to_ao(conn):
    aop = aops.get_aop(conn, AOP)
    assert [k.ke_id for k in aop.key_events] == ALONG
    assert (aop.key_events[0].role, aop.key_events[-1].role) == ("MIE", "AO")
    assert aop.key_events[3].upstream == ["KE 3", "KE 219"]
    assert [k.position for k in aop.key_events] == list(range(1, 9))


def test_every_upstream_key_event_comes_before_its_downstream_one_unless_in_a_cycle():
    order = aops.order_along(["KE 1", "KE 2", "KE 3", "KE 4"],
                             [("KE 3", "KE 2"), ("KE 2", "KE 1"), ("KE 1", "KE 4"), ("KE 4", "KE 1")],
                             {"KE 1": (1, 1), "KE 2": (1, 2), "KE 3": (0, 3), "KE 4": (2, 4)})
    assert order == ["KE 3", "KE 2", "KE 1", "KE 4"]
    cycle = aops.order_along(["KE 5", "KE 6"], [("KE 5", "KE 6"), ("KE 6", "KE 5")],
                             {"KE 5": (1, 5), "KE 6": (1, 6)})
    assert cycle == ["KE 5", "KE 6"]


def test_relationships_into_the_mie_belong_to_other_aops_and_are_left_out(conn):
    conn.execute("INSERT INTO ke_relationships VALUES ('KER 999001', 'KE 3', 'KE 36')")
    aop = aops.get_aop(conn, AOP)
    assert "KER 999001" not in {r.ker_id for r in aop.relationships}
    assert aop.key_events[0].ke_id == "KE 36"


def test_each_key_event_has_its_mapping_state_and_best_confidence(conn):
    add_mapping(conn, "KE 3", "WP254", "low")
    add_mapping(conn, "KE 3", "WP3915", "high")
    propose(conn, ke="KE 219", answers=LOW)
    propose(conn, ke="KE 3", wp="WP2879")
    by_id = {k.ke_id: k for k in aops.get_aop(conn, AOP).key_events}
    assert (by_id["KE 3"].state, by_id["KE 3"].best_confidence, by_id["KE 3"].approved_count) == ("approved", "high", 2)
    assert (by_id["KE 219"].state, by_id["KE 219"].best_confidence, by_id["KE 219"].pending_count) == (
        "pending", None, 1)
    assert (by_id["KE 36"].state, by_id["KE 36"].best_confidence) == ("none", None)


def test_a_pending_deletion_or_a_rejected_proposal_does_not_make_a_key_event_pending(conn):
    svc.reject(conn, propose(conn, ke="KE 36"), "ada", "Not this pathway.")
    assert aops.get_aop(conn, AOP).key_events[0].state == "none"


def test_the_aop_list_counts_key_events_by_state(conn):
    add_mapping(conn, "KE 3", "WP254", "medium")
    propose(conn, ke="KE 36")
    page = aops.list_aops(conn, per_page=200)
    (summary,) = [a for a in page.rows if a.aop_id == AOP]
    assert (summary.ke_count, summary.approved, summary.pending, summary.unmapped) == (8, 1, 1, 6)
    assert summary.title == "Aromatase inhibition leading to reproductive dysfunction"


def test_the_unmapped_filter_keeps_only_aops_with_an_unmapped_key_event(conn):
    everything = aops.list_aops(conn, per_page=200).total
    aop7 = [k.ke_id for k in aops.get_aop(conn, "AOP 7").key_events]
    for ke in aop7:
        add_mapping(conn, ke, "WP254", "high")
    left = aops.list_aops(conn, unmapped_only=True, per_page=1000)
    assert "AOP 7" not in {a.aop_id for a in left.rows}
    assert left.total < everything


def test_the_aop_list_sorts_by_coverage(conn):
    for ke in [k.ke_id for k in aops.get_aop(conn, "AOP 7").key_events]:
        add_mapping(conn, ke, "WP254", "high")
    first = aops.list_aops(conn, sort="coverage", direction="desc", per_page=1).rows[0]
    assert (first.aop_id, first.coverage) == ("AOP 7", 1.0)


# --- pages ----------------------------------------------------------------------------------

def test_the_aop_page_lists_its_key_events_with_links_and_states(client, conn):
    add_mapping(conn, "KE 3", "WP254", "high")
    page = client.get("/aops/25").get_data(as_text=True)
    assert page.index('id="ke-36"') < page.index('id="ke-3"') < page.index('id="ke-360"')
    assert 'href="/ke/36"' in page
    assert "status-approved" in page and "unmapped" in page


def test_the_aops_page_filters_to_aops_with_unmapped_key_events_and_sorts(client):
    page = client.get("/aops?unmapped=true&sort=kes&order=desc").get_data(as_text=True)
    assert "AOP 471" in page and 'aria-sort="descending"' in page
    assert client.get("/aops?unmapped=maybe").status_code == 400
    assert client.get("/aops?sort=colour").status_code == 400


def test_an_aop_no_key_event_names_is_404(client):
    assert client.get("/aops/999999").status_code == 404


# --- API ------------------------------------------------------------------------------------

def test_the_api_gives_an_aops_key_events_in_order_with_state_and_best_confidence(client, conn):
    add_mapping(conn, "KE 3", "WP254", "medium")
    body = client.get("/api/v1/aops/AOP25").get_json()
    assert [k["ke_id"] for k in body["key_events"]] == ALONG
    ke3 = body["key_events"][1]
    assert (ke3["state"], ke3["best_confidence"], ke3["role"]) == ("approved", "medium", "KE")
    assert body["approved_ke_count"] == 1
    assert {"ker_id", "upstream_ke_id", "downstream_ke_id"} <= set(body["relationships"][0])


@pytest.mark.parametrize("path", ["/api/v1/aops/25", "/api/v1/aops/aop_25", "/api/v1/aops/AOP%2025"])
def test_the_api_takes_an_aop_id_in_each_documented_form(client, path):
    assert client.get(path).get_json()["aop_id"] == AOP


def test_the_api_refuses_a_bad_aop_id_and_a_bad_filter(client):
    assert_error(client.get("/api/v1/aops/KE25"), 400, "aop_id", "AOP3")
    assert_error(client.get("/api/v1/aops/AOP999999"), 404, "AOP 999999")
    assert_error(client.get("/api/v1/aops?unmapped=yes"), 400, "unmapped", "true or false")
    assert_error(client.get("/api/v1/aops?colour=red"), 400, "unknown query parameter")


def test_the_api_aop_list_is_paginated_and_offers_csv(client):
    body = client.get("/api/v1/aops?per_page=2").get_json()
    assert (len(body["items"]), body["per_page"]) == (2, 2) and body["total"] > 500
    csv_text = client.get("/api/v1/aops?per_page=2", headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("aop_id,title,ke_count")
    assert json.loads(json.dumps(body))["links"]["next"].endswith("page=2")
