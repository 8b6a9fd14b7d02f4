"""Sign-in with any OpenID Connect provider in KEWP_OIDC_PROVIDERS (ORCID, LS Login, ...).

Authlib does the protocol: discovery, the authorization code flow with PKCE (S256), a random
state and nonce kept in the server-side session, and the ID token's checks (signature from the
provider's JWKS, issuer, audience, expiry, nonce). The account rules are services/oidc_accounts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError  # Authlib's ID token checks raise these

from ..db import get_db
from ..services import invites, oidc_accounts
from .auth import _sign_in

log = logging.getLogger(__name__)
bp = Blueprint("oidc", __name__)
PENDING = "oidc_pending"          # session key: a validated identity waiting for its invite code
PENDING_SECONDS = 15 * 60


def _provider(name: str) -> dict[str, str]:
    provider = current_app.config["OIDC_PROVIDERS"].get(name)
    if provider is None:
        abort(404, f"Sign-in with {name!r} is not configured on this server.")
    return provider


def _client(name: str) -> Any:
    from .auth import oauth_registry

    oauth = oauth_registry()
    client = oauth.create_client(f"oidc_{name}")
    if client is None:
        provider = _provider(name)
        client = oauth.register(
            f"oidc_{name}", client_id=provider["client_id"], client_secret=provider["client_secret"],
            server_metadata_url=provider["discovery_url"],
            client_kwargs={"scope": provider["scopes"], "code_challenge_method": "S256", "default_timeout": 10})
    return client


def _redirect_uri(name: str) -> str:
    # From KEWP_PUBLIC_URL, never the request's Host header (the provider checks it exactly).
    return f"{current_app.config['PUBLIC_URL']}/login/oidc/{name}/callback"


def _refused(provider: dict[str, str], reason: str, status: int = 400):
    log.warning("sign-in with %s refused: %s", provider["name"], reason)
    return render_template("oidc_refused.html", provider=provider, reason=reason), status


@bp.get("/login/oidc/<name>")
def start(name: str):
    _provider(name)
    return _client(name).authorize_redirect(_redirect_uri(name))


@bp.get("/login/oidc/<name>/callback")
def callback(name: str):
    provider = _provider(name)
    client = _client(name)
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if claims.get("sub") and "userinfo_endpoint" in client.load_server_metadata():
            # Many providers put the name only in the UserInfo response; its sub must be the ID token's.
            extra = client.userinfo(token=token)
            if extra.get("sub") != claims["sub"]:
                return _refused(provider, "the provider's UserInfo is about another subject than its ID token")
            claims = {**extra, **claims}
    except (AuthlibBaseError, JoseError) as exc:
        # A wrong or replayed state, a provider's error, a refused code, or an ID token that
        # fails a check (signature, issuer, audience, expiry, nonce).
        return _refused(provider, f"{exc.error}: {exc.description or 'the response did not pass the checks'}")
    except OSError as exc:
        return _refused(provider, f"the provider could not be reached ({exc.__class__.__name__})", 502)
    if not claims.get("sub"):
        return _refused(provider, "the provider sent no ID token")
    conn = get_db()
    try:
        user = oidc_accounts.find(conn, name, str(claims["sub"]), claims)
        if user is None and current_app.config["OIDC_NEW_ACCOUNTS"] == "open":
            user = oidc_accounts.create(conn, name, str(claims["sub"]), claims, invite_code=None)
    except oidc_accounts.SignInRefused as exc:
        return _refused(provider, str(exc), 403)
    if user is None:
        session[PENDING] = {"provider": name, "claims": {k: claims.get(k) for k in (
            "sub", "name", "given_name", "family_name", "preferred_username", "email", "email_verified")},
            "at": int(time.time())}
        return redirect(url_for("oidc.join"), code=303)
    _sign_in(user)
    return redirect(url_for("catalog.index"), code=303)


@bp.route("/login/oidc/join", methods=["GET", "POST"])
def join():
    """A first sign-in on an invite-only site: the invite code creates the account."""
    pending = session.get(PENDING)
    if not pending or pending["at"] + PENDING_SECONDS < time.time():
        session.pop(PENDING, None)
        flash("Sign in with your provider first (that sign-in is valid for 15 minutes).", "error")
        return redirect(url_for("auth.login"))
    provider = _provider(pending["provider"])
    name = oidc_accounts.display_name(pending["claims"])
    if request.method == "GET":
        return render_template("oidc_join.html", provider=provider, display_name=name,
                               code=request.args.get("code", "")[:100])
    code = request.form.get("code", "").strip()[:200]
    try:
        user = oidc_accounts.create(get_db(), provider["name"], str(pending["claims"]["sub"]), pending["claims"],
                                    invite_code=code)
    except (invites.InviteError, oidc_accounts.SignInRefused) as exc:
        message = str(exc)
        return render_template("oidc_join.html", provider=provider, display_name=name, code=code[:100],
                               problem=message[:1].upper() + message[1:]), 400
    _sign_in(user)                # clears the session, the pending identity with it
    flash(f"Welcome, {name}: your curator account {user.username} is ready and you are signed in.", "info")
    return redirect(url_for("catalog.index"), code=303)
