"""`kewp-backup restore` and `drill`: put a verified backup in place, with a safety copy."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import time
from pathlib import Path

from kewp_host import paths, replication
from kewp_host.backup import offsite
from kewp_host.backup.common import (
    EXIT_APP_NOT_STARTED,
    EXIT_CHECK_FAILED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    TMP_PREFIX,
    Config,
    Failure,
    check_space,
    locked,
    log,
    require_dir,
)
from kewp_host.backup.database import check_db
from kewp_host.backup.store import Backup, resolve
from kewp_host.backup.verify import verify
from kewp_host.commands import run
from kewp_host.files import fsync_dir, unlink_quietly


def restore(cfg: Config, backup: Backup, target: Path, manage_service: bool) -> list[Path]:
    """Verify backup, then put it at target (owner of target's directory, mode KEWP_BACKUP_DB_MODE).

    When manage_service, the app is stopped before the swap and started after it. Whatever was at
    target (+ -wal, -shm) is renamed aside first, mode KEWP_BACKUP_DB_MODE too; returns those
    safety copies.
    """
    target = target.absolute()
    directory = target.parent
    if not directory.is_dir():
        raise Failure(EXIT_USAGE, f"{directory} does not exist")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    check_space(directory, int(backup.manifest.get("db_size", 0)) + cfg.reserve, f"restoring {backup.name}")
    tmp = directory / f"{TMP_PREFIX}restore-{target.name}-{os.getpid()}"
    try:
        verify(backup, tmp)   # while the app still runs: it is stopped only for the swap
        owner = directory.stat()
        if os.geteuid() == 0:
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.chmod(tmp, cfg.db_mode)
        if manage_service:
            log(f"stopping {cfg.service}")
            stopped = run("systemctl", "stop", cfg.service)
            if stopped.returncode != 0:
                raise Failure(EXIT_ERROR, f"systemctl stop {cfg.service} failed: {stopped.stderr.strip()}; "
                                          "nothing was changed")
        # Two restores in one second must not replace the first one's safety copy.
        aside_base = f"{target.name}.before-restore-{stamp}"
        n = 1
        while any((directory / f"{aside_base}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
            n += 1
            aside_base = f"{target.name}.before-restore-{stamp}-{n}"
        safety = []
        for suffix in ("", "-wal", "-shm"):
            current = directory / (target.name + suffix)
            if current.exists():
                aside = directory / f"{aside_base}{suffix}"
                os.replace(current, aside)
                # The live database's mode, whatever the file had: a safety copy is the same data.
                os.chmod(aside, cfg.db_mode)
                safety.append(aside)
        os.replace(tmp, target)
        fsync_dir(directory)
    finally:
        unlink_quietly(tmp)
    if safety:
        extra = f" (+ {len(safety) - 1} WAL files)" if len(safety) > 1 else ""
        log(f"kept the previous database as {safety[0]}{extra}")
    log(f"restored {backup.name} ({backup.manifest['created_at']}) to {target}")
    if manage_service:
        log(f"starting {cfg.service} (waits until the app is ready)")
        started = run("systemctl", "start", cfg.service)
        if started.returncode != 0:
            back = " && ".join(f"mv {p} {directory / (target.name + p.name.rsplit(stamp, 1)[1])}" for p in safety)
            raise Failure(EXIT_APP_NOT_STARTED,
                          f"the backup is in place but systemctl start {cfg.service} failed: "
                          f"{started.stderr.strip()}; see journalctl -u {cfg.service}. To go back to the "
                          f"previous database: systemctl stop {cfg.service} && {back or 'true'} && "
                          f"systemctl start {cfg.service}")
        log(f"{cfg.service} is running again")
    return safety


def cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    backup = resolve(cfg, args.file)
    target = Path(args.to) if args.to else cfg.db
    live = target.absolute() == cfg.db.absolute()
    if live and os.geteuid() != 0 and not args.no_service:
        raise Failure(EXIT_USAGE, "restoring the live database stops and starts the app: run as root "
                                  "(ansible-playbook playbooks/restore.yml, or sudo kewp-backup restore)")
    lock_dir = backup.manifest_path.parent
    with locked(lock_dir, cfg.lock_timeout):
        if not live:
            restore(cfg, backup, target, manage_service=False)
        else:
            # The off-site replica must not get the old file's history continued with the new one.
            try:
                with replication.paused(target, log):
                    restore(cfg, backup, target, manage_service=not args.no_service)
            except replication.ReplicationError as exc:
                raise Failure(EXIT_ERROR, str(exc)) from exc
    print(f"restored {backup.name} to {target}")
    return EXIT_OK


def cmd_drill(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    max_age = args.max_age if args.max_age is not None else cfg.drill_max_age_hours
    with locked(cfg.dir, cfg.lock_timeout):
        backup = resolve(cfg, None)
        hours = (dt.datetime.now(dt.UTC) - backup.created).total_seconds() / 3600
        if max_age and hours > max_age:
            raise Failure(EXIT_CHECK_FAILED, f"the newest good backup {backup.name} is {hours:.1f} h old "
                                             f"(limit {max_age} h): are backups still being taken? "
                                             "systemctl list-timers 'kewp-*'; journalctl -u kewp-backup")
        scratch_dir = Path(args.scratch) if args.scratch else cfg.dir
        scratch = scratch_dir / f"{TMP_PREFIX}drill-{os.getpid()}" / paths.DB_NAME
        scratch.parent.mkdir(mode=0o700)
        try:
            t = time.monotonic()
            restore(cfg, backup, scratch, manage_service=False)
            facts = check_db(scratch, backup)   # the file as restored, opened the way the app opens it
            log(f"drill: {backup.name} restored to a scratch file and checked in {time.monotonic() - t:.1f} s: "
                f"integrity_check ok, row counts match the manifest ({facts['row_counts']})")
        finally:
            shutil.rmtree(scratch.parent, ignore_errors=True)
    offsite.drill(cfg, scratch_dir)   # after the lock: the off-site copy takes it too
    print(f"drill ok: {backup.name}")
    return EXIT_OK


