"""Backups on disk: manifests, the listing of a backup directory, and `kewp-backup list`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kewp_host.backup.common import (
    DATA_SUFFIX,
    EXIT_NO_BACKUP,
    EXIT_OK,
    EXIT_USAGE,
    MANIFEST_SUFFIX,
    PREFIX,
    TMP_PREFIX,
    Config,
    Failure,
    log,
    parse_time,
    require_dir,
    sequence,
    utc,
    utc_precise,
)
from kewp_host.files import file_size, free_bytes, human, unlink_quietly


@dataclass
class Backup:
    name: str
    manifest_path: Path
    data_path: Path
    manifest: dict[str, Any]
    created: dt.datetime
    problem: str = ""   # empty when the files look complete

    @property
    def good(self) -> bool:
        return not self.problem


@dataclass
class Listing:
    backups: list[Backup] = field(default_factory=list)   # newest first
    orphans: list[Path] = field(default_factory=list)     # data files without a manifest
    temporary: list[Path] = field(default_factory=list)   # .tmp-* left by an interrupted run


def load_backup(manifest_path: Path) -> Backup:
    name = manifest_path.name[: -len(MANIFEST_SUFFIX)]
    data_path = manifest_path.with_name(name + DATA_SUFFIX)
    try:
        manifest = json.loads(manifest_path.read_text())
        created = parse_time(manifest["created_at"])
        expected_size = int(manifest["size"])
        manifest["sha256"], manifest["db_sha256"], manifest["row_counts"]  # must exist
    except (OSError, ValueError, KeyError, TypeError, Failure) as exc:
        return Backup(name, manifest_path, data_path, {}, dt.datetime.min.replace(tzinfo=dt.UTC),
                      f"unreadable manifest ({exc})")
    problem = ""
    if manifest.get("integrity_check") != "ok":
        problem = f"integrity_check was {manifest.get('integrity_check')!r}"
    elif not data_path.exists():
        problem = f"data file {data_path.name} is missing"
    elif file_size(data_path) != expected_size:
        problem = f"data file has {file_size(data_path)} bytes, the manifest says {expected_size}"
    return Backup(name, manifest_path, data_path, manifest, created, problem)


def scan(directory: Path) -> Listing:
    listing = Listing()
    manifests = set()
    for path in directory.iterdir():
        if path.name.startswith(TMP_PREFIX):
            listing.temporary.append(path)
        elif path.name.startswith(PREFIX) and path.name.endswith(MANIFEST_SUFFIX):
            listing.backups.append(load_backup(path))
            manifests.add(path.name[: -len(MANIFEST_SUFFIX)])
    for path in directory.glob(f"{PREFIX}*{DATA_SUFFIX}"):
        if path.name[: -len(DATA_SUFFIX)] not in manifests:
            listing.orphans.append(path)
    # Newest first by the manifest's time; names of one second by their number (Z-10 after Z-2),
    # never by sorting names as text.
    listing.backups.sort(key=lambda b: (b.created, sequence(b.name)), reverse=True)
    return listing


def resolve(cfg: Config, spec: str | None) -> Backup:
    """A backup named by data file, manifest, or bare name; None means the newest good one."""
    if spec is None:
        require_dir(cfg.dir)
        good = [b for b in scan(cfg.dir).backups if b.good]
        if not good:
            raise Failure(EXIT_NO_BACKUP, f"no good backup in {cfg.dir} (see: kewp-backup list)")
        return good[0]
    path = Path(spec)
    if path.name.endswith(DATA_SUFFIX):
        path = path.with_name(path.name[: -len(DATA_SUFFIX)] + MANIFEST_SUFFIX)
    elif not path.name.endswith(MANIFEST_SUFFIX):
        path = path.with_name(path.name + MANIFEST_SUFFIX)
    if len(path.parts) == 1:
        path = cfg.dir / path
    if path.name.startswith("."):
        raise Failure(EXIT_USAGE, f"{spec}: names starting with '.' are temporary files, never backups")
    if not path.exists():
        raise Failure(EXIT_NO_BACKUP, f"no backup manifest {path} (every backup is NAME{DATA_SUFFIX} "
                                      f"plus NAME{MANIFEST_SUFFIX}; see: kewp-backup list)")
    return load_backup(path)


def remove_temporary(paths: list[Path]) -> None:
    for path in paths:
        log(f"removing {path.name}, left by an interrupted run", "warning")
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            unlink_quietly(path)


# ---------------------------------------------------------------- kewp-backup list

def age(now: dt.datetime, then: dt.datetime) -> str:
    seconds = int((now - then).total_seconds())
    if seconds < 0:
        return "future"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def cmd_list(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    listing = scan(cfg.dir)
    if args.json:
        out = [{"name": b.name, "created_at": utc_precise(b.created) if b.manifest else None,
                "file": str(b.data_path), "manifest": str(b.manifest_path), "good": b.good,
                "problem": b.problem or None, "size": b.manifest.get("size"),
                "db_size": b.manifest.get("db_size"), "row_counts": b.manifest.get("row_counts")}
               for b in listing.backups]
        print(json.dumps(out, indent=2))
        return EXIT_OK
    now = dt.datetime.now(dt.UTC)
    print(f"{'NAME':<28} {'CREATED (UTC)':<21} {'AGE':>5} {'SIZE':>10} {'DB SIZE':>10} "
          f"{'MAPPINGS':>8}  STATUS")
    for b in listing.backups:
        m = b.manifest
        created = utc(b.created) if m else "?"
        print(f"{b.name:<28} {created:<21} {age(now, b.created) if m else '?':>5} "
              f"{human(m.get('size', 0)):>10} {human(m.get('db_size', 0)):>10} "
              f"{m.get('row_counts', {}).get('mappings', '-')!s:>8}  {'ok' if b.good else 'DAMAGED: ' + b.problem}")
    for path in listing.orphans:
        print(f"{path.name}: no manifest, not a backup (left by an interrupted prune; the next prune removes it)")
    for path in listing.temporary:
        print(f"{path.name}: temporary file of a running or interrupted run (ignored)")
    good = sum(b.good for b in listing.backups)
    print(f"{len(listing.backups)} backups ({good} good) in {cfg.dir}, "
          f"{human(sum(file_size(b.data_path) for b in listing.backups))}; {human(free_bytes(cfg.dir))} free")
    return EXIT_OK


