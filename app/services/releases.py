"""Numbered, immutable releases of the approved mappings, ready to deposit on Zenodo; no Flask imports.

A release is a directory `<releases root>/<number>/` (the root is `releases/` beside the
database) holding every export format, the SSSOM TSV, a CHANGELOG against the previous
release, `.zenodo.json`, `release.json` (counts, source versions, each file's size and
sha256) and a zip of them all, plus a row in the `releases` table. It is made from one read
snapshot of the database, built in a hidden temporary directory and renamed into place, so
a reader never sees half a release; one creator at a time (a lock file) takes the next
number, and a number whose directory exists is never reused: nothing is ever rewritten.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..db import write_transaction
from . import catalog, exports, sssom_tsv
from . import mapping_vocab as vocab
from . import release_changelog as changelog
from .checksums import sha256_file
from .text import problem

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"   # the public API's stable URLs: the SSSOM set id and mapping IRIs are made from it
MANIFEST = "release.json"
NOTE_MAX = 500
JSON_TYPE = "application/json"

# name -> (media type, what it holds); release.json lists them in this order.
CONTENT: dict[str, tuple[str, str]] = {
    "kewp-mappings.csv": ("text/csv; charset=utf-8", "one row per mapping (the export's CSV)"),
    "kewp-mappings.json": (JSON_TYPE, "the same records as JSON"),
    "kewp-mappings.ttl": ("text/turtle; charset=utf-8", "RDF/Turtle in SSSOM's RDF form"),
    "kewp-mappings.sssom.tsv": ("text/tab-separated-values; charset=utf-8", "SSSOM TSV mapping set"),
    "kewp-ke-gene-sets.gmt": ("text/plain; charset=utf-8", "GMT gene sets, one per Key Event"),
    "CHANGELOG.md": ("text/markdown; charset=utf-8", "added, changed and removed mappings since the last release"),
    ".zenodo.json": (JSON_TYPE, "Zenodo deposit metadata"),
}
SSSOM_FILE, JSON_FILE = "kewp-mappings.sssom.tsv", "kewp-mappings.json"
ZIP_TYPE = "application/zip"
TITLE = "kewp: AOP-Wiki Key Event to WikiPathways mappings"


class ReleaseError(ValueError):
    """A release cannot be made (or read); the message says why and what to do."""


@dataclass(frozen=True)
class Release:
    number: int
    created_at: str
    created_by: str
    note: str
    mappings: int
    added: int
    changed: int
    removed: int
    manifest_sha256: str
    bundle_name: str
    bundle_size: int
    bundle_sha256: str


def root_for(database: str | Path) -> Path:
    """Where releases live: `releases/` in the data directory, beside the database."""
    return Path(database).parent / "releases"


def bundle_name(number: int) -> str:
    return f"kewp-mappings-release-{number}.zip"


def file_url(site: str, number: int, name: str) -> str:
    return f"{site}{API_PREFIX}/releases/{number}/files/{name}"


# --- reading ----------------------------------------------------------------------------------

def list_releases(conn: sqlite3.Connection) -> list[Release]:
    """Newest first."""
    return [Release(**dict(row)) for row in conn.execute("SELECT * FROM releases ORDER BY number DESC")]


def get_release(conn: sqlite3.Connection, number: int) -> Release | None:
    row = conn.execute("SELECT * FROM releases WHERE number = ?", (number,)).fetchone()
    return None if row is None else Release(**dict(row))


def manifest(root: Path, release: Release) -> dict[str, Any]:
    path = root / str(release.number) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"release {release.number}: {path} cannot be read ({exc}); restore the "
                           "releases directory from a backup") from exc


def files(root: Path, release: Release) -> list[dict[str, Any]]:
    """Every downloadable file of a release: the manifest's, the manifest itself, the zip."""
    return [*manifest(root, release)["files"],
            {"name": MANIFEST, "media_type": JSON_TYPE, "size": (root / str(release.number) / MANIFEST).stat().st_size,
             "sha256": release.manifest_sha256, "description": "counts, source versions and checksums"},
            {"name": release.bundle_name, "media_type": ZIP_TYPE, "size": release.bundle_size,
             "sha256": release.bundle_sha256, "description": "all of the above in one zip, to deposit"}]


def file_path(root: Path, release: Release, name: str) -> tuple[Path, str] | None:
    """(path, media type) of a file the release lists; None for any other name (so no path escapes)."""
    for entry in files(root, release):
        if entry["name"] == name:
            return root / str(release.number) / name, entry["media_type"]
    return None


def verify(root: Path, release: Release) -> list[str]:
    """What does not match the recorded sizes and checksums (empty: the release is intact)."""
    problems = []
    for entry in files(root, release):
        path = root / str(release.number) / entry["name"]
        if not path.is_file():
            problems.append(f"{entry['name']}: missing")
        elif path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['name']}: size or sha256 differs from the record")
    return problems


# --- making one -------------------------------------------------------------------------------

def clean_note(note: str | None) -> str:
    note = " ".join((note or "").split())
    if len(note) > NOTE_MAX:
        raise ReleaseError(f"the note is {len(note)} characters long; the limit is {NOTE_MAX}")
    found = problem(note, "note")
    if found:
        raise ReleaseError(found)
    return note


def _next_number(conn: sqlite3.Connection, root: Path) -> int:
    """Call as the one creator (_one_creator). A directory without a row (a crash between the rename and the
    commit) still takes its number; a half-built one (a crash while building) is removed."""
    for stale in root.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    recorded = conn.execute("SELECT coalesce(max(number), 0) FROM releases").fetchone()[0]
    on_disk = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
    return max([recorded, *on_disk]) + 1


def _previous_mappings(root: Path, previous: Release | None) -> list[dict[str, Any]]:
    if previous is None:
        return []
    path = root / str(previous.number) / JSON_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))["mappings"]
    except (OSError, ValueError, KeyError) as exc:
        raise ReleaseError(f"the previous release's {path} cannot be read ({exc}); restore it before "
                           "making a new release (the CHANGELOG is made against it)") from exc


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    path.chmod(0o444)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class _Draft:
    """The release being made: what every file of it needs to know."""

    number: int
    created: datetime
    created_by: str
    note: str
    site: str

    @property
    def created_at(self) -> str:
        return self.created.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def title(self) -> str:
        return f"{TITLE}, release {self.number}"


def _zenodo(draft: _Draft, rows: list[dict[str, Any]], changes: changelog.Changes) -> dict[str, Any]:
    number, note, site = draft.number, draft.note, draft.site
    curators = sorted({m["proposed_by"] for m in rows} | {m["approved_by"] for m in rows}, key=str.lower)
    description = (f"<p>Release {number} of the Key Event → WikiPathways mappings curated and reviewed in kewp "
                   f"({site}): {len(rows)} approved mappings ({len(changes.added)} added, "
                   f"{len(changes.changed)} changed, {len(changes.removed)} removed since the previous "
                   "release) as SSSOM TSV, CSV, JSON, RDF/Turtle and GMT gene sets. CHANGELOG.md lists the "
                   "changes; release.json the counts, catalogue versions and checksums.</p>")
    if note:
        description += f"<p>{note.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</p>"
    return {
        "title": draft.title,
        "version": str(number),
        "upload_type": "dataset",
        "publication_date": draft.created_at[:10],
        # Account names: replace them with people's names (and ORCIDs) on Zenodo before publishing.
        "creators": [{"name": name} for name in curators],
        "license": "cc-by-sa-4.0",
        "description": description,
        "keywords": ["Adverse Outcome Pathways", "AOP-Wiki", "Key Events", "WikiPathways", "SSSOM", "mappings"],
        "related_identifiers": [{"identifier": f"{site}/releases", "relation": "isDerivedFrom", "scheme": "url"}],
    }


@dataclass(frozen=True)
class _Snapshot:
    rows: list[dict[str, Any]]
    gene_sets: list[tuple[str, str, list[str]]]
    imports: dict[int, dict[str, Any]]
    confidence_counts: dict[str, int]
    previous: Release | None


def _snapshot(conn: sqlite3.Connection) -> _Snapshot:
    """Everything a release is made from, read in one transaction: in WAL mode a consistent view
    that never makes the curators' writes wait (the files take seconds to write)."""
    conn.execute("BEGIN")
    try:
        previous = conn.execute("SELECT * FROM releases ORDER BY number DESC LIMIT 1").fetchone()
        return _Snapshot(exports.fetch_mappings(conn), exports.gene_sets(conn), catalog.imports(conn),
                         exports.confidence_counts(conn), None if previous is None else Release(**dict(previous)))
    finally:
        conn.execute("COMMIT")   # read only: this just ends the snapshot


def _contents(snapshot: _Snapshot, root: Path, draft: _Draft) -> tuple[dict[str, str], dict[str, Any]]:
    """The text of each content file and the counts and source versions for the manifest."""
    number, created, site = draft.number, draft.created, draft.site
    rows, imports, previous = snapshot.rows, snapshot.imports, snapshot.previous
    changes = changelog.compare(_previous_mappings(root, previous), rows)
    mapping_set = sssom_tsv.MappingSet(
        site=site, mapping_set_id=file_url(site, number, SSSOM_FILE), version=str(number),
        title=draft.title, published=created.date(),
        description="Approved mappings of AOP-Wiki Key Events to the WikiPathways pathways behind them, "
                    "proposed with a confidence assessment and reviewed by an admin.")
    text = {
        "kewp-mappings.csv": exports.to_csv(rows),
        JSON_FILE: exports.to_json(rows, None, created),
        "kewp-mappings.ttl": exports.to_turtle(rows, created, site=site, mapping_base=f"{site}{API_PREFIX}/mappings/",
                                               imports=imports),
        SSSOM_FILE: sssom_tsv.to_sssom_tsv(rows, mapping_set, imports),
        "kewp-ke-gene-sets.gmt": exports.to_gmt(snapshot.gene_sets),
        "CHANGELOG.md": changelog.to_markdown(
            number, draft.created_at, None if previous is None else (previous.number, previous.created_at), changes,
            len(rows)),
        ".zenodo.json": json.dumps(_zenodo(draft, rows, changes), indent=2, ensure_ascii=False) + "\n",
    }
    used = {"key_events": {m["ke_catalog_version"] for m in rows}, "pathways": {m["wp_catalog_version"] for m in rows}}
    facts = {
        "counts": {"mappings": len(rows), **snapshot.confidence_counts,
                   "key_events": len({m["ke_id"] for m in rows}), "pathways": len({m["wp_id"] for m in rows}),
                   "gene_sets": len(snapshot.gene_sets), "added": len(changes.added),
                   "changed": len(changes.changed), "removed": len(changes.removed)},
        "previous_release": None if previous is None else previous.number,
        "source_versions": {kind: [imports[i] for i in sorted(n for n in numbers if n in imports)]
                            for kind, numbers in used.items()},
    }
    return text, facts


def _bundle(directory: Path, number: int, names: list[str], created: datetime) -> Path:
    """A zip with a fixed time stamp, so the same files always make the same bytes."""
    path = directory / bundle_name(number)
    folder = bundle_name(number).removesuffix(".zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in names:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=created.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o444 << 16
            bundle.writestr(info, (directory / name).read_bytes())
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    path.chmod(0o444)
    return path


def _build(directory: Path, draft: _Draft, text: dict[str, str], facts: dict[str, Any]) -> dict[str, Any]:
    """Write the files into `directory`; returns the checksums the row keeps."""
    for name, body in text.items():
        _write(directory / name, body)
    listed = [{"name": name, "media_type": CONTENT[name][0], "size": (directory / name).stat().st_size,
               "sha256": sha256_file(directory / name), "description": CONTENT[name][1]} for name in text]
    document = {"release": draft.number, "title": draft.title, "created_at": draft.created_at,
                "created_by": draft.created_by, "note": draft.note, "site": draft.site, "license": vocab.LICENSE,
                **facts, "files": listed}
    _write(directory / MANIFEST, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    bundle = _bundle(directory, draft.number, [*text, MANIFEST], draft.created)
    return {"manifest_sha256": sha256_file(directory / MANIFEST), "bundle_name": bundle.name,
            "bundle_size": bundle.stat().st_size, "bundle_sha256": sha256_file(bundle)}


@contextmanager
def _one_creator(root: Path) -> Iterator[None]:
    """One release is made at a time, across Gunicorn workers and the CLI (same host, same disk)."""
    with (root / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReleaseError("another release is being made right now; wait a minute and try again") from None
        yield   # closing the file releases the lock, also when the process dies


def create_release(conn: sqlite3.Connection, root: Path, *, created_by: str, note: str | None, site: str,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Release:
    """Make release n+1 from the approved mappings as they are now; `site` is KEWP_PUBLIC_URL."""
    note = clean_note(note)
    root.mkdir(parents=True, exist_ok=True)
    with _one_creator(root):
        number = _next_number(conn, root)
        snapshot = _snapshot(conn)
        if not snapshot.rows:
            raise ReleaseError("there are no approved mappings to release; approve some proposals first")
        draft = _Draft(number, now().replace(microsecond=0), created_by, note, site)
        text, facts = _contents(snapshot, root, draft)
        staging = Path(tempfile.mkdtemp(prefix=f".building-{number}-", dir=root))
        try:
            checksums = _build(staging, draft, text, facts)
            staging.chmod(0o755)   # mkdtemp's 0700: host tools (backups) read releases too
            staging.rename(root / str(number))   # fails if the number's directory exists: never rewrites
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                raise ReleaseError("the data directory's disk is full; nothing was published. "
                                   "Free some space and try again") from exc
            raise
        final = root / str(number)
        release = Release(number=number, created_at=draft.created_at, created_by=created_by, note=note,
                          mappings=facts["counts"]["mappings"], added=facts["counts"]["added"],
                          changed=facts["counts"]["changed"], removed=facts["counts"]["removed"], **checksums)
        row = asdict(release)
        try:
            _fsync_dir(root)
            with write_transaction(conn):
                conn.execute(f"INSERT INTO releases ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                             list(row.values()))
                conn.execute("INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
                             "VALUES (?, 'created', 'release', ?, NULL, ?)",
                             (created_by, str(number), json.dumps(row, sort_keys=True)))
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)   # the row did not commit: never published
            raise
    log.info("release %d: %d mappings (%d added, %d changed, %d removed) by %s", release.number,
             release.mappings, release.added, release.changed, release.removed, created_by)
    return release
