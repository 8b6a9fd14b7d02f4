"""The one module that opens SQLite connections, migrates the schema and runs writes.

Every connection uses WAL, a busy timeout, synchronous=NORMAL and foreign keys. Writes go
through `write_transaction`, which takes the write lock up front (BEGIN IMMEDIATE, so two
writers never deadlock upgrading a read lock) and retries when the database stays busy
past the timeout instead of surfacing "database is locked" to a curator.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 5000
# Total time a write may wait for the lock before the caller gets DatabaseBusy.
WRITE_RETRY_SECONDS = 30.0


class DatabaseBusy(RuntimeError):
    """The write lock could not be taken in time; nothing was written."""


class DiskFull(RuntimeError):
    """SQLite could not write for lack of space (SQLITE_FULL); the transaction was rolled back."""


DISK_FULL_MESSAGE = ("the server's disk is full; nothing was saved. Try again later; "
                     "the operators have been alerted (kewpctl status shows the free space)")


# When this process last had a write fail for space (time.time()), per database file, for /readyz.
_disk_full_at: dict[str, float] = {}


def _key(database: str | Path) -> str:
    return str(Path(database).absolute())


def last_disk_full(database: str | Path) -> float | None:
    return _disk_full_at.get(_key(database))


# Below this, an I/O error from SQLite is taken as the disk being full (creating or growing the
# -shm file on a full disk fails with SQLITE_IOERR, not SQLITE_FULL).
_NEARLY_FULL_BYTES = 1024 * 1024


def _is_disk_full(exc: sqlite3.Error, path: str | Path) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc).lower():
        return True
    if (code is not None and code & 0xFF == sqlite3.SQLITE_IOERR) or "disk i/o error" in str(exc).lower():
        try:
            return free_space(path) < _NEARLY_FULL_BYTES
        except OSError:
            return False
    return False


def _disk_full(path: str | Path, exc: sqlite3.Error) -> DiskFull:
    _disk_full_at[_key(path)] = time.time()
    log.error("database %s: disk full: %s", path, exc)
    return DiskFull(DISK_FULL_MESSAGE)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open a connection with the pragmas every kewp connection must have."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    except sqlite3.Error as exc:
        conn.close()
        if _is_disk_full(exc, path):
            raise _disk_full(path, exc) from exc
        raise
    if mode.lower() != "wal":
        conn.close()
        raise RuntimeError(f"{path}: could not switch to WAL (journal_mode={mode}); "
                           "is the data directory on a local filesystem?")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _migrations() -> list[tuple[int, Path]]:
    found = []
    for sql in sorted(MIGRATIONS_DIR.glob("*.sql")):
        found.append((int(sql.name.split("_", 1)[0]), sql))
    return found


def schema_version_expected() -> int:
    return max(v for v, _ in _migrations())


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def check_write_lock(conn: sqlite3.Connection) -> None:
    """Take the write lock, then release it: raises on a read-only file, -wal or directory."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("ROLLBACK")


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration newer than PRAGMA user_version, each in its own transaction."""
    applied = []
    current = schema_version(conn)
    for version, sql in _migrations():
        if version <= current:
            continue
        with write_transaction(conn):
            # Re-check under the write lock: another worker may have migrated meanwhile.
            if schema_version(conn) >= version:
                continue
            for statement in _split_sql(sql.read_text()):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        log.info("migrated database to schema version %d (%s)", version, sql.name)
        applied.append(version)
    return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; triggers contain ';' so use sqlite's own parser."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf and line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf[:80]!r}")
    return statements


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "database is locked" in msg or "database is busy" in msg


@contextmanager
def write_transaction(conn: sqlite3.Connection,
                      retry_seconds: float = WRITE_RETRY_SECONDS) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, retrying the BEGIN while another writer holds the lock.

    Only taking the lock is retried: once the body runs, any error rolls back and
    propagates, so a write is either committed once or not at all.
    """
    deadline = time.monotonic() + retry_seconds
    delay = 0.01
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                if _is_busy(exc):
                    raise DatabaseBusy("the database stayed busy for "
                                       f"{retry_seconds:.0f}s; nothing was written, try again") from exc
                raise
            time.sleep(delay * (1 + random.random()))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2, 0.5)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        # On SQLITE_FULL (and some I/O errors) SQLite has already rolled back by itself: a second
        # ROLLBACK would fail with "no transaction is active" and hide the real error.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            path = conn.execute("PRAGMA database_list").fetchone()[2]
            if _is_disk_full(exc, path):
                raise _disk_full(path, exc) from exc
        raise


def free_space(database: str | Path) -> int:
    """Bytes available to this process on the data directory's file system."""
    st = os.statvfs(Path(database).parent)
    return st.f_bavail * st.f_frsize


# One idle connection per process and database, never closed: while it is open SQLite keeps the
# -wal and -shm files, so a request's new connection does not have to create them again (which
# fails on a full disk and would make every page fail, not just writes).
_keepers: dict[str, tuple[int, sqlite3.Connection]] = {}
_MAX_KEEPERS = 4   # tests open many databases in one process
_inherited: list[sqlite3.Connection] = []


def _keep_open(path: str) -> None:
    kept = _keepers.get(path)
    if kept is not None and kept[0] == os.getpid():
        return
    if kept is not None:   # inherited from the parent: a forked worker opens its own, and never
        _inherited.append(kept[1])   # closes the parent's (that would drop the parent's locks)
    _keepers[path] = (os.getpid(), connect(path))
    while len(_keepers) > _MAX_KEEPERS:
        oldest = next(iter(_keepers))
        pid, conn = _keepers.pop(oldest)
        if pid == os.getpid():
            conn.close()
        else:
            _inherited.append(conn)   # the parent's: kept, never closed here


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        path = current_app.config["DATABASE"]
        _keep_open(path)
        g.db = connect(path)
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    """Create the data directory, migrate the schema, and close connections per request."""
    path = Path(app.config["DATABASE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(conn)
    finally:
        conn.close()
    app.teardown_appcontext(close_db)
