"""Refresh the catalogue from a newer AOP-Wiki / WikiPathways release, without a restart.

A release is a folder with key_events.*, pathways.* and optionally kers.* (.jsonl, .csv or
.tsv, optionally .gz; an optional release.json {"version": "..."} names it). The refresh:

1. reads and checks the whole release first (any bad row, or more items withdrawn than
   allowed, refuses it: nothing is written);
2. compares it with the database: items added, changed (which fields; title similarity and
   gene overlap), withdrawn (in the database, not in the release);
3. embeds only new or changed items (the store records a digest of each item's text),
   reusing every other vector, and writes the new store beside the old one, loads it back
   and builds a suggester on it (a bad store is refused here, the old one keeps serving);
4. in one short transaction: upserts the rows, marks the withdrawn ones (kept: mappings
   reference them), records the import and the report, flags affected approved mappings;
5. renames the new store in. Running app workers notice the new manifest (engine.py) and
   swap it in between requests.

No Flask imports: the CLI, the tests and the benchmark share this.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..db import write_transaction
from . import catalog_import
from .catalog import Catalog, key_event_from_row, neighbour_map, pathway_from_row
from .checksums import sha256_file
from .embeddings import KE_SET, WP_SET, EmbeddingsError, EmbeddingStore
from .encoder import Encoder
from .ids import id_number
from .precompute import DEFAULT_REFERENCE_DIR, TEXTS_EXTRA, ProgressFactory, gene_evidence, text_digest
from .suggestions import Suggester
from .text_recipes import DEFAULT_RECIPE, RECIPES, Item, count_texts, encode_items, item_of

log = logging.getLogger(__name__)

STATUS_FILE = "catalog-version.json"  # beside the database: what `kewpctl status` shows
LOCK_FILE = ".catalog-refresh.lock"
RELEASE_NAMES = {"key_events": ("key_events",), "pathways": ("pathways",),
                 "ke_relationships": ("kers", "ke_relationships")}
SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".csv.gz", ".tsv", ".tsv.gz")
ITEM_KINDS = ("key_events", "pathways")
SET_OF = {"key_events": KE_SET, "pathways": WP_SET}
WHAT = {"key_events": "Key Event", "pathways": "pathway"}


class RefreshError(RuntimeError):
    """The refresh was refused or failed; the message says why and what to do. The catalogue that
    was serving before still serves."""


@dataclass(frozen=True)
class Thresholds:
    """When a change to an item asks for its approved mappings to be reviewed again."""

    title_similarity: float = 0.8  # flag when the old and new titles are less alike than this (0..1)
    genes_distance: float = 0.2    # flag when the pathway's gene sets differ by more than this (Jaccard)
    max_withdrawn: float = 0.1     # refuse a release that withdraws more than this share of a kind


@dataclass
class Release:
    source: str
    version: str
    files: dict[str, Path]
    rows: dict[str, dict[str, dict[str, Any]]]


@dataclass
class Change:
    item_id: str
    fields: list[str]
    reasons: list[str] = field(default_factory=list)  # only the changes past a threshold

    @property
    def significant(self) -> bool:
        return bool(self.reasons)


@dataclass
class KindDiff:
    added: list[str] = field(default_factory=list)
    changed: dict[str, Change] = field(default_factory=dict)
    withdrawn: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.added or self.changed or self.withdrawn)


@dataclass
class RefreshReport:
    version: str
    source: str
    diffs: dict[str, KindDiff]
    totals: dict[str, int] = field(default_factory=dict)
    reembedded: int = 0
    reused: int = 0
    flagged: list[int] = field(default_factory=list)
    refresh_id: int | None = None
    seconds: float = 0.0
    embed_seconds: float = 0.0
    up_to_date: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "source": self.source, "totals": self.totals,
                "reembedded": self.reembedded, "reused": self.reused, "flagged_mappings": self.flagged,
                "seconds": round(self.seconds, 2), "embed_seconds": round(self.embed_seconds, 2),
                **{kind: {"added": d.added, "withdrawn": d.withdrawn,
                          "changed": {i: {"fields": c.fields, "reasons": c.reasons} for i, c in d.changed.items()}}
                   for kind, d in self.diffs.items()}}

    def summary(self, limit: int = 20) -> str:
        if self.up_to_date:
            return f"catalogue already at version {self.version} ({self.source}): nothing to do"
        lines = [f"catalogue refreshed to version {self.version} from {self.source} (refresh {self.refresh_id}, "
                 f"{self.seconds:.1f} s)"]
        for kind, diff in self.diffs.items():
            name = kind.replace("_", " ")
            lines.append(f"  {name}: {len(diff.added)} added, {len(diff.changed)} changed, "
                         f"{len(diff.withdrawn)} withdrawn; {self.totals.get(kind, 0)} in the catalogue")
            for label, ids in (("added", diff.added), ("changed", list(diff.changed)), ("withdrawn", diff.withdrawn)):
                if ids:
                    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
                    lines.append(f"    {label}: {', '.join(ids[:limit])}{more}")
        lines.append(f"  embeddings: {self.reembedded} items embedded, {self.reused} reused "
                     f"({self.embed_seconds:.1f} s)")
        lines.append(f"  approved mappings flagged for re-review: {len(self.flagged)}")
        return "\n".join(lines)


# --- reading a release ------------------------------------------------------------------------

def _find(directory: Path, kind: str) -> Path | None:
    for stem in RELEASE_NAMES[kind]:
        for suffix in SUFFIXES:
            if (directory / (stem + suffix)).is_file():
                return directory / (stem + suffix)
    return None


def read_release(directory: str | Path, source: str | None = None) -> Release:
    """Every row of the release, checked; any problem raises RefreshError naming file and line."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RefreshError(f"{directory}: no such folder; put the release files (key_events.jsonl, "
                           "pathways.jsonl, kers.jsonl) there or give another --from")
    files: dict[str, Path] = {}
    for kind in RELEASE_NAMES:
        found = _find(directory, kind)
        if found is None and kind in ITEM_KINDS:
            raise RefreshError(f"{directory}: no {RELEASE_NAMES[kind][0]}.jsonl (or .csv/.tsv, optionally .gz); "
                               "a release needs key events and pathways; nothing was changed")
        if found is not None:
            files[kind] = found
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    problems: list[str] = []
    for kind, path in files.items():
        key, build = catalog_import.TABLES[kind]
        found_rows: dict[str, dict[str, Any]] = {}
        try:
            for lineno, record in catalog_import.read_rows(path):
                if isinstance(record, catalog_import.RowError):
                    problems.append(f"{path.name} line {lineno}: {record}")
                    continue
                try:
                    row = build(record)
                except catalog_import.RowError as exc:
                    problems.append(f"{path.name} line {lineno}: {exc}")
                    continue
                if row[key] in found_rows:
                    problems.append(f"{path.name} line {lineno}: {row[key]} appears more than once")
                    continue
                found_rows[row[key]] = row
        except (catalog_import.ImportFileError, OSError, EOFError, UnicodeDecodeError) as exc:
            raise RefreshError(f"{path}: unreadable ({exc}); nothing was changed") from None
        if not found_rows and kind in ITEM_KINDS:
            problems.append(f"{path.name}: no rows")
        rows[kind] = found_rows
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise RefreshError(f"release {directory} refused, {len(problems)} bad rows: {shown}; fix the files "
                           "and run the refresh again (nothing was changed)")
    return Release(source or str(directory), _version(directory, files), files, rows)


def _version(directory: Path, files: dict[str, Path]) -> str:
    meta = directory / "release.json"
    if meta.is_file():
        try:
            version = json.loads(meta.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError, AttributeError) as exc:
            raise RefreshError(f"{meta}: not readable JSON with a \"version\" ({exc})") from None
        if isinstance(version, str | int) and str(version).strip():
            return str(version).strip()[:100]
    digest = hashlib.sha256("".join(f"{k}:{sha256_file(p)}\n" for k, p in sorted(files.items())).encode())
    return "sha256-" + digest.hexdigest()[:12]


# --- comparing it with the database -------------------------------------------------------------

def _similarity(old: str, new: str) -> float:
    return difflib.SequenceMatcher(None, old.casefold(), new.casefold()).ratio()


def _change(kind: str, item_id: str, old: dict[str, Any], new: dict[str, Any], thresholds: Thresholds) -> Change:
    fields = [c for c in new if c != catalog_import.TABLES[kind][0] and old.get(c) != new[c]]
    change = Change(item_id, fields)
    what = f"{WHAT[kind]} {item_id}"
    if "title" in fields:
        ratio = _similarity(old["title"], new["title"])
        if ratio < thresholds.title_similarity:
            change.reasons.append(f"{what} title changed: {old['title']!r} -> {new['title']!r} "
                                  f"(similarity {ratio:.2f} < {thresholds.title_similarity:.2f})")
    if kind == "pathways" and "genes" in fields:
        before, after = set(json.loads(old["genes"] or "[]")), set(json.loads(new["genes"] or "[]"))
        union = before | after
        distance = 1 - len(before & after) / len(union) if union else 0.0
        if distance > thresholds.genes_distance:
            change.reasons.append(f"{what} genes changed: {len(after - before)} added, {len(before - after)} "
                                  f"removed, {len(after)} now (Jaccard distance {distance:.2f} > "
                                  f"{thresholds.genes_distance:.2f})")
    return change


def current_rows(conn: sqlite3.Connection, kind: str) -> dict[str, dict[str, Any]]:
    key, _ = catalog_import.TABLES[kind]
    return {row[key]: dict(row) for row in conn.execute(f"SELECT * FROM {kind}")}


def diff(current: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]], kind: str,
         thresholds: Thresholds) -> KindDiff:
    result = KindDiff()
    for item_id in sorted(new, key=id_number):
        old = current.get(item_id)
        if old is None or old.get("withdrawn_at"):
            result.added.append(item_id)
            continue
        change = _change(kind, item_id, old, new[item_id], thresholds)
        if change.fields:
            result.changed[item_id] = change
    result.withdrawn = sorted((i for i, row in current.items() if i not in new and not row.get("withdrawn_at")),
                              key=id_number)
    return result


# --- embeddings --------------------------------------------------------------------------------

def _old_store(directory: Path, encoder: Encoder) -> EmbeddingStore | None:
    try:
        store = EmbeddingStore.load(directory, expect_model=encoder.info)
    except EmbeddingsError as exc:
        log.warning("the current store cannot be reused (%s): every item is embedded", exc)
        return None
    return store


def _old_digests(conn: sqlite3.Connection, store: EmbeddingStore | None) -> dict[str, dict[str, str]]:
    """What text each stored vector was made from: the store's own record, else (a store built
    before refreshes existed, and no refresh has run since) the database's rows as they are."""
    if store is None:
        return {}
    recorded = store.extras.get(TEXTS_EXTRA)
    if isinstance(recorded, dict):
        return recorded
    if conn.execute("SELECT count(*) FROM catalog_refreshes").fetchone()[0]:
        log.warning("the store has no text digests and a refresh ran since it was built: every item is embedded")
        return {}
    return {SET_OF[kind]: {i: text_digest(*row_item(kind, r)) for i, r in current_rows(conn, kind).items()}
            for kind in ITEM_KINDS}


def row_item(kind: str, row: Any) -> Item:
    """The texts a KE or pathway row is embedded from (a KE's event components are in its extra)."""
    return item_of(key_event_from_row(row) if kind == "key_events" else pathway_from_row(row))


def _vectors(items: list[tuple[str, Item]], set_name: str, *, old: EmbeddingStore | None,
             old_digests: dict[str, str], encoder: Encoder, recipe_name: str, batch_size: int,
             progress: ProgressFactory | None) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids, unit vectors, how many were embedded) for (id, texts) items."""
    recipe = RECIPES[recipe_name]
    reusable = old is not None and old.recipe == recipe
    old_set = old.get(set_name) if reusable else None
    out = np.zeros((len(items), encoder.dimension), dtype=np.float32)
    todo: list[int] = []
    for row, (item_id, texts) in enumerate(items):
        vector = old_set.vector(item_id) if old_set is not None else None
        if vector is not None and old_digests.get(item_id) == text_digest(*texts):
            out[row] = vector
        else:
            todo.append(row)
    if todo:
        pairs = [items[r][1] for r in todo]
        label = f"{set_name.replace('_', ' ')} (new or changed)"
        bar = progress(count_texts(recipe, pairs), label) if progress else None
        try:
            out[todo] = encode_items(encoder, recipe, pairs, batch_size=batch_size,
                                     progress=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
    return np.array([i for i, _ in items], dtype=str), out, len(todo)


# --- the refresh ---------------------------------------------------------------------------------

@contextmanager
def refresh_lock(data_dir: Path) -> Iterator[None]:
    path = data_dir / LOCK_FILE
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RefreshError(f"another catalogue refresh is running (it holds {path}); "
                               "wait for it to finish") from None
        yield


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _in_order(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[i] for i in sorted(rows, key=id_number)]


def refresh(conn: sqlite3.Connection, release: Release, store_dir: str | Path, encoder: Encoder, *,
            data_dir: str | Path, reference_dir: str | Path | None = DEFAULT_REFERENCE_DIR,
            thresholds: Thresholds | None = None, allow_many_withdrawn: bool = False,
            recipe_name: str = DEFAULT_RECIPE, batch_size: int = 64,
            progress: ProgressFactory | None = None) -> RefreshReport:
    """Bring the catalogue and the store to `release`; raises RefreshError (nothing changed)."""
    started, started_at = time.monotonic(), _now()
    thresholds = thresholds or Thresholds()
    store_dir, data_dir = Path(store_dir), Path(data_dir)
    with refresh_lock(data_dir):
        current = {kind: current_rows(conn, kind) for kind in ITEM_KINDS}
        diffs = {kind: diff(current[kind], release.rows[kind], kind, thresholds) for kind in ITEM_KINDS}
        for kind, d in diffs.items():
            active = sum(1 for r in current[kind].values() if not r.get("withdrawn_at"))
            if active and len(d.withdrawn) > thresholds.max_withdrawn * active and not allow_many_withdrawn:
                raise RefreshError(
                    f"release {release.version} would withdraw {len(d.withdrawn)} of {active} "
                    f"{kind.replace('_', ' ')} (more than {thresholds.max_withdrawn:.0%}): a truncated file? "
                    "Check the release; if it is right, run again with --allow-many-withdrawn (nothing was changed)")
        kers = release.rows.get("ke_relationships")
        old_kers = {r["ker_id"]: r for r in conn.execute("SELECT * FROM ke_relationships")}
        kers_changed = kers is not None and {k: dict(v) for k, v in old_kers.items()} != kers

        old = _old_store(store_dir, encoder)
        digests = _old_digests(conn, old)
        items = {kind: _in_order(release.rows[kind]) for kind in ITEM_KINDS}
        report = RefreshReport(release.version, release.source, diffs)
        embed_started = time.monotonic()
        sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for kind in ITEM_KINDS:
            key = catalog_import.TABLES[kind][0]
            texts = [(r[key], row_item(kind, r)) for r in items[kind]]
            ids, vectors, embedded = _vectors(texts, SET_OF[kind], old=old, old_digests=digests.get(SET_OF[kind], {}),
                                              encoder=encoder, recipe_name=recipe_name, batch_size=batch_size,
                                              progress=progress)
            sets[SET_OF[kind]] = (ids, vectors)
            report.reembedded += embedded
            report.reused += len(texts) - embedded
            report.totals[kind] = len(texts)
        report.embed_seconds = time.monotonic() - embed_started
        if all(d.empty() for d in diffs.values()) and not kers_changed and report.reembedded == 0:
            report.up_to_date, report.seconds = True, time.monotonic() - started
            return report

        ker_pairs = ((r["upstream_ke_id"], r["downstream_ke_id"]) for r in (kers or old_kers).values())
        catalog = Catalog({r["ke_id"]: key_event_from_row(r) for r in items["key_events"]},
                          {r["wp_id"]: pathway_from_row(r) for r in items["pathways"]}, neighbour_map(ker_pairs))
        reference = Path(reference_dir) if reference_dir else None
        recorded = {SET_OF[kind]: {r[catalog_import.TABLES[kind][0]]: text_digest(*row_item(kind, r))
                                   for r in items[kind]} for kind in ITEM_KINDS}
        extras = {"genes": gene_evidence(catalog, reference), TEXTS_EXTRA: recorded}
        info = {"key_events": report.totals["key_events"], "pathways": report.totals["pathways"],
                "catalog_version": release.version, "embedded": report.reembedded, "reused": report.reused,
                "encode_seconds": round(report.embed_seconds, 1), "batch_size": batch_size,
                "reference_dir": str(reference) if reference else None}
        try:
            staged = EmbeddingStore.stage(store_dir, sets, model=encoder.info, recipe=RECIPES[recipe_name],
                                          extras=extras, info=info)
        except (EmbeddingsError, OSError) as exc:
            raise RefreshError(f"the new embeddings store could not be written ({exc}); the old catalogue "
                               "keeps serving, nothing was changed") from None
        try:
            try:  # the new store must load and serve before anything is committed
                Suggester(EmbeddingStore.load(staged.path, expect_model=encoder.info), catalog)
            except (EmbeddingsError, ValueError, KeyError) as exc:
                raise RefreshError(f"the new embeddings store is unusable ({exc}); the old catalogue keeps "
                                   "serving, nothing was changed") from None
            _apply(conn, release, diffs, kers=kers if kers_changed else None, old_kers=old_kers, report=report,
                   started_at=started_at)
        except BaseException:
            staged.discard()
            raise
        try:
            staged.commit()
        except OSError as exc:
            raise RefreshError(f"the catalogue rows were imported (refresh {report.refresh_id}) but the new store "
                               f"could not be renamed into {store_dir} ({exc}); the app keeps the old store; run "
                               "the refresh again: it embeds what the store lacks") from None
        report.seconds = time.monotonic() - started
        write_status(data_dir, report)
    log.info("catalogue refreshed to %s: %s", release.version, json.dumps(report.to_json()["totals"]))
    return report


def _apply(conn: sqlite3.Connection, release: Release, diffs: dict[str, KindDiff], *,
           kers: dict[str, dict[str, Any]] | None, old_kers: dict[str, Any], report: RefreshReport,
           started_at: str) -> None:
    """The database side, in one transaction."""
    now = _now()
    with write_transaction(conn):
        import_ids: dict[str, int] = {}
        for kind in ITEM_KINDS:
            key = catalog_import.TABLES[kind][0]
            counts = {"inserted": 0, "updated": 0, "unchanged": 0}
            for row in release.rows[kind].values():
                counts[catalog_import.upsert(conn, kind, row)] += 1
            for item_id in diffs[kind].added:  # listed again after a withdrawal
                conn.execute(f"UPDATE {kind} SET withdrawn_at = NULL WHERE {key} = ?", (item_id,))
            conn.executemany(f"UPDATE {kind} SET withdrawn_at = ? WHERE {key} = ?",
                             [(now, i) for i in diffs[kind].withdrawn])
            import_ids[kind] = _record_import(conn, kind, release.files[kind], counts)
        if kers is not None:
            counts = {"inserted": 0, "updated": 0, "unchanged": 0}
            for row in kers.values():
                counts[catalog_import.upsert(conn, "ke_relationships", row)] += 1
            gone = [k for k in old_kers if k not in kers]
            conn.executemany("DELETE FROM ke_relationships WHERE ker_id = ?", [(k,) for k in gone])
            _record_import(conn, "ke_relationships", release.files["ke_relationships"], counts)
        cur = conn.execute("INSERT INTO catalog_refreshes (version, source, started_at, ke_import_id, wp_import_id, "
                           "report) VALUES (?, ?, ?, ?, ?, '{}')",
                           (release.version, release.source, started_at, import_ids["key_events"],
                            import_ids["pathways"]))
        report.refresh_id = int(cur.lastrowid)
        report.flagged = flag_mappings(conn, report.refresh_id, diffs, release.version)
        conn.execute("UPDATE catalog_refreshes SET report = ? WHERE id = ?",
                     (json.dumps(report.to_json(), sort_keys=True), report.refresh_id))


def _record_import(conn: sqlite3.Connection, kind: str, path: Path, counts: dict[str, int]) -> int:
    cur = conn.execute("INSERT INTO catalog_imports (kind, source, sha256, inserted, updated, unchanged, rejected) "
                       "VALUES (?, ?, ?, ?, ?, ?, 0)",
                       (kind, path.name, sha256_file(path), counts["inserted"], counts["updated"], counts["unchanged"]))
    return int(cur.lastrowid)


def flag_mappings(conn: sqlite3.Connection, refresh_id: int, diffs: dict[str, KindDiff], version: str) -> list[int]:
    """Flag the approved mappings whose KE or pathway was withdrawn or changed past a threshold."""
    reasons: dict[str, dict[str, list[str]]] = {kind: {} for kind in ITEM_KINDS}
    for kind, d in diffs.items():
        for item_id in d.withdrawn:
            reasons[kind][item_id] = [f"{WHAT[kind]} {item_id} was withdrawn from the catalogue (release {version})"]
        for item_id, change in d.changed.items():
            if change.significant:
                reasons[kind][item_id] = list(change.reasons)
    flagged: list[int] = []
    for mapping in conn.execute("SELECT id, ke_id, wp_id FROM mappings").fetchall():
        found = reasons["key_events"].get(mapping["ke_id"], []) + reasons["pathways"].get(mapping["wp_id"], [])
        if not found:
            continue
        open_flag = conn.execute("SELECT id, reasons FROM mapping_flags WHERE mapping_id = ? AND cleared_at IS NULL",
                                 (mapping["id"],)).fetchone()
        if open_flag is None:
            conn.execute("INSERT INTO mapping_flags (mapping_id, refresh_id, reasons) VALUES (?, ?, ?)",
                         (mapping["id"], refresh_id, json.dumps(found)))
        else:
            conn.execute("UPDATE mapping_flags SET reasons = ?, refresh_id = ? WHERE id = ?",
                         (json.dumps(json.loads(open_flag["reasons"]) + found), refresh_id, open_flag["id"]))
        flagged.append(int(mapping["id"]))
    return flagged


def write_status(data_dir: Path, report: RefreshReport) -> None:
    """The catalogue version beside the database, for host tools (kewpctl status) that must not
    open the live database; written whole or not at all."""
    status = {"version": report.version, "refresh_id": report.refresh_id, "finished_at": _now(),
              "source": report.source, **{k: report.totals.get(k, 0) for k in ITEM_KINDS},
              "added": sum(len(d.added) for d in report.diffs.values()),
              "changed": sum(len(d.changed) for d in report.diffs.values()),
              "withdrawn": sum(len(d.withdrawn) for d in report.diffs.values()),
              "flagged": len(report.flagged)}
    fd, tmp = tempfile.mkstemp(prefix=f".{STATUS_FILE}.", dir=data_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(status, out, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, data_dir / STATUS_FILE)


def latest(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM catalog_refreshes ORDER BY id DESC LIMIT 1").fetchone()


# --- a release published at a URL -----------------------------------------------------------------

MAX_DOWNLOAD_BYTES = 1 << 30


def fetch_release(url: str, into: Path, *, timeout: float = 60.0, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download a release described by `url` (its release.json: {"version": ..., "files": {"key_events":
    "key_events.jsonl.gz", "pathways": ..., "ke_relationships": ...}}, names relative to it) into `into`."""
    import urllib.error
    import urllib.parse
    import urllib.request

    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise RefreshError(f"{url}: only http:// and https:// release URLs are fetched")

    def get(address: str, target: Path) -> None:
        try:
            with urllib.request.urlopen(address, timeout=timeout) as response, target.open("wb") as out:  # noqa: S310
                size = 0
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > max_bytes:
                        raise RefreshError(f"{address}: larger than {max_bytes} bytes; refused")
                    out.write(chunk)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise RefreshError(f"{address}: cannot download ({exc}); the old catalogue keeps serving") from None

    base = url if url.endswith(".json") else url.rstrip("/") + "/release.json"
    get(base, into / "release.json")
    try:
        files = json.loads((into / "release.json").read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RefreshError(f"{base}: not a release.json with \"files\" ({exc})") from None
    for kind, name in files.items():
        if kind not in RELEASE_NAMES or not isinstance(name, str) or Path(name).name != name \
                or not name.endswith(SUFFIXES):
            raise RefreshError(f"{base}: file entry {kind!r}: {name!r} is not a release file name")
        stem = RELEASE_NAMES[kind][0]
        get(urllib.parse.urljoin(base, name), into / (stem + name[name.index("."):]))
    return into
