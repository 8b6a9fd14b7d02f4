"""Sign-in, CSRF on forms, the login rate limit, and the users CLI."""

from __future__ import annotations

from app.services import users

from .conftest import PASSWORD, csrf_token, login


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


def test_login_is_rate_limited(make_app, curator):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    codes = [login(client, "cora", "wrong password!!").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


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
