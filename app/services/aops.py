"""AOP coverage: which of an Adverse Outcome Pathway's Key Events are mapped. No Flask imports.

The catalogue has no AOP table: a Key Event's AOPs are its `aop_ids` (JSON, canonical 'AOP n',
written by the import), the AOP titles and the KE's role in each (MIE, KE, AO) are in its
`extra` JSON (`aops`, `roles`), and KE relationships (KERs) carry no AOP. So an AOP here is the
set of KEs that name it; its relationships are the KERs between two of those KEs, except those
into its MIE or from its AO back to an earlier KE (they belong to another AOP that shares the
two KEs).

A KE's mapping state: `approved` when it has an approved mapping; else `pending` when a
proposal to map it awaits review; else `none`. Its best confidence is that of its best approved
mapping (None without one).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from dataclasses import dataclass

from . import ids
from .paging import Page, Sort

STATES = ("approved", "pending", "none")
ROLES = ("MIE", "KE", "AO")          # molecular initiating event, key event, adverse outcome
AO_RANK = ROLES.index("AO")
_LEVEL_RANK = "CASE confidence WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END"
_RANK_LEVEL = {3: "high", 2: "medium", 1: "low"}

# One row per (AOP, member KE) with the KE's state; the AOP list and an AOP's page both read it.
_MEMBERS = f"""
    WITH members AS (
        SELECT j.value AS aop_id, k.ke_id FROM key_events k, json_each(k.aop_ids) j
    ), approved AS (
        SELECT ke_id, count(*) AS n, max({_LEVEL_RANK}) AS best FROM mappings GROUP BY ke_id
    ), pending AS (
        SELECT ke_id, count(*) AS n FROM proposals WHERE status = 'pending' AND action = 'create' GROUP BY ke_id
    ), state AS (
        SELECT m.aop_id, m.ke_id, coalesce(a.n, 0) AS approved_count, coalesce(p.n, 0) AS pending_count, a.best,
               CASE WHEN a.n > 0 THEN 'approved' WHEN p.n > 0 THEN 'pending' ELSE 'none' END AS state
        FROM members m LEFT JOIN approved a USING (ke_id) LEFT JOIN pending p USING (ke_id)
    )"""

_SUMMARY = f"""{_MEMBERS}, titles AS (
        SELECT json_extract(a.value, '$.aop_id') AS aop_id, max(json_extract(a.value, '$.aop_title')) AS title
        FROM key_events k, json_each(k.extra, '$.aops') a GROUP BY 1
    ), aops AS (
        SELECT s.aop_id, coalesce(t.title, s.aop_id) AS title, count(*) AS ke_count,
               sum(s.state = 'approved') AS approved, sum(s.state = 'pending') AS pending,
               sum(s.state = 'none') AS unmapped
        FROM state s LEFT JOIN titles t USING (aop_id) GROUP BY s.aop_id
    )
    SELECT * FROM aops"""

AOP_SORT = Sort({"id": ids.sql_number("aop_id", ids.AOP_PREFIX), "title": "title COLLATE NOCASE",
                 "kes": "ke_count", "unmapped": "unmapped", "coverage": "CAST(approved AS REAL) / ke_count"},
                default="id", default_direction="asc", tiebreak=ids.sql_number("aop_id", ids.AOP_PREFIX))


@dataclass(frozen=True)
class AopSummary:
    aop_id: str
    title: str
    ke_count: int
    approved: int        # KEs with an approved mapping
    pending: int         # KEs without one but with a proposal awaiting review
    unmapped: int        # KEs with neither

    @property
    def coverage(self) -> float:
        """The share of its KEs with an approved mapping, 0 to 1."""
        return self.approved / self.ke_count if self.ke_count else 0.0


def _summary(row: sqlite3.Row) -> AopSummary:
    return AopSummary(row["aop_id"], row["title"], row["ke_count"], row["approved"], row["pending"],
                      row["unmapped"])


def list_aops(conn: sqlite3.Connection, *, unmapped_only: bool = False, sort: str = "id", direction: str = "asc",
              page: int = 1, per_page: int = 25) -> Page:
    """Every AOP the catalogue's KEs name, with its KE counts by state; `unmapped_only`: only AOPs with at
    least one KE in state `none`. Rows are AopSummary; `sort`/`direction` cleaned by AOP_SORT."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    where = " WHERE unmapped > 0" if unmapped_only else ""
    total = conn.execute(f"SELECT count(*) FROM ({_SUMMARY}{where})").fetchone()[0]
    rows = conn.execute(f"{_SUMMARY}{where} ORDER BY {AOP_SORT.order_by(sort, direction)} LIMIT ? OFFSET ?",
                        (per_page, (page - 1) * per_page)).fetchall()
    return Page([_summary(r) for r in rows], total, page, per_page)  # type: ignore[arg-type]


@dataclass(frozen=True)
class AopKeyEvent:
    position: int                 # 1-based, in order along the KERs
    ke_id: str
    title: str
    bio_level: str | None
    role: str | None              # MIE, KE or AO in this AOP (None when the catalogue does not say)
    state: str                    # approved, pending or none
    best_confidence: str | None   # of its approved mappings
    approved_count: int
    pending_count: int
    upstream: list[str]           # the KEs of this AOP directly upstream of it (by KER)


@dataclass(frozen=True)
class Relationship:
    ker_id: str
    upstream_ke_id: str
    downstream_ke_id: str


@dataclass(frozen=True)
class Aop:
    summary: AopSummary
    key_events: list[AopKeyEvent]
    relationships: list[Relationship]


def _role(extra: str | None, aop_id: str) -> str | None:
    try:
        roles = json.loads(extra or "{}").get("roles") or []
    except (json.JSONDecodeError, AttributeError):
        return None
    for entry in roles:
        if isinstance(entry, dict) and ids.aop_id(str(entry.get("aop_id", ""))) == aop_id:
            role = str(entry.get("role", "")).upper()
            return role if role in ROLES else None
    return None


def order_along(ke_ids: list[str], edges: list[tuple[str, str]], priority: dict[str, tuple[int, int]]) -> list[str]:
    """The KEs upstream before downstream (a topological order of the KER graph).

    Among KEs that are free to come next, the smaller `priority` first (role MIE, KE, AO, then KE
    number), so the order is the same on every call. A cycle (which AOP-Wiki allows: feedback loops)
    is broken at its smallest-priority KE, so every KE appears exactly once; an adverse outcome
    (priority AO_RANK) waits while a cycle of other KEs is left to break.
    """
    indegree = dict.fromkeys(ke_ids, 0)
    downstream: dict[str, list[str]] = {k: [] for k in ke_ids}
    for up, down in edges:
        downstream[up].append(down)
        indegree[down] += 1
    ready = [(priority[k], k) for k, n in indegree.items() if n == 0]
    heapq.heapify(ready)
    placed: list[str] = []
    done: set[str] = set()
    while len(placed) < len(ke_ids):
        if not ready or ready[0][0][0] >= AO_RANK:
            # Only cycles (and adverse outcomes) are left: start a cycle at its smallest KE.
            rest = min(((priority[k], k) for k in ke_ids if k not in done and priority[k][0] < AO_RANK),
                       default=None)
            if rest is None and not ready:
                rest = min((priority[k], k) for k in ke_ids if k not in done)
            if rest is not None:
                heapq.heappush(ready, rest)
                indegree[rest[1]] = 0
        _, ke = heapq.heappop(ready)
        if ke in done:
            continue
        done.add(ke)
        placed.append(ke)
        for nxt in downstream[ke]:
            if nxt in done:
                continue
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (priority[nxt], nxt))
    return placed


def get_aop(conn: sqlite3.Connection, aop_id: str) -> Aop | None:
    """An AOP's KEs in order along its KERs, each with its mapping state; None when no KE names the AOP."""
    summary_row = conn.execute(f"SELECT * FROM ({_SUMMARY}) WHERE aop_id = ?", (aop_id,)).fetchone()
    if summary_row is None:
        return None
    rows = conn.execute(
        f"{_MEMBERS} SELECT s.*, k.title, k.bio_level, k.extra FROM state s JOIN key_events k USING (ke_id) "
        "WHERE s.aop_id = ?", (aop_id,)).fetchall()
    by_id = {r["ke_id"]: r for r in rows}
    kers = conn.execute(
        "SELECT ker_id, upstream_ke_id, downstream_ke_id FROM ke_relationships r "
        f"WHERE upstream_ke_id IN (SELECT value FROM json_each(?)) AND downstream_ke_id IN (SELECT value FROM "
        f"json_each(?)) AND upstream_ke_id != downstream_ke_id ORDER BY {ids.sql_number('ker_id', 'KER ')}",
        (json.dumps(list(by_id)), json.dumps(list(by_id)))).fetchall()
    roles = {k: _role(r["extra"], aop_id) for k, r in by_id.items()}
    # An MIE starts this AOP and an AO ends it: a KER into its MIE, or from its AO to one of its MIEs or KEs,
    # comes from another AOP that shares the two KEs, and is left out.
    relationships = [Relationship(r["ker_id"], r["upstream_ke_id"], r["downstream_ke_id"]) for r in kers
                     if roles[r["downstream_ke_id"]] != "MIE"
                     and not (roles[r["upstream_ke_id"]] == "AO" and roles[r["downstream_ke_id"]] != "AO")]
    priority = {k: (ROLES.index(roles[k]) if roles[k] else 1, ids.id_number(k)) for k in by_id}
    order = order_along(sorted(by_id, key=ids.id_number),
                        [(r.upstream_ke_id, r.downstream_ke_id) for r in relationships], priority)
    upstream: dict[str, list[str]] = {k: [] for k in by_id}
    for r in relationships:
        upstream[r.downstream_ke_id].append(r.upstream_ke_id)
    key_events = [
        AopKeyEvent(position, ke, by_id[ke]["title"], by_id[ke]["bio_level"], roles[ke], by_id[ke]["state"],
                    _RANK_LEVEL.get(by_id[ke]["best"] or 0), by_id[ke]["approved_count"],
                    by_id[ke]["pending_count"], sorted(upstream[ke], key=ids.id_number))
        for position, ke in enumerate(order, start=1)]
    return Aop(_summary(summary_row), key_events, relationships)
