"""Issue 18 (extra): invite codes (label, expiry, number of uses) with which people create their own curator
accounts; refused with a clear message, and nothing written, when unknown, expired or used up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.services import invites, users

from .helpers import PASSWORD, count, csrf_token

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def register_form(client, code: str, username: str = "nia", **overrides: str) -> dict[str, str]:
    data = {"code": code, "username": username, "password": PASSWORD, "password_again": PASSWORD,
            "csrf_token": csrf_token(client, "/register")}
    data.update(overrides)
    return data


def test_an_invite_stores_only_the_hash_of_its_code_and_an_audit_row(conn):
    invite, code = invites.create(conn, "Maastricht workshop", days=7, max_uses=3, created_by="ada", now=NOW)
    assert (invite.label, invite.max_uses, invite.uses, invite.expires_at) == ("Maastricht workshop", 3, 0,
                                                                              "2026-12-09T12:00:00Z")
    assert count(conn, "invites", "code_hash = ?", invites.hash_code(code)) == 1
    assert code not in json.dumps([tuple(r) for r in conn.execute("SELECT * FROM invites")])
    assert count(conn, "audit_log", "entity = 'invite' AND action = 'created'") == 1


@pytest.mark.parametrize(("label", "days", "uses", "words"), [
    ("", 7, 1, "label"), ("x" * 101, 7, 1, "label"), ("Lab", 0, 1, "1 to 365 days"), ("Lab", 7, 0, "1 to 1000 times"),
    ("Lab\x1b", 7, 1, "control character"),
])
def test_a_bad_invite_is_refused_with_the_reason_and_nothing_is_written(conn, label, days, uses, words):
    with pytest.raises(invites.InviteError, match=words):
        invites.create(conn, label, days=days, max_uses=uses, created_by="ada")
    assert count(conn, "invites") == 0


def test_redeeming_creates_a_curator_counts_the_use_and_records_it(conn):
    invite, code = invites.create(conn, "Lab", days=7, max_uses=2, created_by="ada")
    user = invites.redeem(conn, code, "nia", PASSWORD)
    assert (user.username, user.role) == ("nia", "curator")
    assert users.authenticate(conn, "nia", PASSWORD) is not None
    assert conn.execute("SELECT uses FROM invites").fetchone()[0] == 1
    assert conn.execute("SELECT invite_id FROM users WHERE username = 'nia'").fetchone()[0] == invite.id
    (row,) = conn.execute("SELECT * FROM audit_log WHERE action = 'registered'").fetchall()
    assert json.loads(row["after"])["invite_label"] == "Lab" and "password" not in row["after"]


def test_an_unknown_code_is_refused(conn):
    with pytest.raises(invites.InviteError, match="not valid"):
        invites.redeem(conn, "no-such-code", "nia", PASSWORD)
    assert count(conn, "users") == 0


def test_an_expired_invite_is_refused_with_its_expiry(conn):
    _, code = invites.create(conn, "Lab", days=1, max_uses=5, created_by="ada", now=NOW)
    with pytest.raises(invites.InviteError, match="expired on 2026-12-03 at 12:00 UTC"):
        invites.redeem(conn, code, "nia", PASSWORD, now=NOW + timedelta(days=2))
    assert count(conn, "users") == 0


def test_a_used_up_invite_is_refused_and_counts_no_further_use(conn):
    _, code = invites.create(conn, "Lab", days=7, max_uses=1, created_by="ada")
    invites.redeem(conn, code, "nia", PASSWORD)
    with pytest.raises(invites.InviteError, match="used 1 time, as many as it allows"):
        invites.redeem(conn, code, "omar", PASSWORD)
    assert count(conn, "users") == 1
    assert conn.execute("SELECT uses FROM invites").fetchone()[0] == 1


def test_a_bad_account_counts_no_use(conn):
    _, code = invites.create(conn, "Lab", days=7, max_uses=1, created_by="ada")
    invites.redeem(conn, code, "nia", PASSWORD)
    _, other = invites.create(conn, "Lab 2", days=7, max_uses=3, created_by="ada")
    for name, password, words in (("nia", PASSWORD, "already exists"), ("x", PASSWORD, "user name"),
                                  ("omar", "short", "at least 10")):
        with pytest.raises(users.UserError, match=words):
            invites.redeem(conn, other, name, password)
    assert conn.execute("SELECT uses FROM invites WHERE label = 'Lab 2'").fetchone()[0] == 0


def test_the_register_page_fills_in_the_code_from_the_link(client):
    page = client.get("/register?code=abc123").get_data(as_text=True)
    assert 'name="code" value="abc123"' in page and 'name="csrf_token"' in page


def test_registering_over_http_creates_the_account_and_signs_in(client, conn):
    _, code = invites.create(conn, "Lab", days=7, max_uses=1, created_by="ada")
    response = client.post("/register", data=register_form(client, code))
    assert response.status_code == 303
    assert "nia (curator)" in client.get("/").get_data(as_text=True)


def test_registering_without_a_csrf_token_is_400_and_creates_nothing(client, conn):
    _, code = invites.create(conn, "Lab", days=7, max_uses=1, created_by="ada")
    data = register_form(client, code)
    del data["csrf_token"]
    assert client.post("/register", data=data).status_code == 400
    assert count(conn, "users") == 0


def test_a_refused_registration_says_why_and_keeps_what_was_typed(client, conn):
    _, code = invites.create(conn, "Lab", days=7, max_uses=1, created_by="ada")
    response = client.post("/register", data=register_form(client, code, password_again="something else"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The two passwords differ" in page and 'value="nia"' in page and f'value="{code}"' in page
    used_up = client.post("/register", data=register_form(client, "nope"))
    assert "not valid" in used_up.get_data(as_text=True)
    assert count(conn, "users") == 0


def test_the_cli_creates_an_invite_and_prints_its_code_and_link_once(app, conn):
    result = app.test_cli_runner().invoke(args=["invites", "create", "--label", "Lab", "--days", "3",
                                                "--max-uses", "2"])
    assert result.exit_code == 0, result.output
    code = result.output.split("code: ")[1].split()[0]
    assert f"/register?code={code}" in result.output
    assert invites.check(conn, code).max_uses == 2
    listed = app.test_cli_runner().invoke(args=["invites", "list"])
    assert "Lab" in listed.output and "0/2" in listed.output and code not in listed.output


def test_the_cli_refuses_a_bad_invite_with_the_reason(app, conn):
    result = app.test_cli_runner().invoke(args=["invites", "create", "--label", "Lab", "--days", "400"])
    assert result.exit_code != 0 and "1 to 365 days" in result.output
    assert count(conn, "invites") == 0
