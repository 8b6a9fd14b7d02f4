"""Helpers shared by the app tests: sign-in, forms, proposals, rows, error bodies.

Fixtures live in conftest.py; everything a test imports lives here, so no test module
imports from another.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from app.services import mappings as svc
from app.services import users

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "data" / "seed"
SEED_STORE = SEED / "embeddings"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TRICKY_RATIONALE = 'Apoptosis is "cell death", by definition;\nsee: caspases, BAX, BCL2.\r\nEnd "quote"'


def csrf_token(client, path: str = "/login") -> str:
    """The token a browser would read from a rendered form."""
    match = CSRF.search(client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token in the form at {path}"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client)})


def fill_up(directory: Path) -> Path:
    """Write zeros into directory/filler until the file system is full; returns the file."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


KE, WP = "KE 55", "WP254"
HIGH = {"relationship": "causative", "evidence": "known", "specificity": "includes", "coverage": "key_steps"}
LOW = {"relationship": "responsive", "evidence": "possible", "specificity": "loose", "coverage": "minor"}
RATIONALE = "Apoptosis is the cell death this Key Event describes (PMID 12345)."


def count(conn: sqlite3.Connection, table: str, where: str = "1 = 1", *params: object) -> int:
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]


def proposal(conn: sqlite3.Connection, ke: str = KE, wp: str = WP, answers: dict | None = None,
             score: float | None = 0.71) -> svc.ProposalInput:
    """A valid create; `score` stands in for the engine's score of the pair (tests with the
    real engine are in test_proposal_score.py)."""
    return svc.clean_proposal(conn, {"ke": ke, "wp": wp, "rationale": RATIONALE, **(answers or HIGH)},
                              scorer=lambda _ke, _wp: score)


def propose(conn: sqlite3.Connection, ke: str = KE, wp: str = WP, by: str = "cora", **kwargs: object) -> int:
    return svc.propose(conn, by, proposal(conn, ke, wp, **kwargs))


def approved_mapping(conn: sqlite3.Connection, ke: str = KE, wp: str = WP) -> int:
    return approved_mapping_by(conn, "cora", ke, wp)


def approved_mapping_by(conn: sqlite3.Connection, proposer: str, ke: str = KE, wp: str = WP) -> int:
    """A mapping `proposer` proposed and ada approved; its id."""
    return svc.approve(conn, propose(conn, ke, wp, by=proposer), "ada").mapping_id


def propose_form(client, path: str = "/mappings/propose", **overrides: str) -> dict[str, str]:
    data = {"ke": KE, "wp": WP, **HIGH, "rationale": RATIONALE, "step": "submit",
            "confirmed_confidence": "high", "csrf_token": csrf_token(client, path)}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def sign_in(client, conn: sqlite3.Connection, name: str, role: str) -> users.User:
    """A signed-in session without password hashing (test_auth covers the real sign-in)."""
    user, _ = users.create_user(conn, name, role, github_login=f"gh-{name}")
    with client.session_transaction() as session:
        session["user_id"] = user.id
    return user


def add_mapping(conn: sqlite3.Connection, ke_id: str, wp_id: str, confidence: str, *,
                rationale: str = "Shared biology.", score: float | None = 0.5) -> int:
    """An approved mapping written straight into the table, as the review flow would leave it."""
    cursor = conn.execute(
        "INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
        "rationale, suggestion_score, proposed_by, approved_by, ke_catalog_version, wp_catalog_version) "
        "VALUES (?, ?, 'causative', 'known', 'specific', 'key steps', ?, ?, ?, 'cora', 'ada', 1, 2)",
        (ke_id, wp_id, confidence, rationale, score))
    return cursor.lastrowid


def assert_error(response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["status"] == status
    for word in words:
        assert word in body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def engine_of(app) -> Any:
    """The app's suggestion engine (app.engine.Engine)."""
    from app.engine import get_engine

    with app.app_context():
        return get_engine()


def audit_rows(conn: sqlite3.Connection, action: str, entity: str = "proposal") -> list[sqlite3.Row]:
    """The audit rows of one kind, oldest first (before/after are JSON text)."""
    return conn.execute("SELECT * FROM audit_log WHERE action = ? AND entity = ? ORDER BY id",
                        (action, entity)).fetchall()


def page_text(response) -> str:
    """A response body with runs of white space collapsed, for phrases that span template lines."""
    return " ".join(response.get_data(as_text=True).split())
def parse_sssom(text: str, directory: Path) -> Any:
    """The SSSOM TSV as the reference `sssom` package reads it (a MappingSetDataFrame).

    Not strict: sssom 0.4.21's strict mode refuses every file (its metadata check is inverted);
    the tests look at what it logs instead."""
    from sssom.parsers import parse_sssom_table

    path = directory / "mappings.sssom.tsv"
    path.write_text(text, encoding="utf-8")
    return parse_sssom_table(path)


SITE = "http://127.0.0.1:8000"   # the testing app's KEWP_PUBLIC_URL


def make_release(conn: sqlite3.Connection, db_path: Path, note: str = "", by: str = "ada") -> Any:
    """A release of the approved mappings as they are now, stored beside the test database."""
    from app.services import releases

    return releases.create_release(conn, releases.root_for(db_path), created_by=by, note=note, site=SITE)


def validator_for(spec: dict[str, Any], schema: str) -> Any:
    """A JSON Schema validator for one of the OpenAPI document's component schemas."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    uri = "urn:kewp:openapi"
    registry = Registry().with_resource(uri, Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{uri}#/components/schemas/{schema}"}, registry=registry,
                                format_checker=FormatChecker())


def sign_in_page(page, base: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the login form in a browser page (Playwright)."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 30) -> tuple[int, bytes]:
    """(status, body) of a GET to a real server; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop_server(process: subprocess.Popen, log: Path) -> None:
    """SIGTERM a gunicorn the test started and wait for it; kill it and fail, with its log, if it hangs.

    gunicorn waits up to graceful_timeout (30 s) for its workers, and a loaded 2-core machine can take
    all of it, so this allows 75 s.
    """
    import pytest

    process.terminate()
    try:
        process.wait(timeout=75)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        pytest.fail(f"gunicorn did not stop within 75 s of SIGTERM: {log.read_text()[-3000:]}")
