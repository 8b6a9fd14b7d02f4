"""Flask extensions shared by the blueprints: CSRF protection and rate limiting."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# Per-process memory storage: nginx rate-limits in front as well, this is the inner guard.
limiter = Limiter(key_func=get_remote_address, storage_uri="memory://", default_limits=[])


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)
