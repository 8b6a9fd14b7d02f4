"""kewp-backup's command line: the parser, signals, and the mapping of failures to exit codes."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys

import kewp_host.backup
from kewp_host import paths
from kewp_host.backup.alert import cmd_alert
from kewp_host.backup.common import EXIT_ERROR, Failure, load_config, log
from kewp_host.backup.offsite import add_commands as add_offsite_commands
from kewp_host.backup.prune import cmd_prune
from kewp_host.backup.restore import cmd_drill, cmd_restore
from kewp_host.backup.store import cmd_list
from kewp_host.backup.take import cmd_backup
from kewp_host.backup.verify import cmd_verify


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kewp-backup", description=(kewp_host.backup.__doc__ or "").split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See docs/operations.md#backups.")
    p.add_argument("--db", help=f"live database (KEWP_BACKUP_DB; default {paths.DB_PATH})")
    p.add_argument("--dir", help=f"backup directory (KEWP_BACKUP_DIR; default {paths.BACKUP_DIR})")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("backup", help="take a backup now")
    s.add_argument("--now", help="stamp the backup with this ISO time instead of the clock (tests, back-dating)")
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser("list", help="list backups, newest first")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("verify", help="check a backup's checksums, integrity and row counts")
    s.add_argument("file", nargs="?", help="NAME, NAME.db.zst or NAME.json (default: the newest good backup)")
    s.add_argument("--scratch", help="directory for the decompressed copy (default: the backup's directory)")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("prune", help="delete backups the retention policy does not keep")
    s.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    s.add_argument("--now", help="prune as if the clock read this ISO time (backups after it are left alone)")
    s.set_defaults(func=cmd_prune)

    s = sub.add_parser("restore", help="restore a backup (default: the newest good one)")
    s.add_argument("file", nargs="?", help="NAME, NAME.db.zst or NAME.json")
    s.add_argument("--to", help="restore to this path instead of the live database (the app is left alone)")
    s.add_argument("--no-service", action="store_true", help="do not stop/start the app (it must be stopped)")
    s.set_defaults(func=cmd_restore)

    s = sub.add_parser("drill", help="restore the newest backup to a scratch file and check it")
    s.add_argument("--max-age", type=int, help="fail when the newest backup is older than this many hours "
                                                "(KEWP_BACKUP_DRILL_MAX_AGE_HOURS; 0 = no limit)")
    s.add_argument("--scratch", help="directory for the scratch copy (default: the backup directory)")
    s.set_defaults(func=cmd_drill)

    s = sub.add_parser("alert", help="report a failed systemd unit (run by kewp-alert@.service)")
    s.add_argument("unit", help="the failed unit, e.g. kewp-backup.service")
    s.add_argument("--lines", type=int, default=25, help="log lines to include (default 25)")
    s.set_defaults(func=cmd_alert)
    add_offsite_commands(sub)
    return p


def _terminate(signum: int, _frame: object) -> None:
    raise Failure(EXIT_ERROR, f"stopped by signal {signal.Signals(signum).name}; temporary files removed")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # SIGTERM and SIGHUP (systemctl stop, a closed terminal) unwind like an error: temporary files go.
    previous = {signum: signal.signal(signum, _terminate) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        cfg = load_config(args)
        return args.func(cfg, args)
    except Failure as exc:
        log(str(exc), "error")
        return exc.code
    except KeyboardInterrupt:
        log("interrupted; temporary files removed", "error")
        return EXIT_ERROR
    except (OSError, sqlite3.Error) as exc:
        log(f"{type(exc).__name__}: {exc}", "error")
        return EXIT_ERROR
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
