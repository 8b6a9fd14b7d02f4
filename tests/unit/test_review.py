"""The admin review queue: who may see and decide, approve, reject, and refusals."""

from __future__ import annotations

import json

import pytest

from app.config import ConfigError, load_settings
from app.services import mappings as svc

from .helpers import KE, LOW, WP, approved_mapping, count, csrf_token, propose, sign_in


def decide(client, proposal_id: int, decision: str, comment: str = "", with_token: bool = True):
    data = {"comment": comment}
    if with_token:
        data["csrf_token"] = csrf_token(client, "/review")
    return client.post(f"/review/{proposal_id}/{decision}", data=data)


def test_queue_lists_pending_proposals_oldest_first(admin_client, conn):
    first = propose(conn, wp="WP3915")
    second = propose(conn)
    svc.reject(conn, propose(conn, wp="WP2879"), "ada", "No.")
    page = admin_client.get("/review").get_data(as_text=True)
    assert page.index(f'id="proposal-{first}"') < page.index(f'id="proposal-{second}"')
    assert 'id="proposal-3"' not in page


def test_queue_counts_pending_proposals_by_action_and_confidence(admin_client, conn):
    propose(conn, wp="WP3915")
    propose(conn, wp="WP2879", answers=LOW)
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "Superseded by WP3915."}, "delete", mapping))
    _, counts = svc.review_queue(conn)
    assert counts.total == 3
    assert counts.by_action == {"create": 2, "change": 0, "delete": 1}
    assert counts.by_confidence == {"high": 1, "medium": 0, "low": 1, "none": 1}
    page = " ".join(admin_client.get("/review").get_data(as_text=True).split())
    assert "<strong>3</strong> pending" in page
    assert "<strong>2</strong> create" in page
    assert "<strong>1</strong> low" in page


def test_queue_redirects_anonymous_visitors_to_sign_in(client):
    response = client.get("/review")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_queue_is_forbidden_to_curators(client, conn):
    sign_in(client, conn, "cora", "curator")
    assert client.get("/review").status_code == 403


def test_admin_approves_a_proposal_and_the_mapping_exists(admin_client, conn):
    proposal_id = propose(conn)
    response = decide(admin_client, proposal_id, "approve")
    assert response.status_code == 303
    mapping = conn.execute("SELECT * FROM mappings WHERE ke_id = ? AND wp_id = ?", (KE, WP)).fetchone()
    assert (mapping["proposed_by"], mapping["approved_by"]) == ("cora", "ada")
    assert "Approved proposal 1: mapping 1 created" in admin_client.get("/review").get_data(as_text=True)


def test_admin_rejects_a_proposal_with_a_comment(admin_client, conn):
    proposal_id = propose(conn)
    response = decide(admin_client, proposal_id, "reject", "The pathway is about another tissue.")
    assert response.status_code == 303
    row = conn.execute("SELECT status, reviewed_by, review_comment FROM proposals").fetchone()
    assert tuple(row) == ("rejected", "ada", "The pathway is about another tissue.")
    assert count(conn, "mappings") == 0
    assert count(conn, "audit_log", "action = 'rejected'") == 1


def test_rejecting_without_a_comment_is_400_and_changes_nothing(admin_client, conn):
    proposal_id = propose(conn)
    response = decide(admin_client, proposal_id, "reject", "   ")
    assert response.status_code == 400
    assert "Write a comment saying why" in response.get_data(as_text=True)
    assert count(conn, "proposals", "status = 'pending'") == 1
    assert count(conn, "audit_log") == 1


def test_curator_cannot_approve_403_and_nothing_changes(client, conn):
    sign_in(client, conn, "cora", "curator")
    proposal_id = propose(conn)
    response = client.post(f"/review/{proposal_id}/approve", data={"csrf_token": csrf_token(client, "/mappings")})
    assert response.status_code == 403
    assert count(conn, "mappings") == 0
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_anonymous_approval_is_401_and_nothing_changes(client, conn):
    proposal_id = propose(conn)
    response = client.post(f"/review/{proposal_id}/approve", data={"csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 401
    assert count(conn, "mappings") == 0


def test_approval_without_csrf_token_is_400_and_nothing_changes(admin_client, conn):
    proposal_id = propose(conn)
    response = decide(admin_client, proposal_id, "approve", with_token=False)
    assert response.status_code == 400
    assert count(conn, "mappings") == 0
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_approving_a_create_for_a_pair_mapped_meanwhile_is_409_and_changes_nothing(admin_client, conn):
    proposal_id = propose(conn)
    conn.execute("INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
                 "rationale, proposed_by, approved_by) VALUES (?, ?, 'causative', 'known', 'specific', 'complete', "
                 "'high', 'imported', 'importer', 'importer')", (KE, WP))
    response = decide(admin_client, proposal_id, "approve")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "already mapped" in page
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_approving_a_delete_whose_mapping_is_gone_is_409(admin_client, conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    proposal_id = svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "No longer relevant."},
                                                                 "delete", mapping))
    conn.execute("DELETE FROM mappings WHERE id = ?", (mapping["id"],))
    response = decide(admin_client, proposal_id, "approve")
    assert response.status_code == 409
    assert "no longer exists" in response.get_data(as_text=True)


def test_deciding_an_already_decided_proposal_is_409(admin_client, conn):
    proposal_id = propose(conn)
    assert decide(admin_client, proposal_id, "approve").status_code == 303
    response = decide(admin_client, proposal_id, "reject", "Changed my mind.")
    assert response.status_code == 409
    assert "already approved by ada" in response.get_data(as_text=True)
    assert count(conn, "mappings") == 1


def test_deciding_an_unknown_proposal_is_404(admin_client):
    assert decide(admin_client, 777, "approve").status_code == 404


def test_admin_sees_decision_forms_on_a_pending_proposal_page(admin_client, conn):
    proposal_id = propose(conn)
    page = admin_client.get(f"/mappings/proposals/{proposal_id}").get_data(as_text=True)
    assert f'action="/review/{proposal_id}/approve"' in page
    assert f'action="/review/{proposal_id}/reject"' in page


def test_curator_sees_no_decision_forms(client, conn):
    sign_in(client, conn, "cora", "curator")
    page = client.get(f"/mappings/proposals/{propose(conn)}").get_data(as_text=True)
    assert "/approve" not in page


# --- four-eyes review ---------------------------------------------------------------------

def test_service_refuses_to_let_the_proposer_approve_their_own_proposal(conn):
    proposal_id = propose(conn, by="ada")
    with pytest.raises(svc.SelfReview, match="another admin must approve or reject it"):
        svc.approve(conn, proposal_id, "ada")
    assert count(conn, "mappings") == 0
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_service_refuses_self_review_whatever_the_case_of_the_user_name(conn):
    proposal_id = propose(conn, by="ada")
    with pytest.raises(svc.SelfReview):
        svc.reject(conn, proposal_id, "ADA", "Not convinced after all.")
    assert count(conn, "audit_log") == 1


def test_admin_cannot_approve_their_own_proposal_403_and_nothing_changes(admin_client, conn):
    proposal_id = propose(conn, by="ada")
    response = decide(admin_client, proposal_id, "approve")
    assert response.status_code == 403
    assert "four-eyes review" in response.get_data(as_text=True)
    assert count(conn, "mappings") == 0
    assert count(conn, "proposals", "status = 'pending'") == 1
    assert count(conn, "audit_log") == 1


def test_admin_cannot_reject_their_own_proposal_and_keeps_the_comment_typed(admin_client, conn):
    proposal_id = propose(conn, by="ada")
    response = decide(admin_client, proposal_id, "reject", "Withdrawn: wrong pathway.")
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "another admin must approve or reject it" in page
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_queue_offers_no_decision_buttons_for_ones_own_proposal_and_says_why(admin_client, conn):
    own = propose(conn, by="ada")
    other = propose(conn, wp="WP3915")
    page = admin_client.get("/review").get_data(as_text=True)
    assert f'action="/review/{own}/approve"' not in page
    assert f'action="/review/{own}/reject"' not in page
    assert "You proposed this, so another admin must approve or reject it" in page
    assert f'action="/review/{other}/approve"' in page


def test_proposal_page_offers_no_decision_buttons_to_its_proposer(admin_client, conn):
    proposal_id = propose(conn, by="ada")
    page = admin_client.get(f"/mappings/proposals/{proposal_id}").get_data(as_text=True)
    assert "/approve" not in page
    assert "four-eyes review" in page


def test_self_review_setting_is_off_by_default_and_read_from_the_environment():
    assert load_settings({"KEWP_ENV": "development"})["ALLOW_SELF_REVIEW"] is False
    assert load_settings({"KEWP_ENV": "development", "KEWP_ALLOW_SELF_REVIEW": "true"})["ALLOW_SELF_REVIEW"] is True
    with pytest.raises(ConfigError, match="KEWP_ALLOW_SELF_REVIEW='sometimes'"):
        load_settings({"KEWP_ENV": "development", "KEWP_ALLOW_SELF_REVIEW": "sometimes"})


@pytest.fixture
def single_admin_client(make_app, conn):
    client = make_app(ALLOW_SELF_REVIEW=True).test_client()
    sign_in(client, conn, "ada", "admin")
    return client


def test_single_admin_site_may_approve_its_own_proposal_and_the_audit_row_says_so(single_admin_client, conn):
    proposal_id = propose(conn, by="ada")
    page = single_admin_client.get("/review").get_data(as_text=True)
    assert f'action="/review/{proposal_id}/approve"' in page
    assert "self-review is allowed on this site" in page
    assert decide(single_admin_client, proposal_id, "approve").status_code == 303
    assert count(conn, "mappings") == 1
    after = conn.execute("SELECT after FROM audit_log WHERE action = 'approved'").fetchone()["after"]
    assert json.loads(after)["audit_note"] == "self-review allowed by KEWP_ALLOW_SELF_REVIEW"


def test_single_admin_site_self_rejection_is_marked_in_the_history(single_admin_client, conn):
    proposal_id = propose(conn, by="ada")
    assert decide(single_admin_client, proposal_id, "reject", "Wrong pathway, sorry.").status_code == 303
    page = single_admin_client.get(f"/mappings/proposals/{proposal_id}").get_data(as_text=True)
    assert "self-review allowed by KEWP_ALLOW_SELF_REVIEW" in page


def test_reviewing_someone_elses_proposal_leaves_no_self_review_note(single_admin_client, conn):
    proposal_id = propose(conn)
    assert decide(single_admin_client, proposal_id, "approve").status_code == 303
    assert count(conn, "audit_log", "after LIKE '%audit_note%'") == 0
