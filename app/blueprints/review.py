"""Admin review of proposals: the queue of pending proposals, approve and reject (POST, CSRF).

A single decision is one POST from the proposal's own row or page (the form shows the
proposal it decides). A bulk decision takes two: the first shows the ticked proposals and
asks to confirm, the second (confirm=yes) applies them all in one transaction, or none.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from ..db import get_db
from ..services import confidence, ids, mapping_flags, review_notices
from ..services import mappings as svc
from .auth import admin_required
from .filters import confidence_filter, curator_filter, id_filters
from .paging import listing, page_arg

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__)
PER_PAGE = 50


def _render_queue(*, problem: str | None = None, problem_id: int | None = None,
                  comment: str = "", status: int = 200, refusals: list[tuple[int, str]] | None = None,
                  ticked: list[int] | None = None):
    conn = get_db()
    ke_arg, wp_arg, ke_id, wp_id = id_filters(conn)
    level = confidence_filter(allow_none=True)
    curator = curator_filter()
    age = request.args.get("age", "").strip().lower()
    if age and age not in svc.AGES:
        abort(400, f"age must be one of {', '.join(svc.AGES)}, not {age[:20]!r}")
    shown = listing(svc.PROPOSAL_SORT, ke=ke_arg, wp=wp_arg, curator=curator, confidence=level, age=age)
    result, counts = svc.review_queue(conn, ke_id=ke_id, wp_id=wp_id, curator=curator or None,
                                      confidence_level=level or None, age=age or None, sort=shown.sort,
                                      direction=shown.order, page=page_arg(), per_page=PER_PAGE)
    return render_template("review/queue.html", result=result, counts=counts, questions=confidence.QUESTIONS,
                           problem=problem, problem_id=problem_id, comment=comment, refusals=refusals or [],
                           ticked=ticked or [], listing=shown, ages=svc.AGE_LABELS,
                           levels=[*confidence.LEVELS_BEST_FIRST, "none"],
                           flags=mapping_flags.open_flags(conn)), status


@bp.get("/review")
@admin_required
def queue():
    return _render_queue()


def _notify(proposal_ids: list[int]) -> None:
    """Mail the proposers the outcome, after the decision is committed (when mail is configured)."""
    review_notices.notify(get_db(), review_notices.MailSettings.from_config(current_app.config), proposal_ids,
                          current_app.config["PUBLIC_URL"])


def _decide(proposal_id: int, decision: str):
    comment = request.form.get("comment", "")
    conn = get_db()
    allow_self = current_app.config.get("ALLOW_SELF_REVIEW", False)
    try:
        if decision == "approve":
            result = svc.approve(conn, proposal_id, g.user.username, comment, allow_self_review=allow_self)
        else:
            result = svc.reject(conn, proposal_id, g.user.username, comment, allow_self_review=allow_self)
    except svc.NotFound as exc:
        abort(404, str(exc))
    except svc.SelfReview as exc:
        return _render_queue(problem=str(exc), problem_id=proposal_id, comment=comment[:svc.MAX_COMMENT],
                             status=403)
    except svc.ValidationError as exc:
        return _render_queue(problem=" ".join(exc.errors.values()), problem_id=proposal_id,
                             comment=comment[:svc.MAX_COMMENT], status=400)
    except svc.Conflict as exc:
        return _render_queue(problem=str(exc), problem_id=proposal_id, status=409)
    _notify([proposal_id])
    if result.status == "approved":
        flash(f"Approved proposal {proposal_id}: mapping {result.mapping_id} {result.action}d.", "info")
    else:
        flash(f"Rejected proposal {proposal_id}; the curator sees your comment.", "info")
    return redirect(url_for(".queue"), code=303)


@bp.post("/review/<sqlite_int:proposal_id>/approve")
@admin_required
def approve(proposal_id: int):
    return _decide(proposal_id, "approve")


@bp.post("/review/<sqlite_int:proposal_id>/reject")
@admin_required
def reject(proposal_id: int):
    return _decide(proposal_id, "reject")


@bp.post("/review/bulk")
@admin_required
def bulk():
    decision = request.form.get("decision", "")
    comment = request.form.get("comment", "")
    conn = get_db()
    try:
        chosen = svc.clean_selection(request.form.getlist("ids"))
        if decision not in svc.DECISIONS:
            raise svc.ValidationError({"decision": "Choose Approve or Reject for the ticked proposals."})
        if decision == "reject":
            svc.clean_comment(comment, required=True)  # before the confirm page, not after it
    except svc.ValidationError as exc:
        return _render_queue(problem=" ".join(exc.errors.values()), comment=comment[:svc.MAX_COMMENT],
                             status=400, ticked=[i for i in map(ids.row_id, request.form.getlist("ids")) if i])
    if request.form.get("confirm") != "yes":
        rows = [svc.get_proposal(conn, pid) for pid in chosen]
        return render_template("review/confirm_bulk.html", decision=decision, comment=comment,
                               rows=[r for r in rows if r is not None],
                               missing=[pid for pid, r in zip(chosen, rows, strict=True) if r is None],
                               questions=confidence.QUESTIONS)
    allow_self = current_app.config.get("ALLOW_SELF_REVIEW", False)
    try:
        decided = svc.bulk_decide(conn, chosen, decision, g.user.username, comment, allow_self_review=allow_self)
    except svc.BulkRefused as exc:
        return _render_queue(problem=f"Nothing was {decision}d: {len(exc.refusals)} of the {len(chosen)} ticked "
                             "proposals cannot be, so none were. Untick them (or decide them one by one) and "
                             "try again.", refusals=exc.refusals, comment=comment[:svc.MAX_COMMENT],
                             ticked=chosen, status=409)
    except svc.ValidationError as exc:
        return _render_queue(problem=" ".join(exc.errors.values()), comment=comment[:svc.MAX_COMMENT],
                             ticked=chosen, status=400)
    _notify([d.proposal_id for d in decided])
    flash(f"{decision.capitalize()}d {len(decided)} proposal{'s' if len(decided) != 1 else ''}: "
          + ", ".join(str(d.proposal_id) for d in decided) + ".", "info")
    return redirect(url_for(".queue"), code=303)
