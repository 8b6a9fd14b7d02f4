"""What every kewp-backup command shares: exit codes, the expected Failure, settings, the lock."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kewp_host import paths
from kewp_host.files import free_bytes, human
from kewp_host.journal import Logger
from kewp_host.settings import Layers, SettingError, read_env_file, whole_number

TOOL_VERSION = "1"
MANIFEST_FORMAT = 1
TABLES = ("key_events", "pathways", "mappings", "proposals", "audit_log", "users")
PREFIX = "kewp-"
DATA_SUFFIX = ".db.zst"
MANIFEST_SUFFIX = ".json"
TMP_PREFIX = ".tmp-"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_SPACE = 3
EXIT_CHECK_FAILED = 4
EXIT_LOCKED = 5
EXIT_NO_BACKUP = 6
EXIT_APP_NOT_STARTED = 7

# name -> (default, kind); read from the environment or the config file.
CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "KEWP_BACKUP_DB": (paths.DB_PATH, "path"),
    "KEWP_BACKUP_DIR": (paths.BACKUP_DIR, "path"),
    "KEWP_BACKUP_KEEP_HOURLY": ("24", "count"),
    "KEWP_BACKUP_KEEP_DAILY": ("7", "count"),
    "KEWP_BACKUP_KEEP_WEEKLY": ("4", "count"),
    "KEWP_BACKUP_KEEP_MONTHLY": ("6", "count"),
    # Space left free on the backup file system after the worst-case estimate.
    "KEWP_BACKUP_RESERVE_MB": ("64", "count"),
    "KEWP_BACKUP_COMPRESS_LEVEL": ("3", "level"),
    "KEWP_BACKUP_LOCK_TIMEOUT": ("900", "count"),
    "KEWP_BACKUP_DRILL_MAX_AGE_HOURS": ("26", "count"),
    "KEWP_BACKUP_SERVICE": (paths.SERVICE, "text"),
    "KEWP_BACKUP_DB_MODE": ("0640", "mode"),
    # Off-site copies (backup/offsite.py); an empty repository turns them off.
    "KEWP_BACKUP_OFFSITE_REPOSITORY": ("", "text"),
    "KEWP_BACKUP_OFFSITE_PASSWORD_FILE": ("/etc/kewp/offsite-restic.password", "path"),
    "KEWP_BACKUP_OFFSITE_SSH_KEY": ("", "text"),
    "KEWP_BACKUP_OFFSITE_KNOWN_HOSTS": ("", "text"),
    "KEWP_BACKUP_OFFSITE_RESTIC": ("restic", "text"),
    "KEWP_BACKUP_OFFSITE_KEEP_HOURLY": ("48", "count"),
    "KEWP_BACKUP_OFFSITE_KEEP_DAILY": ("14", "count"),
    "KEWP_BACKUP_OFFSITE_KEEP_WEEKLY": ("8", "count"),
    "KEWP_BACKUP_OFFSITE_KEEP_MONTHLY": ("12", "count"),
    "KEWP_BACKUP_OFFSITE_CHECK_SUBSET": ("10%", "text"),
    "KEWP_BACKUP_OFFSITE_MAX_AGE_HOURS": ("3", "count"),
    "KEWP_BACKUP_OFFSITE_TIMEOUT": ("3600", "count"),
}
DEFAULT_CONFIG_FILE = "/etc/default/kewp-backup"


class Failure(Exception):
    """An expected failure: a message for the operator and the exit code that goes with it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


log = Logger("kewp-backup")


def utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_precise(when: dt.datetime) -> str:
    """A manifest's time, to the microsecond: two backups in one second must still sort."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sequence(name: str) -> int:
    """The -N that tells apart backups named in the same second (kewp-...Z, kewp-...Z-2, ...)."""
    head, sep, tail = name.rpartition("-")
    return int(tail) if sep and head.endswith("Z") and tail.isdigit() else 1


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time; a time without a zone is taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Failure(EXIT_USAGE, f"not an ISO 8601 time: {text!r} (e.g. 2026-11-24T05:00:00Z)") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


# ---------------------------------------------------------------- settings

@dataclass
class Config:
    db: Path
    dir: Path
    keep: dict[str, int]
    reserve: int
    level: int
    lock_timeout: int
    drill_max_age_hours: int
    service: str
    db_mode: int
    # KEWP_BACKUP_OFFSITE_* as read (checked by kind); backup/offsite.py makes sense of them.
    offsite: dict[str, str] = field(default_factory=dict)


def checked(key: str, value: str, kind: str, source: str) -> str:
    """value if it is a good value of its kind, else a SettingError naming key and source."""
    if kind == "count":
        whole_number(key, value, source=source)
    if kind == "level" and not (value.isdigit() and 1 <= int(value) <= 19):
        raise SettingError(f"{key}={value!r} (from {source}): give an integer from 1 to 19")
    if kind == "mode" and not (len(value) in (3, 4) and all(c in "01234567" for c in value)):
        raise SettingError(f"{key}={value!r} (from {source}): give an octal mode like 0640")
    if kind == "path" and not value.startswith("/"):
        raise SettingError(f"{key}={value!r} (from {source}): give an absolute path")
    return value


def load_config(args: argparse.Namespace) -> Config:
    config_file = Path(os.environ.get("KEWP_BACKUP_CONFIG", DEFAULT_CONFIG_FILE))
    file_values: dict[str, str] = {}
    try:
        file_values = read_env_file(config_file)
    except FileNotFoundError:
        pass
    except PermissionError as exc:
        raise Failure(EXIT_USAGE, f"cannot read {config_file}: {exc.strerror}") from exc
    except SettingError as exc:
        raise Failure(EXIT_USAGE, str(exc)) from exc
    layers = Layers(file_values, str(config_file))

    def get(key: str) -> str:
        default, kind = CONFIG_KEYS[key]
        value, source = layers.lookup(key, default)
        try:
            return checked(key, value, kind, source)
        except SettingError as exc:
            raise Failure(EXIT_USAGE, str(exc)) from exc

    return Config(
        db=Path(args.db or get("KEWP_BACKUP_DB")),
        dir=Path(args.dir or get("KEWP_BACKUP_DIR")),
        keep={k: int(get(f"KEWP_BACKUP_KEEP_{k.upper()}")) for k in ("hourly", "daily", "weekly", "monthly")},
        reserve=int(get("KEWP_BACKUP_RESERVE_MB")) * 1024 * 1024,
        level=int(get("KEWP_BACKUP_COMPRESS_LEVEL")),
        lock_timeout=int(get("KEWP_BACKUP_LOCK_TIMEOUT")),
        drill_max_age_hours=int(get("KEWP_BACKUP_DRILL_MAX_AGE_HOURS")),
        service=get("KEWP_BACKUP_SERVICE"),
        db_mode=int(get("KEWP_BACKUP_DB_MODE"), 8),
        offsite={k: get(k) for k in CONFIG_KEYS if k.startswith("KEWP_BACKUP_OFFSITE_")},
    )


@contextlib.contextmanager
def locked(directory: Path, timeout: int) -> Iterator[None]:
    """One kewp-backup run at a time per backup directory (flock on the directory itself)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Failure(EXIT_LOCKED, f"another kewp-backup run still holds the lock on {directory} "
                                               f"after {timeout} s; see: systemctl list-units 'kewp-*'") from None
                if not waiting:
                    log(f"waiting for another kewp-backup run to finish (lock on {directory})")
                    waiting = True
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)


def require_dir(directory: Path) -> None:
    if not directory.is_dir():
        raise Failure(EXIT_USAGE, f"backup directory {directory} does not exist "
                                  "(the kewp_backup role creates it; or set KEWP_BACKUP_DIR / --dir)")


def check_space(directory: Path, need: int, what: str) -> None:
    free = free_bytes(directory)
    if free < need:
        raise Failure(EXIT_NO_SPACE,
                      f"not enough free space in {directory}: {what} needs about {human(need)} "
                      f"({need} bytes), only {human(free)} ({free} bytes) is free; nothing was written. "
                      "Free some space (prune old backups, copy them off the host) and try again.")


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.Error) and "disk is full" in str(exc).lower()


