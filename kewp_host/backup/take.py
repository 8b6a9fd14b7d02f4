"""`kewp-backup backup`: snapshot, check, compress, then rename into place (manifest last)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

from kewp_host.backup.common import (
    DATA_SUFFIX,
    EXIT_CHECK_FAILED,
    EXIT_ERROR,
    EXIT_NO_SPACE,
    EXIT_OK,
    EXIT_USAGE,
    MANIFEST_FORMAT,
    MANIFEST_SUFFIX,
    PREFIX,
    TMP_PREFIX,
    TOOL_VERSION,
    Config,
    Failure,
    check_space,
    disk_full,
    locked,
    log,
    parse_time,
    require_dir,
    utc_precise,
)
from kewp_host.backup.compression import compress
from kewp_host.backup.database import inspect_db, snapshot
from kewp_host.backup.priority import background
from kewp_host.backup.releases import mirror as mirror_releases
from kewp_host.backup.store import remove_temporary, scan
from kewp_host.files import file_size, free_bytes, fsync_dir, fsync_file, human, unlink_quietly


def cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    if not cfg.db.exists():
        raise Failure(EXIT_ERROR, f"database {cfg.db} does not exist (has the kewp app started once? "
                                  "set KEWP_BACKUP_DB or --db for another path)")
    if os.geteuid() == 0 and cfg.db.stat().st_uid != 0:
        raise Failure(EXIT_USAGE, f"run backups as the database's owner, not root (root would leave "
                                  f"root-owned -wal/-shm files the app cannot open): "
                                  f"systemctl start kewp-backup, or runuser -u kewp -- {sys.argv[0]} backup")
    now = parse_time(args.now) if args.now else dt.datetime.now(dt.UTC)
    started = time.monotonic()
    with locked(cfg.dir, cfg.lock_timeout):
        remove_temporary(scan(cfg.dir).temporary)
        db_size = file_size(cfg.db)
        wal_size = file_size(cfg.db.with_name(cfg.db.name + "-wal"))
        # The raw snapshot can be as big as the database plus its WAL, and the compressed copy
        # is at most about as big again (they exist together until the raw one is deleted).
        need = 2 * (db_size + wal_size) + cfg.reserve
        check_space(cfg.dir, need, f"a backup of {cfg.db} (2 x (database {human(db_size)} + "
                                   f"WAL {human(wal_size)}) + reserve {human(cfg.reserve)})")
        name = PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
        n = 1
        while (cfg.dir / (name + MANIFEST_SUFFIX)).exists() or (cfg.dir / (name + DATA_SUFFIX)).exists():
            n += 1
            name = PREFIX + now.strftime("%Y%m%dT%H%M%SZ") + f"-{n}"
        log(f"backup {name}: {cfg.db} (database {human(db_size)}, WAL {human(wal_size)}) -> {cfg.dir}; "
            f"{human(free_bytes(cfg.dir))} free")
        tmp_raw = cfg.dir / f"{TMP_PREFIX}{name}.db"
        tmp_data = cfg.dir / f"{TMP_PREFIX}{name}{DATA_SUFFIX}"
        tmp_manifest = cfg.dir / f"{TMP_PREFIX}{name}{MANIFEST_SUFFIX}"
        final_data = cfg.dir / (name + DATA_SUFFIX)
        final_manifest = cfg.dir / (name + MANIFEST_SUFFIX)
        renamed: list[Path] = []
        try:
            t = time.monotonic()
            snapshot(cfg.db, tmp_raw)
            t_snapshot = time.monotonic() - t
            raw_size = file_size(tmp_raw)
            log(f"snapshot: {human(raw_size)} in {t_snapshot:.1f} s (online backup API)")
            # The live database is released: the rest only reads the copy (see priority.py).
            lowered = background()
            log(f"check and compress at background priority ({', '.join(lowered)})" if lowered else
                "check and compress at this session's priority (not a session leader: see priority.py)")

            t = time.monotonic()
            facts = inspect_db(tmp_raw)
            t_check = time.monotonic() - t
            if facts["integrity_check"] != "ok":
                raise Failure(EXIT_CHECK_FAILED, f"integrity_check of the snapshot failed: "
                                                 f"{facts['integrity_check']}; the live database may be "
                                                 "damaged, see docs/oncall.md#backup-failed")
            counts = ", ".join(f"{k} {v}" for k, v in facts["row_counts"].items())
            log(f"integrity_check: ok in {t_check:.1f} s; rows: {counts}")

            t = time.monotonic()
            raw_sha, data_sha = compress(tmp_raw, tmp_data, cfg.level)
            t_compress = time.monotonic() - t
            size = file_size(tmp_data)
            ratio = raw_size / size if size else 0.0
            log(f"compressed: {human(raw_size)} -> {human(size)} (ratio {ratio:.2f}) in {t_compress:.1f} s")
            unlink_quietly(tmp_raw)

            manifest = {
                "format": MANIFEST_FORMAT,
                "name": name,
                "created_at": utc_precise(now),
                "file": final_data.name,
                "compression": "zstd",
                "size": size,
                "sha256": data_sha,
                "db_size": raw_size,
                "db_sha256": raw_sha,
                "ratio": round(ratio, 3),
                "source": {"path": str(cfg.db), "db_size": db_size, "wal_size": wal_size},
                **facts,
                "sqlite_version": sqlite3.sqlite_version,
                "durations": {"snapshot": round(t_snapshot, 3), "integrity_check": round(t_check, 3),
                              "compress": round(t_compress, 3)},
                "host": socket.gethostname(),
                "tool_version": TOOL_VERSION,
            }
            manifest["durations"]["total"] = round(time.monotonic() - started, 3)
            tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            fsync_file(tmp_manifest)
            # The data file first, the manifest last: a manifest means a complete backup.
            os.replace(tmp_data, final_data)
            renamed.append(final_data)
            os.replace(tmp_manifest, final_manifest)
            renamed.append(final_manifest)
            fsync_dir(cfg.dir)
        except BaseException as exc:
            unlink_quietly(tmp_raw, tmp_data, tmp_manifest, *renamed)
            if disk_full(exc):
                raise Failure(EXIT_NO_SPACE, f"the disk holding {cfg.dir} filled up during the backup "
                              f"({exc}); the partial files were removed, earlier backups are untouched. "
                              "Free some space and try again.") from exc
            raise
        mirror_releases(cfg.db, cfg.dir)  # the mapping releases' files (immutable: new ones only)
    log(f"backup {name} done in {time.monotonic() - started:.1f} s: {final_data} "
        f"({human(size)}, sha256 {data_sha[:16]}...)")
    print(final_data)
    return EXIT_OK


