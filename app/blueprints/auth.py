"""Sign-in with a local account (or GitHub when configured), sign-out, and access decorators."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for

from ..db import get_db
from ..extensions import limiter
from ..services import users

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


@bp.before_app_request
def load_user() -> None:
    user_id = session.get("user_id")
    g.user = users.get_user(get_db(), user_id) if user_id is not None else None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if request.method != "GET":
                abort(401, "Sign in to do that.")
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.user.is_admin:
            abort(403, "Only admins can do that.")
        return view(*args, **kwargs)
    return wrapped


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, so the login form cannot redirect off-site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("catalog.index")


def _sign_in(user: users.User) -> None:
    session.clear()
    session["user_id"] = user.id
    session.permanent = True
    log.info("user %s signed in", user.username)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        user = users.authenticate(get_db(), username, password) if username and password else None
        if user is None:
            flash("Unknown user name or wrong password.", "error")
            return render_template("login.html", username=username), 401
        _sign_in(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", github=bool(current_app.config["GITHUB_CLIENT_ID"]))


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("catalog.index"))


def _github_client():
    from authlib.integrations.flask_client import OAuth

    oauth = current_app.extensions.get("kewp_oauth")
    if oauth is None:
        oauth = OAuth(current_app)
        oauth.register(
            "github",
            client_id=current_app.config["GITHUB_CLIENT_ID"],
            client_secret=current_app.config["GITHUB_CLIENT_SECRET"],
            access_token_url="https://github.com/login/oauth/access_token",  # noqa: S106 (a URL)
            authorize_url="https://github.com/login/oauth/authorize",
            api_base_url="https://api.github.com/",
            client_kwargs={"scope": "read:user"},
        )
        current_app.extensions["kewp_oauth"] = oauth
    return oauth.github


@bp.get("/login/github")
def github_login():
    if not current_app.config["GITHUB_CLIENT_ID"]:
        abort(404, "GitHub sign-in is not configured on this server.")
    return _github_client().authorize_redirect(url_for("auth.github_callback", _external=True))


@bp.get("/login/github/callback")
def github_callback():
    if not current_app.config["GITHUB_CLIENT_ID"]:
        abort(404, "GitHub sign-in is not configured on this server.")
    client = _github_client()
    token = client.authorize_access_token()
    login_name = client.get("user", token=token).json().get("login")
    user = users.user_for_github(get_db(), login_name) if login_name else None
    if user is None:
        flash(f"GitHub user {login_name!r} has no kewp account; ask an admin to add one.", "error")
        return redirect(url_for("auth.login"))
    _sign_in(user)
    return redirect(url_for("catalog.index"))
