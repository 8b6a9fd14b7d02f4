"""Server-side sessions in the database. No Flask imports.

The browser's cookie carries only a random id; the table stores its sha256, so a copy of
the database (a backup) does not hand out live sessions. A session ends when its row is
deleted (sign-out, "sign out everywhere", an admin disabling the account or resetting its
password or role), when it has been idle too long, or at its absolute end.

Writes are kept rare (SQLite has one writer): a request that changes nothing in the
session writes nothing, except a last-seen touch at most once per TOUCH_EVERY seconds.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..db import write_transaction

# last_seen is refreshed at most this often; the idle limit is therefore exact to a minute.
TOUCH_EVERY = 60
# Flash messages kept in one session: a client that never follows redirects cannot grow it.
MAX_FLASHES = 5


@dataclass(frozen=True)
class Lifetimes:
    """How long a session lives: idle limit, absolute limit, and the absolute limit for
    a signed-out visitor's session (it only holds a CSRF token and flashes)."""
    idle_seconds: int
    max_seconds: int
    anonymous_seconds: int

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Lifetimes:
        """From the app settings (config.py); a signed-out visitor's session lasts no longer
        than the idle limit."""
        idle = settings["SESSION_IDLE_MINUTES"] * 60
        return cls(idle, settings["SESSION_MAX_DAYS"] * 86400, anonymous_seconds=idle)

    def absolute(self, user_id: int | None) -> int:
        return self.max_seconds if user_id is not None else min(self.anonymous_seconds, self.max_seconds)


@dataclass
class StoredSession:
    id_hash: str
    user_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    last_seen: int = 0
    expires_at: int = 0


def new_id() -> str:
    """A fresh cookie value: 256 random bits."""
    return secrets.token_urlsafe(32)


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def now() -> int:
    return int(time.time())


def bound_flashes(data: dict[str, Any]) -> dict[str, Any]:
    """Keep only the newest MAX_FLASHES flash messages (Flask keeps them under '_flashes')."""
    flashes = data.get("_flashes")
    if isinstance(flashes, list) and len(flashes) > MAX_FLASHES:
        data = {**data, "_flashes": flashes[-MAX_FLASHES:]}
    return data


def load(conn: sqlite3.Connection, session_id: str, lifetimes: Lifetimes,
         at: int | None = None) -> StoredSession | None:
    """The live session for a cookie value, or None when it is unknown, expired, idle too long,
    or belongs to an account that is gone or disabled."""
    at = now() if at is None else at
    row = conn.execute(
        "SELECT s.*, u.active FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        (hash_id(session_id),)).fetchone()
    if row is None or row["expires_at"] <= at or row["last_seen"] + lifetimes.idle_seconds <= at:
        return None
    if row["user_id"] is not None and row["active"] != 1:
        return None
    try:
        data = json.loads(row["data"])
    except ValueError:
        data = {}
    return StoredSession(row["id_hash"], row["user_id"], data if isinstance(data, dict) else {},
                         row["last_seen"], row["expires_at"])


def create(conn: sqlite3.Connection, user_id: int | None, data: dict[str, Any], lifetimes: Lifetimes,
           *, replaces: str | None = None, at: int | None = None) -> tuple[str, StoredSession]:
    """Store a new session under a new id (deleting the one it `replaces`, by hash); returns
    the cookie value and the row. Expired rows are cleaned up here, while the lock is held."""
    at = now() if at is None else at
    session_id = new_id()
    stored = StoredSession(hash_id(session_id), user_id, bound_flashes(data), at, at + lifetimes.absolute(user_id))
    with write_transaction(conn):
        if replaces is not None:
            conn.execute("DELETE FROM sessions WHERE id_hash = ?", (replaces,))
        conn.execute("DELETE FROM sessions WHERE expires_at <= ? OR last_seen <= ?",
                     (at, at - lifetimes.idle_seconds))
        conn.execute("INSERT INTO sessions (id_hash, user_id, data, created_at, last_seen, expires_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (stored.id_hash, user_id, json.dumps(stored.data), at, at, stored.expires_at))
    return session_id, stored


def save(conn: sqlite3.Connection, id_hash: str, data: dict[str, Any], at: int | None = None) -> None:
    """Replace a session's data (and touch it)."""
    at = now() if at is None else at
    with write_transaction(conn):
        conn.execute("UPDATE sessions SET data = ?, last_seen = ? WHERE id_hash = ?",
                     (json.dumps(bound_flashes(data)), at, id_hash))


def touch_due(stored: StoredSession, at: int | None = None) -> bool:
    return (now() if at is None else at) - stored.last_seen >= TOUCH_EVERY


def touch(conn: sqlite3.Connection, id_hash: str, at: int | None = None) -> None:
    with write_transaction(conn):
        conn.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now() if at is None else at, id_hash))


def delete(conn: sqlite3.Connection, id_hash: str) -> None:
    with write_transaction(conn):
        conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))


def delete_for_user(conn: sqlite3.Connection, user_id: int) -> int:
    """Delete every session of a user inside the caller's write transaction; returns how many."""
    return conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,)).rowcount


def revoke_user(conn: sqlite3.Connection, user_id: int) -> int:
    """Sign a user out everywhere; returns how many sessions ended."""
    with write_transaction(conn):
        return delete_for_user(conn, user_id)


def active_counts(conn: sqlite3.Connection, lifetimes: Lifetimes, at: int | None = None) -> dict[int, int]:
    """Live sessions per user id."""
    at = now() if at is None else at
    rows = conn.execute("SELECT user_id, count(*) AS n FROM sessions WHERE user_id IS NOT NULL "
                        "AND expires_at > ? AND last_seen > ? GROUP BY user_id",
                        (at, at - lifetimes.idle_seconds))
    return {row["user_id"]: row["n"] for row in rows}
