"""Server-side sessions: an opaque cookie, revocation, rotation, lifetimes, bounded flashes."""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from email.utils import parsedate_to_datetime

import pytest

from app.config import ConfigError, load_settings
from app.services import sessions

from .helpers import HIGH, RATIONALE, csrf_token, login

COOKIE = "session"


def cookie(client) -> str | None:
    found = client.get_cookie(COOKIE)
    return found.value if found else None


def signed_in_as(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return "cora" if "cora (curator)" in page else "ada" if "ada (admin)" in page else "nobody"


def session_rows(conn, where: str = "1 = 1", *params: object) -> list:
    return conn.execute(f"SELECT * FROM sessions WHERE {where}", params).fetchall()


def test_session_cookie_is_a_random_id_and_the_database_keeps_only_its_hash(client, conn, curator):
    login(client, "cora")
    value = cookie(client)
    assert len(value) == 43 and "." not in value  # 256 random bits; not a signed payload
    rows = session_rows(conn, "user_id = ?", curator.id)
    assert [r["id_hash"] for r in rows] == [hashlib.sha256(value.encode()).hexdigest()]
    assert value not in {r["id_hash"] for r in session_rows(conn)}


def test_copied_session_cookie_stops_working_after_sign_out(make_app, app, client, curator):
    login(client, "cora")
    stolen = cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    thief = app.test_client()
    thief.set_cookie(COOKIE, stolen)
    assert signed_in_as(thief) == "nobody"


def test_sign_out_everywhere_ends_every_session_of_that_user_only(app, conn, curator, admin):
    laptop, phone, other = app.test_client(), app.test_client(), app.test_client()
    login(laptop, "cora")
    login(phone, "cora")
    login(other, "ada")
    response = laptop.post("/logout/everywhere", data={"csrf_token": csrf_token(laptop, "/")})
    assert response.status_code == 303
    assert "Signed out everywhere: 2 sessions ended" in laptop.get("/").get_data(as_text=True)
    assert signed_in_as(laptop) == signed_in_as(phone) == "nobody"
    assert signed_in_as(other) == "ada"
    assert session_rows(conn, "user_id = ?", curator.id) == []


def test_sign_out_everywhere_is_offered_to_a_signed_in_user_and_needs_the_csrf_token(client, curator):
    login(client, "cora")
    assert 'action="/logout/everywhere"' in client.get("/").get_data(as_text=True)
    assert client.post("/logout/everywhere").status_code == 400
    assert signed_in_as(client) == "cora"


def test_sign_in_issues_a_new_session_id_so_a_planted_id_is_never_signed_in(app, conn, client, curator):
    csrf_token(client)  # the login form puts a CSRF token in an anonymous session
    planted = cookie(client)
    assert planted is not None
    login(client, "cora")
    assert cookie(client) != planted
    victim_id_user = app.test_client()
    victim_id_user.set_cookie(COOKIE, planted)
    assert signed_in_as(victim_id_user) == "nobody"
    assert session_rows(conn, "id_hash = ?", sessions.hash_id(planted)) == []


def test_session_ends_after_the_idle_limit(make_app, conn, curator):
    client = make_app(SESSION_IDLE_MINUTES=30).test_client()
    login(client, "cora")
    conn.execute("UPDATE sessions SET last_seen = last_seen - 31 * 60")
    assert signed_in_as(client) == "nobody"


def test_activity_within_the_idle_limit_keeps_the_session(make_app, conn, curator):
    client = make_app(SESSION_IDLE_MINUTES=30).test_client()
    login(client, "cora")
    for _ in range(3):  # 3 x 20 idle minutes, each ended by a request
        conn.execute("UPDATE sessions SET last_seen = last_seen - 20 * 60")
        assert signed_in_as(client) == "cora"


def test_session_ends_at_the_absolute_limit_even_when_in_use(client, conn, curator):
    login(client, "cora")
    row = session_rows(conn)[0]
    assert row["expires_at"] - row["created_at"] == 14 * 86400
    conn.execute("UPDATE sessions SET expires_at = ?", (int(time.time()),))
    assert signed_in_as(client) == "nobody"


def test_signed_in_cookie_expires_with_the_session_and_keeps_its_flags(make_app, curator):
    client = make_app(SESSION_COOKIE_SECURE=True, SESSION_MAX_DAYS=3).test_client()
    response = login(client, "cora")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0]).timestamp()
    assert abs(expires - (time.time() + 3 * 86400)) < 60


def test_requests_touch_last_seen_at_most_once_a_minute(client, conn, curator):
    login(client, "cora")
    first = session_rows(conn)[0]["last_seen"]
    for _ in range(5):
        client.get("/")
    assert session_rows(conn)[0]["last_seen"] == first
    conn.execute("UPDATE sessions SET last_seen = last_seen - 61")
    client.get("/")
    assert session_rows(conn)[0]["last_seen"] >= first


def test_a_visitor_who_stores_nothing_gets_no_session_and_no_cookie(client, conn):
    response = client.get("/")
    assert "Set-Cookie" not in response.headers
    assert session_rows(conn) == []


def test_anonymous_session_for_the_login_form_is_short_lived(make_app, conn):
    client = make_app(SESSION_IDLE_MINUTES=60).test_client()
    csrf_token(client)
    row = session_rows(conn)[0]
    assert row["user_id"] is None and row["expires_at"] - row["created_at"] == 3600


def test_expired_sessions_are_deleted_when_a_new_one_is_made(app, conn, curator):
    login(app.test_client(), "cora")
    conn.execute("UPDATE sessions SET expires_at = 1")
    login(app.test_client(), "cora")
    assert len(session_rows(conn, "user_id = ?", curator.id)) == 1


def test_flashes_never_grow_the_cookie_when_redirects_are_not_followed(app, client, conn, admin):
    """A script (or many tabs) that POSTs without following each 303 used to grow the signed
    cookie by one flash per POST, until nginx refused the response header."""
    login(client, "ada")
    token = csrf_token(client, "/mappings/propose")
    start = cookie(client)
    kes = [r[0] for r in conn.execute("SELECT ke_id FROM key_events ORDER BY ke_id LIMIT 20")]
    wps = [r[0] for r in conn.execute("SELECT wp_id FROM pathways ORDER BY wp_id LIMIT 10")]
    pairs = list(itertools.product(kes, wps))[:200]
    assert len(pairs) == 200
    set_cookie_sizes = set()
    for ke_id, wp_id in pairs:
        response = client.post("/mappings/propose", data={
            "ke": ke_id, "wp": wp_id, **HIGH, "rationale": RATIONALE, "step": "submit",
            "confirmed_confidence": "high", "csrf_token": token})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        set_cookie_sizes.update(len(h) for h in response.headers.getlist("Set-Cookie"))
    assert cookie(client) == start and len(start) < 100
    assert set_cookie_sizes == set()
    assert conn.execute("SELECT count(*) FROM proposals").fetchone()[0] == 200
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="flash info"') == sessions.MAX_FLASHES
    assert f"(proposal {200})" in page  # the newest are kept


def test_session_and_throttle_settings_are_checked_at_start_up():
    base = {"KEWP_ENV": "testing"}
    settings = load_settings(base)
    assert (settings["SESSION_IDLE_MINUTES"], settings["SESSION_MAX_DAYS"], settings["LOGIN_FREE_FAILURES"]) == (
        480, 14, 5)
    for env, named in (({"KEWP_SESSION_IDLE_MINUTES": "soon"}, "KEWP_SESSION_IDLE_MINUTES='soon'"),
                       ({"KEWP_SESSION_MAX_DAYS": "0"}, "KEWP_SESSION_MAX_DAYS=0 is out of range"),
                       ({"KEWP_SESSION_IDLE_MINUTES": "3000", "KEWP_SESSION_MAX_DAYS": "1"},
                        "longer than KEWP_SESSION_MAX_DAYS=1"),
                       ({"KEWP_LOGIN_BACKOFF_SECONDS": "60", "KEWP_LOGIN_BACKOFF_MAX_SECONDS": "10"},
                        "KEWP_LOGIN_BACKOFF_MAX_SECONDS=10 is below")):
        with pytest.raises(ConfigError, match=re.escape(named)):
            load_settings(base | env)
