"""Helpers for the OpenID Connect tests (plain functions; the provider fixture is in oidc_fixtures)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

import pytest
import requests

from .helpers import REPO

OP_DIR = REPO / "tests" / "oidc_provider"
CLIENT_ID = "kewp-test"
CLIENT_SECRET = "kewp-test-client-secret-only-for-the-local-provider"
CALLBACK_PATH = "/login/oidc/test/callback"
# sub -> name: "cora" collides with the local curator of conftest; "jane" has a plain name.
NAMES = {"cora": "cora", "jane": "Jane Doe", "zoë": "Zoë Ångström"}
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass(frozen=True)
class Provider:
    issuer: str

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def provider_env(monkeypatch: pytest.MonkeyPatch, op: Provider, *, new_accounts: str = "open",
                 public_url: str = "http://127.0.0.1:8000") -> None:
    """The settings of a site with the test provider configured as `test` (set before make_app())."""
    for name, value in {"KEWP_OIDC_PROVIDERS": "test", "KEWP_OIDC_TEST_DISCOVERY_URL": op.discovery_url,
                        "KEWP_OIDC_TEST_CLIENT_ID": CLIENT_ID, "KEWP_OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
                        "KEWP_OIDC_TEST_LABEL": "Test OP", "KEWP_OIDC_TEST_SCOPES": "openid profile email",
                        "KEWP_OIDC_NEW_ACCOUNTS": new_accounts, "KEWP_PUBLIC_URL": public_url}.items():
        monkeypatch.setenv(name, value)


def sign_in_at_provider(authorize_url: str, login: str, browser: requests.Session | None = None) -> str:
    """What a person does at the provider: open the authorization URL, fill in its login form,
    authorize kewp, and follow its redirects until it sends the browser back to kewp; returns
    that callback URL."""
    browser = browser or requests.Session()
    response = browser.get(authorize_url, timeout=10, allow_redirects=False)
    for _ in range(12):
        if response.status_code == 200:           # a page with one form: login, then consent
            action = FORM_ACTION.search(response.text)
            assert action, f"no form at {response.url}: {response.text[:300]}"
            fields = {"prompt": "login", "login": login, "password": "any password"} \
                if 'value="login"' in response.text else {"prompt": "consent"}
            response = browser.post(urljoin(response.url, action.group(1)), data=fields, timeout=10,
                                    allow_redirects=False)
            continue
        location = response.headers.get("Location", "")
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        if CALLBACK_PATH in location:
            return location
        response = browser.get(urljoin(response.url, location), timeout=10, allow_redirects=False)
    raise AssertionError("the provider never redirected back to kewp")
