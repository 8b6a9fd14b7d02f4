"""The mapping releases (`releases/<n>/` beside the database) copied into the backup directory.

A release never changes once made (app/services/releases.py), so each backup copies only the
release folders the backup directory does not hold yet: into a temporary folder, checked
against the release's own release.json checksums, then renamed into `<backup dir>/releases/<n>`.
Prune never removes them (a release is permanent). The database backup holds the `releases`
rows; together they restore a release completely (docs/operations.md, Backups).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kewp_host.backup.common import EXIT_ERROR, TMP_PREFIX, Failure, log
from kewp_host.files import fsync_dir, sha256_file

SUBDIR = "releases"


def mirror(db: Path, backup_dir: Path) -> list[str]:
    """Copy the releases not backed up yet; returns their numbers. Raises Failure on a mismatch."""
    source = db.parent / SUBDIR
    if not source.is_dir():
        return []
    target = backup_dir / SUBDIR
    target.mkdir(mode=0o750, exist_ok=True)
    copied = []
    for release in sorted((p for p in source.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        if (target / release.name).is_dir():
            continue
        tmp = target / f"{TMP_PREFIX}{release.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(release, tmp, copy_function=shutil.copyfile)
        try:
            listed = json.loads((tmp / "release.json").read_text(encoding="utf-8"))["files"]
            bad = [f["name"] for f in listed if sha256_file(tmp / f["name"]) != f["sha256"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            bad = [f"release.json ({exc})"]
        if bad:
            shutil.rmtree(tmp, ignore_errors=True)
            raise Failure(EXIT_ERROR, f"mapping release {release.name} in {source} does not match its "
                                             f"release.json ({', '.join(bad)}): not backed up; check it with "
                                             "`flask --app app releases list` (docs/oncall.md#backup-failed)")
        os.replace(tmp, target / release.name)
        copied.append(release.name)
    if copied:
        fsync_dir(target)
        log(f"mapping releases copied to {target}: {', '.join(copied)}")
    return copied
