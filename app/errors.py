"""Error pages: JSON with a message for the API and health endpoints, HTML elsewhere; never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .db import DatabaseBusy, DiskFull

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/healthz", "/readyz")) or (
        request.accept_mimetypes.best == "application/json")


def error_response(status: int, message: str):
    if wants_json():
        return jsonify(error={"status": status, "message": message}), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, f"The form's security token is missing or expired ({exc.description}). "
                                   "Go back, reload the page and submit again.")

    @app.errorhandler(DatabaseBusy)
    def busy(exc: DatabaseBusy):
        return error_response(503, str(exc))

    @app.errorhandler(DiskFull)
    def disk_full(exc: DiskFull):
        return error_response(507, str(exc))

    @app.errorhandler(413)
    def too_large(_exc: HTTPException):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return error_response(413, f"The request body is larger than the {limit} MB limit; nothing was saved.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        response = make_response(error_response(exc.code or 500, exc.description or exc.name))
        # Keep the headers werkzeug's exception carries (a 405's Allow, as RFC 9110 requires),
        # but not its Content-Type: the body is ours.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, InternalServerError.description)
