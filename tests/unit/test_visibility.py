"""Who sees what: signed-out visitors get approved mappings only; proposals (pending or
rejected) and reviewers' comments are for signed-in users, on pages and in the API/exports."""

from __future__ import annotations

import pytest

from app.services import mappings as svc

from .helpers import KE, WP, approved_mapping, propose, sign_in

REJECTION = "Rejected: the pathway is about another tissue entirely."


@pytest.fixture
def history(conn):
    """An approved mapping, a rejected proposal and a pending one, all for KE 55 -> WP254."""
    mapping_id = approved_mapping(conn)
    mapping = svc.get_mapping(conn, mapping_id)
    rejected = svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "Secret doubts about it."},
                                                          "delete", mapping))
    svc.reject(conn, rejected, "ada", REJECTION)
    pending = svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "Pending second thoughts."},
                                                         "delete", mapping))
    return {"mapping": mapping_id, "rejected": rejected, "pending": pending}


@pytest.mark.parametrize("which", ["rejected", "pending"])
def test_proposal_page_redirects_signed_out_visitors_to_sign_in(client, history, which):
    response = client.get(f"/mappings/proposals/{history[which]}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert f"/mappings/proposals/{history[which]}" in response.headers["Location"]


def test_approved_proposal_page_is_also_for_signed_in_users(client, conn):
    proposal_id = propose(conn)
    svc.approve(conn, proposal_id, "ada")
    assert client.get(f"/mappings/proposals/{proposal_id}").status_code == 302


def test_signed_in_curator_reads_a_rejected_proposal_and_its_comment(client, conn, history):
    sign_in(client, conn, "cora", "curator")
    page = client.get(f"/mappings/proposals/{history['rejected']}").get_data(as_text=True)
    assert REJECTION in page and "Secret doubts about it." in page


def test_mapping_page_shows_signed_out_visitors_the_mapping_history_only(client, history):
    page = client.get(f"/mappings/{history['mapping']}").get_data(as_text=True)
    assert "Apoptosis is the cell death" in page  # the approved rationale
    assert "mapping 1 created" in " ".join(page.split())
    assert REJECTION not in page
    assert "Secret doubts" not in page and "Pending second thoughts" not in page
    assert "/mappings/proposals/" not in page


def test_mapping_page_shows_signed_in_users_the_proposals_and_comments(client, conn, history):
    sign_in(client, conn, "cora", "curator")
    page = client.get(f"/mappings/{history['mapping']}").get_data(as_text=True)
    assert REJECTION in page
    assert f"/mappings/proposals/{history['pending']}" in page


def test_deleted_mapping_page_hides_proposals_from_signed_out_visitors(client, conn):
    mapping_id = approved_mapping(conn)
    delete = svc.clean_proposal(conn, {"rationale": "Merged into another mapping."}, "delete",
                                svc.get_mapping(conn, mapping_id))
    svc.approve(conn, svc.propose(conn, "cyd", delete), "ada", "Agreed, merged.")
    page = client.get(f"/mappings/{mapping_id}").get_data(as_text=True)
    assert "This mapping was deleted" in page
    assert "Agreed, merged." not in page and "/mappings/proposals/" not in page


def test_key_event_page_lists_pending_proposals_to_signed_in_users_only(client, conn):
    propose(conn, by="cyd")
    assert "Pending proposals" not in client.get("/ke/55").get_data(as_text=True)
    sign_in(client, conn, "cora", "curator")
    assert "Pending proposals" in client.get("/ke/55").get_data(as_text=True)


def test_api_and_exports_carry_approved_mappings_only(client, conn, history):
    propose(conn, wp="WP3915")  # pending create: no mapping
    svc.reject(conn, propose(conn, wp="WP2879"), "ada", REJECTION)
    body = client.get("/api/v1/mappings").get_json()
    assert [(m["ke_id"], m["wp_id"]) for m in body["items"]] == [(KE, WP)]
    for path in ("/api/v1/mappings", "/export/mappings.csv", "/export/mappings.json", "/export/mappings.ttl"):
        text = client.get(path).get_data(as_text=True)
        assert "WP3915" not in text and "WP2879" not in text, path
        assert REJECTION not in text and "Secret doubts" not in text, path
