"""Curation statistics for /stats: mappings and proposals by state and confidence, curators'
contributions, Key Events covered by biological level, and approved mappings over time (with the
geometry of a small SVG bar chart, so the page needs no script). No Flask imports.

People are named by their user name, which cannot hold an e-mail address (users.USERNAME); a
name recorded some other way (an import) that looks like one is cut at the '@'.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime

from .confidence import LEVELS_BEST_FIRST
from .search import BIO_LEVELS

LEVELS = (*LEVELS_BEST_FIRST, "none")     # "none": a deletion proposal has no level
PROPOSAL_STATES = ("pending", "approved", "rejected", "withdrawn")


def display_name(name: str | None) -> str:
    """A person's name as the page shows it: never an e-mail address."""
    text = str(name or "").strip()
    return text.split("@", 1)[0] or "(unnamed)"


def mappings_by_confidence(conn: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(LEVELS_BEST_FIRST, 0)
    for level, n in conn.execute("SELECT confidence, count(*) FROM mappings GROUP BY confidence"):
        counts[level] = n
    return counts


def proposals_by_state(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """status -> confidence level ('none' for deletions) -> proposals."""
    table = {state: dict.fromkeys(LEVELS, 0) for state in PROPOSAL_STATES}
    for state, level, n in conn.execute("SELECT status, confidence, count(*) FROM proposals GROUP BY 1, 2"):
        table.setdefault(state, dict.fromkeys(LEVELS, 0))[level or "none"] += n
    return table


@dataclass(frozen=True)
class Contribution:
    name: str
    mappings: int        # approved mappings they proposed (current ones)
    proposed: int        # proposals they made, any status
    approved: int
    rejected: int
    pending: int
    withdrawn: int
    reviews: int         # proposals by others they approved or rejected


def contributions(conn: sqlite3.Connection) -> list[Contribution]:
    """Per person: what they proposed and how it went, and the reviews they did; most mappings first."""
    rows = conn.execute("""
        WITH people AS (
            SELECT proposed_by COLLATE NOCASE AS who FROM proposals
            UNION SELECT reviewed_by COLLATE NOCASE FROM proposals WHERE reviewed_by IS NOT NULL
            UNION SELECT proposed_by COLLATE NOCASE FROM mappings
        )
        SELECT who,
            (SELECT count(*) FROM mappings m WHERE m.proposed_by = who COLLATE NOCASE) AS mappings,
            (SELECT count(*) FROM proposals p WHERE p.proposed_by = who COLLATE NOCASE) AS proposed,
            (SELECT count(*) FROM proposals p WHERE p.proposed_by = who COLLATE NOCASE
                AND p.status = 'approved') AS approved,
            (SELECT count(*) FROM proposals p WHERE p.proposed_by = who COLLATE NOCASE
                AND p.status = 'rejected') AS rejected,
            (SELECT count(*) FROM proposals p WHERE p.proposed_by = who COLLATE NOCASE
                AND p.status = 'pending') AS pending,
            (SELECT count(*) FROM proposals p WHERE p.proposed_by = who COLLATE NOCASE
                AND p.status = 'withdrawn') AS withdrawn,
            (SELECT count(*) FROM proposals p WHERE p.reviewed_by = who COLLATE NOCASE
                AND p.status IN ('approved', 'rejected')) AS reviews
        FROM people ORDER BY mappings DESC, proposed DESC, who COLLATE NOCASE""").fetchall()
    return [Contribution(display_name(r["who"]), *(r[k] for k in ("mappings", "proposed", "approved", "rejected",
                                                                  "pending", "withdrawn", "reviews")))
            for r in rows]


@dataclass(frozen=True)
class LevelCoverage:
    level: str            # a biological level, or "not stated"
    key_events: int
    mapped: int           # with an approved mapping
    pending: int          # without one, with a proposal to map it awaiting review

    @property
    def share(self) -> float:
        return self.mapped / self.key_events if self.key_events else 0.0


def coverage_by_level(conn: sqlite3.Connection) -> list[LevelCoverage]:
    """Key Events per biological level (AOP-Wiki's order, small to large) and how many are mapped."""
    rows = {r["level"]: r for r in conn.execute("""
        SELECT coalesce(k.bio_level, 'not stated') AS level, count(*) AS key_events,
               sum(EXISTS (SELECT 1 FROM mappings m WHERE m.ke_id = k.ke_id)) AS mapped,
               sum(NOT EXISTS (SELECT 1 FROM mappings m WHERE m.ke_id = k.ke_id)
                   AND EXISTS (SELECT 1 FROM proposals p WHERE p.ke_id = k.ke_id AND p.status = 'pending'
                               AND p.action = 'create')) AS pending
        FROM key_events k GROUP BY 1""")}
    order = [*BIO_LEVELS, *sorted(set(rows) - set(BIO_LEVELS) - {"not stated"}), "not stated"]
    return [LevelCoverage(level, rows[level]["key_events"], rows[level]["mapped"], rows[level]["pending"])
            for level in order if level in rows]


@dataclass(frozen=True)
class Point:
    period: str           # '2026-12' (a month) or '2026-12-02' (a day)
    total: int            # approved mappings at the end of the period


def mappings_over_time(conn: sqlite3.Connection, today: date | None = None) -> list[Point]:
    """Approved mappings at the end of each month (each day when all of it is within two months), from the
    audit log: mapping created +1, deleted -1; a mapping written without an audit row counts from its
    created_at. Periods with no change are filled in up to `today` (UTC), so the bars are evenly spaced in
    time."""
    events = conn.execute("""
        SELECT substr(at, 1, 10) AS day, sum(CASE action WHEN 'created' THEN 1 ELSE -1 END) AS change
        FROM audit_log WHERE entity = 'mapping' AND action IN ('created', 'deleted') GROUP BY 1
        UNION ALL
        SELECT substr(created_at, 1, 10), count(*) FROM mappings m WHERE NOT EXISTS (
            SELECT 1 FROM audit_log a WHERE a.entity = 'mapping' AND a.action = 'created'
            AND a.entity_id = CAST(m.id AS TEXT)) GROUP BY 1""").fetchall()
    changes: dict[date, int] = {}
    for row in events:
        try:
            day = date.fromisoformat(row["day"])
        except (TypeError, ValueError):
            continue
        changes[day] = changes.get(day, 0) + row["change"]
    if not changes:
        return []
    first, last = min(changes), max(*changes, today or datetime.now(UTC).date())
    by_day = (last - first).days <= 62
    points: list[Point] = []
    total = 0
    period = (first.year, first.month, first.day if by_day else 1)
    end = (last.year, last.month, last.day if by_day else 1)
    while True:
        start = date(*period)
        if by_day:
            total += changes.get(start, 0)
            points.append(Point(start.isoformat(), total))
        else:
            total += sum(n for d, n in changes.items() if (d.year, d.month) == period[:2])
            points.append(Point(start.strftime("%Y-%m"), total))
        if period == end:
            return points
        period = _next(start, by_day)


def _next(day: date, by_day: bool) -> tuple[int, int, int]:
    if by_day:
        nxt = date.fromordinal(day.toordinal() + 1)
        return nxt.year, nxt.month, nxt.day
    return (day.year + 1, 1, 1) if day.month == 12 else (day.year, day.month + 1, 1)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str            # the period
    value: int


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    top: int              # the value at the top of the scale
    first: str            # the first and last period, for the axis labels
    last: str


def bar_chart(points: list[Point], *, width: int = 600, height: int = 160, margin: int = 24) -> Chart:
    """Bars for the points in a width x height box (SVG user units; the image scales to the page)."""
    top = max((p.total for p in points), default=0) or 1
    plot_w, plot_h = width - 2 * margin, height - 2 * margin
    step = plot_w / max(len(points), 1)
    bars = [Bar(x=round(margin + i * step + step * 0.1, 2), y=round(margin + plot_h * (1 - p.total / top), 2),
                width=round(max(step * 0.8, 0.5), 2), height=round(plot_h * p.total / top, 2), label=p.period,
                value=p.total) for i, p in enumerate(points)]
    return Chart(width, height, bars, top, points[0].period if points else "", points[-1].period if points else "")
