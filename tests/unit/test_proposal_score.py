"""The suggestion score on a proposal is the server's own, from the engine, never the form's."""

from __future__ import annotations

import pytest

from app.engine import Engine
from app.services import mappings as svc

from .helpers import KE, WP, count, engine_of, propose_form, sign_in


@pytest.fixture
def scoring_client(scoring_app, conn):
    client = scoring_app.test_client()
    sign_in(client, conn, "cora", "curator")
    return client


def stored_score(conn) -> float | None:
    return conn.execute("SELECT suggestion_score FROM proposals").fetchone()["suggestion_score"]


def ke_page_score(app, ke_id: str, wp_id: str) -> float:
    """The score the KE page's suggestion list gives the pathway (all pathways ranked)."""
    ranked = engine_of(app).suggest_for_ke(ke_id, k=5000)
    return next(s.score for s in ranked if s.wp_id == wp_id)


@pytest.mark.parametrize("posted", ["5", "-1"])
def test_posted_score_is_ignored_and_the_engines_score_is_stored(scoring_app, scoring_client, conn, posted):
    response = scoring_client.post("/mappings/propose", data=propose_form(scoring_client, score=posted))
    assert response.status_code == 303
    expected = round(ke_page_score(scoring_app, KE, WP), 4)
    assert stored_score(conn) == pytest.approx(expected, abs=1e-9)
    assert stored_score(conn) != float(posted)


def test_approved_mapping_and_the_api_carry_the_engines_score(scoring_app, scoring_client, conn):
    scoring_client.post("/mappings/propose", data=propose_form(scoring_client, score="5"))
    svc.approve(conn, 1, "ada")
    item = scoring_app.test_client().get("/api/v1/mappings").get_json()["items"][0]
    assert item["suggestion_score"] == pytest.approx(round(ke_page_score(scoring_app, KE, WP), 4))


def test_propose_form_shows_the_score_the_server_will_record(scoring_app, scoring_client):
    page = scoring_client.get(f"/mappings/propose?ke=KE+55&wp={WP}&score=5").get_data(as_text=True)
    assert f"Suggestion score: {ke_page_score(scoring_app, KE, WP):.4f}" in page
    assert 'name="score"' not in page


def test_pathway_the_engine_does_not_rank_gets_no_score(scoring_client, conn):
    conn.execute("INSERT INTO pathways (wp_id, title) VALUES ('WP999999', 'Imported after the embeddings')")
    response = scoring_client.post("/mappings/propose", data=propose_form(scoring_client, wp="WP999999", score="5"))
    assert response.status_code == 303
    assert stored_score(conn) is None


def test_without_suggestions_a_posted_score_is_stored_as_no_score(client, conn):
    sign_in(client, conn, "cora", "curator")
    response = client.post("/mappings/propose", data=propose_form(client, score="5"))
    assert response.status_code == 303
    assert count(conn, "proposals") == 1
    assert stored_score(conn) is None


def test_engine_without_a_store_scores_no_pair():
    assert Engine().score_for_pair(KE, WP) is None


def test_engine_scores_no_pair_for_an_unknown_key_event(scoring_app):
    assert engine_of(scoring_app).score_for_pair("KE 99999999", WP) is None
