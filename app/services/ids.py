"""What a Key Event, pathway, KE relationship, AOP or row id looks like, read and written.

One definition for routes, the API, the forms, imports, search, exports and the embeddings.
Canonical forms: 'KE 55', 'WP254', 'KER 12', 'AOP 3'.

Digits are ASCII only: `\\d` and `int()` would also take Arabic-Indic digits (U+0660-U+0669), and
IGNORECASE without re.ASCII would let the Kelvin sign stand for 'K'. Row ids must fit SQLite's signed 64-bit
INTEGER; a bigger number is not an id (binding it raises OverflowError).
"""

from __future__ import annotations

import re

SQLITE_INT_MAX = 2**63 - 1
KE_PREFIX = "KE "
WP_PREFIX = "WP"
AOP_PREFIX = "AOP "
# Written without \s, \d or flags so that the same strings are valid ECMA-262 patterns for the
# OpenAPI description (app/services/openapi.py) and mean the same there.
_SPACE = r"[ \t\n\r\f\v]*"
_KE = rf"[Kk][Ee]{_SPACE}[:_ ]?{_SPACE}"
_WP = rf"[Ww][Pp]{_SPACE}"
# What the API takes in a path or filter: 'KE 55', 'KE55', 'ke_55', 'KE:55', '55'; 'WP254', 'wp 254', '254'.
KE_PARAM_PATTERN = rf"^{_SPACE}(?:{_KE})?[0-9]+{_SPACE}$"
WP_PARAM_PATTERN = rf"^{_SPACE}(?:{_WP})?[0-9]+{_SPACE}$"
_AOP = rf"[Aa][Oo][Pp]{_SPACE}[:_ ]?{_SPACE}"
# An AOP in an API path: 'AOP3', 'AOP 3', 'aop_3', '3'.
AOP_PARAM_PATTERN = rf"^{_SPACE}(?:{_AOP})?[0-9]+{_SPACE}$"
ROW_ID_PATTERN = r"^[0-9]+$"
KE_ID = re.compile(rf"^{_SPACE}{_KE}([0-9]+){_SPACE}$")
WP_ID = re.compile(rf"^{_SPACE}{_WP}([0-9]+){_SPACE}$")
AOP_PARAM = re.compile(rf"^{_SPACE}(?:{_AOP})?([0-9]+){_SPACE}$")
BARE_NUMBER = re.compile(rf"^{_SPACE}([0-9]+){_SPACE}$")
# Search is more forgiving than the API: 'KE-55', 'ke 55' and a bare '55' all mean KE 55.
_SEARCH = {"KE": re.compile(r"^\s*(?:KE\s*[-:_ ]?\s*)?([0-9]+)\s*$", re.ASCII | re.IGNORECASE),
           "WP": re.compile(r"^\s*(?:WP\s*[-:_ ]?\s*)?([0-9]+)\s*$", re.ASCII | re.IGNORECASE)}
# KE relationship and AOP ids are only stored, never looked up by number, and the import has always
# read them with Python's \d (any Unicode digit) in any case; kept so, to import the same files alike.
_KER_ID = re.compile(r"^\s*KER\s*[:_ ]?\s*(\d+)\s*$", re.IGNORECASE)
_AOP_ID = re.compile(r"^\s*AOP\s*[:_ ]?\s*(\d+)\s*$", re.IGNORECASE)
_NUMBER_AT_END = re.compile(r"[0-9]+$")


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
    return None if found is None else ke_for(found)


def wp_id(value: object, *, bare: bool = False) -> str | None:
    """'WP254' for 'WP254', 'wp 254' (and a bare '254' when `bare`), else None."""
    found = _matched(WP_ID, value)
    if found is None and bare:
        found = _matched(BARE_NUMBER, value)
    return None if found is None else wp_for(found)


def aop_param(value: object) -> str | None:
    """'AOP 3' for 'AOP3', 'AOP 3', 'aop_3' or a bare '3' (ASCII digits, as in a URL), else None."""
    found = _matched(AOP_PARAM, value)
    return None if found is None else aop_for(found)


def search_id(prefix: str, text: str) -> str:
    """The canonical id a search text names ('KE-55', 'ke 55', '55' -> 'KE 55'), or ''."""
    found = _matched(_SEARCH[prefix], text)
    if found is None:
        return ""
    return ke_for(found) if prefix == "KE" else wp_for(found)


def ker_id(value: str) -> str | None:
    """'KER 12' for 'KER12', 'ker:12', 'KER 012', else None."""
    match = _KER_ID.match(value)
    return f"KER {int(match.group(1))}" if match else None


def aop_id(value: str) -> str | None:
    """'AOP 3' for 'AOP3', 'aop_3', 'AOP 003', else None."""
    match = _AOP_ID.match(value)
    return f"AOP {int(match.group(1))}" if match else None


# --- canonical ids ---------------------------------------------------------------------------

def ke_for(number: int) -> str:
    return f"{KE_PREFIX}{number}"


def wp_for(number: int) -> str:
    return f"{WP_PREFIX}{number}"


def aop_for(number: int) -> str:
    return f"{AOP_PREFIX}{number}"


def aop_path(aop_id: str) -> str:
    """An AOP id as API paths write it: 'AOP 3' -> 'AOP3'."""
    return aop_id.replace(" ", "")


def id_number(canonical: str) -> int:
    """The number of a canonical id ('KE 55' -> 55, 'WP254' -> 254, 'AOP 3' -> 3): for IRIs and sorting."""
    match = _NUMBER_AT_END.search(canonical)
    if match is None:
        raise ValueError(f"{canonical!r} is not a canonical id")
    return int(match.group())


def ke_path(ke_id: str) -> str:
    """A KE id as API paths and query strings write it: 'KE 55' -> 'KE55' (no space to escape)."""
    return ke_id.replace(" ", "")


def sql_number(column: str, prefix: str) -> str:
    """SQL for the number of the canonical ids in `column` (prefix KE_PREFIX, WP_PREFIX or AOP_PREFIX): to order
    'KE 9' before 'KE 10'."""
    return f"CAST(substr({column}, {len(prefix) + 1}) AS INTEGER)"
