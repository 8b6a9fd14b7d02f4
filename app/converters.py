"""URL converters registered by the app factory."""

from __future__ import annotations

from werkzeug.routing import BaseConverter, ValidationError

from .services import ids


class SqliteIntConverter(BaseConverter):
    """`<sqlite_int:name>`: ASCII digits whose value fits SQLite's INTEGER; anything else does not match (404).

    werkzeug's `<int:...>` takes any Unicode digit and any size, and a number past 2**63-1
    makes sqlite3 raise OverflowError (a 500) when bound.
    """

    regex = r"[0-9]+"
    weight = 50  # as werkzeug's number converters: a static segment wins over this one
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = ids.row_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]
