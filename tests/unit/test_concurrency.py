"""16 writers at once against one WAL database: no "database is locked" reaches a user, no write is lost.

Each variant starts 16 writers behind a barrier; each proposes and approves its own
distinct KE -> pathway mappings. Afterwards the rows are counted: mappings == approved
proposals == successful calls, three audit rows per mapping, and zero lock errors.
Variants: threads and processes through the service layer; threads over HTTP against an
in-process threaded werkzeug server; and over HTTP against gunicorn (4 sync worker
processes, preloaded app).
"""

from __future__ import annotations

import http.cookiejar
import logging
import multiprocessing
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from app import db
from app.db import DatabaseBusy
from app.services import mappings as svc
from app.services import users

from .helpers import HIGH, PASSWORD, RATIONALE, REPO, free_port

log = logging.getLogger(__name__)
WRITERS = 16
PER_WRITER = 4
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def distinct_pairs(db_path: Path, n: int) -> list[tuple[str, str]]:
    conn = db.connect(db_path)
    try:
        kes = [r[0] for r in conn.execute("SELECT ke_id FROM key_events ORDER BY ke_id LIMIT ?", (n,))]
        wps = [r[0] for r in conn.execute("SELECT wp_id FROM pathways ORDER BY wp_id LIMIT ?", (n,))]
    finally:
        conn.close()
    assert len(kes) == len(wps) == n
    return list(zip(kes, wps, strict=True))


def chunks(pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    return [pairs[i::WRITERS] for i in range(WRITERS)]


def is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, DatabaseBusy) or "locked" in str(exc).lower() or "busy" in str(exc).lower()


def write_mappings(db_path: str, pairs: list[tuple[str, str]], writer: int,
                   barrier: Any) -> dict[str, Any]:
    """Propose and approve each pair through the service layer; count outcomes, never raise."""
    outcome: dict[str, Any] = {"ok": 0, "locked": 0, "errors": []}
    conn = db.connect(db_path)
    try:
        barrier.wait(timeout=30)
        for ke_id, wp_id in pairs:
            try:
                data = svc.clean_proposal(conn, {"ke": ke_id, "wp": wp_id, **HIGH, "rationale": RATIONALE})
                proposal_id = svc.propose(conn, f"curator{writer}", data)
                svc.approve(conn, proposal_id, "ada")
                outcome["ok"] += 1
            except (sqlite3.Error, svc.MappingError, DatabaseBusy) as exc:
                if is_lock_error(exc):
                    outcome["locked"] += 1
                else:
                    outcome["errors"].append(f"{ke_id} {wp_id}: {exc!r}")
    finally:
        conn.close()
    return outcome


def _process_main(db_path: str, pairs: list[tuple[str, str]], writer: int, barrier: Any, queue: Any) -> None:
    try:
        queue.put(write_mappings(db_path, pairs, writer, barrier))
    finally:
        queue.close()
        queue.join_thread()
        os._exit(0)  # skip interpreter teardown of anything inherited from the forked parent


def assert_nothing_lost(db_path: Path, outcomes: list[dict[str, Any]], expected: int) -> None:
    ok = sum(o["ok"] for o in outcomes)
    locked = sum(o["locked"] for o in outcomes)
    errors = [e for o in outcomes for e in o["errors"]]
    conn = db.connect(db_path)
    try:
        def n(sql: str) -> int:
            return conn.execute(sql).fetchone()[0]
        counts = (n("SELECT count(*) FROM mappings"), n("SELECT count(*) FROM proposals WHERE status = 'approved'"),
                  n("SELECT count(*) FROM audit_log"), n("SELECT count(*) FROM proposals"))
    finally:
        conn.close()
    assert locked == 0, f"{locked} 'database is locked' errors reached a caller"
    assert errors == []
    assert ok == expected
    assert counts == (ok, ok, 3 * ok, ok), "mappings, approved proposals, audit rows, proposals"


def run_threads(target: Callable[[int, threading.Barrier], dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    barrier = threading.Barrier(WRITERS)
    outcomes: list[dict[str, Any]] = [{}] * WRITERS

    def run(i: int) -> None:
        outcomes[i] = target(i, barrier)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return outcomes, time.monotonic() - start


def test_sixteen_threads_writing_mappings_lose_nothing_and_never_see_a_lock(db_path):
    work = chunks(distinct_pairs(db_path, WRITERS * PER_WRITER))
    outcomes, seconds = run_threads(lambda i, barrier: write_mappings(str(db_path), work[i], i, barrier))
    assert_nothing_lost(db_path, outcomes, WRITERS * PER_WRITER)
    log.info("threads: %d writers, %d mappings (%d transactions) in %.2fs", WRITERS, WRITERS * PER_WRITER,
             2 * WRITERS * PER_WRITER, seconds)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_sixteen_processes_writing_mappings_lose_nothing_and_never_see_a_lock(db_path):
    work = chunks(distinct_pairs(db_path, WRITERS * PER_WRITER))
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(WRITERS), ctx.Queue()
    processes = [ctx.Process(target=_process_main, args=(str(db_path), work[i], i, barrier, queue))
                 for i in range(WRITERS)]
    start = time.monotonic()
    for p in processes:
        p.start()
    outcomes = [queue.get(timeout=60) for _ in processes]
    for p in processes:
        p.join(timeout=10)
    seconds = time.monotonic() - start
    assert [p.exitcode for p in processes] == [0] * WRITERS
    assert_nothing_lost(db_path, outcomes, WRITERS * PER_WRITER)
    log.info("processes: %d writers, %d mappings in %.2fs", WRITERS, WRITERS * PER_WRITER, seconds)


def test_sixteen_threads_proposing_the_same_pair_get_one_proposal_and_fifteen_clear_refusals(db_path):
    def attempt(i: int, barrier: threading.Barrier) -> dict[str, Any]:
        conn = db.connect(db_path)
        try:
            data = svc.clean_proposal(conn, {"ke": "KE 55", "wp": "WP254", **HIGH, "rationale": RATIONALE})
            barrier.wait(timeout=30)
            svc.propose(conn, f"curator{i}", data)
            return {"ok": 1}
        except svc.DuplicateProposal as exc:
            return {"duplicate": 1, "first": exc.proposal_id}
        except (sqlite3.Error, DatabaseBusy) as exc:
            return {"locked" if is_lock_error(exc) else "error": repr(exc)}
        finally:
            conn.close()

    outcomes, _ = run_threads(attempt)
    assert sum(o.get("ok", 0) for o in outcomes) == 1
    assert sum(o.get("duplicate", 0) for o in outcomes) == WRITERS - 1
    assert {o.get("first") for o in outcomes if "duplicate" in o} == {1}
    conn = db.connect(db_path)
    try:
        assert conn.execute("SELECT count(*) FROM proposals").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
    finally:
        conn.close()


# --- over HTTP --------------------------------------------------------------------------------

class Browser:
    """A cookie-keeping HTTP client that fills in the CSRF token like a browser would."""

    def __init__(self, base: str, cookies: http.cookiejar.CookieJar | None = None) -> None:
        self.base = base
        self.token: str | None = None  # a session's CSRF token is valid for every form, as in a browser tab
        self.cookies = cookies if cookies is not None else http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies),
                                                  _NoRedirect())

    def get(self, path: str) -> tuple[int, str]:
        return self._send(urllib.request.Request(self.base + path))

    def post(self, path: str, form_path: str, data: dict[str, str]) -> tuple[int, str]:
        if self.token is None:
            status, page = self.get(form_path)
            token = TOKEN.search(page)
            assert token, f"no CSRF token on {form_path} ({status})"
            self.token = token.group(1)
        body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode()
        return self._send(urllib.request.Request(self.base + path, data=body, method="POST"))

    def _send(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def http_write_mappings(browser: Browser, pairs: list[tuple[str, str]], barrier: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = {"ok": 0, "locked": 0, "errors": []}
    barrier.wait(timeout=30)
    for ke_id, wp_id in pairs:
        status, page = browser.post("/mappings/propose", "/mappings/propose", {
            "ke": ke_id, "wp": wp_id, **HIGH, "rationale": RATIONALE, "step": "submit",
            "confirmed_confidence": "high"})
        location = re.search(r"/mappings/proposals/(\d+)", page) if status == 303 else None
        if status == 303 and location:
            status, page = browser.post(f"/review/{location.group(1)}/approve", "/review", {})
            if status == 303:
                outcome["ok"] += 1
                continue
        if status == 503 or "locked" in page:
            outcome["locked"] += 1
        else:
            outcome["errors"].append(f"{ke_id} {wp_id}: HTTP {status}")
    return outcome


def signed_in_browsers(base: str, n: int) -> list[Browser]:
    """One admin sign-in (one password hash check), copied into n browsers with their own cookie jars."""
    browser = Browser(base)
    status, _ = browser.post("/login", "/login", {"username": "ada", "password": PASSWORD})
    assert status == 302, f"sign-in failed: HTTP {status}"
    status, page = browser.get("/mappings/propose")  # puts the CSRF secret into the signed-in session
    token = TOKEN.search(page)
    assert status == 200 and token, f"no propose form after sign-in: HTTP {status}"
    browsers = []
    for _ in range(n):
        jar = http.cookiejar.CookieJar()
        for cookie in browser.cookies:
            jar.set_cookie(cookie)
        copy = Browser(base, jar)
        copy.token = token.group(1)
        browsers.append(copy)
    return browsers


def test_sixteen_threads_over_http_lose_nothing_and_never_see_a_lock(make_app, db_path):
    app = make_app(ALLOW_SELF_REVIEW=True)  # one admin proposes and approves (a single-admin site)
    conn = db.connect(db_path)
    users.create_user(conn, "ada", "admin", PASSWORD)
    conn.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        browsers = signed_in_browsers(base, WRITERS)
        work = chunks(distinct_pairs(db_path, WRITERS * 2))
        outcomes, seconds = run_threads(lambda i, barrier: http_write_mappings(browsers[i], work[i], barrier))
    finally:
        server.shutdown()
    assert_nothing_lost(db_path, outcomes, WRITERS * 2)
    log.info("werkzeug threaded: %d clients, %d mappings over HTTP in %.2fs", WRITERS, WRITERS * 2, seconds)


def test_sixteen_clients_against_gunicorn_workers_lose_nothing_and_never_see_a_lock(db_path, tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed in this environment")
    conn = db.connect(db_path)
    users.create_user(conn, "ada", "admin", PASSWORD)
    conn.close()
    port = free_port()
    # The production settings that matter here (sync workers, preload, several processes), without
    # the repo config's post_fork hook, which imports torch into every worker (seconds each).
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(f'bind = "127.0.0.1:{port}"\nworkers = 4\nworker_class = "sync"\npreload_app = True\n'
                      'control_socket_disable = True\nloglevel = "warning"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_ENV="testing", KEWP_DATABASE=str(db_path), KEWP_EMBEDDINGS_DIR=str(tmp_path / "none"),
               KEWP_LOAD_MODEL="false", KEWP_SECRET_KEY="x" * 40,
               KEWP_ALLOW_SELF_REVIEW="true")  # one admin proposes and approves (a single-admin site)
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen([str(gunicorn), "-c", str(config), "app:create_app()"], cwd=REPO, env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
        browsers = signed_in_browsers(base, WRITERS)
        work = chunks(distinct_pairs(db_path, WRITERS * 2))
        outcomes, seconds = run_threads(lambda i, barrier: http_write_mappings(browsers[i], work[i], barrier))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert_nothing_lost(db_path, outcomes, WRITERS * 2)
    log.info("gunicorn 4 workers: %d clients, %d mappings over HTTP in %.2fs", WRITERS, WRITERS * 2, seconds)
