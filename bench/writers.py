"""Curators proposing mappings over HTTP, as the no-JavaScript form does it.

Each writer signs in with its own session (CSRF token from the form), then posts
/mappings/propose with a fresh KE/pathway pair, the four answers, a rationale and the
`confirmed_confidence` the server will compute (app.services.confidence.assess, the same
function), so every post is a commit answered with 303. Used by the curation and the
backup benchmarks.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
from pathlib import Path

from app import db
from app.services import confidence, users

from . import load

PASSWORD = "bench-password-123"  # noqa: S105 (throw-away accounts in a scratch database)
COMMITTED = (303,)


def create_curators(database: Path, count: int, prefix: str = "bench") -> list[str]:
    """`count` curator accounts (password PASSWORD) in the database; returns their names."""
    conn = db.connect(database)
    names = [f"{prefix}{i}" for i in range(count)]
    try:
        existing = {r[0] for r in conn.execute("SELECT username FROM users")}
        for name in names:
            if name not in existing:
                users.create_user(conn, name, "curator", PASSWORD)
    finally:
        conn.close()
    return names


def catalogue_ids(database: Path) -> tuple[list[str], list[str]]:
    conn = sqlite3.connect(database)
    try:
        kes = [r[0] for r in conn.execute("SELECT ke_id FROM key_events ORDER BY ke_id")]
        wps = [r[0] for r in conn.execute("SELECT wp_id FROM pathways ORDER BY wp_id")]
    finally:
        conn.close()
    return kes, wps


class Writers:
    """Signed-in sessions and a never-repeating supply of KE/pathway pairs."""

    def __init__(self, port: int, database: Path, count: int) -> None:
        self.port = port
        self.kes, self.wps = catalogue_ids(database)
        self.names = create_curators(database, count)
        self.sessions: list[load.Session] = []
        self.tokens: list[str] = []
        self._pairs = itertools.count()
        self._lock = threading.Lock()
        self.locked_errors = 0
        self.rng = random.Random(7)

    def sign_in(self) -> None:
        """Sign every writer in (through the app, 2 at a time so logins do not time out)."""
        def one(_client: int, n: int) -> tuple[int, str]:
            session = load.Session(self.port)
            session.login(self.names[n], PASSWORD)
            token = session.csrf_token("/mappings/propose")
            with self._lock:
                self.sessions.append(session)
                self.tokens.append(token)
            return 200, ""
        result = load.run(2, one, total=len(self.names), seconds=300)
        if len(self.sessions) != len(self.names):
            raise RuntimeError(f"only {len(self.sessions)} of {len(self.names)} writers signed in: "
                               f"{[o.error for o in result.outcomes if o.error][:3]}")

    def _form(self, n: int, token: str) -> dict[str, str]:
        ke = self.kes[n % len(self.kes)]
        wp = self.wps[(n // len(self.kes) + n) % len(self.wps)]
        answers = {q.name: self.rng.choice(q.values) for q in confidence.QUESTIONS}
        return {"csrf_token": token, "ke": ke, "wp": wp, "score": "0.5", **answers,
                "rationale": f"bench proposal {n}: shared genes and a matching process",
                "confirmed_confidence": confidence.assess(answers).level, "step": "submit"}

    def propose(self, writer: int) -> tuple[int, str]:
        with self._lock:
            n = next(self._pairs)
        status, body = self.sessions[writer].request("POST", "/mappings/propose", self._form(n, self.tokens[writer]))
        error = ""
        if status not in COMMITTED:
            error = body[:300].decode(errors="replace")
            if b"database is locked" in body:
                with self._lock:
                    self.locked_errors += 1
        return status, error

    def run(self, count: int, total: int, seconds: float, stop: threading.Event | None = None) -> load.LoadResult:
        """`count` of the signed-in writers propose until `total` posts or `seconds` pass."""
        return load.run(count, lambda client, _n: self.propose(client), total=total, seconds=seconds, stop=stop)
