"""`kewp-backup verify`: checksums, decompression, integrity and row counts of a backup."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from kewp_host.backup.common import (
    EXIT_CHECK_FAILED,
    EXIT_NO_SPACE,
    EXIT_OK,
    TMP_PREFIX,
    Config,
    Failure,
    check_space,
    disk_full,
    log,
)
from kewp_host.backup.compression import stream_to, zstd
from kewp_host.backup.database import check_db
from kewp_host.backup.store import Backup, resolve
from kewp_host.files import human, sha256_file, unlink_quietly


def decompress_checked(backup: Backup, dest: Path) -> None:
    """Check the compressed file's size and sha256, then decompress it to dest checking the raw sha256."""
    if backup.problem:
        raise Failure(EXIT_CHECK_FAILED, f"backup {backup.name} is damaged: {backup.problem}")
    m = backup.manifest
    actual = sha256_file(backup.data_path)
    if actual != m["sha256"]:
        raise Failure(EXIT_CHECK_FAILED, f"backup {backup.name}: sha256 of {backup.data_path.name} is {actual}, "
                                         f"the manifest says {m['sha256']}: the file is damaged, do not use it")
    try:
        raw_sha = stream_to(zstd("-d", "-c", str(backup.data_path)), dest)
    except OSError as exc:
        unlink_quietly(dest)
        if disk_full(exc):
            raise Failure(EXIT_NO_SPACE, f"the disk holding {dest.parent} filled up while decompressing "
                                         f"{backup.name}: {exc}") from exc
        raise Failure(EXIT_CHECK_FAILED, f"backup {backup.name}: cannot decompress: {exc}") from exc
    if raw_sha != m["db_sha256"]:
        unlink_quietly(dest)
        raise Failure(EXIT_CHECK_FAILED, f"backup {backup.name}: the decompressed database's sha256 is "
                                         f"{raw_sha}, the manifest says {m['db_sha256']}")


def verify(backup: Backup, dest: Path) -> None:
    """Decompress a backup to dest and check it completely; dest is removed when a check fails."""
    t = time.monotonic()
    log(f"verifying {backup.name} ({human(backup.manifest.get('size', 0))} compressed)")
    decompress_checked(backup, dest)
    try:
        check_db(dest, backup)
    except BaseException:
        unlink_quietly(dest)
        raise
    counts = ", ".join(f"{k} {v}" for k, v in backup.manifest["row_counts"].items())
    log(f"verified {backup.name} in {time.monotonic() - t:.1f} s: checksums match, integrity_check ok, "
        f"rows as recorded ({counts})")


def cmd_verify(cfg: Config, args: argparse.Namespace) -> int:
    backup = resolve(cfg, args.file)
    scratch = Path(args.scratch) if args.scratch else backup.manifest_path.parent
    check_space(scratch, int(backup.manifest.get("db_size", 0)) + cfg.reserve, f"verifying {backup.name}")
    tmp = scratch / f"{TMP_PREFIX}verify-{backup.name}-{os.getpid()}.db"
    try:
        verify(backup, tmp)
    finally:
        unlink_quietly(tmp)
    print(f"{backup.name}: ok")
    return EXIT_OK


