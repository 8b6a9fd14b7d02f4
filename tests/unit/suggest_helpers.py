"""Helpers for the embeddings/suggestion tests (plain functions; fixtures are in suggest_fixtures)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from app import db
from app.services.checksums import sha256_file
from app.services.embeddings import MANIFEST, _combined_checksum
from app.services.encoder import Encoder
from app.services.precompute import build_store

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "data" / "seed"
DISTRACTOR_WORDS = ("NRF2", "oxidative", "thyroid", "apoptosis", "bile")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def select_catalog() -> tuple[list[dict], list[dict], list[dict]]:
    kes = {r["ke_id"]: r for r in _read_jsonl(SEED / "key_events.jsonl")}
    wps = {r["wp_id"]: r for r in _read_jsonl(SEED / "pathways.jsonl")}
    kers = _read_jsonl(SEED / "kers.jsonl")
    links = _read_jsonl(SEED / "mappings.jsonl")
    ke_ids = {m["ke_id"] for m in links if m["ke_id"] in kes}
    wp_ids = {m["wp_id"] for m in links if m["wp_id"] in wps}
    chosen_kers = []
    per_ke: dict[str, int] = {}
    for ker in kers:
        for here, there in ((ker["upstream_ke_id"], ker["downstream_ke_id"]),
                            (ker["downstream_ke_id"], ker["upstream_ke_id"])):
            if here in ke_ids and per_ke.get(here, 0) < 2 and there in kes:
                per_ke[here] = per_ke.get(here, 0) + 1
                chosen_kers.append(ker)
                break
    ke_ids |= {k for ker in chosen_kers for k in (ker["upstream_ke_id"], ker["downstream_ke_id"])}
    ordered = sorted(wps, key=lambda w: int(w[2:]))
    wp_ids |= set(ordered[::60])
    wp_ids |= {w for w in ordered if any(word.lower() in wps[w]["title"].lower() for word in DISTRACTOR_WORDS)}
    return ([kes[k] for k in sorted(ke_ids)], [wps[w] for w in sorted(wp_ids)],
            list({k["ker_id"]: k for k in chosen_kers}.values()))


def insert_catalog(conn: sqlite3.Connection, key_events: list[dict], pathways: list[dict],
                   kers: list[dict]) -> None:
    conn.execute("BEGIN")
    for r in key_events:
        extra = {k: r[k] for k in ("aops", "roles", "event_components") if r.get(k)}
        conn.execute("INSERT INTO key_events (ke_id, title, bio_level, description, aop_ids, extra) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (r["ke_id"], r["title"], r.get("bio_level"), r.get("description"),
                      json.dumps([a["aop_id"] for a in r.get("aops", [])]), json.dumps(extra)))
    for r in pathways:
        conn.execute("INSERT INTO pathways (wp_id, title, organism, description, genes, extra) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (r["wp_id"], r["title"], r.get("organism"), r.get("description"),
                      json.dumps(sorted(set(r.get("genes", [])))), "{}"))
    for r in kers:
        conn.execute("INSERT INTO ke_relationships (ker_id, upstream_ke_id, downstream_ke_id) VALUES (?, ?, ?)",
                     (r["ker_id"], r["upstream_ke_id"], r["downstream_ke_id"]))
    conn.execute("COMMIT")


def build_small_store(db_path: Path, encoder: Encoder, output: Path, **kwargs) -> dict:
    conn = db.connect(db_path)
    try:
        return build_store(conn, encoder, output, **kwargs)
    finally:
        conn.close()


def refresh_manifest(directory: Path) -> None:
    """Recompute the manifest's sizes and checksums after a test changed a file on purpose,
    so that loading gets past the checksum to the check under test."""
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        manifest["files"][name] = sha256_file(directory / name)
        manifest["sizes"][name] = (directory / name).stat().st_size
    manifest["checksum"] = _combined_checksum(manifest["files"])
    path.write_text(json.dumps(manifest))


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
