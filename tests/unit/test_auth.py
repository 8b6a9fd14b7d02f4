"""Sign-in, CSRF on forms, the login rate limit, and the users CLI."""

from __future__ import annotations

import re

from app.services import users

from .helpers import PASSWORD, csrf_token, login


def test_curator_signs_in_and_out(client, curator):
    response = login(client, "cora")
    assert response.status_code == 302
    assert "cora (curator)" in client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(client, curator):
    response = login(client, "cora", "wrong password!!")
    assert response.status_code == 401
    assert "Unknown user name or wrong password" in response.get_data(as_text=True)


def test_login_form_without_csrf_token_is_refused(client, curator):
    response = client.post("/login", data={"username": "cora", "password": PASSWORD})
    assert response.status_code == 400
    assert "security token is missing" in response.get_data(as_text=True)
    assert "cora (curator)" not in client.get("/").get_data(as_text=True)


def test_login_redirects_only_to_local_paths(client, curator):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/x", data={
        "username": "cora", "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_failed_sign_ins_are_throttled_with_a_retry_after(make_app, curator):
    client = make_app(LOGIN_FREE_FAILURES=3, LOGIN_BACKOFF_SECONDS=30).test_client()
    codes = [login(client, "cora", "wrong password!!").status_code for _ in range(3)]
    refused = login(client, "cora")  # even the right password waits
    assert codes == [401, 401, 401] and refused.status_code == 429
    assert 28 <= int(refused.headers["Retry-After"]) <= 30
    assert "wait" in refused.get_data(as_text=True)


def test_throttled_json_client_gets_json_and_a_retry_after(make_app, curator):
    client = make_app(LOGIN_FREE_FAILURES=1).test_client()
    login(client, "cora", "wrong password!!")
    token = csrf_token(client)
    refused = client.post("/login", data={"username": "cora", "password": PASSWORD, "csrf_token": token},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["status"] == 429


def test_the_throttle_is_shared_by_two_workers_on_one_database(make_app, curator):
    worker_a, worker_b = make_app(LOGIN_FREE_FAILURES=4), make_app(LOGIN_FREE_FAILURES=4)
    clients = [worker_a.test_client(), worker_b.test_client()]
    codes = [login(clients[i % 2], "cora", "wrong password!!").status_code for i in range(5)]
    assert codes == [401, 401, 401, 401, 429]


def test_backoff_doubles_with_each_further_failure(make_app, conn, curator):
    client = make_app(LOGIN_FREE_FAILURES=2, LOGIN_BACKOFF_SECONDS=10, LOGIN_BACKOFF_MAX_SECONDS=35).test_client()
    waits = []
    for _ in range(5):
        login(client, "cora", "wrong password!!")
        waits.append(conn.execute("SELECT locked_until - last_failure FROM login_failures "
                                  "WHERE key = 'user:cora'").fetchone()[0])
        conn.execute("UPDATE login_failures SET locked_until = 0")  # as if the wait had passed
    assert waits == [0, 10, 20, 35, 35]


def test_unknown_and_known_user_names_get_the_same_answers(make_app, curator):
    app = make_app(LOGIN_FREE_FAILURES=2, LOGIN_BACKOFF_SECONDS=600)
    answers, waits = {}, {}
    for name in ("cora", "nobody-here"):
        client = app.test_client()
        responses = [login(client, name, "wrong password!!") for _ in range(3)]
        # The form's CSRF token and the seconds left differ by nature; the rest must not.
        answers[name] = [(r.status_code, re.sub(r"\d+ seconds|value=\"[^\"]+\"", "X",
                                                r.get_data(as_text=True).replace(name, "NAME")))
                         for r in responses]
        waits[name] = int(responses[-1].headers["Retry-After"])
    assert answers["cora"] == answers["nobody-here"]
    assert [code for code, _ in answers["cora"]] == [401, 401, 429]
    assert abs(waits["cora"] - waits["nobody-here"]) <= 1


def test_the_client_address_is_throttled_across_user_names(make_app, curator):
    client = make_app(LOGIN_FREE_FAILURES=100, LOGIN_ADDRESS_FREE_FAILURES=3).test_client()
    codes = [login(client, f"guess{i}", "wrong password!!").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]


def test_address_behind_the_proxy_is_the_forwarded_one(make_app, curator):
    app = make_app(TRUSTED_PROXIES=1, LOGIN_FREE_FAILURES=100, LOGIN_ADDRESS_FREE_FAILURES=2)

    def attempt(name: str, password: str, forwarded_for: str) -> int:
        client = app.test_client()
        return client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_token(client)},
                           headers={"X-Forwarded-For": forwarded_for}).status_code
    codes = [attempt(f"x{i}", "wrong password!!", "198.51.100.7") for i in range(3)]
    assert codes == [401, 401, 429]
    assert attempt("cora", PASSWORD, "203.0.113.9") == 302  # nginx's own address was not throttled


def test_successful_sign_in_clears_the_account_counter(make_app, conn, curator):
    client = make_app(LOGIN_FREE_FAILURES=3).test_client()
    login(client, "cora", "wrong password!!")
    login(client, "cora", "wrong password!!")
    assert login(client, "cora").status_code == 302
    assert conn.execute("SELECT count(*) FROM login_failures WHERE key = 'user:cora'").fetchone()[0] == 0


def test_users_add_cli_prints_a_generated_password_once(app, conn):
    result = app.test_cli_runner().invoke(args=["users", "add", "newbie", "--role", "admin"])
    assert result.exit_code == 0, result.output
    password = result.output.split("password: ")[1].split()[0]
    assert users.authenticate(conn, "newbie", password).is_admin


def test_users_add_cli_refuses_duplicates_and_bad_roles(app, curator):
    duplicate = app.test_cli_runner().invoke(args=["users", "add", "cora"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    bad_role = app.test_cli_runner().invoke(args=["users", "add", "x1", "--role", "root"])
    assert bad_role.exit_code != 0


def test_short_password_is_refused(conn):
    try:
        users.create_user(conn, "shorty", "curator", "short")
    except users.UserError as exc:
        assert "at least" in str(exc)
    else:
        raise AssertionError("a short password was accepted")


# --- users CLI: list, disable, enable, reset-password, set-role --------------------------

def users_cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["users", *args])


def test_users_list_shows_role_enabled_sessions_and_last_sign_in(app, curator, admin):
    login(app.test_client(), "cora")
    login(app.test_client(), "cora")
    result = users_cli(app, "list")
    assert result.exit_code == 0, result.output
    header, ada, cora = result.output.splitlines()
    assert header.split() == ["username", "role", "enabled", "sessions", "last", "sign-in"]
    assert ada.split() == ["ada", "admin", "yes", "0", "never"]
    assert cora.split()[:4] == ["cora", "curator", "yes", "2"] and cora.split()[4].endswith("Z")


def test_disabled_user_is_signed_out_at_once_and_cannot_sign_in(app, client, conn, curator):
    login(client, "cora")
    result = users_cli(app, "disable", "cora")
    assert result.exit_code == 0 and "1 session ended" in result.output
    assert "cora (curator)" not in client.get("/").get_data(as_text=True)
    refused = login(app.test_client(), "cora")
    assert refused.status_code == 401 and "Unknown user name or wrong password" in refused.get_data(as_text=True)
    assert conn.execute("SELECT count(*) FROM sessions WHERE user_id = ?", (curator.id,)).fetchone()[0] == 0


def test_disabled_user_session_stops_working_even_if_its_row_survived(app, client, conn, curator):
    login(client, "cora")
    conn.execute("UPDATE users SET active = 0 WHERE id = ?", (curator.id,))  # e.g. an older app version
    assert "cora (curator)" not in client.get("/").get_data(as_text=True)


def test_enabled_user_can_sign_in_again(app, curator):
    users_cli(app, "disable", "cora")
    assert users_cli(app, "enable", "cora").exit_code == 0
    assert login(app.test_client(), "cora").status_code == 302


def test_reset_password_prints_a_new_password_once_and_ends_sessions(app, client, curator):
    login(client, "cora")
    result = users_cli(app, "reset-password", "cora")
    assert result.exit_code == 0, result.output
    assert result.output.count("password: ") == 1 and "1 session ended" in result.output
    password = result.output.split("password: ")[1].split()[0]
    assert "cora (curator)" not in client.get("/").get_data(as_text=True)
    assert login(app.test_client(), "cora").status_code == 401
    assert login(app.test_client(), "cora", password).status_code == 302


def test_set_role_changes_the_role_and_ends_sessions(app, client, curator):
    login(client, "cora")
    result = users_cli(app, "set-role", "cora", "admin")
    assert result.exit_code == 0 and "curator -> admin" in result.output and "1 session ended" in result.output
    assert "Sign in" in client.get("/").get_data(as_text=True)
    login(client, "cora")
    assert "cora (admin)" in client.get("/").get_data(as_text=True)


def test_user_commands_name_an_unknown_user_or_role(app, curator):
    for args in (("disable", "ghost"), ("enable", "ghost"), ("reset-password", "ghost"),
                 ("set-role", "ghost", "admin")):
        result = users_cli(app, *args)
        assert result.exit_code == 1 and "no user named 'ghost'" in result.output and "users list" in result.output
    bad_role = users_cli(app, "set-role", "cora", "root")
    assert bad_role.exit_code == 1 and "role 'root' must be one of curator, admin" in bad_role.output
