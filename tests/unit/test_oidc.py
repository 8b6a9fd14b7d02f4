"""Issue 18: sign-in with an OpenID Connect provider, against a real one (oidc-provider on 127.0.0.1).

Each test walks the whole flow: kewp's redirect to the provider (state, nonce, PKCE), the
provider's login form, its redirect back, kewp's code exchange and ID token checks.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from app.config import ConfigError, load_settings
from app.services import invites, users

from .helpers import PASSWORD, approved_mapping_by, count, csrf_token, login
from .oidc_helpers import CLIENT_ID, provider_env, sign_in_at_provider

pytest_plugins = ["tests.unit.oidc_fixtures"]  # the provider is started once per run


@pytest.fixture
def open_site(make_app, monkeypatch, oidc_provider):
    provider_env(monkeypatch, oidc_provider, new_accounts="open")
    return make_app()


@pytest.fixture
def invite_site(make_app, monkeypatch, oidc_provider):
    provider_env(monkeypatch, oidc_provider, new_accounts="invite")
    return make_app()


def start(client) -> str:
    """kewp's redirect to the provider: the authorization URL."""
    response = client.get("/login/oidc/test")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def back_at_kewp(client, callback_url: str):
    url = urlsplit(callback_url)
    return client.get(f"{url.path}?{url.query}")


def sign_in_as(client, sub: str):
    return back_at_kewp(client, sign_in_at_provider(start(client), sub))


def signed_in_user(client) -> int | None:
    with client.session_transaction() as session:
        return session.get("user_id")


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_the_redirect_asks_for_a_code_with_pkce_state_and_nonce(open_site, oidc_provider):
    query = parse_qs(urlsplit(start(open_site.test_client())).query)
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert query["redirect_uri"] == ["http://127.0.0.1:8000/login/oidc/test/callback"]


def test_a_first_sign_in_creates_a_curator_named_from_the_display_name_never_the_email(open_site, conn):
    client = open_site.test_client()
    response = sign_in_as(client, "jane")
    assert response.status_code == 303
    row = conn.execute("SELECT * FROM users WHERE username = 'Jane-Doe.test'").fetchone()
    assert (row["role"], row["password_hash"], row["email"]) == ("curator", None, "jane@example.org")
    assert signed_in_user(client) == row["id"]
    identity = conn.execute("SELECT * FROM oidc_identities").fetchone()
    assert (identity["provider"], identity["subject"], identity["display_name"]) == ("test", "jane", "Jane Doe")
    page = client.get("/mappings/mine").get_data(as_text=True)
    assert "Jane-Doe.test" in page and "jane@example.org" not in page
    assert count(conn, "audit_log", "action = 'registered' AND after LIKE '%\"provider\": \"test\"%'") == 1


def test_public_pages_show_the_name_and_never_the_email(open_site, conn):
    sign_in_as(open_site.test_client(), "jane")
    mapping_id = approved_mapping_by(conn, "Jane-Doe.test")
    anonymous = open_site.test_client()
    for path in ("/mappings", f"/mappings/{mapping_id}", "/stats", f"/api/v1/mappings/{mapping_id}"):
        page = anonymous.get(path).get_data(as_text=True)
        assert "Jane-Doe.test" in page, path
        assert "jane@example.org" not in page, path


def test_signing_in_again_reuses_the_account(open_site, conn):
    sign_in_as(open_site.test_client(), "jane")
    client = open_site.test_client()
    assert sign_in_as(client, "jane").status_code == 303
    assert count(conn, "users") == 1 and signed_in_user(client) is not None


def test_a_name_outside_ascii_makes_a_valid_user_name(open_site, conn):
    sign_in_as(open_site.test_client(), "zoë")
    assert conn.execute("SELECT username FROM users").fetchone()[0] == "Zoe-Angstrom.test"


def test_a_wrong_state_is_refused_and_nothing_is_created(open_site, conn):
    client = open_site.test_client()
    callback = sign_in_at_provider(start(client), "jane")
    response = back_at_kewp(client, with_param(callback, state="not-the-state-kewp-sent"))
    assert response.status_code == 400
    assert "mismatching_state" in response.get_data(as_text=True)
    assert signed_in_user(client) is None and count(conn, "users") == 0


def test_a_code_used_twice_is_refused(open_site, conn):
    client = open_site.test_client()
    callback = sign_in_at_provider(start(client), "jane")
    assert back_at_kewp(client, callback).status_code == 303
    other = open_site.test_client()
    assert back_at_kewp(other, callback).status_code == 400
    assert signed_in_user(other) is None


def test_an_id_token_with_another_nonce_is_refused(open_site, conn):
    """The provider is asked, with kewp's own state and PKCE challenge, for an ID token carrying a
    different nonce (a replayed or injected token): the code exchange works, the nonce check refuses."""
    client = open_site.test_client()
    authorize = start(client)
    forged = with_param(authorize, nonce="a-nonce-kewp-never-sent-0123456789")
    response = back_at_kewp(client, sign_in_at_provider(forged, "jane"))
    assert response.status_code == 400
    assert "nonce" in response.get_data(as_text=True)
    assert signed_in_user(client) is None and count(conn, "users") == 0


def test_an_identity_named_like_a_local_user_gets_its_own_account(open_site, conn, curator):
    client = open_site.test_client()
    sign_in_as(client, "cora")                       # the provider says: name "cora"
    new = conn.execute("SELECT * FROM users WHERE username = 'cora.test'").fetchone()
    assert new is not None and new["id"] != curator.id
    assert signed_in_user(client) == new["id"]
    assert users.authenticate(conn, "cora", PASSWORD).id == curator.id     # the local account is unchanged
    assert conn.execute("SELECT count(*) FROM oidc_identities WHERE user_id = ?", (curator.id,)).fetchone()[0] == 0
    local = open_site.test_client()
    assert login(local, "cora.test", PASSWORD).status_code == 401          # no password: no local sign-in


def test_a_disabled_account_is_refused(open_site, conn):
    sign_in_as(open_site.test_client(), "jane")
    users.set_enabled(conn, "Jane-Doe.test", False)
    client = open_site.test_client()
    response = sign_in_as(client, "jane")
    assert response.status_code == 403
    assert "disabled" in response.get_data(as_text=True)
    assert signed_in_user(client) is None


def test_on_an_invite_only_site_a_first_sign_in_needs_an_invite_code(invite_site, conn):
    _, code = invites.create(conn, "Workshop", days=1, max_uses=1, created_by="ada")
    client = invite_site.test_client()
    response = sign_in_as(client, "jane")
    assert response.status_code == 303 and response.headers["Location"].endswith("/login/oidc/join")
    assert count(conn, "users") == 0 and signed_in_user(client) is None
    page = client.get("/login/oidc/join").get_data(as_text=True)
    assert "Jane Doe" in page and "jane@example.org" not in page
    token = csrf_token(client, "/login/oidc/join")
    wrong = client.post("/login/oidc/join", data={"code": "wrong", "csrf_token": token})
    assert wrong.status_code == 400 and "not valid" in wrong.get_data(as_text=True)
    assert count(conn, "users") == 0
    response = client.post("/login/oidc/join", data={"code": code, "csrf_token": token})
    assert response.status_code == 303
    user_id = signed_in_user(client)
    row = conn.execute("SELECT username, invite_id FROM users WHERE id = ?", (user_id,)).fetchone()
    assert row["username"] == "Jane-Doe.test" and row["invite_id"] is not None
    assert conn.execute("SELECT uses FROM invites").fetchone()[0] == 1


def test_the_join_page_without_a_provider_sign_in_sends_you_to_sign_in(invite_site):
    response = invite_site.test_client().get("/login/oidc/join")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_sign_in_page_offers_each_provider(open_site):
    page = open_site.test_client().get("/login").get_data(as_text=True)
    assert "Sign in with Test OP" in page


def test_an_unconfigured_provider_is_a_404(open_site):
    assert open_site.test_client().get("/login/oidc/orcid").status_code == 404


BASE = {"KEWP_ENV": "testing", "KEWP_OIDC_PROVIDERS": "orcid",
        "KEWP_OIDC_ORCID_DISCOVERY_URL": "https://orcid.org/.well-known/openid-configuration",
        "KEWP_OIDC_ORCID_CLIENT_ID": "APP-X", "KEWP_OIDC_ORCID_CLIENT_SECRET": "s"}


@pytest.mark.parametrize(("changes", "words"), [
    ({"KEWP_OIDC_ORCID_CLIENT_SECRET": ""}, "KEWP_OIDC_ORCID_CLIENT_SECRET is not set"),
    ({"KEWP_OIDC_ORCID_DISCOVERY_URL": "http://orcid.org/x"}, "must be an https"),
    ({"KEWP_OIDC_PROVIDERS": "ORCID!"}, "lower-case letters"),
    ({"KEWP_OIDC_ORCID_SCOPES": "profile"}, "must include openid"),
    ({"KEWP_OIDC_NEW_ACCOUNTS": "anyone"}, "invite, open"),
])
def test_a_bad_provider_setting_names_the_variable(changes, words):
    with pytest.raises(ConfigError, match=words):
        load_settings({**BASE, **changes})


def test_provider_settings_are_read_with_defaults():
    provider = load_settings(BASE)["OIDC_PROVIDERS"]["orcid"]
    assert (provider["label"], provider["scopes"]) == ("orcid", "openid profile")
    assert load_settings(BASE)["OIDC_NEW_ACCOUNTS"] == "invite"
