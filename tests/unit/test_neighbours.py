"""The approved-neighbour signal on a real WAL database and the shipped embeddings: approvals of
similar KEs are suggested with a reason, count at once, and stop counting once deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from app.engine import Engine
from app.services import mapping_import
from app.services import mappings as svc
from app.services.evaluation import rank_of

from .helpers import RATIONALE, SEED, approved_mapping, count, engine_of

X = "KE 55"  # Increase, Cell injury/death


def most_similar_ke(engine: Engine, ke_id: str) -> tuple[str, float]:
    ke = engine.suggester.ke
    sims = ke.vectors @ ke.vector(ke_id)
    sims[ke.index[ke_id]] = -1
    best = int(np.argmax(sims))
    return str(ke.ids[best]), float(sims[best])


def pathway_ranked(engine: Engine, ke_id: str, rank: int) -> str:
    total = engine.suggester.scores_for_ke(ke_id).total
    return engine.suggester.wp_ids[int(np.argsort(-total, kind="stable")[rank - 1])]


def delete_mapping(conn: sqlite3.Connection, mapping_id: int) -> None:
    data = svc.clean_proposal(conn, {"rationale": RATIONALE}, "delete", svc.get_mapping(conn, mapping_id))
    svc.approve(conn, svc.propose(conn, "cora", data), "ada")


def test_a_similar_kes_approval_is_suggested_with_its_reason_and_goes_when_deleted(scoring_app, conn) -> None:
    engine = engine_of(scoring_app)
    y, sim = most_similar_ke(engine, X)
    wp = pathway_ranked(engine, X, 25)
    assert wp not in {s.wp_id for s in engine.suggest_for_ke(X, 10)}

    mapping_id = approved_mapping(conn, y, wp)  # through propose + approve, as a curator and an admin would
    top = {s.wp_id: s for s in engine.suggest_for_ke(X, 10)}
    assert wp in top
    assert f"approved for 1 similar KE: {y} ({sim:.2f})" in top[wp].reasons
    assert top[wp].similar_kes == [y]
    assert top[wp].approved_score == pytest.approx(sim ** 3, rel=1e-5)  # one high-confidence approval

    delete_mapping(conn, mapping_id)  # the same engine, no restart
    after = {s.wp_id: s for s in engine.suggest_for_ke(X, 50)}
    assert not any(r.startswith("approved for") for s in after.values() for r in s.reasons)
    assert wp not in {s.wp_id for s in engine.suggest_for_ke(X, 10)}


def test_the_api_reports_the_signal_and_the_similar_kes(scoring_app, conn) -> None:
    engine = engine_of(scoring_app)
    y, _ = most_similar_ke(engine, X)
    wp = pathway_ranked(engine, X, 25)
    approved_mapping(conn, y, wp)
    body = scoring_app.test_client().get("/api/v1/key-events/KE55/suggestions?k=10").get_json()
    item = next(i for i in body["items"] if i["wp_id"] == wp)
    assert item["similar_kes"] == [y] and item["approved_score"] > 0
    assert any(r.startswith("approved for 1 similar KE") for r in item["reasons"])


def test_a_kes_own_approval_never_lifts_its_own_suggestion(scoring_app, conn) -> None:
    engine = engine_of(scoring_app)
    wp = pathway_ranked(engine, X, 25)
    before = engine.suggester.scores_for_ke(X)
    approved_mapping(conn, X, wp)
    after = engine.suggester.scores_for_ke(X)
    column = engine.suggester.wp_ids.index(wp)
    assert rank_of(after.total, column) == rank_of(before.total, column) == 25
    assert after.approved[column] == 0 and column not in after.support


def test_an_approval_of_another_process_counts_at_once(scoring_app, db_path: Path) -> None:
    engine = engine_of(scoring_app)
    engine.suggest_for_ke(X, 10)  # the index is built and cached
    y, _ = most_similar_ke(engine, X)
    wp = pathway_ranked(engine, X, 25)
    other = sqlite3.connect(db_path)  # a plain second connection, as another worker's would be
    other.execute("INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
                  "rationale, proposed_by, approved_by) VALUES (?, ?, 'causative', 'known', 'specific', "
                  "'key_steps', 'high', 'approved elsewhere', 'cora', 'ada')", (y, wp))
    other.commit()
    other.close()
    assert wp in {s.wp_id for s in engine.suggest_for_ke(X, 10)}


# --- importing the curated links ---------------------------------------------------------------

def test_curated_links_become_approved_mappings_with_their_provenance(conn) -> None:
    shipped = mapping_import.import_links(conn, SEED / "mappings.jsonl")
    dev = mapping_import.import_links(conn, SEED / "curated_links_dev.jsonl")
    assert dev.inserted == 159 and not dev.rejected
    assert shipped.inserted + shipped.unchanged + len(shipped.rejected) == 26
    assert all("not in the catalogue" in reason for _, reason in shipped.rejected)
    row = conn.execute("SELECT * FROM mappings WHERE ke_id = 'KE 12' AND wp_id = 'WP550'").fetchone()
    assert (row["proposed_by"], row["approved_by"], row["confidence"]) == ("import", "import", "high")
    assert (row["relationship"], row["evidence"], row["specificity"], row["coverage"]) == (
        "causative", "known", "includes", "key_steps")
    assert row["rationale"].startswith("Imported from curated_links_dev.jsonl; source: molecular AOP pathway")
    assert "approved there on 2026-07-29" in row["rationale"]
    gpml = conn.execute("SELECT * FROM mappings WHERE ke_id = 'KE 55' AND wp_id = 'WP254'").fetchone()
    assert gpml["confidence"] == "medium" and "gives no confidence: imported as medium" in gpml["rationale"]
    assert count(conn, "audit_log", "entity = 'mapping' AND actor = 'import'") == count(conn, "mappings")
    again = mapping_import.import_links(conn, SEED / "curated_links_dev.jsonl")
    assert (again.inserted, again.unchanged) == (0, 159)


def test_catalog_import_takes_links_files_after_the_catalogue(app, conn) -> None:
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(SEED / "curated_links_dev.jsonl")])
    assert result.exit_code == 0, result.output
    assert "curated_links_dev.jsonl: mappings: 159 inserted" in result.output
    assert count(conn, "mappings") == 159
