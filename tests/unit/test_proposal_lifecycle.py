"""Issue 18: the proposer withdraws or edits a pending proposal; admins approve with a comment and
decide several proposals at once (all or none, four-eyes per item, confirmed on a second page)."""

from __future__ import annotations

import json

import pytest

from app.services import mappings as svc

from .helpers import (
    HIGH,
    KE,
    LOW,
    RATIONALE,
    WP,
    approved_mapping,
    audit_rows,
    count,
    csrf_token,
    page_text,
    propose,
    sign_in,
)


def edit_form(client, proposal_id: int, **overrides: str) -> dict[str, str]:
    data = {**LOW, "rationale": "On reflection the evidence is thinner (PMID 999).", "step": "submit",
            "confirmed_confidence": "low",
            "csrf_token": csrf_token(client, f"/mappings/proposals/{proposal_id}/edit")}
    data.update(overrides)
    return data


# --- withdraw -------------------------------------------------------------------------------

def test_proposer_withdraws_a_pending_proposal_and_the_audit_row_has_before_and_after(conn):
    proposal_id = propose(conn)
    svc.withdraw(conn, proposal_id, "Cora")
    assert conn.execute("SELECT status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()[0] == "withdrawn"
    (row,) = audit_rows(conn, "withdrawn")
    assert (row["actor"], json.loads(row["before"])["status"], json.loads(row["after"])["status"]) == (
        "Cora", "pending", "withdrawn")


def test_a_withdrawn_pair_can_be_proposed_again(conn):
    svc.withdraw(conn, propose(conn), "cora")
    assert propose(conn) > 0


def test_nobody_else_may_withdraw_a_proposal_and_nothing_changes(conn):
    proposal_id = propose(conn)
    with pytest.raises(svc.NotProposer):
        svc.withdraw(conn, proposal_id, "ada")
    assert count(conn, "proposals", "status = 'pending'") == 1
    assert audit_rows(conn, "withdrawn") == []


def test_a_decided_proposal_cannot_be_withdrawn(conn):
    proposal_id = propose(conn)
    svc.reject(conn, proposal_id, "ada", "No source.")
    with pytest.raises(svc.Conflict, match="only a pending proposal"):
        svc.withdraw(conn, proposal_id, "cora")


def test_a_withdrawn_proposal_cannot_be_approved(conn):
    proposal_id = propose(conn)
    svc.withdraw(conn, proposal_id, "cora")
    with pytest.raises(svc.Conflict, match="withdrawn by cora"):
        svc.approve(conn, proposal_id, "ada")
    assert count(conn, "mappings") == 0


def test_withdrawing_asks_for_confirmation_first_and_changes_nothing_until_then(curator_client, conn):
    proposal_id = propose(conn)
    token = csrf_token(curator_client, f"/mappings/proposals/{proposal_id}")
    first = curator_client.post(f"/mappings/proposals/{proposal_id}/withdraw", data={"csrf_token": token})
    assert first.status_code == 200
    assert "Yes, withdraw it" in first.get_data(as_text=True)
    assert count(conn, "proposals", "status = 'pending'") == 1
    second = curator_client.post(f"/mappings/proposals/{proposal_id}/withdraw",
                                 data={"csrf_token": token, "confirm": "yes"})
    assert second.status_code == 303
    assert count(conn, "proposals", "status = 'withdrawn'") == 1
    assert "withdrawn" in curator_client.get("/mappings/mine").get_data(as_text=True)


def test_withdrawing_without_a_csrf_token_is_400_and_changes_nothing(curator_client, conn):
    proposal_id = propose(conn)
    response = curator_client.post(f"/mappings/proposals/{proposal_id}/withdraw", data={"confirm": "yes"})
    assert response.status_code == 400
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_withdrawing_someone_elses_proposal_over_http_is_403(client, conn):
    proposal_id = propose(conn)
    sign_in(client, conn, "cyd", "curator")
    token = csrf_token(client, f"/mappings/proposals/{proposal_id}")
    response = client.post(f"/mappings/proposals/{proposal_id}/withdraw", data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 403
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_proposal_page_offers_edit_and_withdraw_to_its_proposer_only(client, conn):
    proposal_id = propose(conn)
    sign_in(client, conn, "cyd", "curator")
    assert "Withdraw" not in client.get(f"/mappings/proposals/{proposal_id}").get_data(as_text=True)
    sign_in(client, conn, "cora", "curator")
    page = client.get(f"/mappings/proposals/{proposal_id}").get_data(as_text=True)
    assert "Withdraw" in page and f"/mappings/proposals/{proposal_id}/edit" in page


# --- edit -----------------------------------------------------------------------------------

def test_proposer_edits_the_assessment_and_the_server_computes_the_new_level(conn):
    proposal_id = propose(conn)
    row = svc.get_proposal(conn, proposal_id)
    data = svc.clean_edit(conn, row, {**LOW, "rationale": "Thinner evidence than I thought."})
    svc.edit(conn, proposal_id, "cora", data)
    after = svc.get_proposal(conn, proposal_id)
    assert (after["confidence"], after["evidence"], after["rationale"]) == ("low", "possible",
                                                                          "Thinner evidence than I thought.")
    assert (after["ke_id"], after["wp_id"], after["status"], after["suggestion_score"]) == (KE, WP, "pending", 0.71)
    (audit,) = audit_rows(conn, "edited")
    assert json.loads(audit["before"])["confidence"] == "high"
    assert json.loads(audit["after"])["confidence"] == "low"


def test_an_edit_is_validated_like_a_proposal_and_bad_input_writes_nothing(conn):
    proposal_id = propose(conn)
    row = svc.get_proposal(conn, proposal_id)
    with pytest.raises(svc.ValidationError) as caught:
        svc.clean_edit(conn, row, {**HIGH, "evidence": "certain", "rationale": "short"})
    assert set(caught.value.errors) == {"evidence", "rationale"}
    assert svc.get_proposal(conn, proposal_id)["rationale"] == RATIONALE


def test_an_edit_cannot_move_the_proposal_to_another_pair(conn):
    proposal_id = propose(conn)
    data = svc.clean_edit(conn, svc.get_proposal(conn, proposal_id), {**LOW, "ke": "KE 1", "wp": "WP1",
                                                                      "rationale": RATIONALE})
    assert (data.ke_id, data.wp_id) == (KE, WP)


def test_nobody_else_may_edit_a_proposal(conn):
    proposal_id = propose(conn)
    data = svc.clean_edit(conn, svc.get_proposal(conn, proposal_id), {**LOW, "rationale": RATIONALE})
    with pytest.raises(svc.NotProposer):
        svc.edit(conn, proposal_id, "cyd", data)
    assert audit_rows(conn, "edited") == []


def test_a_delete_proposal_edit_takes_only_a_new_rationale(conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    proposal_id = svc.propose(conn, "cora", svc.clean_proposal(conn, {"rationale": "Superseded by WP3915."},
                                                               "delete", mapping))
    data = svc.clean_edit(conn, svc.get_proposal(conn, proposal_id), {"rationale": "Duplicate of mapping 7."})
    svc.edit(conn, proposal_id, "cora", data)
    row = svc.get_proposal(conn, proposal_id)
    assert (row["action"], row["confidence"], row["rationale"]) == ("delete", None, "Duplicate of mapping 7.")


def test_the_edit_form_previews_the_level_before_saving_without_javascript(curator_client, conn):
    proposal_id = propose(conn)
    page = curator_client.get(f"/mappings/proposals/{proposal_id}/edit").get_data(as_text=True)
    assert "Edit proposal" in page and RATIONALE in page
    unconfirmed = curator_client.post(f"/mappings/proposals/{proposal_id}/edit",
                            data=edit_form(curator_client, proposal_id, confirmed_confidence="high"))
    assert unconfirmed.status_code == 200
    assert "the confidence is low" in unconfirmed.get_data(as_text=True)
    assert svc.get_proposal(conn, proposal_id)["confidence"] == "high"
    saved = curator_client.post(f"/mappings/proposals/{proposal_id}/edit", data=edit_form(curator_client, proposal_id))
    assert saved.status_code == 303
    assert svc.get_proposal(conn, proposal_id)["confidence"] == "low"


def test_an_invalid_edit_over_http_is_400_and_keeps_the_proposal(curator_client, conn):
    proposal_id = propose(conn)
    response = curator_client.post(f"/mappings/proposals/{proposal_id}/edit",
                         data=edit_form(curator_client, proposal_id, relationship="sideways"))
    assert response.status_code == 400
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert svc.get_proposal(conn, proposal_id)["confidence"] == "high"


def test_editing_someone_elses_proposal_over_http_is_403(client, conn):
    proposal_id = propose(conn)
    sign_in(client, conn, "cyd", "curator")
    assert client.get(f"/mappings/proposals/{proposal_id}/edit").status_code == 403


# --- approve with a comment -----------------------------------------------------------------

def test_admin_approves_with_an_optional_comment_that_the_proposer_sees(admin_client, conn):
    proposal_id = propose(conn)
    token = csrf_token(admin_client, "/review")
    assert 'name="comment"' in admin_client.get("/review").get_data(as_text=True).split("Approve</button>")[0]
    response = admin_client.post(f"/review/{proposal_id}/approve", data={"csrf_token": token, "comment": "Nice catch."})
    assert response.status_code == 303
    assert svc.get_proposal(conn, proposal_id)["review_comment"] == "Nice catch."
    sign_in(admin_client, conn, "cora", "curator")
    assert "Nice catch." in admin_client.get("/mappings/mine").get_data(as_text=True)


# --- bulk -----------------------------------------------------------------------------------

def bulk(client, ids: list[int], decision: str, comment: str = "", confirm: bool = True):
    data = {"csrf_token": csrf_token(client, "/review"), "ids": [str(i) for i in ids], "decision": decision,
            "comment": comment}
    if confirm:
        data["confirm"] = "yes"
    return client.post("/review/bulk", data=data)


def test_bulk_approval_applies_every_ticked_proposal_with_an_audit_row_each(conn):
    ids = [propose(conn, wp="WP3915"), propose(conn, wp="WP2879")]
    decided = svc.bulk_decide(conn, ids, "approve", "ada", "Both fine.")
    assert [d.status for d in decided] == ["approved", "approved"]
    assert count(conn, "mappings") == 2
    assert len(audit_rows(conn, "approved")) == 2
    assert len(audit_rows(conn, "created", "mapping")) == 2


def test_bulk_with_one_refused_item_decides_none_and_names_it_with_the_reason(conn):
    fine = propose(conn, wp="WP3915")
    own = propose(conn, wp="WP2879", by="ada")
    with pytest.raises(svc.BulkRefused) as caught:
        svc.bulk_decide(conn, [fine, own, 4242], "approve", "ada", None)
    reasons = dict(caught.value.refusals)
    assert set(reasons) == {own, 4242}
    assert "four-eyes" in reasons[own] and "no proposal 4242" in reasons[4242]
    assert count(conn, "mappings") == 0
    assert count(conn, "proposals", "status = 'pending'") == 2
    assert count(conn, "audit_log", "action IN ('approved', 'created')") == 0


def test_bulk_self_review_is_allowed_only_when_the_site_allows_it(conn):
    own = propose(conn, by="ada")
    svc.bulk_decide(conn, [own], "approve", "ada", None, allow_self_review=True)
    (row,) = audit_rows(conn, "approved")
    assert json.loads(row["after"])["audit_note"] == svc.SELF_REVIEW_NOTE


def test_bulk_rejection_needs_a_comment_and_gives_it_to_each(conn):
    ids = [propose(conn, wp="WP3915"), propose(conn, wp="WP2879")]
    with pytest.raises(svc.ValidationError):
        svc.bulk_decide(conn, ids, "reject", "ada", "  ")
    svc.bulk_decide(conn, ids, "reject", "ada", "Out of scope.")
    assert count(conn, "proposals", "status = 'rejected' AND review_comment = 'Out of scope.'") == 2


def test_a_bad_selection_is_refused_with_a_clear_message():
    with pytest.raises(svc.ValidationError, match="Tick at least one"):
        svc.clean_selection([])
    with pytest.raises(svc.ValidationError, match="not a proposal number"):
        svc.clean_selection(["1", "two"])
    assert svc.clean_selection(["3", "1", "3"]) == [3, 1]


def test_bulk_over_http_shows_a_confirm_page_first_and_changes_nothing_until_confirmed(admin_client, conn):
    ids = [propose(conn, wp="WP3915"), propose(conn, wp="WP2879")]
    first = bulk(admin_client, ids, "approve", confirm=False)
    assert first.status_code == 200
    assert "Yes, approve 2" in first.get_data(as_text=True)
    assert count(conn, "mappings") == 0
    second = bulk(admin_client, ids, "approve")
    assert second.status_code == 303
    assert count(conn, "mappings") == 2


def test_a_refused_bulk_over_http_is_409_and_lists_each_refused_proposal(admin_client, conn):
    fine = propose(conn, wp="WP3915")
    own = propose(conn, wp="WP2879", by="ada")
    response = bulk(admin_client, [fine, own], "approve")
    assert response.status_code == 409
    text = page_text(response)
    assert "Nothing was approved" in text and f"Proposal {own}</a>: You proposed" in text
    assert count(conn, "mappings") == 0


def test_bulk_rejection_without_a_comment_over_http_is_400_before_any_confirm_page(admin_client, conn):
    response = bulk(admin_client, [propose(conn)], "reject", confirm=False)
    assert response.status_code == 400
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_bulk_is_forbidden_to_curators(curator_client, conn):
    response = bulk(curator_client, [propose(conn, by="cyd")], "approve")
    assert response.status_code == 403
    assert count(conn, "mappings") == 0
