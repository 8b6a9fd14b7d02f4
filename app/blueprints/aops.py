"""AOP coverage pages: every AOP with how many of its Key Events are mapped, and one AOP's KEs in order."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from ..db import get_db
from ..services import aops, ids
from .paging import listing, page_arg

bp = Blueprint("aops", __name__)
PER_PAGE = 50


def unmapped_filter() -> bool:
    """`unmapped=true`: only AOPs with at least one KE that is neither mapped nor proposed."""
    value = request.args.get("unmapped", "").strip().lower()
    if value not in ("", "true", "false"):
        abort(400, f"unmapped must be true or false, not {value[:20]!r}")
    return value == "true"


@bp.get("/aops")
def index():
    unmapped = unmapped_filter()
    shown = listing(aops.AOP_SORT, unmapped="true" if unmapped else "")
    result = aops.list_aops(get_db(), unmapped_only=unmapped, sort=shown.sort, direction=shown.order,
                            page=page_arg(), per_page=PER_PAGE)
    return render_template("aops/index.html", result=result, unmapped=unmapped, listing=shown)


@bp.get("/aops/<sqlite_int:number>")
def detail(number: int):
    aop_id = ids.aop_for(number)
    aop = aops.get_aop(get_db(), aop_id)
    if aop is None:
        abort(404, f"No Key Event in the catalogue names {aop_id}.")
    return render_template("aops/detail.html", aop=aop)
