"""Connections, migrations and the write path of the one database module."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from app import db


def test_every_connection_uses_wal_and_the_required_pragmas(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_MS
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrate_sets_user_version_and_is_idempotent(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    # Every migration file, in order (the numbers need not be contiguous on a branch).
    assert db.migrate(conn) == sorted(int(sql.name[:4]) for sql in db.MIGRATIONS_DIR.glob("*.sql"))
    assert db.schema_version(conn) == db.schema_version_expected()
    assert db.migrate(conn) == []
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"key_events", "pathways", "mappings", "proposals", "audit_log", "users"} <= tables


def test_failed_write_transaction_rolls_back(tmp_path):
    conn = db.connect(tmp_path / "x.db")
    db.migrate(conn)
    with pytest.raises(sqlite3.IntegrityError), db.write_transaction(conn):
        conn.execute("INSERT INTO users (username, role) VALUES ('a', 'curator')")
        conn.execute("INSERT INTO users (username, role) VALUES ('b', 'superuser')")
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_writer_waits_for_the_lock_instead_of_failing(tmp_path):
    path = tmp_path / "x.db"
    first = db.connect(path)
    db.migrate(first)
    second = db.connect(path)
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO users (username, role) VALUES ('holder', 'curator')")
    # Release the lock after longer than one busy_timeout would allow on its own.
    timer = threading.Timer(0.3, lambda: first.execute("COMMIT"))
    timer.start()
    with db.write_transaction(second):
        second.execute("INSERT INTO users (username, role) VALUES ('waiter', 'curator')")
    timer.join()
    assert second.execute("SELECT count(*) FROM users").fetchone()[0] == 2


def test_lock_held_too_long_raises_database_busy_and_writes_nothing(tmp_path):
    path = tmp_path / "x.db"
    holder = db.connect(path)
    db.migrate(holder)
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(db.DatabaseBusy, match="nothing was written"), db.write_transaction(other, retry_seconds=0.3):
        other.execute("INSERT INTO users (username, role) VALUES ('x', 'curator')")
    holder.execute("ROLLBACK")
    assert holder.execute("SELECT count(*) FROM users").fetchone()[0] == 0


def test_split_sql_keeps_trigger_bodies_whole():
    statements = db._split_sql("CREATE TABLE t (x);\nCREATE TRIGGER g AFTER INSERT ON t BEGIN\n"
                               "  SELECT 1; SELECT 2;\nEND;\n")
    assert len(statements) == 2
    assert statements[1].endswith("END;")
