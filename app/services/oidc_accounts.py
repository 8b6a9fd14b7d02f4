"""Accounts signed in to with an OpenID Connect provider. No Flask imports.

An identity is (provider, subject): the provider's name in kewp's settings and the `sub` of its
validated ID token. Names and e-mail addresses never identify anyone, so a provider's "cora" can
never sign in as the local account cora. The first sign-in of an identity creates a curator
account without a password, named from the provider's display name plus ".provider"
(`Jane-Doe.orcid`), with an invite code unless the site lets anyone in (KEWP_OIDC_NEW_ACCOUNTS).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from collections.abc import Mapping
from typing import Any

from ..db import write_transaction
from . import invites, users
from .mappings import _audit  # the one audit-row writer

log = logging.getLogger(__name__)

ROLE = "curator"
MAX_DISPLAY = 80


class SignInRefused(ValueError):
    """This identity may not sign in (disabled account, unusable claims); str() says why and what to do."""


def display_name(claims: Mapping[str, Any]) -> str:
    """The person's name from the ID token: `name`, else given + family name, else a
    `preferred_username` that is not an e-mail address; never the e-mail."""
    name = str(claims.get("name") or "").strip()
    if not name:
        name = " ".join(str(claims.get(k) or "").strip() for k in ("given_name", "family_name")).strip()
    if not name:
        preferred = str(claims.get("preferred_username") or "").strip()
        name = preferred if "@" not in preferred else ""
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    return name[:MAX_DISPLAY] or "curator"


def _handle(name: str, provider: str) -> str:
    """A user name from a display name: ASCII letters, digits, '.', '-' and the provider's suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-")[:38 - len(provider) - 3] or "curator"
    return f"{base}.{provider}"


def _verified_email(claims: Mapping[str, Any]) -> str | None:
    email = str(claims.get("email") or "").strip()
    if claims.get("email_verified") is True and "@" in email and len(email) <= 254 and "\n" not in email:
        return email
    return None


def find(conn: sqlite3.Connection, provider: str, subject: str, claims: Mapping[str, Any]) -> users.User | None:
    """The account of a known identity (its display name refreshed), None for a new one;
    SignInRefused when that account is disabled."""
    row = conn.execute("SELECT i.id, u.id AS user_id, u.active, u.username FROM oidc_identities i "
                       "JOIN users u ON u.id = i.user_id WHERE i.provider = ? AND i.subject = ?",
                       (provider, subject)).fetchone()
    if row is None:
        return None
    if not row["active"]:
        raise SignInRefused(f"the account {row['username']!r} is disabled; ask an admin to enable it "
                            "(`flask --app app users enable`)")
    with write_transaction(conn):
        conn.execute("UPDATE oidc_identities SET display_name = ?, "
                     "last_sign_in_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                     (display_name(claims), row["id"]))
    return users.get_user(conn, row["user_id"])


def create(conn: sqlite3.Connection, provider: str, subject: str, claims: Mapping[str, Any],
           invite_code: str | None) -> users.User:
    """A new curator account for this identity, in one write transaction with the identity row,
    the invite's use (when a code is given) and an audit row; InviteError when the code is refused,
    SignInRefused when the identity exists already."""
    if not subject or len(subject) > 255:
        raise SignInRefused("the provider's ID token has no usable subject (sub); sign-in cannot continue")
    name = display_name(claims)
    handle = _handle(name, provider)
    if invite_code is not None:
        invites.check(conn, invite_code)                       # a clear refusal before the lock
    with write_transaction(conn):
        if conn.execute("SELECT 1 FROM oidc_identities WHERE provider = ? AND subject = ?",
                        (provider, subject)).fetchone():
            raise SignInRefused("this identity has an account already; sign in again")
        username, n = handle, 1
        while conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            n += 1
            username = f"{handle}-{n}"
        user = users.insert_user(conn, username, ROLE, None)
        conn.execute("UPDATE users SET email = ? WHERE id = ?", (_verified_email(claims), user.id))
        invite = invites.use(conn, invite_code, user.id) if invite_code is not None else None
        cur = conn.execute("INSERT INTO oidc_identities (provider, subject, user_id, display_name, last_sign_in_at) "
                           "VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                           (provider, subject, user.id, name))
        _audit(conn, username, "registered", "user", user.id, before=None,
               after={"username": username, "role": ROLE, "provider": provider, "identity_id": cur.lastrowid,
                      **({"invite_id": invite.id, "invite_label": invite.label} if invite else {})})
    log.info("%s: curator account created at first sign-in with %s", username, provider)
    return user


def identities_of(conn: sqlite3.Connection, user_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT provider, display_name, created_at, last_sign_in_at FROM oidc_identities "
                        "WHERE user_id = ? ORDER BY provider", (user_id,)).fetchall()
