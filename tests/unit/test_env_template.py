"""The kewp_app role's env file template writes the sign-in and mail settings the app reads: rendered
with the role's defaults plus an ORCID provider and SMTP, it passes the app's own settings check."""

from __future__ import annotations

import jinja2
import yaml

from app.config import load_settings

from .helpers import REPO

ROLE = REPO / "roles" / "kewp_app"


def render(**variables: object) -> dict[str, str]:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True)  # Ansible's template module trims blocks too
    env.filters["bool"] = bool
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    own = {k: v for k, v in defaults.items() if k.startswith(("kewp_app_oidc", "kewp_app_smtp"))}
    text = env.from_string((ROLE / "templates" / "etc" / "kewp" / "kewp.env.j2").read_text()).render(
        ansible_managed="managed", kewp_app_secret_key="k" * 40, kewp_app_workers=2,
        kewp_app_public_url="https://kewp.example.org", kewp_app_trusted_proxies=1, kewp_app_secure_cookies=True,
        kewp_app_log_level="info", kewp_app_extra_env={}, **{**own, "kewp_app_smtp_password": "", **variables})
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


ORCID = {"name": "orcid", "label": "ORCID", "discovery_url": "https://orcid.org/.well-known/openid-configuration",
         "client_id": "APP-123", "client_secret": "orcid-secret"}


def test_the_defaults_configure_no_provider_and_no_mail():
    settings = load_settings(render())
    assert settings["OIDC_PROVIDERS"] == {} and settings["SMTP_HOST"] == ""


def test_a_provider_and_smtp_from_role_variables_reach_the_app():
    settings = load_settings(render(kewp_app_oidc_providers=[ORCID], kewp_app_smtp_host="smtp.example.org",
                                    kewp_app_smtp_from="kewp@example.org", kewp_app_smtp_user="kewp",
                                    kewp_app_smtp_password="mail-secret"))
    assert settings["OIDC_PROVIDERS"]["orcid"] == {**ORCID, "scopes": "openid profile"}
    assert settings["OIDC_NEW_ACCOUNTS"] == "invite"
    assert (settings["SMTP_HOST"], settings["SMTP_PORT"], settings["SMTP_SECURITY"], settings["SMTP_PASSWORD"]) == (
        "smtp.example.org", 587, "starttls", "mail-secret")
