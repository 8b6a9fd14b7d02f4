"""Make a newer catalogue release from the shipped one (data/seed): add, change and withdraw a few
Key Events and pathways. Used by the refresh unit tests, the deploy test and bench/catalog_refresh.

Standard library only (the deploy test runs it on the control node and copies the folder).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

SEED = Path(__file__).resolve().parents[1] / "data" / "seed"
FILES = {"key_events": "key_events.jsonl", "pathways": "pathways.jsonl", "ke_relationships": "kers.jsonl"}


@dataclass
class Edits:
    """What the new release does to the shipped catalogue (ids as the files spell them)."""

    # new id -> id of a shipped item whose text it copies (so it has sensible suggestions)
    add: dict[str, str] = field(default_factory=dict)
    retitle: dict[str, str] = field(default_factory=dict)      # id -> new title (past the threshold)
    redescribe: list[str] = field(default_factory=list)        # ids whose description gains a first sentence
    halve_genes: list[str] = field(default_factory=list)       # pathway ids that lose every other gene
    withdraw: list[str] = field(default_factory=list)


# The scenario the unit and deploy tests check: approved pairs of data/seed/mappings.jsonl are hit.
SCENARIO = Edits(
    add={"KE 90001": "KE 55", "WP90001": "WP254"},
    retitle={"WP3915": "Ribosome biogenesis in yeast mitochondria"},  # KE 66 -> WP3915 is approved
    redescribe=["KE 887"],                                           # re-embedded, not flagged
    halve_genes=["WP2879"],                                          # KE 479 -> WP2879
    withdraw=["WP4324", "KE 1393"],                                  # KE 887 -> WP4324, KE 1393 -> WP1772
)
FLAGGED_PAIRS = {("KE 66", "WP3915"), ("KE 479", "WP2879"), ("KE 887", "WP4324"), ("KE 1393", "WP1772")}


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_release(out: Path, edits: Edits, *, version: str, seed: Path = SEED) -> Path:
    """Write the edited release to `out` (created); returns it."""
    out.mkdir(parents=True, exist_ok=True)
    for kind, key in (("key_events", "ke_id"), ("pathways", "wp_id")):
        rows = _read(seed / FILES[kind])
        by_id = {r[key]: r for r in rows}
        for new_id, source in edits.add.items():
            if source in by_id:
                clone = dict(by_id[source], **{key: new_id})
                clone["title"] = f"{clone['title']} ({version})"
                rows.append(clone)
        kept = []
        for original in rows:
            item = original[key]
            if item in edits.withdraw:
                continue
            row = dict(original)
            if item in edits.retitle:
                row["title"] = edits.retitle[item]
            if item in edits.redescribe:
                # at the start: the embedded texts read a description's opening only
                row["description"] = f"Revised in release {version}. {row.get('description') or ''}".strip()
            if item in edits.halve_genes:
                row["genes"] = sorted(row.get("genes") or [])[::2]
            kept.append(row)
        _write(out / FILES[kind], kept)
    shutil.copy(seed / FILES["ke_relationships"], out / FILES["ke_relationships"])
    (out / "release.json").write_text(json.dumps({"version": version}) + "\n", encoding="utf-8")
    return out


def share_edits(share: float, seed: Path = SEED) -> Edits:
    """Redescribe `share` of the shipped KEs and pathways (evenly spread): the benchmark's change."""
    step = max(1, round(1 / share))
    ids = [r["ke_id"] for r in _read(seed / FILES["key_events"])][::step]
    ids += [r["wp_id"] for r in _read(seed / FILES["pathways"])][::step]
    return Edits(redescribe=ids)
