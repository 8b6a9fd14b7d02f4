"""The `page` query argument of the HTML listings."""

from __future__ import annotations

from flask import abort, request

MAX_PAGE = 10_000


def page_arg() -> int:
    """The requested page, clamped to 1..MAX_PAGE; 400 when it is not a whole number."""
    try:
        return max(1, min(int(request.args.get("page", 1)), MAX_PAGE))
    except ValueError:
        abort(400, "page must be a whole number")
