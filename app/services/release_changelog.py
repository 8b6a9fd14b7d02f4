"""What changed between two releases, by KE-pathway pair, and the CHANGELOG.md that says it; no Flask imports.

A pair is the identity of a mapping (the table is UNIQUE on it, and a deleted then re-approved
pair gets a new row id), so releases are compared pair by pair, not by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# What a curator decides; titles (catalogue refreshes), scores and times are not a change of the mapping.
CURATED_FIELDS = ("confidence", "relationship", "evidence", "specificity", "coverage", "rationale")


@dataclass(frozen=True)
class Change:
    before: dict[str, Any]
    after: dict[str, Any]
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Changes:
    added: list[dict[str, Any]] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)


def _pair(mapping: dict[str, Any]) -> tuple[str, str]:
    return mapping["ke_id"], mapping["wp_id"]


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> Changes:
    """Added, changed and removed pairs, each list in the order of the release it comes from."""
    old = {_pair(m): m for m in before}
    new = {_pair(m) for m in after}
    changes = Changes(removed=[m for m in before if _pair(m) not in new])
    for mapping in after:
        previous = old.get(_pair(mapping))
        if previous is None:
            changes.added.append(mapping)
            continue
        fields = tuple(name for name in CURATED_FIELDS if previous[name] != mapping[name])
        if fields:
            changes.changed.append(Change(previous, mapping, fields))
    return changes


def _name(mapping: dict[str, Any]) -> str:
    return f"{mapping['ke_id']} – {mapping['wp_id']} ({mapping['ke_title']} – {mapping['wp_title']})"


def _what_changed(change: Change) -> str:
    parts = [f"{name} {change.before[name]} → {change.after[name]}" for name in change.fields if name != "rationale"]
    if "rationale" in change.fields:
        parts.append("rationale rewritten")
    return "; ".join(parts)


def to_markdown(number: int, created_at: str, previous: tuple[int, str] | None, changes: Changes,
                total: int) -> str:
    """`previous` is the (number, created_at) of the release compared against, None for the first."""
    lines = [f"# kewp mappings, release {number} ({created_at[:10]})", ""]
    if previous is None:
        lines.append(f"The first release: {total} approved mappings, all listed as added.")
    else:
        lines.append(f"Against release {previous[0]} ({previous[1][:10]}): {len(changes.added)} added, "
                     f"{len(changes.changed)} changed, {len(changes.removed)} removed; {total} mappings in all.")
    sections = (("Added", [f"- {_name(m)}: {m['confidence']}" for m in changes.added]),
                ("Changed", [f"- {_name(c.after)}: {_what_changed(c)}" for c in changes.changed]),
                ("Removed", [f"- {_name(m)} (was {m['confidence']})" for m in changes.removed]))
    for title, items in sections:
        lines += ["", f"## {title}", "", *(items or ["None."])]
    return "\n".join(lines) + "\n"
