"""What a Key Event, pathway or row id looks like: one definition for routes, the API, imports and search.

Digits are ASCII only: `\\d` and `int()` would also take Arabic-Indic digits (U+0660-U+0669), and
IGNORECASE without re.ASCII would let the Kelvin sign stand for 'K'. Row ids must fit SQLite's signed 64-bit
INTEGER; a bigger number is not an id (binding it raises OverflowError).
"""

from __future__ import annotations

import re

SQLITE_INT_MAX = 2**63 - 1
# Written without \s, \d or flags so that the same strings are valid ECMA-262 patterns for the
# OpenAPI description (app/services/openapi.py) and mean the same there.
_SPACE = r"[ \t\n\r\f\v]*"
_KE = rf"[Kk][Ee]{_SPACE}[:_ ]?{_SPACE}"
_WP = rf"[Ww][Pp]{_SPACE}"
# What the API takes in a path or filter: 'KE 55', 'KE55', 'ke_55', 'KE:55', '55'; 'WP254', 'wp 254', '254'.
KE_PARAM_PATTERN = rf"^{_SPACE}(?:{_KE})?[0-9]+{_SPACE}$"
WP_PARAM_PATTERN = rf"^{_SPACE}(?:{_WP})?[0-9]+{_SPACE}$"
ROW_ID_PATTERN = r"^[0-9]+$"
KE_ID = re.compile(rf"^{_SPACE}{_KE}([0-9]+){_SPACE}$")
WP_ID = re.compile(rf"^{_SPACE}{_WP}([0-9]+){_SPACE}$")
BARE_NUMBER = re.compile(rf"^{_SPACE}([0-9]+){_SPACE}$")
# Search is more forgiving than the API: 'KE-55', 'ke 55' and a bare '55' all mean KE 55.
_SEARCH = {"KE": re.compile(r"^\s*(?:KE\s*[-:_ ]?\s*)?([0-9]+)\s*$", re.ASCII | re.IGNORECASE),
           "WP": re.compile(r"^\s*(?:WP\s*[-:_ ]?\s*)?([0-9]+)\s*$", re.ASCII | re.IGNORECASE)}


def number(digits: str) -> int | None:
    """The value of a string of ASCII digits if it fits a SQLite INTEGER, else None."""
    if not digits.isascii() or not digits.isdigit():
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(SQLITE_INT_MAX)):  # also keeps int() away from huge strings
        return None
    value = int(significant)
    return value if value <= SQLITE_INT_MAX else None


def row_id(value: str) -> int | None:
    """A row id in a URL (mapping, proposal): ASCII digits that fit SQLite, else None."""
    return number(value)


def _matched(pattern: re.Pattern[str], value: object) -> int | None:
    match = pattern.match(value) if isinstance(value, str) else None
    return number(match.group(1)) if match else None


def ke_id(value: object, *, bare: bool = False) -> str | None:
    """'KE 55' for a documented KE id form (and a bare '55' when `bare`), else None."""
    found = _matched(KE_ID, value)
    if found is None and bare:
        found = _matched(BARE_NUMBER, value)
    return None if found is None else f"KE {found}"


def wp_id(value: object, *, bare: bool = False) -> str | None:
    """'WP254' for 'WP254', 'wp 254' (and a bare '254' when `bare`), else None."""
    found = _matched(WP_ID, value)
    if found is None and bare:
        found = _matched(BARE_NUMBER, value)
    return None if found is None else f"WP{found}"


def search_id(prefix: str, text: str) -> str:
    """The canonical id a search text names ('KE-55', 'ke 55', '55' -> 'KE 55'), or ''."""
    found = _matched(_SEARCH[prefix], text)
    if found is None:
        return ""
    return f"KE {found}" if prefix == "KE" else f"WP{found}"
