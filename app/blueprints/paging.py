"""The `page`, `sort` and `order` query arguments of the HTML listings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, request

from ..services.paging import Sort, SortError

MAX_PAGE = 10_000


def page_arg() -> int:
    """The requested page, clamped to 1..MAX_PAGE; 400 when it is not a whole number."""
    try:
        return max(1, min(int(request.args.get("page", 1)), MAX_PAGE))
    except ValueError:
        abort(400, "page must be a whole number")


def sort_args(spec: Sort) -> tuple[str, str]:
    """The listing's (column, direction) from `sort` and `order`; 400 naming the allowed values otherwise."""
    try:
        return spec.clean(request.args.get("sort"), request.args.get("order"))
    except SortError as exc:
        abort(400, str(exc))


@dataclass(frozen=True)
class Listing:
    """A listing's filters (only those given) and sort, for the column headings and the page links."""

    filters: dict[str, str]
    sort: str
    order: str

    @property
    def args(self) -> dict[str, str]:
        """What every page link carries: the filters and the sort."""
        return {**self.filters, "sort": self.sort, "order": self.order}


def listing(spec: Sort, **filters: str | None) -> Listing:
    sort, order = sort_args(spec)
    return Listing({k: str(v) for k, v in filters.items() if v}, sort, order)
