"""Approved mappings, their history, and curators' proposals to create, change or delete them.

The propose form works without JavaScript: "Preview confidence" re-renders it with the
level the answers give, and "Submit proposal" records it only once the curator has seen
that level (the hidden `confirmed_confidence` must match; the small script in
static/confidence.js keeps it in step live when JavaScript runs).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from ..db import get_db
from ..engine import get_engine
from ..services import catalog, confidence, mapping_flags
from ..services import mappings as svc
from .auth import login_required
from .filters import confidence_filter, curator_filter, id_filters
from .paging import listing, page_arg

log = logging.getLogger(__name__)
bp = Blueprint("mappings", __name__)
PER_PAGE = 25


@bp.get("/mappings")
def index():
    conn = get_db()
    level = confidence_filter()
    ke_arg, wp_arg, ke_id, wp_id = id_filters(conn)
    curator = curator_filter()
    shown = listing(svc.MAPPING_SORT, ke=ke_arg, wp=wp_arg, confidence=level, curator=curator)
    result = svc.list_mappings(conn, confidence_level=level or None, ke_id=ke_id, wp_id=wp_id,
                               curator=curator or None, sort=shown.sort, direction=shown.order,
                               page=page_arg(), per_page=PER_PAGE)
    return render_template("mappings/index.html", result=result, level=level, ke=ke_arg, wp=wp_arg,
                           curator=curator, listing=shown, levels=list(confidence.LEVELS_BEST_FIRST))


@bp.get("/mappings/<sqlite_int:mapping_id>")
def detail(mapping_id: int):
    conn = get_db()
    # Signed-out visitors see the approved mapping and its mapping history only; proposals
    # (pending, rejected) and reviewers' comments are for signed-in users.
    signed_in = g.user is not None
    mapping = svc.get_mapping(conn, mapping_id)
    if mapping is None:
        last = svc.deleted_mapping(conn, mapping_id)
        if last is None:
            abort(404, f"There is no mapping {mapping_id}.")
        return render_template("mappings/detail.html", mapping=None, deleted=last, questions=confidence.QUESTIONS,
                               history=svc.pair_history(conn, last["ke_id"], last["wp_id"],
                                                        include_proposals=signed_in), pending=None)
    pending = svc.pending_for_pair(conn, mapping["ke_id"], mapping["wp_id"]) if signed_in else None
    return render_template("mappings/detail.html", mapping=mapping, deleted=None, questions=confidence.QUESTIONS,
                           history=svc.pair_history(conn, mapping["ke_id"], mapping["wp_id"],
                                                    include_proposals=signed_in), pending=pending,
                           flag=mapping_flags.open_flag_of(conn, mapping_id))


@bp.get("/mappings/mine")
@login_required
def mine():
    status = request.args.get("status", "").strip().lower()
    if status and status not in svc.STATUSES:
        abort(400, f"status must be one of {', '.join(svc.STATUSES)}")
    shown = listing(svc.MINE_SORT, status=status)
    result = svc.proposals_by(get_db(), g.user.username, status=status or None, sort=shown.sort,
                              direction=shown.order, page=page_arg(), per_page=PER_PAGE)
    return render_template("mappings/mine.html", result=result, status=status, statuses=svc.STATUSES,
                           listing=shown)


@bp.get("/mappings/proposals/<sqlite_int:proposal_id>")
def proposal(proposal_id: int):
    # Proposals are for signed-in users (applied here rather than stacked on the route line).
    return login_required(_proposal_page)(proposal_id)


def _proposal_page(proposal_id: int):
    conn = get_db()
    row = svc.get_proposal(conn, proposal_id)
    if row is None:
        abort(404, f"There is no proposal {proposal_id}.")
    current = svc.get_mapping(conn, row["mapping_id"]) if row["mapping_id"] is not None else None
    return render_template("mappings/proposal.html", p=row, current=current, questions=confidence.QUESTIONS,
                           history=svc.pair_history(conn, row["ke_id"], row["wp_id"]))


# --- proposing ----------------------------------------------------------------------------

def _catalog_lookup(conn: sqlite3.Connection, ke: str, wp: str) -> tuple[sqlite3.Row | None, sqlite3.Row | None,
                                                                         dict[str, str]]:
    """The KE and pathway rows for the ids typed so far, and a hint for each id that does not resolve."""
    hints: dict[str, str] = {}
    ke_row = wp_row = None
    if ke:
        ke_id, hints["ke"] = svc.clean_ke_id(conn, ke)
        if ke_id:
            ke_row = catalog.key_event(conn, ke_id)
    if wp:
        wp_id, hints["wp"] = svc.clean_wp_id(conn, wp)
        if wp_id:
            wp_row = catalog.pathway(conn, wp_id)
    return ke_row, wp_row, {k: v for k, v in hints.items() if v}


def _preview(values: Mapping[str, Any]) -> confidence.Assessment | None:
    """The level for the answers given so far, when all four are valid."""
    answers = {name: values.get(name) or "" for name in confidence.FIELDS}
    if confidence.validate_answers(answers):
        return None
    return confidence.assess(answers)


def _render_form(action: str, values: Mapping[str, Any], *, mapping: sqlite3.Row | Mapping[str, Any] | None = None,
                 errors: dict[str, str] | None = None, notice: str | None = None,
                 conflict: svc.Conflict | None = None, status: int = 200,
                 editing: sqlite3.Row | None = None):
    conn = get_db()
    if editing is not None:
        mapping = editing
    if mapping is not None:
        ke_row, wp_row, hints = _catalog_lookup(conn, mapping["ke_id"], mapping["wp_id"])
    else:
        ke_row, wp_row, hints = _catalog_lookup(conn, str(values.get("ke", "")), str(values.get("wp", "")))
    assessment = _preview(values) if action != "delete" else None
    rule = confidence.default_rule()
    pending = (svc.pending_for_pair(conn, ke_row["ke_id"], wp_row["wp_id"]) if ke_row and wp_row and editing is None
               else None)
    form = {k: str(values.get(k) or "") for k in ("ke", "wp", "rationale", *confidence.FIELDS)}
    # What the proposal would record: the engine's score for the pair, never one from the form.
    score = get_engine().score_for_pair(ke_row["ke_id"], wp_row["wp_id"]) if ke_row and wp_row else None
    return render_template(
        "mappings/propose.html", action=action, form=form, mapping=mapping, ke=ke_row, wp=wp_row,
        errors=errors or {}, hints=hints, notice=notice, conflict=conflict, assessment=assessment, pending=pending,
        score=score, editing=editing,
        questions=confidence.QUESTIONS, rule=rule, rule_json=json.dumps(rule.as_dict()),
        max_rationale=svc.MAX_RATIONALE, min_rationale=svc.MIN_RATIONALE), status


def _level_unseen(data: svc.ProposalInput, form: Mapping[str, Any], then: str) -> tuple[bool, str | None]:
    """(True, notice) when the form must come back showing the level: the curator pressed Preview, or
    submitted answers whose level they have not seen (`confirmed_confidence` differs); (False, None) to save."""
    assessment = data.assessment
    if assessment is None:
        return False, None
    if form.get("step", "submit") == "preview":
        return True, None
    if form.get("confirmed_confidence") != assessment.level:
        return True, f"With these answers the confidence is {assessment.level}. Check it, then {then}."
    return False, None


def _handle(action: str, mapping: sqlite3.Row | None = None):
    conn = get_db()
    if request.method == "GET":
        if mapping is not None and action == "change":
            values: dict[str, Any] = {name: mapping[name] for name in confidence.FIELDS}
        else:
            values = {k: request.args.get(k, "")[:100] for k in ("ke", "wp")}
        return _render_form(action, values, mapping=mapping)

    form = request.form
    try:
        data = svc.clean_proposal(conn, form, action, mapping, scorer=get_engine().score_for_pair)
    except svc.ValidationError as exc:
        return _render_form(action, form, mapping=mapping, errors=exc.errors, status=400)
    show_level, notice = _level_unseen(data, form, "submit the proposal")
    if show_level:
        return _render_form(action, form, mapping=mapping, notice=notice)
    try:
        proposal_id = svc.propose(conn, g.user.username, data)
    except svc.DuplicateProposal as exc:
        return _render_form(action, form, mapping=mapping, conflict=exc, status=409)
    except svc.Conflict as exc:
        return _render_form(action, form, mapping=mapping, conflict=exc, status=409)
    except svc.ValidationError as exc:
        return _render_form(action, form, mapping=mapping, errors=exc.errors, status=400)
    verb = {"create": "map", "change": "change", "delete": "delete"}[action]
    flash(f"Your proposal to {verb} {data.ke_id} → {data.wp_id} is recorded (proposal {proposal_id}); "
          "an admin will review it.", "info")
    return redirect(url_for(".proposal", proposal_id=proposal_id), code=303)


@bp.route("/mappings/propose", methods=["GET", "POST"])
@login_required
def propose():
    return _handle("create")


def _mapping_or_404(mapping_id: int) -> sqlite3.Row:
    mapping = svc.get_mapping(get_db(), mapping_id)
    if mapping is None:
        abort(404, f"There is no mapping {mapping_id}; it may have been deleted.")
    return mapping


@bp.route("/mappings/<sqlite_int:mapping_id>/change", methods=["GET", "POST"])
@login_required
def propose_change(mapping_id: int):
    return _handle("change", _mapping_or_404(mapping_id))


@bp.route("/mappings/<sqlite_int:mapping_id>/delete", methods=["GET", "POST"])
@login_required
def propose_delete(mapping_id: int):
    return _handle("delete", _mapping_or_404(mapping_id))


# --- the proposer's own pending proposals -----------------------------------------------------

def _own_pending_or_error(proposal_id: int) -> sqlite3.Row:
    row = svc.get_proposal(get_db(), proposal_id)
    if row is None:
        abort(404, f"There is no proposal {proposal_id}.")
    if not svc.is_own(row, g.user.username):
        abort(403, f"Only {row['proposed_by']}, who made proposal {proposal_id}, can change or withdraw it.")
    return row


@bp.route("/mappings/proposals/<sqlite_int:proposal_id>/edit", methods=["GET", "POST"])
@login_required
def edit_proposal(proposal_id: int):
    """The propose form, filled in with the proposal's answers; the same preview-then-submit steps."""
    row = _own_pending_or_error(proposal_id)
    action = row["action"]
    if row["status"] != "pending":
        flash(f"Proposal {proposal_id} is {row['status']}; only a pending proposal can be edited.", "error")
        return redirect(url_for(".proposal", proposal_id=proposal_id), code=303)
    if request.method == "GET":
        values: dict[str, Any] = {name: row[name] for name in confidence.FIELDS}
        values["rationale"] = row["rationale"]
        return _render_form(action, values, editing=row)
    form = request.form
    conn = get_db()
    try:
        data = svc.clean_edit(conn, row, form)
    except svc.ValidationError as exc:
        return _render_form(action, form, editing=row, errors=exc.errors, status=400)
    show_level, notice = _level_unseen(data, form, "save the edit")
    if show_level:
        return _render_form(action, form, editing=row, notice=notice)
    try:
        svc.edit(conn, proposal_id, g.user.username, data)
    except svc.Conflict as exc:
        return _render_form(action, form, editing=row, conflict=exc, status=409)
    except svc.ValidationError as exc:
        return _render_form(action, form, editing=row, errors=exc.errors, status=400)
    flash(f"Proposal {proposal_id} is updated; it stays pending review.", "info")
    return redirect(url_for(".proposal", proposal_id=proposal_id), code=303)


@bp.post("/mappings/proposals/<sqlite_int:proposal_id>/withdraw")
@login_required
def withdraw_proposal(proposal_id: int):
    """Two POSTs: the first shows what will be withdrawn and asks to confirm; the second (confirm=yes) does it."""
    row = _own_pending_or_error(proposal_id)
    if request.form.get("confirm") != "yes":
        if row["status"] != "pending":
            abort(409, f"Proposal {proposal_id} is {row['status']}; only a pending proposal can be withdrawn.")
        return render_template("mappings/confirm_withdraw.html", p=row)
    try:
        svc.withdraw(get_db(), proposal_id, g.user.username)
    except svc.Conflict as exc:
        abort(409, str(exc))
    flash(f"Proposal {proposal_id} is withdrawn; you can propose {row['ke_id']} → {row['wp_id']} again.", "info")
    return redirect(url_for(".mine"), code=303)
