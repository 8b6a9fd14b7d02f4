"""A full data disk: a write that fails for space is a clear 507, nothing is half-written, and
/readyz says "not writable" (the database is on a real, small tmpfs that the test fills up)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from app import db

from .helpers import count, fill_up, propose_form, sign_in


@pytest.fixture
def db_path(tmp_path: Path, seeded_db_template: Path, small_fs) -> Path:
    """The seeded database on a tmpfs with 2 MiB to spare."""
    size = seeded_db_template.stat().st_size + 2 * 2**20
    data = small_fs(tmp_path / "data", size)
    path = data / "ke_wp_mapping.db"
    shutil.copy(seeded_db_template, path)
    return path


@pytest.fixture
def app(make_app):
    """KEWP_MIN_FREE_MB of 0.5 MiB, so the small disk starts with room to spare."""
    return make_app(MIN_FREE_BYTES=2**19)


def test_write_transaction_on_a_full_disk_raises_disk_full_and_leaves_no_transaction_open(db_path: Path) -> None:
    conn = db.connect(db_path)
    filler = fill_up(db_path.parent)
    with pytest.raises(db.DiskFull, match="disk is full; nothing was saved"), db.write_transaction(conn):
        conn.execute("CREATE TABLE big (x BLOB)")
        for _ in range(100):
            conn.execute("INSERT INTO big VALUES (zeroblob(1000000))")
    assert not conn.in_transaction
    filler.unlink()
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone()[0] == 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_proposal_on_a_full_disk_is_a_507_page_saying_nothing_was_saved(
        client, conn: sqlite3.Connection, db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sign_in(client, conn, "cora", "curator")
    form = propose_form(client)
    before = count(conn, "proposals")
    filler = fill_up(db_path.parent)
    caplog.set_level(logging.INFO)

    response = client.post("/mappings/propose", data=form)
    assert response.status_code == 507
    page = response.get_data(as_text=True)
    assert "disk is full; nothing was saved" in page and "Traceback" not in page
    assert "unhandled error" not in caplog.text and "cannot rollback" not in caplog.text
    assert count(conn, "proposals") == before

    assert client.get("/ke/55").status_code == 200, "pages are still served"
    ready = client.get("/readyz").json
    assert ready["writable"] is False and "NOT WRITABLE" in ready["database"]
    assert ready["disk"]["free_bytes"] < ready["disk"]["min_free_bytes"]

    filler.unlink()
    assert client.post("/mappings/propose", data=propose_form(client)).status_code == 303
    assert count(conn, "proposals") == before + 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_readyz_reports_free_space_when_the_disk_has_room(client) -> None:
    body = client.get("/readyz").json
    assert body["writable"] is True
    assert body["disk"]["free_bytes"] >= body["disk"]["min_free_bytes"]
    assert body["database"].startswith("writable")
