"""Expand/contract: while a blue/green release runs two app versions on one SQLite file, the new
one's migration only adds (a nullable column here), and the old one keeps reading, writing and
answering /readyz (docs/operations.md, "Migrations two versions share"). The migration is the
test's own: copies of the shipped ones plus one that adds a column, never a shipped file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app import db

from .helpers import count, propose_form, sign_in

ADD_COLUMN = "ALTER TABLE proposals ADD COLUMN reviewer_hint TEXT;\n"


def test_the_old_version_keeps_writing_after_the_new_one_adds_a_column(
        make_app, conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_app = make_app()
    old = old_app.test_client()
    sign_in(old, conn, "cora", "curator")
    assert old.post("/mappings/propose", data=propose_form(old)).status_code == 303
    shipped = db.schema_version_expected()

    # The new version: the shipped migrations and one more that expands the schema.
    newer = tmp_path / "migrations-new"
    shutil.copytree(db.MIGRATIONS_DIR, newer)
    (newer / f"{shipped + 1:04d}_test_expand.sql").write_text(ADD_COLUMN)
    with monkeypatch.context() as patch:
        patch.setattr(db, "MIGRATIONS_DIR", newer)
        new_app = make_app()  # migrates at start-up, as the candidate container does
        assert new_app.test_client().get("/readyz").json["database"].startswith("writable")
        assert db.schema_version(conn) == shipped + 1
    assert "reviewer_hint" in {row[1] for row in conn.execute("PRAGMA table_info(proposals)")}

    # The old version (its own migrations again): still ready, still writing, its rows readable.
    ready = old.get("/readyz").json
    assert ready["database"].startswith("writable"), ready
    assert f"newer than this version's {shipped}" in ready["database"]
    before = count(conn, "proposals")
    other_wp = conn.execute("SELECT wp_id FROM pathways WHERE wp_id != 'WP254' ORDER BY wp_id LIMIT 1").fetchone()[0]
    response = old.post("/mappings/propose", data=propose_form(old, wp=other_wp))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert count(conn, "proposals") == before + 1
    last = conn.execute("SELECT reviewer_hint FROM proposals ORDER BY id DESC LIMIT 1").fetchone()
    assert last[0] is None  # the old version never names the new column: it takes its default
    # ...and the new version reads what the old one wrote.
    new_client = new_app.test_client()
    sign_in(new_client, conn, "nell", "curator")
    newest = conn.execute("SELECT max(id) FROM proposals").fetchone()[0]
    listing = new_client.get(f"/mappings/proposals/{newest}")
    assert listing.status_code == 200
