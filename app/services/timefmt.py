"""Times as people read them: '3 hours ago' for a stored UTC timestamp. No Flask imports."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400), ("day", 86400),
          ("hour", 3600), ("minute", 60))


def parse(stamp: str | None) -> datetime | None:
    """A stored timestamp ('2026-12-02T01:25:58Z', optionally with fractions) as an aware UTC datetime."""
    if not stamp:
        return None
    try:
        value = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ago(stamp: str | None, now: datetime | None = None) -> str:
    """'just now', '5 minutes ago', '3 hours ago', 'yesterday', '2 weeks ago'; '' for no or a bad stamp."""
    when = parse(stamp)
    if when is None:
        return ""
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    for unit, size in _UNITS:
        if seconds >= size:
            n = seconds // size
            if unit == "day" and n == 1:
                return "yesterday"
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # unreachable: a minute is the smallest unit


def exact(stamp: str | None) -> str:
    """The exact UTC time for a tooltip: '2026-12-02 01:25:58 UTC'."""
    when = parse(stamp)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""


def iso(stamp: str | None) -> str:
    """The machine form for <time datetime>: '2026-12-02T01:25:58Z'."""
    when = parse(stamp)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else ""
