"""Flask extensions shared by the blueprints: CSRF protection.

Login throttling is not an extension: it is counted in the database (services/login_throttle)
so that every Gunicorn worker shares one count.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
