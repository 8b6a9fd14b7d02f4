"""Proposing, changing and deleting mappings: the service layer and the curator's pages."""

from __future__ import annotations

import json

import pytest

from app.services import mappings as svc
from app.services.catalog_import import catalog_version

from .helpers import (
    HIGH,
    KE,
    LOW,
    RATIONALE,
    WP,
    approved_mapping,
    count,
    csrf_token,
    login,
    proposal,
    propose,
    propose_form,
)


def test_curator_signed_in_with_a_password_can_open_the_propose_form(client, curator):
    login(client, "cora")
    assert client.get("/mappings/propose").status_code == 200


# --- service: proposals -----------------------------------------------------------------

def test_proposal_is_recorded_pending_with_the_computed_confidence(conn):
    proposal_id = propose(conn)
    row = conn.execute("SELECT * FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    assert tuple(row[k] for k in ("status", "action", "confidence", "proposed_by")) == (
        "pending", "create", "high", "cora")
    assert row["suggestion_score"] == pytest.approx(0.71)
    assert count(conn, "mappings") == 0


def test_proposal_writes_an_audit_row_with_the_new_record(conn):
    proposal_id = propose(conn)
    audit = conn.execute("SELECT * FROM audit_log WHERE entity = 'proposal'").fetchone()
    assert (audit["actor"], audit["action"], audit["entity_id"], audit["before"]) == (
        "cora", "proposed", str(proposal_id), None)
    assert json.loads(audit["after"])["rationale"] == RATIONALE


def test_ids_are_normalized_before_they_are_stored(conn):
    proposal_id = propose(conn, ke="ke:55", wp="wp 254")
    row = conn.execute("SELECT ke_id, wp_id FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    assert tuple(row) == (KE, WP)


def test_second_pending_proposal_for_a_pair_is_refused_naming_the_first(conn):
    first = propose(conn)
    with pytest.raises(svc.DuplicateProposal) as refused:
        propose(conn, by="cyd", answers=LOW)
    assert refused.value.proposal_id == first
    assert "already pending" in str(refused.value)
    assert count(conn, "proposals") == 1
    assert count(conn, "audit_log") == 1


def test_create_proposal_for_an_already_mapped_pair_is_refused(conn):
    mapping_id = approved_mapping(conn)
    with pytest.raises(svc.Conflict) as refused:
        propose(conn)
    assert refused.value.mapping_id == mapping_id
    assert "already mapped" in str(refused.value)


def test_every_bad_field_is_reported_at_once(conn):
    with pytest.raises(svc.ValidationError) as refused:
        svc.clean_proposal(conn, {"ke": "KE 99999999", "wp": "pathway", "relationship": "maybe",
                                  "rationale": " "})
    errors = refused.value.errors
    assert set(errors) == {"ke", "wp", "relationship", "evidence", "specificity", "coverage", "rationale"}
    assert "KE 99999999 is not in the Key Event catalogue" in errors["ke"]
    assert "not a WikiPathways id" in errors["wp"]


def test_rationale_longer_than_the_limit_is_refused(conn):
    with pytest.raises(svc.ValidationError) as refused:
        svc.clean_proposal(conn, {"ke": KE, "wp": WP, **HIGH, "rationale": "x" * (svc.MAX_RATIONALE + 1)})
    assert f"the limit is {svc.MAX_RATIONALE}" in refused.value.errors["rationale"]


def test_combined_suggestion_score_above_one_is_kept(conn):
    assert proposal(conn, score=1.837249).suggestion_score == pytest.approx(1.8372)


def test_score_in_the_form_is_ignored(conn):
    for posted in ("5", "-1", "abc"):
        data = svc.clean_proposal(conn, {"ke": KE, "wp": WP, "score": posted, **HIGH, "rationale": RATIONALE})
        assert data.suggestion_score is None


def test_score_from_a_scorer_that_is_not_finite_is_not_stored(conn):
    assert proposal(conn, score=float("nan")).suggestion_score is None


# --- service: approval of create / change / delete --------------------------------------------

def test_approved_create_becomes_a_mapping_stamped_with_people_score_and_catalogue_versions(conn):
    proposal_id = propose(conn)
    decision = svc.approve(conn, proposal_id, "ada")
    mapping = conn.execute("SELECT * FROM mappings WHERE id = ?", (decision.mapping_id,)).fetchone()
    assert (mapping["ke_id"], mapping["wp_id"], mapping["confidence"]) == (KE, WP, "high")
    assert (mapping["proposed_by"], mapping["approved_by"]) == ("cora", "ada")
    assert mapping["suggestion_score"] == pytest.approx(0.71)
    assert mapping["ke_catalog_version"] == catalog_version(conn, "key_events") is not None
    assert mapping["wp_catalog_version"] == catalog_version(conn, "pathways") is not None
    row = conn.execute("SELECT status, reviewed_by, mapping_id FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    assert tuple(row) == ("approved", "ada", decision.mapping_id)


def test_approval_audits_the_mapping_and_the_proposal(conn):
    mapping_id = approved_mapping(conn)
    rows = conn.execute("SELECT actor, action, entity, entity_id FROM audit_log ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [("cora", "proposed", "proposal", "1"),
                                        ("ada", "created", "mapping", str(mapping_id)),
                                        ("ada", "approved", "proposal", "1")]


def test_approved_change_updates_the_mapping_and_records_before_and_after(conn):
    mapping_id = approved_mapping(conn)
    mapping = svc.get_mapping(conn, mapping_id)
    change = svc.clean_proposal(conn, {**LOW, "rationale": "Only a minor, loosely related aspect."}, "change", mapping)
    proposal_id = svc.propose(conn, "cyd", change)
    svc.approve(conn, proposal_id, "ada")
    after = svc.get_mapping(conn, mapping_id)
    assert (after["confidence"], after["coverage"], after["proposed_by"]) == ("low", "minor", "cyd")
    assert after["suggestion_score"] == pytest.approx(0.71)  # a change keeps the original suggestion score
    audit = conn.execute("SELECT before, after FROM audit_log WHERE action = 'changed'").fetchone()
    assert json.loads(audit["before"])["confidence"] == "high"
    assert json.loads(audit["after"])["confidence"] == "low"


def test_approved_delete_removes_the_mapping_and_keeps_its_history(conn):
    mapping_id = approved_mapping(conn)
    delete = svc.clean_proposal(conn, {"rationale": "The KE was merged into another one."}, "delete",
                                svc.get_mapping(conn, mapping_id))
    svc.approve(conn, svc.propose(conn, "cyd", delete), "ada")
    assert svc.get_mapping(conn, mapping_id) is None
    assert svc.deleted_mapping(conn, mapping_id)["confidence"] == "high"
    actions = [h.action for h in svc.pair_history(conn, KE, WP)]
    assert actions == ["proposed", "created", "approved", "proposed", "deleted", "approved"]


def test_delete_proposal_needs_only_a_rationale(conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    with pytest.raises(svc.ValidationError) as refused:
        svc.clean_proposal(conn, {}, "delete", mapping)
    assert set(refused.value.errors) == {"rationale"}


def test_approving_a_create_when_the_pair_got_mapped_meanwhile_is_refused(conn):
    proposal_id = propose(conn)
    conn.execute("INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
                 "rationale, proposed_by, approved_by) VALUES (?, ?, 'causative', 'known', 'specific', 'complete', "
                 "'high', 'imported', 'importer', 'importer')", (KE, WP))
    with pytest.raises(svc.Conflict, match="already mapped"):
        svc.approve(conn, proposal_id, "ada")
    assert conn.execute("SELECT status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()[0] == "pending"
    assert count(conn, "mappings") == 1
    assert count(conn, "audit_log") == 1


def test_approving_a_change_whose_mapping_is_gone_is_refused(conn):
    mapping_id = approved_mapping(conn)
    change = svc.clean_proposal(conn, {**LOW, "rationale": "Only a minor aspect of it."}, "change",
                                svc.get_mapping(conn, mapping_id))
    proposal_id = svc.propose(conn, "cyd", change)
    conn.execute("DELETE FROM mappings WHERE id = ?", (mapping_id,))
    audit_before = count(conn, "audit_log")
    with pytest.raises(svc.Conflict, match="no longer exists"):
        svc.approve(conn, proposal_id, "ada")
    assert count(conn, "audit_log") == audit_before
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_change_proposal_for_a_deleted_mapping_is_refused(conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    change = svc.clean_proposal(conn, {**LOW, "rationale": "Only a minor aspect of it."}, "change", mapping)
    conn.execute("DELETE FROM mappings WHERE id = ?", (mapping["id"],))
    with pytest.raises(svc.Conflict, match="no longer exists"):
        svc.propose(conn, "cyd", change)


def test_pair_can_be_proposed_again_after_a_rejection(conn):
    svc.reject(conn, propose(conn), "ada", "Not enough evidence.")
    assert propose(conn, by="cyd") > 0
    assert count(conn, "proposals", "status = 'pending'") == 1


# --- pages: proposing -----------------------------------------------------------------------

def test_propose_form_is_prefilled_from_the_query_string_but_takes_no_score(curator_client):
    page = curator_client.get("/mappings/propose?ke=KE+55&wp=WP254&score=0.7123").get_data(as_text=True)
    assert 'name="ke" value="KE 55"' in page
    assert 'name="wp" value="WP254"' in page
    assert 'name="score"' not in page and "0.7123" not in page
    assert "Increase, Cell injury/death" in page  # the KE's title, so the curator sees what they map
    assert 'name="csrf_token"' in page


def test_propose_form_flags_an_id_from_the_query_string_that_is_not_in_the_catalogue(curator_client, conn):
    response = curator_client.get("/mappings/propose?ke=KE+55&wp=WP99999999")
    assert response.status_code == 200
    assert "WP99999999 is not in the pathway catalogue." in response.get_data(as_text=True)
    assert count(conn, "proposals") == 0


def test_propose_form_works_without_javascript_through_a_preview_button(curator_client):
    page = curator_client.get("/mappings/propose").get_data(as_text=True)
    assert 'name="step" value="preview"' in page
    assert 'name="step" value="submit"' in page
    assert "data-confidence-rule=" in page


def test_preview_shows_the_confidence_level_and_writes_nothing(curator_client, conn):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client, step="preview", **LOW))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<span class="badge low">low</span>' in page
    assert 'name="confirmed_confidence" value="low"' in page
    assert count(conn, "proposals") == 0


def test_submit_before_seeing_the_level_shows_it_first_and_writes_nothing(curator_client, conn):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client, confirmed_confidence=""))
    assert response.status_code == 200
    assert "the confidence is high. Check it" in response.get_data(as_text=True)
    assert count(conn, "proposals") == 0


def test_submit_after_the_answers_changed_shows_the_new_level_first(curator_client, conn):
    response = curator_client.post("/mappings/propose",
                                   data=propose_form(curator_client, confirmed_confidence="high", **LOW))
    assert "the confidence is low" in response.get_data(as_text=True)
    assert count(conn, "proposals") == 0


def test_submitted_proposal_is_pending_and_the_curator_lands_on_it(curator_client, conn):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client))
    assert response.status_code == 303
    assert response.headers["Location"] == "/mappings/proposals/1"
    page = curator_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "pending" in page and "is recorded (proposal 1)" in page
    assert count(conn, "proposals", "status = 'pending' AND proposed_by = 'cora'") == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("ke", "KE 99999999", "KE 99999999 is not in the Key Event catalogue."),
    ("ke", "Key Event fifty", "is not a Key Event id like KE 55."),
    ("wp", "WP99999999", "WP99999999 is not in the pathway catalogue."),
    ("wp", "", "Give a WikiPathways id"),
    ("relationship", "sort of", "&#39;sort of&#39; is not an allowed answer"),
    ("coverage", None, "Choose an answer."),
    ("rationale", "   ", "Write a rationale."),
    ("rationale", "short", "too short"),
    ("rationale", "y" * 2001, "the limit is 2000"),
])
def test_bad_field_rerenders_the_form_with_a_message_and_writes_nothing(curator_client, conn, field, value, message):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client, **{field: value}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert f'id="err-{field}"' in page
    assert "Nothing was saved" in page
    assert count(conn, "proposals") == 0
    assert count(conn, "audit_log") == 0


def test_invalid_form_keeps_what_the_curator_typed(curator_client):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client, ke="KE 99999999"))
    page = response.get_data(as_text=True)
    assert RATIONALE in page
    assert 'value="causative" checked' in " ".join(page.split())


def test_second_pending_proposal_via_the_form_is_409_with_a_link_to_the_first(curator_client, conn):
    first = propose(conn, by="cyd")
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "already pending review" in page
    assert f'href="/mappings/proposals/{first}"' in page
    assert count(conn, "proposals") == 1


def test_proposing_an_already_mapped_pair_is_409_with_a_link_to_the_mapping(curator_client, conn):
    mapping_id = approved_mapping(conn)
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client))
    assert response.status_code == 409
    assert f'href="/mappings/{mapping_id}"' in response.get_data(as_text=True)


def test_propose_page_redirects_anonymous_visitors_to_sign_in(client):
    response = client.get("/mappings/propose?ke=KE+55")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_unauthenticated_proposal_is_401_and_writes_nothing(client, conn):
    response = client.post("/mappings/propose", data=propose_form(client, path="/login"))
    assert response.status_code == 401
    assert count(conn, "proposals") == 0


def test_proposal_without_csrf_token_is_400_and_writes_nothing(curator_client, conn):
    response = curator_client.post("/mappings/propose", data=propose_form(curator_client, csrf_token=None))
    assert response.status_code == 400
    assert "security token is missing" in response.get_data(as_text=True)
    assert count(conn, "proposals") == 0


def test_ten_megabyte_proposal_is_refused_with_413_and_writes_nothing(curator_client, conn):
    data = propose_form(curator_client, rationale="x" * (10 * 1024 * 1024))
    response = curator_client.post("/mappings/propose", data=data)
    assert response.status_code == 413
    assert "larger than the" in response.get_data(as_text=True)
    assert count(conn, "proposals") == 0
    assert count(conn, "audit_log") == 0


# --- pages: change and delete ---------------------------------------------------------------

def test_change_form_is_prefilled_with_the_current_answers_and_level(curator_client, conn):
    mapping_id = approved_mapping(conn)
    page = " ".join(curator_client.get(f"/mappings/{mapping_id}/change").get_data(as_text=True).split())
    assert 'value="causative" checked' in page
    assert 'value="key_steps" checked' in page
    assert 'name="confirmed_confidence" value="high"' in page


def test_curator_proposes_a_change_through_the_form(curator_client, conn):
    mapping_id = approved_mapping(conn)
    path = f"/mappings/{mapping_id}/change"
    response = curator_client.post(path, data=propose_form(curator_client, path, confirmed_confidence="low",
                                                           ke=None, wp=None, **LOW))
    assert response.status_code == 303
    row = conn.execute("SELECT action, mapping_id, confidence FROM proposals WHERE status = 'pending'").fetchone()
    assert tuple(row) == ("change", mapping_id, "low")


def test_curator_proposes_a_delete_through_the_form(curator_client, conn):
    mapping_id = approved_mapping(conn)
    path = f"/mappings/{mapping_id}/delete"
    page = curator_client.get(path).get_data(as_text=True)
    assert 'name="relationship"' not in page
    response = curator_client.post(path, data={"csrf_token": csrf_token(curator_client, path), "step": "submit",
                                               "rationale": "Duplicate of a more specific mapping."})
    assert response.status_code == 303
    row = conn.execute("SELECT action, mapping_id, confidence FROM proposals WHERE status = 'pending'").fetchone()
    assert tuple(row) == ("delete", mapping_id, None)


def test_change_of_an_unknown_mapping_is_404(curator_client):
    assert curator_client.get("/mappings/999/change").status_code == 404


# --- pages: lists, detail, history ----------------------------------------------------------

def test_mappings_page_lists_approved_mappings_only(client, conn):
    approved_mapping(conn)
    propose(conn, wp="WP3915")
    page = client.get("/mappings").get_data(as_text=True)
    assert '/pathways/WP254"' in page
    assert '/pathways/WP3915"' not in page


def test_mappings_page_filters_by_confidence_ke_and_pathway(client, conn):
    approved_mapping(conn)
    svc.approve(conn, propose(conn, ke="KE 66", wp="WP3915", answers=LOW), "ada")
    a, b = '/pathways/WP254"', '/pathways/WP3915"'
    low = client.get("/mappings?confidence=low").get_data(as_text=True)
    assert b in low and a not in low
    by_ke = client.get("/mappings?ke=KE+55").get_data(as_text=True)
    assert a in by_ke and b not in by_ke
    by_wp = client.get("/mappings?wp=WP3915").get_data(as_text=True)
    assert b in by_wp and a not in by_wp


def test_mappings_page_refuses_a_bad_filter_with_400(client):
    assert client.get("/mappings?confidence=certain").status_code == 400
    assert client.get("/mappings?ke=fifty").status_code == 400
    assert client.get("/mappings?page=two").status_code == 400


def test_mappings_page_is_paginated(client, conn):
    pathways = [r[0] for r in conn.execute("SELECT wp_id FROM pathways ORDER BY wp_id LIMIT 27")]
    for wp in pathways:
        approved_mapping(conn, wp=wp)
    first = client.get("/mappings").get_data(as_text=True)
    assert "page 1 of 2 (27 results)" in first
    second = client.get("/mappings?page=2").get_data(as_text=True)
    assert second.count('href="/mappings/') - second.count('href="/mappings/mine') == 2


def test_mapping_page_shows_the_assessment_history_and_change_links(curator_client, conn):
    mapping_id = approved_mapping(conn)
    page = curator_client.get(f"/mappings/{mapping_id}").get_data(as_text=True)
    assert RATIONALE in page
    assert "approved by ada" in page and "proposed by cora" in page
    assert f"/mappings/{mapping_id}/change" in page and f"/mappings/{mapping_id}/delete" in page
    assert "mapping 1 created" in " ".join(page.split())
    assert "proposal <a" in page


def test_mapping_page_of_a_deleted_mapping_still_shows_its_history(client, conn):
    mapping_id = approved_mapping(conn)
    delete = svc.clean_proposal(conn, {"rationale": "Merged into another mapping."}, "delete",
                                svc.get_mapping(conn, mapping_id))
    svc.approve(conn, svc.propose(conn, "cyd", delete), "ada")
    response = client.get(f"/mappings/{mapping_id}")
    assert response.status_code == 200
    assert "This mapping was deleted" in response.get_data(as_text=True)


def test_unknown_mapping_page_is_404(client):
    assert client.get("/mappings/4242").status_code == 404


def test_my_proposals_shows_status_and_the_reviewers_comment(curator_client, conn):
    svc.reject(conn, propose(conn), "ada", "Cite a source please.")
    propose(conn, wp="WP3915")
    propose(conn, wp="WP2879", by="someone-else")
    page = curator_client.get("/mappings/mine").get_data(as_text=True)
    assert "rejected" in page and "Cite a source please." in page
    assert "pending" in page and "WP3915" in page
    assert "WP2879" not in page


def test_my_proposals_requires_sign_in(client):
    assert client.get("/mappings/mine").status_code == 302
