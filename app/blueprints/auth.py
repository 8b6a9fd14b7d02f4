"""Sign-in with a local account (or GitHub when configured; OpenID Connect providers are in oidc.py),
sign-out, access decorators, and the database-backed Flask session (the cookie holds only a random
id; see services/sessions)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SessionInterface

from ..db import DatabaseBusy, DiskFull, get_db
from ..errors import error_response
from ..services import invites, login_throttle, sessions, users

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


class DatabaseSession(SecureCookieSession):
    """Flask's dict-like session with change tracking, plus the row it was loaded from."""

    def __init__(self, initial: dict[str, Any] | None = None, stored: sessions.StoredSession | None = None):
        super().__init__(initial)
        self.stored = stored


class DatabaseSessionInterface(SessionInterface):
    """`session[...]` as usual; the data lives in the sessions table. The user id is a column
    (so all of a user's sessions can be revoked); everything else (CSRF token, flashes) is JSON."""

    def open_session(self, app: Flask, request: Request) -> DatabaseSession:
        session_id = request.cookies.get(self.get_cookie_name(app))
        lifetimes = sessions.Lifetimes.from_settings(app.config)
        stored = sessions.load(get_db(), session_id, lifetimes) if session_id else None
        if stored is None:
            return DatabaseSession()
        data = dict(stored.data)
        if stored.user_id is not None:
            data["user_id"] = stored.user_id
        return DatabaseSession(data, stored)

    def save_session(self, app: Flask, session: DatabaseSession, response: Response) -> None:  # type: ignore[override]
        if session.accessed:
            response.vary.add("Cookie")
        data = dict(session)
        user_id = data.pop("user_id", None)
        data.pop("_permanent", None)
        stored = session.stored
        conn = get_db()
        replaces = None
        if stored is not None and stored.user_id != user_id:
            # Signing in, out or as someone else: always a new id, so a planted or copied
            # id never becomes (or stays) a signed-in session.
            replaces, stored = stored.id_hash, None
        if stored is None:
            if not data and user_id is None:
                if replaces is not None:
                    sessions.delete(conn, replaces)
                if request.cookies.get(self.get_cookie_name(app)) is not None:
                    self._delete_cookie(app, response)
                return
            session_id, stored = sessions.create(conn, user_id, data, sessions.Lifetimes.from_settings(app.config),
                                                 replaces=replaces)
            expires = datetime.fromtimestamp(stored.expires_at, UTC) if user_id is not None else None
            response.set_cookie(self.get_cookie_name(app), session_id, expires=expires,
                                httponly=self.get_cookie_httponly(app), secure=self.get_cookie_secure(app),
                                samesite=self.get_cookie_samesite(app), domain=self.get_cookie_domain(app),
                                path=self.get_cookie_path(app))
            return
        try:
            if not session.modified:
                if sessions.touch_due(stored):
                    sessions.touch(conn, stored.id_hash)
            elif data or user_id is not None:
                sessions.save(conn, stored.id_hash, data)
            else:
                sessions.delete(conn, stored.id_hash)
                self._delete_cookie(app, response)
        except (DatabaseBusy, DiskFull) as exc:
            # The request's own write is committed already; losing a flash or a last-seen
            # touch is better than reporting that write as failed.
            log.warning("session %s… not saved: %s", stored.id_hash[:8], exc)

    def _delete_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(self.get_cookie_name(app), domain=self.get_cookie_domain(app),
                               path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
                               httponly=self.get_cookie_httponly(app), samesite=self.get_cookie_samesite(app))


@bp.record_once
def _install_session_interface(state: Any) -> None:
    state.app.session_interface = DatabaseSessionInterface()


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
    # A new user id in the session makes the session interface issue a new session id.
    session.clear()
    session["user_id"] = user.id
    users.record_sign_in(get_db(), user.id)
    log.info("user %s signed in", user.username)


def _throttle_policy() -> login_throttle.Policy:
    config = current_app.config
    return login_throttle.Policy(config["LOGIN_FREE_FAILURES"], config["LOGIN_ADDRESS_FREE_FAILURES"],
                                 config["LOGIN_BACKOFF_SECONDS"], config["LOGIN_BACKOFF_MAX_SECONDS"])


def _too_many_attempts(wait: int) -> Response:
    response = make_response(error_response(
        429, f"Too many failed sign-ins for this user name or from this address; "
             f"wait {wait} seconds, then try again."))
    response.headers["Retry-After"] = str(wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        conn = get_db()
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        # After ProxyFix (KEWP_TRUSTED_PROXIES), this is the address nginx saw.
        address = request.remote_addr or "unknown"
        policy = _throttle_policy()
        # Keyed on the name as typed, so real and unknown names are throttled alike.
        wait = login_throttle.retry_after(conn, policy, username, address)
        if wait:
            return _too_many_attempts(wait)
        user = users.authenticate(conn, username, password) if username and password else None
        if user is None:
            if username and password:
                login_throttle.record_failure(conn, policy, username, address)
            flash("Unknown user name or wrong password.", "error")
            return render_template("login.html", username=username), 401
        login_throttle.clear_account(conn, username)
        _sign_in(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", github=bool(current_app.config["GITHUB_CLIENT_ID"]),
                           oidc_providers=current_app.config["OIDC_PROVIDERS"].values())


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create one's own curator account with an invite code (from ?code= in the link, or typed)."""
    if request.method == "GET":
        return render_template("register.html", code=request.args.get("code", "")[:100], username="")
    code = request.form.get("code", "").strip()[:200]
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    conn = get_db()
    try:
        if password != request.form.get("password_again", ""):
            raise users.UserError("the two passwords differ; type the same password twice")
        user = invites.redeem(conn, code, username, password)
    except (invites.InviteError, users.UserError) as exc:
        message = str(exc)
        return render_template("register.html", code=code[:100], username=username[:40],
                               problem=message[:1].upper() + message[1:]), 400
    _sign_in(user)
    flash(f"Welcome, {user.username}: your curator account is ready and you are signed in.", "info")
    return redirect(url_for("catalog.index"), code=303)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("catalog.index"))


@bp.post("/logout/everywhere")
@login_required
def logout_everywhere():
    ended = sessions.revoke_user(get_db(), g.user.id)
    log.info("user %s signed out everywhere (%d sessions)", g.user.username, ended)
    session.clear()
    flash(f"Signed out everywhere: {ended} session{'s' if ended != 1 else ''} ended, including this one.", "info")
    return redirect(url_for("catalog.index"), code=303)


def oauth_registry():
    """The app's one Authlib registry (GitHub and the OpenID Connect providers), made on first use."""
    from authlib.integrations.flask_client import OAuth

    oauth = current_app.extensions.get("kewp_oauth")
    if oauth is None:
        oauth = current_app.extensions["kewp_oauth"] = OAuth(current_app)
    return oauth


def _github_client():
    oauth = oauth_registry()
    if oauth.create_client("github") is None:
        oauth.register(
            "github",
            client_id=current_app.config["GITHUB_CLIENT_ID"],
            client_secret=current_app.config["GITHUB_CLIENT_SECRET"],
            access_token_url="https://github.com/login/oauth/access_token",  # noqa: S106 (a URL)
            authorize_url="https://github.com/login/oauth/authorize",
            api_base_url="https://api.github.com/",
            client_kwargs={"scope": "read:user"},
        )
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
