"""The requests the benchmarks send: KE suggestions (precomputed vectors) and free-text ones (the model)."""

from __future__ import annotations

import json
import random
from urllib.parse import quote

from .common import REPO

SEED = REPO / "data" / "seed"


def key_events() -> list[tuple[str, str]]:
    """(ke_id, title) of the sample catalogue."""
    rows = []
    with (SEED / "key_events.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            rows.append((record["ke_id"], record["title"]))
    return rows


def ke_suggestion_paths(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    kes = key_events()
    return [f"/api/v1/key-events/{quote(rng.choice(kes)[0], safe='')}/suggestions?k=10" for _ in range(n)]


def mixed_suggestion_paths(n: int, text_share: float = 0.2, seed: int = 1) -> list[str]:
    """Mostly KE suggestions, some free-text ones (so each worker runs the model too)."""
    rng = random.Random(seed)
    kes = key_events()
    paths = []
    for _ in range(n):
        ke_id, title = rng.choice(kes)
        if rng.random() < text_share:
            paths.append(f"/api/v1/suggestions?k=10&text={quote(title[:200])}")
        else:
            paths.append(f"/api/v1/key-events/{quote(ke_id, safe='')}/suggestions?k=10")
    return paths
