"""Invite codes that let someone create their own curator account. No Flask imports.

An admin makes one with a label (who it is for), a lifetime and a number of uses; the code is
shown once and only its sha256 is stored. Redeeming checks the code, its expiry and its uses,
creates the account and counts the use in one write transaction, so two people racing for the
last use cannot both get it. Each step writes an audit row (never the code or a password hash).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..db import write_transaction
from . import text as text_rules
from . import users
from .mappings import _audit  # the one audit-row writer (as mapping_import uses it)

log = logging.getLogger(__name__)

ROLE = "curator"          # an invite never makes an admin
MAX_LABEL = 100
MAX_DAYS = 365
MAX_USES = 1000
CODE_BYTES = 18           # 144 random bits: guessing one is hopeless


class InviteError(ValueError):
    """An invite could not be made or used; str() says why and what to do."""


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Invite:
    id: int
    label: str
    max_uses: int
    uses: int
    expires_at: str
    created_by: str
    created_at: str

    def state(self, now: datetime | None = None) -> str:
        """'open', 'expired' or 'used up'."""
        if self.uses >= self.max_uses:
            return "used up"
        return "expired" if self.expires_at <= _stamp(now or _now()) else "open"


def _invite(row: sqlite3.Row) -> Invite:
    return Invite(row["id"], row["label"], row["max_uses"], row["uses"], row["expires_at"], row["created_by"],
                  row["created_at"])


def create(conn: sqlite3.Connection, label: str, *, days: int, max_uses: int, created_by: str,
           now: datetime | None = None) -> tuple[Invite, str]:
    """A new invite and its code (shown once). InviteError for a bad label, lifetime or number of uses."""
    label = (label or "").strip()
    problem = text_rules.problem(label, "label")
    if problem:
        raise InviteError(problem)
    if not label or len(label) > MAX_LABEL:
        raise InviteError(f"give the invite a label of 1 to {MAX_LABEL} characters saying who it is for")
    if not 1 <= days <= MAX_DAYS:
        raise InviteError(f"an invite lasts 1 to {MAX_DAYS} days, not {days}")
    if not 1 <= max_uses <= MAX_USES:
        raise InviteError(f"an invite can be used 1 to {MAX_USES} times, not {max_uses}")
    code = secrets.token_urlsafe(CODE_BYTES)
    expires = _stamp((now or _now()) + timedelta(days=days))
    with write_transaction(conn):
        cur = conn.execute("INSERT INTO invites (code_hash, label, max_uses, expires_at, created_by) "
                           "VALUES (?, ?, ?, ?, ?)", (hash_code(code), label, max_uses, expires, created_by))
        invite = _invite(conn.execute("SELECT * FROM invites WHERE id = ?", (cur.lastrowid,)).fetchone())
        _audit(conn, created_by, "created", "invite", invite.id, before=None,
               after={"label": label, "max_uses": max_uses, "expires_at": expires})
    log.info("%s created invite %d (%s): %d uses until %s", created_by, invite.id, label, max_uses, expires)
    return invite, code


def list_invites(conn: sqlite3.Connection) -> list[Invite]:
    return [_invite(r) for r in conn.execute("SELECT * FROM invites ORDER BY id DESC")]


def check(conn: sqlite3.Connection, code: str, now: datetime | None = None) -> Invite:
    """The open invite a code names; InviteError saying why not (unknown, expired, used up)."""
    code = (code or "").strip()
    if not code:
        raise InviteError("Give the invite code you were sent.")
    row = conn.execute("SELECT * FROM invites WHERE code_hash = ?", (hash_code(code),)).fetchone()
    if row is None or len(code) > 100:
        raise InviteError("This invite code is not valid: check that you copied all of it, or ask an admin "
                          "for a new one.")
    invite = _invite(row)
    state = invite.state(now)
    if state == "expired":
        raise InviteError(f"This invite expired on {invite.expires_at[:10]} at {invite.expires_at[11:16]} UTC; "
                          "ask an admin for a new one.")
    if state == "used up":
        raise InviteError(f"This invite has been used {invite.uses} time{'s' if invite.uses != 1 else ''}, "
                          "as many as it allows; ask an admin for a new one.")
    return invite


def use(conn: sqlite3.Connection, code: str, user_id: int, now: datetime | None = None) -> Invite:
    """Count one use of the code for the new account `user_id`, inside the caller's write transaction
    (checked again under the lock: the last use may have gone meanwhile); InviteError says why not."""
    invite = check(conn, code, now)
    conn.execute("UPDATE users SET invite_id = ? WHERE id = ?", (invite.id, user_id))
    conn.execute("UPDATE invites SET uses = uses + 1 WHERE id = ?", (invite.id,))
    return invite


def redeem(conn: sqlite3.Connection, code: str, username: str, password: str,
           now: datetime | None = None) -> users.User:
    """Create a curator account with an invite code; InviteError or users.UserError say why not, and then
    nothing is written (no account, no use counted)."""
    check(conn, code, now)                                    # a clear refusal before the slow hash
    pw_hash = users.check_new_account(username, ROLE, password)
    try:
        with write_transaction(conn):
            user = users.insert_user(conn, username, ROLE, pw_hash)
            invite = use(conn, code, user.id, now)
            _audit(conn, username, "registered", "user", user.id, before=None,
                   after={"username": username, "role": ROLE, "invite_id": invite.id, "invite_label": invite.label})
    except sqlite3.IntegrityError:
        raise users.UserError(f"a user named {username!r} already exists; choose another name") from None
    log.info("%s created a curator account with invite %d", username, invite.id)
    return user
