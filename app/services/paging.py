"""One page of a listing: the rows and what the pager needs to draw itself."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    rows: list[sqlite3.Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


SORT_DIRECTIONS = ("asc", "desc")


class SortError(ValueError):
    """An unknown sort column or direction; str() names the allowed ones."""


@dataclass(frozen=True)
class Sort:
    """The columns a listing may be sorted by (URL name -> SQL expression), whitelisted.

    `tiebreak` (a unique column) ends every ORDER BY, so rows with equal keys keep one order
    across pages.
    """

    columns: dict[str, str]
    default: str
    default_direction: str
    tiebreak: str

    def clean(self, key: str | None, direction: str | None) -> tuple[str, str]:
        """(column, direction) for the URL's `sort` and `order`; defaults when empty; SortError otherwise."""
        key = (key or "").strip().lower() or self.default
        direction = (direction or "").strip().lower() or (self.default_direction if key == self.default else "asc")
        if key not in self.columns:
            raise SortError(f"sort must be one of {', '.join(self.columns)}, not {key[:20]!r}")
        if direction not in SORT_DIRECTIONS:
            raise SortError(f"order must be asc or desc, not {direction[:20]!r}")
        return key, direction

    def order_by(self, key: str, direction: str) -> str:
        """The ORDER BY clause for a cleaned (column, direction)."""
        sql_direction = "DESC" if direction == "desc" else "ASC"
        return f"{self.columns[key]} {sql_direction}, {self.tiebreak} {sql_direction}"
