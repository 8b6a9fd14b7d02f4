"""Mapping proposals, review decisions and the audit history. No Flask imports.

A curator proposes to create, change or delete a KE -> pathway mapping; an admin approves
or rejects it. Each write is one short `write_transaction` (BEGIN IMMEDIATE), and the
audit_log row for a change is written in the same transaction as the change, so the
history never misses or invents a step. "At most one pending proposal per pair" is the
partial unique index `proposals_one_pending`: a second proposal fails inside the database
(IntegrityError -> DuplicateProposal), never through a check-then-insert race.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..db import write_transaction
from . import catalog, confidence, ids
from . import text as text_rules
from .catalog_import import catalog_version
from .paging import Page, Sort

log = logging.getLogger(__name__)

ACTIONS = ("create", "change", "delete")
STATUSES = ("pending", "approved", "rejected", "withdrawn")
DECISIONS = ("approve", "reject")
MIN_RATIONALE = 10
MAX_RATIONALE = 2000
MAX_COMMENT = 1000
MAX_PER_PAGE = 200

# The server's own suggestion score for a KE -> pathway pair, or None (engine.score_for_pair).
Scorer = Callable[[str, str], float | None]


# --- errors -------------------------------------------------------------------------------

class MappingError(Exception):
    """Base of the refusals below; str() is a message fit for a curator."""


class ValidationError(MappingError):
    """The input is invalid; `errors` maps each form field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(MappingError):
    """No proposal or mapping with that id."""


class Conflict(MappingError):
    """The request contradicts the current state (already mapped, mapping gone, already decided).

    `proposal_id` / `mapping_id` point at the record in the way, for a link.
    """

    def __init__(self, message: str, *, proposal_id: int | None = None, mapping_id: int | None = None) -> None:
        super().__init__(message)
        self.proposal_id = proposal_id
        self.mapping_id = mapping_id


class DuplicateProposal(Conflict):
    """A proposal for this KE/pathway pair is already pending (see `proposal_id`)."""


class SelfReview(MappingError):
    """The reviewer proposed this proposal: four-eyes review needs another admin."""


class NotProposer(MappingError):
    """Only the curator who made a proposal may withdraw or edit it."""


class BulkRefused(MappingError):
    """A bulk decision was refused as a whole; `refusals` lists (proposal id, why) for each item in the way."""

    def __init__(self, refusals: list[tuple[int, str]]) -> None:
        super().__init__("Nothing was decided: " + " ".join(f"Proposal {pid}: {why}" for pid, why in refusals))
        self.refusals = refusals


# Recorded in the decision's audit row when a site lets proposers review their own proposals.
SELF_REVIEW_NOTE = "self-review allowed by KEWP_ALLOW_SELF_REVIEW"


# --- input --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProposalInput:
    """A validated proposal, ready for `propose`."""

    action: str
    ke_id: str
    wp_id: str
    rationale: str
    answers: dict[str, str] | None = None     # None for a delete
    suggestion_score: float | None = None
    mapping_id: int | None = None             # the mapping a change/delete is about

    @property
    def assessment(self) -> confidence.Assessment | None:
        return confidence.assess(self.answers) if self.answers is not None else None


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def clean_ke_id(conn: sqlite3.Connection, value: Any) -> tuple[str | None, str | None]:
    """(normalized id, None) or (None, error message)."""
    return _clean_id(conn, value, ids.ke_id, catalog.key_event, what="a Key Event id", example="KE 55",
                     catalogue="Key Event")


def clean_wp_id(conn: sqlite3.Connection, value: Any) -> tuple[str | None, str | None]:
    return _clean_id(conn, value, ids.wp_id, catalog.pathway, what="a WikiPathways id", example="WP254",
                     catalogue="pathway")


def _clean_id(conn: sqlite3.Connection, value: Any, parse: Callable[[str], str | None],
              find: Callable[[sqlite3.Connection, str], sqlite3.Row | None], *, what: str,
              example: str, catalogue: str) -> tuple[str | None, str | None]:
    raw = str(value or "").strip()
    if not raw:
        return None, f"Give {what}, e.g. {example}."
    parsed = parse(raw) if len(raw) <= 20 else None  # a form field, not a document: short
    if parsed is None:
        return None, f"{_short(raw)} is not {what} like {example}."
    if find(conn, parsed) is None:
        return None, f"{parsed} is not in the {catalogue} catalogue."
    return parsed, None


def clean_text(value: Any, *, what: str, minimum: int, maximum: int) -> tuple[str | None, str | None]:
    typed = text_rules.normalise_newlines(str(value or ""))
    forbidden = text_rules.problem(typed, what)  # before strip(): positions count what was typed
    if forbidden:
        return None, forbidden
    text = typed.strip()
    if not text:
        return None, f"Write a {what}."
    if len(text) < minimum:
        return None, f"The {what} is too short: say why in at least {minimum} characters."
    if len(text) > maximum:
        return None, f"The {what} is {len(text)} characters long; the limit is {maximum}."
    return text, None


def clean_proposal(conn: sqlite3.Connection, form: Mapping[str, Any], action: str = "create",
                   mapping: Mapping[str, Any] | None = None, *, scorer: Scorer | None = None) -> ProposalInput:
    """Validate a proposal's fields; raises ValidationError naming every bad field.

    For `create` the pair comes from the form (`ke`, `wp`); for `change`/`delete` it is the
    given mapping's. `delete` needs only a rationale. The suggestion score of a `create` is
    what `scorer` gives for the pair (None without one): a score in the form is ignored, so
    a curator cannot put a made-up number in front of reviewers and into exports.
    """
    if action not in ACTIONS:
        raise ValidationError({"action": f"{_short(action)} is not one of {', '.join(ACTIONS)}."})
    errors: dict[str, str] = {}
    score = None
    if action == "create":
        ke_id, ke_error = clean_ke_id(conn, form.get("ke"))
        wp_id, wp_error = clean_wp_id(conn, form.get("wp"))
        for name, error in (("ke", ke_error), ("wp", wp_error)):
            if error:
                errors[name] = error
        mapping_id = None
    else:
        if mapping is None:
            raise ValidationError({"mapping": f"a {action} proposal needs the mapping it is about"})
        ke_id, wp_id, mapping_id = mapping["ke_id"], mapping["wp_id"], int(mapping["id"])
    answers = None
    if action != "delete":
        answers = {name: str(form.get(name) or "") for name in confidence.FIELDS}
        errors.update(confidence.validate_answers(answers))
    rationale, rationale_error = clean_text(form.get("rationale"), what="rationale",
                                            minimum=MIN_RATIONALE, maximum=MAX_RATIONALE)
    if rationale_error:
        errors["rationale"] = rationale_error
    if errors:
        raise ValidationError(errors)
    if action == "create" and scorer is not None:
        raw = scorer(ke_id, wp_id)
        score = None if raw is None or not math.isfinite(raw) else round(raw, 4)
    return ProposalInput(action, ke_id, wp_id, rationale, answers, score, mapping_id)


# --- audit --------------------------------------------------------------------------------

def _snapshot(row: sqlite3.Row | Mapping[str, Any] | None) -> str | None:
    return None if row is None else json.dumps(dict(row), sort_keys=True)


def _audit(conn: sqlite3.Connection, actor: str, action: str, entity: str, entity_id: int, *,
           before: sqlite3.Row | Mapping[str, Any] | None, after: sqlite3.Row | Mapping[str, Any] | None,
           note: str | None = None) -> None:
    """One history row; call inside the transaction that makes the change.

    audit_log has no column for remarks, so a `note` goes into the `after` JSON as
    `audit_note` (the history then shows it as a change of that row).
    """
    after_json = _snapshot(after)
    if note is not None:
        after_json = json.dumps({**(dict(after) if after is not None else {}), "audit_note": note}, sort_keys=True)
    conn.execute("INSERT INTO audit_log (actor, action, entity, entity_id, before, after) VALUES (?, ?, ?, ?, ?, ?)",
                 (actor, action, entity, str(entity_id), _snapshot(before), after_json))


audit = _audit  # the same history row for other services' changes to a mapping (mapping_flags)


def _proposal_row(conn: sqlite3.Connection, proposal_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM proposals WHERE id = ?", (proposal_id,)).fetchone()


def _mapping_row(conn: sqlite3.Connection, mapping_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM mappings WHERE id = ?", (mapping_id,)).fetchone()


def _mapping_for_pair(conn: sqlite3.Connection, ke_id: str, wp_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM mappings WHERE ke_id = ? AND wp_id = ?", (ke_id, wp_id)).fetchone()


def pending_for_pair(conn: sqlite3.Connection, ke_id: str, wp_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM proposals WHERE ke_id = ? AND wp_id = ? AND status = 'pending'",
                        (ke_id, wp_id)).fetchone()


# --- writes -------------------------------------------------------------------------------

def propose(conn: sqlite3.Connection, actor: str, data: ProposalInput) -> int:
    """Record a pending proposal (and its audit row); returns the proposal id.

    Raises DuplicateProposal when the pair already has a pending proposal, Conflict when a
    create targets a pair that is already mapped or a change/delete a mapping that is gone.
    """
    assessment = data.assessment
    answers = data.answers or {}
    try:
        with write_transaction(conn):
            if data.action == "create":
                existing = _mapping_for_pair(conn, data.ke_id, data.wp_id)
                if existing is not None:
                    raise Conflict(f"{data.ke_id} → {data.wp_id} is already mapped; propose a change to "
                                   "that mapping instead.", mapping_id=existing["id"])
            else:
                current = _mapping_row(conn, data.mapping_id) if data.mapping_id is not None else None
                if current is None:
                    raise Conflict(f"Mapping {data.mapping_id} no longer exists; nothing to {data.action}.")
            cur = conn.execute(
                "INSERT INTO proposals (action, ke_id, wp_id, mapping_id, relationship, evidence, specificity, "
                "coverage, confidence, rationale, suggestion_score, proposed_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (data.action, data.ke_id, data.wp_id, data.mapping_id, answers.get("relationship"),
                 answers.get("evidence"), answers.get("specificity"), answers.get("coverage"),
                 assessment.level if assessment else None, data.rationale, data.suggestion_score, actor))
            proposal_id = cur.lastrowid
            _audit(conn, actor, "proposed", "proposal", proposal_id, before=None,
                   after=_proposal_row(conn, proposal_id))
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc) and "proposals" in str(exc):
            first = pending_for_pair(conn, data.ke_id, data.wp_id)
            raise DuplicateProposal(
                f"A proposal for {data.ke_id} → {data.wp_id} is already pending review"
                + (f" (proposal {first['id']} by {first['proposed_by']})" if first else "")
                + "; wait for its review before proposing again.",
                proposal_id=first["id"] if first else None) from None
        log.warning("proposal for %s -> %s refused by the database: %s", data.ke_id, data.wp_id, exc)
        raise ValidationError({"form": f"The database refused the proposal ({exc}); "
                                       "is the Key Event or pathway still in the catalogue?"}) from None
    log.info("%s proposed to %s %s -> %s (proposal %d)", actor, data.action, data.ke_id, data.wp_id, proposal_id)
    return proposal_id


def is_own(proposal: Mapping[str, Any], username: str) -> bool:
    """Whether `username` proposed it (user names are case-insensitive, as in the users table)."""
    return str(proposal["proposed_by"]).casefold() == username.casefold()


def _pending_proposal(conn: sqlite3.Connection, proposal_id: int, reviewer: str,
                      allow_self_review: bool) -> sqlite3.Row:
    row = _proposal_row(conn, proposal_id)
    if row is None:
        raise NotFound(f"There is no proposal {proposal_id}.")
    if row["status"] == "withdrawn":
        raise Conflict(f"Proposal {proposal_id} was withdrawn by {row['proposed_by']}.", proposal_id=proposal_id)
    if row["status"] != "pending":
        raise Conflict(f"Proposal {proposal_id} was already {row['status']} by {row['reviewed_by']}.",
                       proposal_id=proposal_id)
    if is_own(row, reviewer) and not allow_self_review:
        raise SelfReview(f"You proposed proposal {proposal_id}, so another admin must approve or reject it "
                         "(four-eyes review). A site with a single admin can allow self-review with "
                         "KEWP_ALLOW_SELF_REVIEW=true.")
    return row


def _decide(conn: sqlite3.Connection, proposal: sqlite3.Row, status: str, reviewer: str, *,
            comment: str | None, mapping_id: int | None) -> None:
    conn.execute("UPDATE proposals SET status = ?, reviewed_by = ?, review_comment = ?, "
                 "reviewed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), mapping_id = coalesce(?, mapping_id) "
                 "WHERE id = ?", (status, reviewer, comment, mapping_id, proposal["id"]))
    # Only reachable for one's own proposal when the site allows it (see _pending_proposal).
    note = SELF_REVIEW_NOTE if is_own(proposal, reviewer) else None
    _audit(conn, reviewer, status, "proposal", proposal["id"], before=proposal,
           after=_proposal_row(conn, proposal["id"]), note=note)


@dataclass(frozen=True)
class Decision:
    proposal_id: int
    action: str
    status: str
    mapping_id: int | None


def clean_comment(comment: str | None, *, required: bool) -> str | None:
    """The review comment, cleaned: required (non-empty) for a rejection, optional for an approval."""
    if not required and (comment is None or not comment.strip()):
        return None
    text, error = clean_text(comment, what="comment saying why" if required else "comment", minimum=1,
                             maximum=MAX_COMMENT)
    if error:
        raise ValidationError({"comment": error})
    return text


def approve(conn: sqlite3.Connection, proposal_id: int, reviewer: str, comment: str | None = None, *,
            allow_self_review: bool = False) -> Decision:
    """Apply a pending proposal to `mappings` (create, change or delete), all in one transaction.

    The mapping is stamped with who proposed and approved it, the suggestion score and the
    current catalogue versions. Raises NotFound; SelfReview when the reviewer proposed it
    (unless `allow_self_review`); Conflict when the proposal is no longer pending, a
    create's pair is already mapped, or a change/delete's mapping is gone.
    """
    comment_text = clean_comment(comment, required=False)
    with write_transaction(conn):
        result = _approve_in(conn, proposal_id, reviewer, comment_text, allow_self_review)
    log.info("%s approved proposal %d (%s %s -> %s)", reviewer, proposal_id, result.action, result.ke_id,
             result.wp_id)
    return result.decision


@dataclass(frozen=True)
class _Applied:
    decision: Decision
    ke_id: str
    wp_id: str

    @property
    def action(self) -> str:
        return self.decision.action


def _approve_in(conn: sqlite3.Connection, proposal_id: int, reviewer: str, comment_text: str | None,
                allow_self_review: bool) -> _Applied:
    """The body of `approve`, inside the caller's write transaction; every refusal is raised before any write."""
    proposal = _pending_proposal(conn, proposal_id, reviewer, allow_self_review)
    action, ke_id, wp_id = proposal["action"], proposal["ke_id"], proposal["wp_id"]
    versions = (catalog_version(conn, "key_events"), catalog_version(conn, "pathways"))
    if action == "create":
        existing = _mapping_for_pair(conn, ke_id, wp_id)
        if existing is not None:
            raise Conflict(f"{ke_id} → {wp_id} is already mapped (mapping {existing['id']}); "
                           "reject this proposal, or propose a change to that mapping.",
                           mapping_id=existing["id"], proposal_id=proposal_id)
        cur = conn.execute(
            "INSERT INTO mappings (ke_id, wp_id, relationship, evidence, specificity, coverage, confidence, "
            "rationale, suggestion_score, proposed_by, approved_by, ke_catalog_version, wp_catalog_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ke_id, wp_id, proposal["relationship"], proposal["evidence"], proposal["specificity"],
             proposal["coverage"], proposal["confidence"], proposal["rationale"], proposal["suggestion_score"],
             proposal["proposed_by"], reviewer, *versions))
        mapping_id = cur.lastrowid
        _audit(conn, reviewer, "created", "mapping", mapping_id, before=None, after=_mapping_row(conn, mapping_id))
    else:
        mapping_id = proposal["mapping_id"]
        before = _mapping_row(conn, mapping_id) if mapping_id is not None else None
        if before is None:
            raise Conflict(f"The mapping {ke_id} → {wp_id} this proposal would {action} no longer exists; "
                           "reject the proposal.", proposal_id=proposal_id)
        if action == "change":
            conn.execute(
                "UPDATE mappings SET relationship = ?, evidence = ?, specificity = ?, coverage = ?, "
                "confidence = ?, rationale = ?, suggestion_score = coalesce(?, suggestion_score), "
                "proposed_by = ?, approved_by = ?, ke_catalog_version = ?, wp_catalog_version = ?, "
                "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?",
                (proposal["relationship"], proposal["evidence"], proposal["specificity"], proposal["coverage"],
                 proposal["confidence"], proposal["rationale"], proposal["suggestion_score"],
                 proposal["proposed_by"], reviewer, *versions, mapping_id))
            _audit(conn, reviewer, "changed", "mapping", mapping_id, before=before,
                   after=_mapping_row(conn, mapping_id))
        else:
            conn.execute("DELETE FROM mappings WHERE id = ?", (mapping_id,))
            _audit(conn, reviewer, "deleted", "mapping", mapping_id, before=before, after=None)
    _decide(conn, proposal, "approved", reviewer, comment=comment_text,
            mapping_id=mapping_id if action == "create" else None)
    return _Applied(Decision(proposal_id, action, "approved", mapping_id), ke_id, wp_id)


def reject(conn: sqlite3.Connection, proposal_id: int, reviewer: str, comment: str | None, *,
           allow_self_review: bool = False) -> Decision:
    """Reject a pending proposal; the comment (why) is required and shown to the curator.

    Four-eyes like `approve`: refuses (SelfReview) the proposer unless `allow_self_review`.
    """
    comment_text = clean_comment(comment, required=True)
    with write_transaction(conn):
        decision = _reject_in(conn, proposal_id, reviewer, comment_text, allow_self_review)
    log.info("%s rejected proposal %d", reviewer, proposal_id)
    return decision


def _reject_in(conn: sqlite3.Connection, proposal_id: int, reviewer: str, comment_text: str | None,
               allow_self_review: bool) -> Decision:
    proposal = _pending_proposal(conn, proposal_id, reviewer, allow_self_review)
    _decide(conn, proposal, "rejected", reviewer, comment=comment_text, mapping_id=None)
    return Decision(proposal_id, proposal["action"], "rejected", proposal["mapping_id"])


MAX_BULK = MAX_PER_PAGE


def clean_selection(values: list[str]) -> list[int]:
    """The proposal ids ticked on the queue, in the order given, without repeats; ValidationError otherwise."""
    chosen: list[int] = []
    for value in values:
        number = ids.row_id(str(value).strip())
        if number is None:
            raise ValidationError({"ids": f"{_short(value)} is not a proposal number."})
        if number not in chosen:
            chosen.append(number)
    if not chosen:
        raise ValidationError({"ids": "Tick at least one proposal."})
    if len(chosen) > MAX_BULK:
        raise ValidationError({"ids": f"{len(chosen)} proposals are ticked; decide at most {MAX_BULK} at once."})
    return chosen


def bulk_decide(conn: sqlite3.Connection, proposal_ids: list[int], decision: str, reviewer: str,
                comment: str | None, *, allow_self_review: bool = False) -> list[Decision]:
    """Approve or reject several proposals in one transaction: all of them, or none.

    Each gets its own audit row, exactly as a single decision would. When any one is refused
    (not found, no longer pending, the reviewer's own, a pair mapped meanwhile, a mapping
    gone) the whole batch is rolled back and BulkRefused lists every refused id and why, so
    the reviewer can untick them and try again. A rejection's comment applies to each.
    """
    if decision not in DECISIONS:
        raise ValidationError({"decision": f"{_short(decision)} is not one of {', '.join(DECISIONS)}."})
    if not proposal_ids:
        raise ValidationError({"ids": "Tick at least one proposal."})
    comment_text = clean_comment(comment, required=decision == "reject")
    decided: list[Decision] = []
    refusals: list[tuple[int, str]] = []
    with write_transaction(conn):
        for proposal_id in proposal_ids:
            # A savepoint per item, so a refused item leaves no trace while the others are tried
            # (to name every refusal at once); BulkRefused then rolls back the whole transaction.
            conn.execute("SAVEPOINT bulk_item")
            try:
                if decision == "approve":
                    decided.append(_approve_in(conn, proposal_id, reviewer, comment_text, allow_self_review).decision)
                else:
                    decided.append(_reject_in(conn, proposal_id, reviewer, comment_text, allow_self_review))
            except (NotFound, Conflict, SelfReview) as exc:
                conn.execute("ROLLBACK TO bulk_item")
                refusals.append((proposal_id, str(exc)))
            conn.execute("RELEASE bulk_item")
        if refusals:
            raise BulkRefused(refusals)
    log.info("%s bulk-%sd proposals %s", reviewer, decision, ", ".join(map(str, proposal_ids)))
    return decided


# --- the proposer's own changes -------------------------------------------------------------

def _own_pending(conn: sqlite3.Connection, proposal_id: int, actor: str, what: str) -> sqlite3.Row:
    row = _proposal_row(conn, proposal_id)
    if row is None:
        raise NotFound(f"There is no proposal {proposal_id}.")
    if not is_own(row, actor):
        raise NotProposer(f"Only {row['proposed_by']}, who made proposal {proposal_id}, can {what} it.")
    if row["status"] != "pending":
        by = f" by {row['reviewed_by']}" if row["reviewed_by"] and row["status"] != "withdrawn" else ""
        raise Conflict(f"Proposal {proposal_id} was already {row['status']}{by}; only a pending proposal "
                       f"can be {'withdrawn' if what == 'withdraw' else 'edited'}.", proposal_id=proposal_id)
    return row


def withdraw(conn: sqlite3.Connection, proposal_id: int, actor: str) -> None:
    """The proposer takes back a pending proposal: status 'withdrawn', with an audit row.

    The pair is then free for a new proposal. Raises NotFound, NotProposer (someone else's),
    Conflict (no longer pending).
    """
    with write_transaction(conn):
        before = _own_pending(conn, proposal_id, actor, "withdraw")
        conn.execute("UPDATE proposals SET status = 'withdrawn', reviewed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
                     "WHERE id = ?", (proposal_id,))
        _audit(conn, actor, "withdrawn", "proposal", proposal_id, before=before, after=_proposal_row(conn, proposal_id))
    log.info("%s withdrew proposal %d", actor, proposal_id)


def clean_edit(conn: sqlite3.Connection, proposal: Mapping[str, Any], form: Mapping[str, Any]) -> ProposalInput:
    """Validate an edit of a pending proposal by the rules of proposing: same pair and action, new answers
    and rationale; the confidence is computed again. The suggestion score stays the one recorded."""
    action = proposal["action"]
    if action == "create":
        fields = {**form, "ke": proposal["ke_id"], "wp": proposal["wp_id"]}
        data = clean_proposal(conn, fields, "create")
        return ProposalInput(action, data.ke_id, data.wp_id, data.rationale, data.answers,
                             proposal["suggestion_score"], None)
    about = {"ke_id": proposal["ke_id"], "wp_id": proposal["wp_id"], "id": proposal["mapping_id"] or 0}
    data = clean_proposal(conn, form, action, about)
    return ProposalInput(action, data.ke_id, data.wp_id, data.rationale, data.answers, None, proposal["mapping_id"])


def edit(conn: sqlite3.Connection, proposal_id: int, actor: str, data: ProposalInput) -> None:
    """Replace a pending proposal's assessment and rationale (from `clean_edit`); audit row 'edited' with the
    record before and after. Raises NotFound, NotProposer, Conflict (no longer pending)."""
    assessment = data.assessment
    answers = data.answers or {}
    with write_transaction(conn):
        before = _own_pending(conn, proposal_id, actor, "edit")
        if (before["ke_id"], before["wp_id"], before["action"]) != (data.ke_id, data.wp_id, data.action):
            raise ValidationError({"form": "An edit keeps the proposal's Key Event, pathway and action."})
        conn.execute("UPDATE proposals SET relationship = ?, evidence = ?, specificity = ?, coverage = ?, "
                     "confidence = ?, rationale = ? WHERE id = ?",
                     (answers.get("relationship"), answers.get("evidence"), answers.get("specificity"),
                      answers.get("coverage"), assessment.level if assessment else None, data.rationale,
                      proposal_id))
        _audit(conn, actor, "edited", "proposal", proposal_id, before=before, after=_proposal_row(conn, proposal_id))
    log.info("%s edited proposal %d", actor, proposal_id)


# --- reads --------------------------------------------------------------------------------

def _page(conn: sqlite3.Connection, select: str, where: list[str], params: list[Any], *, order: str,
          page: int, per_page: int) -> Page:
    page, per_page = max(1, page), max(1, min(per_page, MAX_PER_PAGE))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = conn.execute(f"SELECT count(*) FROM ({select}{clause})", params).fetchone()[0]
    rows = conn.execute(f"{select}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                        [*params, per_page, (page - 1) * per_page]).fetchall()
    return Page(rows, total, page, per_page)


MAPPING_SELECT = ("SELECT m.*, k.title AS ke_title, p.title AS wp_title FROM mappings m "
                  "JOIN key_events k ON k.ke_id = m.ke_id JOIN pathways p ON p.wp_id = m.wp_id")
PROPOSAL_SELECT = ("SELECT pr.*, k.title AS ke_title, p.title AS wp_title, m.confidence AS current_confidence "
                   "FROM proposals pr JOIN key_events k ON k.ke_id = pr.ke_id JOIN pathways p ON p.wp_id = pr.wp_id "
                   "LEFT JOIN mappings m ON m.id = pr.mapping_id")


def _confidence_rank(column: str) -> str:
    """high > medium > low > none, for sorting by confidence."""
    return f"CASE {column} WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END"


MAPPING_SORT = Sort({"id": "m.id", "ke": ids.sql_number("m.ke_id", ids.KE_PREFIX),
                     "wp": ids.sql_number("m.wp_id", ids.WP_PREFIX), "confidence": _confidence_rank("m.confidence"),
                     "curator": "m.proposed_by COLLATE NOCASE", "approved_by": "m.approved_by COLLATE NOCASE",
                     "updated": "m.updated_at"},
                    default="updated", default_direction="desc", tiebreak="m.id")
PROPOSAL_SORT = Sort({"id": "pr.id", "ke": ids.sql_number("pr.ke_id", ids.KE_PREFIX),
                      "wp": ids.sql_number("pr.wp_id", ids.WP_PREFIX), "action": "pr.action",
                      "confidence": _confidence_rank("pr.confidence"), "curator": "pr.proposed_by COLLATE NOCASE",
                      "proposed": "pr.proposed_at", "status": "pr.status"},
                     default="proposed", default_direction="asc", tiebreak="pr.id")
MINE_SORT = Sort(PROPOSAL_SORT.columns, default="id", default_direction="desc", tiebreak="pr.id")

# How long a proposal has waited: URL value -> (at least, less than) days; None is open-ended.
AGES = {"day": (None, 1), "week": (None, 7), "over-week": (7, None), "over-month": (30, None)}
AGE_LABELS = {"day": "less than a day", "week": "less than a week", "over-week": "over a week",
              "over-month": "over a month"}


def _age_clauses(column: str, age: str | None) -> list[str]:
    if not age:
        return []
    at_least, less_than = AGES[age]
    clauses = []
    if at_least is not None:
        clauses.append(f"{column} <= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{int(at_least)} days')")
    if less_than is not None:
        clauses.append(f"{column} > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-{int(less_than)} days')")
    return clauses


def _filters(prefix: str, **values: str | None) -> tuple[list[str], list[Any]]:
    """WHERE clauses for exact-match filters; 'none' as a confidence means no level (a delete)."""
    where, params = [], []
    for name, value in values.items():
        if not value:
            continue
        if name == "confidence" and value == "none":
            where.append(f"{prefix}.confidence IS NULL")
        elif name == "curator":
            where.append(f"{prefix}.proposed_by = ? COLLATE NOCASE")
            params.append(value)
        else:
            where.append(f"{prefix}.{name} = ?")
            params.append(value)
    return where, params


def list_mappings(conn: sqlite3.Connection, *, confidence_level: str | None = None, ke_id: str | None = None,
                  wp_id: str | None = None, curator: str | None = None, sort: str = "updated",
                  direction: str = "desc", page: int = 1, per_page: int = 25) -> Page:
    """Approved mappings, newest change first unless sorted otherwise, optionally filtered (ids normalized,
    `sort`/`direction` cleaned by MAPPING_SORT)."""
    where, params = _filters("m", confidence=confidence_level, ke_id=ke_id, wp_id=wp_id, curator=curator)
    return _page(conn, MAPPING_SELECT, where, params, order=MAPPING_SORT.order_by(sort, direction), page=page,
                 per_page=per_page)


def get_mapping(conn: sqlite3.Connection, mapping_id: int) -> sqlite3.Row | None:
    return conn.execute(f"{MAPPING_SELECT} WHERE m.id = ?", (mapping_id,)).fetchone()


def mappings_of_ke(conn: sqlite3.Connection, ke_id: str) -> list[sqlite3.Row]:
    """A Key Event's approved mappings with the pathway titles, for its page."""
    return conn.execute(
        "SELECT m.*, p.title AS wp_title FROM mappings m JOIN pathways p USING (wp_id) WHERE m.ke_id = ? "
        "ORDER BY m.confidence, p.title", (ke_id,)).fetchall()


def pending_of_ke(conn: sqlite3.Connection, ke_id: str) -> list[sqlite3.Row]:
    """A Key Event's pending proposals with the pathway titles, oldest first."""
    return conn.execute(
        "SELECT pr.*, p.title AS wp_title FROM proposals pr JOIN pathways p USING (wp_id) "
        "WHERE pr.ke_id = ? AND pr.status = 'pending' ORDER BY pr.proposed_at", (ke_id,)).fetchall()


def mappings_of_pathway(conn: sqlite3.Connection, wp_id: str) -> list[sqlite3.Row]:
    """A pathway's approved mappings with the Key Event titles, for its page."""
    return conn.execute(
        "SELECT m.*, k.title AS ke_title FROM mappings m JOIN key_events k USING (ke_id) WHERE m.wp_id = ? "
        "ORDER BY k.title", (wp_id,)).fetchall()


def get_proposal(conn: sqlite3.Connection, proposal_id: int) -> sqlite3.Row | None:
    return conn.execute(f"{PROPOSAL_SELECT} WHERE pr.id = ?", (proposal_id,)).fetchone()


def proposals_by(conn: sqlite3.Connection, username: str, *, status: str | None = None, sort: str = "id",
                 direction: str = "desc", page: int = 1, per_page: int = 25) -> Page:
    """A curator's own proposals, newest first unless sorted otherwise (MINE_SORT)."""
    where, params = ["pr.proposed_by = ?"], [username]
    if status:
        where.append("pr.status = ?")
        params.append(status)
    return _page(conn, PROPOSAL_SELECT, where, params, order=MINE_SORT.order_by(sort, direction), page=page,
                 per_page=per_page)


@dataclass(frozen=True)
class QueueCounts:
    total: int
    by_action: dict[str, int]
    by_confidence: dict[str, int]  # "none" for deletions, which have no assessment


def review_queue(conn: sqlite3.Connection, *, ke_id: str | None = None, wp_id: str | None = None,
                 curator: str | None = None, confidence_level: str | None = None, age: str | None = None,
                 sort: str = "proposed", direction: str = "asc", page: int = 1,
                 per_page: int = 50) -> tuple[Page, QueueCounts]:
    """Pending proposals, oldest first unless sorted otherwise (PROPOSAL_SORT), optionally filtered by KE,
    pathway, curator, confidence ('none' for deletes) and age (a key of AGES); and the counts of all
    pending proposals by action and confidence (unfiltered: the size of the whole queue)."""
    where, params = _filters("pr", ke_id=ke_id, wp_id=wp_id, curator=curator, confidence=confidence_level)
    where = ["pr.status = 'pending'", *where, *_age_clauses("pr.proposed_at", age)]
    result = _page(conn, PROPOSAL_SELECT, where, params, order=PROPOSAL_SORT.order_by(sort, direction),
                   page=page, per_page=per_page)
    by_action = dict.fromkeys(ACTIONS, 0)
    by_confidence = {**dict.fromkeys(confidence.LEVELS_BEST_FIRST, 0), "none": 0}
    total = 0
    for action, level, n in conn.execute("SELECT action, confidence, count(*) FROM proposals "
                                         "WHERE status = 'pending' GROUP BY action, confidence"):
        by_action[action] += n
        by_confidence[level or "none"] += n
        total += n
    return result, QueueCounts(total, by_action, by_confidence)


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


_NOT_SHOWN = {"id", "ke_id", "wp_id", "updated_at", "created_at", "proposed_at", "reviewed_at"}


def _entry(row: sqlite3.Row) -> HistoryEntry:
    before = json.loads(row["before"]) if row["before"] else None
    after = json.loads(row["after"]) if row["after"] else None
    keys = sorted(set(before or {}) | set(after or {}))
    changes = [(k, (before or {}).get(k), (after or {}).get(k)) for k in keys
               if k not in _NOT_SHOWN and (before or {}).get(k) != (after or {}).get(k)]
    return HistoryEntry(row["at"], row["actor"], row["action"], row["entity"], row["entity_id"], before, after,
                        changes)


def pair_history(conn: sqlite3.Connection, ke_id: str, wp_id: str, *,
                 include_proposals: bool = True) -> list[HistoryEntry]:
    """Every audit row about the pair (its proposals and mappings, including deleted ones), oldest first.

    Without `include_proposals` only the mapping rows (what was approved): proposals, and
    reviewers' comments on them, are for signed-in users.
    """
    entities = "('mapping', 'proposal')" if include_proposals else "('mapping')"
    rows = conn.execute(
        f"SELECT * FROM audit_log WHERE entity IN {entities} "
        "AND coalesce(json_extract(after, '$.ke_id'), json_extract(before, '$.ke_id')) = ? "
        "AND coalesce(json_extract(after, '$.wp_id'), json_extract(before, '$.wp_id')) = ? ORDER BY id",
        (ke_id, wp_id)).fetchall()
    return [_entry(r) for r in rows]


def deleted_mapping(conn: sqlite3.Connection, mapping_id: int) -> dict[str, Any] | None:
    """The last state of a mapping that has been deleted (from the audit log), or None."""
    row = conn.execute("SELECT before FROM audit_log WHERE entity = 'mapping' AND entity_id = ? "
                       "AND action = 'deleted' ORDER BY id DESC LIMIT 1", (str(mapping_id),)).fetchone()
    return json.loads(row["before"]) if row else None
