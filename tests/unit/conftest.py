"""Shared fixtures: a real WAL SQLite file per test, seeded from the repo's sample catalogue."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app import create_app, db
from app.services import catalog_import, users

from .helpers import PASSWORD, SEED, SEED_STORE, engine_of, sign_in


@pytest.fixture(scope="session")
def seeded_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole sample catalogue imported once; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "ke_wp_mapping.db"
    conn = db.connect(path)
    db.migrate(conn)
    for name in ("key_events.jsonl", "pathways.jsonl", "kers.jsonl"):
        catalog_import.import_file(conn, SEED / name)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[Path, int], Path]]:
    """mount(dir, size_bytes): a real tmpfs of that size at dir (a disk that can fill up)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(directory: Path, size: int) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0750", "tmpfs", str(directory)],
                                check=False, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(directory)
        return directory

    yield mount
    for directory in reversed(mounted):
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.fixture
def db_path(tmp_path: Path, seeded_db_template: Path) -> Path:
    path = tmp_path / "data" / "ke_wp_mapping.db"
    path.parent.mkdir()
    shutil.copy(seeded_db_template, path)
    return path


@pytest.fixture
def make_app(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    # Tests must not pick up a developer's .env or shell settings.
    for name in list(os.environ):
        if name.startswith("KEWP_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEWP_ENV", "testing")
    monkeypatch.setenv("KEWP_DATABASE", str(db_path))
    monkeypatch.setenv("KEWP_EMBEDDINGS_DIR", str(tmp_path / "no-embeddings"))
    monkeypatch.setenv("KEWP_LOAD_MODEL", "false")

    def factory(**overrides: object):
        return create_app(overrides)
    return factory


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def scoring_app(make_app):
    """The app with the shipped seed store, built from the same catalogue as the test database."""
    app = make_app(EMBEDDINGS_DIR=str(SEED_STORE))
    assert engine_of(app).status()["ready"], engine_of(app).status()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def conn(db_path: Path):
    connection = db.connect(db_path)
    yield connection
    connection.close()


def _user(conn: sqlite3.Connection, name: str, role: str) -> users.User:
    user, _ = users.create_user(conn, name, role, PASSWORD)
    return user


@pytest.fixture
def curator(app, conn) -> users.User:
    return _user(conn, "cora", "curator")


@pytest.fixture
def admin(app, conn) -> users.User:
    return _user(conn, "ada", "admin")


@pytest.fixture
def curator_client(client, conn):
    """The test client signed in as the curator cora (no password hashing)."""
    sign_in(client, conn, "cora", "curator")
    return client


@pytest.fixture
def admin_client(client, conn):
    """The test client signed in as the admin ada."""
    sign_in(client, conn, "ada", "admin")
    return client
