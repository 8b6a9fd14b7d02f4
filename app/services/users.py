"""Local user accounts: creation, password checks and lookups. No Flask imports."""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from ..db import write_transaction
from . import sessions

ROLES = ("curator", "admin")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,38}$")
MIN_PASSWORD = 10
# Checked against when the user does not exist, so a login takes as long either way.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    github_login: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(row["id"], row["username"], row["role"], row["github_login"])


def create_user(conn: sqlite3.Connection, username: str, role: str, password: str | None = None,
                github_login: str | None = None) -> tuple[User, str | None]:
    """Create an account; returns it and the generated password when none was given."""
    generated = None
    if password is None and github_login is None:
        password = generated = secrets.token_urlsafe(12)
    pw_hash = check_new_account(username, role, password)
    try:
        with write_transaction(conn):
            user = insert_user(conn, username, role, pw_hash, github_login)
    except sqlite3.IntegrityError:
        raise UserError(f"a user named {username!r} already exists") from None
    return user, generated


def check_new_account(username: str, role: str, password: str | None) -> str | None:
    """Check a new account's name, role and password (UserError saying what is wrong); returns the
    password's hash (slow: call it before taking the write lock)."""
    if not USERNAME.match(username or ""):
        raise UserError(f"user name {username!r} must be 2-39 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
    return generate_password_hash(password) if password is not None else None


def insert_user(conn: sqlite3.Connection, username: str, role: str, pw_hash: str | None,
                github_login: str | None = None) -> User:
    """The INSERT of a checked account, inside the caller's write transaction (IntegrityError: name taken)."""
    cur = conn.execute("INSERT INTO users (username, password_hash, role, github_login) VALUES (?, ?, ?, ?)",
                       (username, pw_hash, role, github_login))
    return User(cur.lastrowid, username, role, github_login)


def authenticate(conn: sqlite3.Connection, username: str, password: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE username = ? AND active = 1", (username,)).fetchone()
    if row is None or row["password_hash"] is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return _user(row) if check_password_hash(row["password_hash"], password) else None


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    return _user(conn.execute("SELECT * FROM users WHERE id = ? AND active = 1", (user_id,)).fetchone())


def user_for_github(conn: sqlite3.Connection, login: str) -> User | None:
    """GitHub sign-in maps to an account an admin created with that GitHub login."""
    return _user(conn.execute("SELECT * FROM users WHERE github_login = ? AND active = 1", (login,)).fetchone())


def record_sign_in(conn: sqlite3.Connection, user_id: int) -> None:
    with write_transaction(conn):
        conn.execute("UPDATE users SET last_sign_in_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                     (user_id,))


# --- admin commands (`flask --app app users ...`); each change that matters ends the user's sessions ---

@dataclass(frozen=True)
class Account:
    username: str
    role: str
    enabled: bool
    active_sessions: int
    last_sign_in_at: str | None


def _find(conn: sqlite3.Connection, username: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise UserError(f"there is no user named {username!r}; `flask --app app users list` shows the accounts")
    return row


def list_accounts(conn: sqlite3.Connection, lifetimes: sessions.Lifetimes) -> list[Account]:
    counts = sessions.active_counts(conn, lifetimes)
    return [Account(row["username"], row["role"], bool(row["active"]), counts.get(row["id"], 0),
                    row["last_sign_in_at"])
            for row in conn.execute("SELECT * FROM users ORDER BY username")]


def set_enabled(conn: sqlite3.Connection, username: str, enabled: bool) -> int:
    """Enable or disable an account; disabling ends its sessions. Returns how many ended."""
    with write_transaction(conn):
        row = _find(conn, username)
        conn.execute("UPDATE users SET active = ? WHERE id = ?", (int(enabled), row["id"]))
        return 0 if enabled else sessions.delete_for_user(conn, row["id"])


def reset_password(conn: sqlite3.Connection, username: str) -> tuple[str, int]:
    """Give the account a new random password and end its sessions; returns (password, sessions ended)."""
    password = secrets.token_urlsafe(12)
    pw_hash = generate_password_hash(password)  # before the lock: hashing is slow
    with write_transaction(conn):
        row = _find(conn, username)
        conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (pw_hash, row["id"]))
        return password, sessions.delete_for_user(conn, row["id"])


def set_role(conn: sqlite3.Connection, username: str, role: str) -> tuple[str, int]:
    """Change the role and end the account's sessions; returns (old role, sessions ended)."""
    if role not in ROLES:
        raise UserError(f"role {role!r} must be one of {', '.join(ROLES)}")
    with write_transaction(conn):
        row = _find(conn, username)
        conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, row["id"]))
        return row["role"], sessions.delete_for_user(conn, row["id"])


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def set_email(conn: sqlite3.Connection, username: str, address: str) -> None:
    """Where the account's review outcomes are mailed (private; "" for none)."""
    address = address.strip()
    if address and (len(address) > 254 or not EMAIL.match(address)):
        raise UserError(f"{address!r} is not an e-mail address like name@example.org")
    with write_transaction(conn):
        conn.execute("UPDATE users SET email = ? WHERE id = ?", (address or None, _find(conn, username)["id"]))


def email_of(conn: sqlite3.Connection, username: str) -> str | None:
    row = conn.execute("SELECT email FROM users WHERE username = ? AND active = 1", (username,)).fetchone()
    return row["email"] if row else None
