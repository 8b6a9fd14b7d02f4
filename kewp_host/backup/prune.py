"""`kewp-backup prune`: the retention policy (hourly, daily, weekly, monthly generations)."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from kewp_host.backup.common import EXIT_OK, Config, locked, log, parse_time, require_dir, utc
from kewp_host.backup.store import Backup, age, remove_temporary, scan
from kewp_host.files import file_size, fsync_dir, human, unlink_quietly


def keep_set(backups: list[Backup], keep: dict[str, int]) -> dict[str, list[str]]:
    """Generations to keep: for each period kind, the newest backup of each of the last N periods
    that have a backup. Returns name -> reasons. The newest backup is always kept."""
    periods: dict[str, Callable[[dt.datetime], Any]] = {
        "hourly": lambda t: (t.year, t.month, t.day, t.hour),
        "daily": lambda t: (t.year, t.month, t.day),
        "weekly": lambda t: tuple(t.isocalendar())[:2],
        "monthly": lambda t: (t.year, t.month),
    }
    reasons: dict[str, list[str]] = {}
    if backups:
        reasons[backups[0].name] = ["newest"]
    for kind, period_of in periods.items():
        seen: set[Any] = set()
        for b in backups:   # newest first
            period = period_of(b.created)
            if period in seen:
                continue
            if len(seen) >= keep[kind]:
                break
            seen.add(period)
            reasons.setdefault(b.name, []).append(kind)
    return reasons


def cmd_prune(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    now = parse_time(args.now) if args.now else dt.datetime.now(dt.UTC)
    verb = "would delete" if args.dry_run else "deleting"
    with locked(cfg.dir, cfg.lock_timeout):
        listing = scan(cfg.dir)
        later = [b for b in listing.backups if b.created > now]
        damaged = [b for b in listing.backups if not b.good]
        candidates = [b for b in listing.backups if b.good and b.created <= now]
        reasons = keep_set(candidates, cfg.keep)
        policy = ", ".join(f"{v} {k}" for k, v in cfg.keep.items())
        log(f"prune {cfg.dir} as of {utc(now)}: keeping {policy}{' (dry run)' if args.dry_run else ''}")
        for b in later:
            log(f"keep {b.name}: newer than {utc(now)}, not considered")
        for b in damaged:
            log(f"keep {b.name}: DAMAGED ({b.problem}); not counted, left for an operator to look at", "warning")
        doomed = []
        for b in candidates:
            if b.name in reasons:
                log(f"keep {b.name} ({age(now, b.created)} old): {', '.join(reasons[b.name])}")
            else:
                doomed.append(b)
        for b in doomed:
            log(f"{verb} {b.name} ({age(now, b.created)} old, {human(file_size(b.data_path))})")
            if not args.dry_run:
                # Manifest first: from then on the data file is an orphan, never mistaken for a backup.
                unlink_quietly(b.manifest_path, b.data_path)
        for path in listing.orphans + listing.temporary:
            log(f"{verb} {path.name} (not a complete backup)")
            if not args.dry_run:
                remove_temporary([path])
        if not args.dry_run:
            fsync_dir(cfg.dir)
    freed = sum(file_size(b.data_path) for b in doomed) if args.dry_run else 0
    log(f"prune: {len(candidates) - len(doomed)} kept, {len(doomed)} {'to delete' if args.dry_run else 'deleted'}"
        f"{f' ({human(freed)} would be freed)' if args.dry_run else ''}")
    return EXIT_OK


