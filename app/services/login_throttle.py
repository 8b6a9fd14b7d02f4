"""Failed sign-ins counted in the database, so every Gunicorn worker sees the same counts.
No Flask imports.

Two counters per attempt: the account name (lower case, whether or not the account exists,
so the answer never says which names are real) and the client address. After `free`
failures each further attempt on that counter must wait, doubling from `backoff` seconds up
to `backoff_max`. A successful sign-in clears the account's counter; the address counter is
only forgotten with time (else an attacker with one good account could reset it).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from ..db import write_transaction

# A counter with no failure for this long starts again from zero.
FORGET_AFTER = 24 * 3600
# Longer names cannot be accounts (USERNAME allows 39 characters); keys stay small.
MAX_NAME = 64


@dataclass(frozen=True)
class Policy:
    account_free: int
    address_free: int
    backoff: int
    backoff_max: int

    def wait(self, failures: int, free: int) -> int:
        if failures < free:
            return 0
        return min(self.backoff_max, self.backoff * 2 ** min(failures - free, 30))


def _keys(policy: Policy, username: str, address: str) -> list[tuple[str, int]]:
    return [(f"user:{username[:MAX_NAME].casefold()}", policy.account_free), (f"addr:{address}", policy.address_free)]


def retry_after(conn: sqlite3.Connection, policy: Policy, username: str, address: str,
                at: int | None = None) -> int:
    """Seconds before this account name may be tried from this address; 0 means now."""
    at = int(time.time()) if at is None else at
    keys = [key for key, _ in _keys(policy, username, address)]
    row = conn.execute("SELECT max(locked_until) FROM login_failures WHERE key IN (?, ?) AND last_failure > ?",
                       (*keys, at - FORGET_AFTER)).fetchone()
    return max(0, (row[0] or 0) - at)


def record_failure(conn: sqlite3.Connection, policy: Policy, username: str, address: str,
                   at: int | None = None) -> None:
    """Count one failed sign-in on both counters (one transaction), and drop forgotten ones."""
    at = int(time.time()) if at is None else at
    with write_transaction(conn):
        conn.execute("DELETE FROM login_failures WHERE last_failure <= ?", (at - FORGET_AFTER,))
        for key, free in _keys(policy, username, address):
            row = conn.execute("SELECT failures FROM login_failures WHERE key = ?", (key,)).fetchone()
            failures = (row["failures"] if row else 0) + 1
            conn.execute("INSERT INTO login_failures (key, failures, last_failure, locked_until) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, "
                         "last_failure = excluded.last_failure, locked_until = excluded.locked_until",
                         (key, failures, at, at + policy.wait(failures, free)))


def clear_account(conn: sqlite3.Connection, username: str) -> None:
    """After a successful sign-in; writes only when there is something to clear."""
    key = f"user:{username[:MAX_NAME].casefold()}"
    if conn.execute("SELECT 1 FROM login_failures WHERE key = ?", (key,)).fetchone():
        with write_transaction(conn):
            conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))
