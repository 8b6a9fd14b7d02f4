"""kewp: the Key Event to WikiPathways mapping service (Flask application factory)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import db, errors, extensions
from .config import ConfigError, check_data_dir, load_settings
from .converters import SqliteIntConverter

__all__ = ["ConfigError", "create_app"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from KEWP_* settings (a local .env is read too); `config` overrides them."""
    try:
        from dotenv import load_dotenv
        load_dotenv(override=False)
    except ImportError:  # python-dotenv is optional outside development
        pass
    settings = load_settings()
    settings.update(config or {})
    check_data_dir(settings["DATABASE"])

    app = Flask(__name__)
    app.config.from_mapping(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"],
                                x_proto=app.config["TRUSTED_PROXIES"], x_host=app.config["TRUSTED_PROXIES"])

    # Before the blueprints: their rules look the converter up when they are added.
    app.url_map.converters["sqlite_int"] = SqliteIntConverter

    db.init_app(app)
    extensions.init_app(app)
    errors.init_app(app)

    from . import engine
    engine.init_app(app)

    from .blueprints import api, auth, catalog, exports, mappings, ops, releases, review
    for module in (ops, auth, catalog, mappings, review, exports, releases, api):
        app.register_blueprint(module.bp)

    # Issue 18's pages, apart from the tuple above (other branches add blueprints there).
    from .blueprints import aops as aop_pages
    from .blueprints import stats as stats_pages
    app.register_blueprint(aop_pages.bp)
    app.register_blueprint(stats_pages.bp)
    from .blueprints import oidc as oidc_sign_in
    app.register_blueprint(oidc_sign_in.bp)
    from .blueprints import review_flags  # issue 17: clearing "needs re-review" flags
    app.register_blueprint(review_flags.bp)

    from .services import timefmt
    app.add_template_filter(timefmt.ago, "ago")
    app.add_template_filter(timefmt.exact, "exact_time")
    app.add_template_filter(timefmt.iso, "iso_time")

    from . import cli
    cli.init_app(app)
    return app
