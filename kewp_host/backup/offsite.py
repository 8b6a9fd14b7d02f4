"""Off-site copies: each verified backup as an encrypted restic snapshot on the backup host.

`offsite-copy` (kewp-offsite.service, started by kewp-backup.service's OnSuccess=) verifies the
newest good backup, stages its database and manifest, and backs them up with restic (usually
over SFTP), then forgets and prunes snapshots by generations. It is a unit of its own, so an
off-site failure alerts (kewp-alert@) without marking the local backup bad. `offsite-check`
(kewp-offsite-check.timer) runs `restic check --read-data-subset`. `offsite-restore` puts a
snapshot's database at a path only after restic's own checks, the manifest's sha256 and
integrity_check all pass. Every run records its outcome in .offsite/state.json in the backup
directory (`offsite-status`, read by kewpctl status and the health watch; no network).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kewp_host import paths
from kewp_host.backup.common import (
    EXIT_CHECK_FAILED,
    EXIT_ERROR,
    EXIT_NO_BACKUP,
    EXIT_OK,
    EXIT_USAGE,
    TMP_PREFIX,
    Config,
    Failure,
    check_space,
    locked,
    log,
    parse_time,
    require_dir,
    utc,
)
from kewp_host.backup.database import check_db
from kewp_host.backup.store import Backup, resolve
from kewp_host.backup.verify import verify
from kewp_host.files import fsync_dir, human, sha256_file, write_atomic

TAG = "kewp"
MANIFEST_NAME = "manifest.json"
DISABLED = ("off-site copies are OFF: no backup host is configured (set kewp_backup_offsite_repository "
            "and the vault's kewp_backup_offsite_password, then converge playbooks/site.yml)")
RUNBOOK = "docs/oncall.md#off-site-copy-failed"
# What ssh and restic's SFTP backend say when the backup host cannot be reached or refuses us.
UNREACHABLE = re.compile(r"unable to start the sftp session|connection refused|no route to host|network is "
                         r"unreachable|connection timed out|operation timed out|host key verification failed|"
                         r"could not resolve|permission denied \(publickey|connection closed|broken pipe",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Offsite:
    repository: str          # "" = off
    password_file: Path
    ssh_key: str
    known_hosts: str
    restic: str
    keep: dict[str, int]
    check_subset: str
    max_age_hours: int
    timeout: int
    home: Path               # <backup dir>/.offsite: state.json, the restic cache, the staging copy

    @classmethod
    def from_config(cls, cfg: Config) -> Offsite:
        o = cfg.offsite
        return cls(repository=o["KEWP_BACKUP_OFFSITE_REPOSITORY"].strip(),
                   password_file=Path(o["KEWP_BACKUP_OFFSITE_PASSWORD_FILE"]),
                   ssh_key=o["KEWP_BACKUP_OFFSITE_SSH_KEY"], known_hosts=o["KEWP_BACKUP_OFFSITE_KNOWN_HOSTS"],
                   restic=o["KEWP_BACKUP_OFFSITE_RESTIC"],
                   keep={k: int(o[f"KEWP_BACKUP_OFFSITE_KEEP_{k.upper()}"])
                         for k in ("hourly", "daily", "weekly", "monthly")},
                   check_subset=o["KEWP_BACKUP_OFFSITE_CHECK_SUBSET"],
                   max_age_hours=int(o["KEWP_BACKUP_OFFSITE_MAX_AGE_HOURS"]),
                   timeout=int(o["KEWP_BACKUP_OFFSITE_TIMEOUT"]), home=cfg.dir / ".offsite")

    @property
    def enabled(self) -> bool:
        return bool(self.repository)

    @property
    def state_path(self) -> Path:
        return self.home / "state.json"


# ---------------------------------------------------------------- restic


def sftp_command(repository: str, ssh_key: str, known_hosts: str) -> str | None:
    """The ssh command restic's SFTP backend should run: this key only, this known_hosts file only,
    the host key checked, never a prompt. None for a repository that is not sftp: or without a key."""
    if not repository.startswith("sftp:") or not ssh_key:
        return None
    m = (re.fullmatch(r"sftp://([^@/]+)@([^:/]+)(?::(\d+))?/.*", repository)
         or re.fullmatch(r"sftp:([^@/]+)@([^:/]+):.*", repository))
    if not m:
        raise Failure(EXIT_USAGE, f"KEWP_BACKUP_OFFSITE_REPOSITORY={repository!r}: give sftp:USER@HOST:/PATH "
                                  "or sftp://USER@HOST:PORT//PATH (kewp_backup_offsite_repository)")
    user, host, port = m.group(1), m.group(2), (m.group(3) if m.lastindex and m.lastindex >= 3 else None)
    argv = ["ssh", "-F", "none", "-i", ssh_key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", "ConnectTimeout=20"]
    if known_hosts:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}"]
    if port:
        argv += ["-p", port]
    return shlex.join([*argv, f"{user}@{host}", "-s", "sftp"])


def restic(off: Offsite, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One restic command against the repository; its output as text (never raises for its status)."""
    # The cache belongs to the kewp user's runs; root's (offsite-restore, offsite-list) go without.
    cache = ["--no-cache"] if os.geteuid() == 0 else ["--cache-dir", str(off.home / "cache")]
    argv = [off.restic, "--repo", off.repository, "--password-file", str(off.password_file), *cache, "--quiet"]
    command = sftp_command(off.repository, off.ssh_key, off.known_hosts)
    if command:
        argv += ["-o", f"sftp.command={command}"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC", "HOME": str(off.home),
           "RESTIC_PROGRESS_FPS": "0.1"}
    try:
        return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=off.timeout, check=False,
                              cwd=cwd, env=env)
    except FileNotFoundError as exc:
        raise Failure(EXIT_ERROR, f"{off.restic} is not installed ({exc.strerror}): apt-get install restic "
                                  "(the kewp_backup role installs it)") from exc
    except subprocess.TimeoutExpired as exc:
        raise Failure(EXIT_ERROR, f"restic {args[0]} did not finish within {off.timeout} s "
                                  "(KEWP_BACKUP_OFFSITE_TIMEOUT): is the backup host reachable and fast "
                                  "enough?") from exc


def restic_failure(off: Offsite, what: str, got: subprocess.CompletedProcess[str],
                   code: int = EXIT_ERROR) -> Failure:
    """A Failure for a failed restic command that says what went wrong in words an operator can act on."""
    err = got.stderr.strip()
    tail = " | ".join(err.splitlines()[-4:])[-500:]
    if "wrong password" in err:
        return Failure(EXIT_USAGE, f"{what}: the password in {off.password_file} does not open the repository "
                                   f"{off.repository} (restic: wrong password or no key found). The password is "
                                   "the vault's kewp_backup_offsite_password: check it and converge "
                                   "playbooks/site.yml; never run restic init over an existing repository")
    if "Is there a repository at the following location?" in err:
        return Failure(EXIT_NO_BACKUP, f"{what}: there is no restic repository at {off.repository} ({tail}). "
                                       "Check kewp_backup_offsite_repository; the first off-site copy creates it")
    if UNREACHABLE.search(err):
        return Failure(EXIT_ERROR, f"{what}: cannot reach the backup host for {off.repository}: {tail}. "
                                   f"Check that it is up and reachable over SSH (runbook: {RUNBOOK})")
    return Failure(code, f"{what}: restic exited {got.returncode}: {tail}")


def read_state(off: Offsite) -> dict[str, Any]:
    try:
        state = json.loads(off.state_path.read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def write_state(off: Offsite, state: dict[str, Any]) -> None:
    off.home.mkdir(mode=0o700, exist_ok=True)
    write_atomic(off.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")


def record(off: Offsite, key: str, **values: Any) -> dict[str, Any]:
    """Merge one outcome into state.json (copy, check, error) and return the state."""
    state = read_state(off)
    state.update(enabled=off.enabled, repository=off.repository)
    state[key] = values
    write_state(off, state)
    return state


def snapshots(off: Offsite) -> list[dict[str, Any]]:
    """kewp's snapshots in the repository, newest first."""
    got = restic(off, "snapshots", "--json", "--tag", TAG)
    if got.returncode != 0:
        raise restic_failure(off, "listing the off-site snapshots", got)
    try:
        found = json.loads(got.stdout or "[]") or []
    except ValueError as exc:
        raise Failure(EXIT_ERROR, f"restic snapshots --json printed no JSON: {got.stdout[:200]!r}") from exc
    return sorted(found, key=lambda s: s["time"], reverse=True)


def backup_name(snapshot: dict[str, Any]) -> str:
    return next((t for t in snapshot.get("tags") or [] if t != TAG), "?")


def require_enabled(off: Offsite) -> None:
    if not off.enabled:
        raise Failure(EXIT_USAGE, DISABLED)


# ---------------------------------------------------------------- offsite-copy


def ensure_repository(off: Offsite, state: dict[str, Any]) -> None:
    """Create the repository on the very first copy; a repository that had copies and is gone is an error."""
    got = restic(off, "cat", "config")
    if got.returncode == 0:
        return
    failure = restic_failure(off, "opening the off-site repository", got)
    if failure.code != EXIT_NO_BACKUP:
        raise failure
    if (state.get("copy") or {}).get("snapshot") and state.get("repository") == off.repository:
        raise Failure(EXIT_CHECK_FAILED, f"the off-site repository {off.repository} held snapshots (the last "
                                         f"{state['copy']['snapshot']}) and is gone now: someone deleted it or "
                                         f"the backup host lost it. Not creating a new one over it; runbook: {RUNBOOK}")
    log(f"creating the restic repository {off.repository} (first off-site copy)")
    made = restic(off, "init", "--repository-version", "2")
    if made.returncode != 0:
        raise restic_failure(off, "creating the off-site repository", made)


def stage_backup(cfg: Config, off: Offsite, spec: str | None) -> tuple[Backup, Path]:
    """Verify a backup into .offsite/stage (database + manifest), under the backup directory's lock."""
    stage = off.home / "stage"
    with locked(cfg.dir, cfg.lock_timeout):   # no backup or prune changes the directory meanwhile
        backup = resolve(cfg, spec)
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(mode=0o700, parents=True)
        check_space(cfg.dir, int(backup.manifest.get("db_size", 0)) + cfg.reserve, f"staging {backup.name}")
        verify(backup, stage / paths.DB_NAME)
        shutil.copyfile(backup.manifest_path, stage / MANIFEST_NAME)
    return backup, stage


def forget(off: Offsite) -> list[str]:
    """Drop snapshots beyond the generations kept (all hosts together: a recovered host goes on the
    same history), prune their data; the ids removed."""
    keep = [arg for k, n in off.keep.items() if n for arg in (f"--keep-{k}", str(n))]
    if not keep:
        return []
    got = restic(off, "forget", "--json", "--tag", TAG, "--group-by", "", *keep, "--prune")
    if got.returncode != 0:
        raise restic_failure(off, "forgetting old off-site snapshots", got)
    try:
        groups = json.loads(got.stdout.splitlines()[0]) if got.stdout.strip() else []
    except ValueError:
        groups = []
    return [s["short_id"] for g in groups or [] for s in g.get("remove") or []]


def refuse_root(cfg: Config, unit: str) -> None:
    """Root would leave root-owned files in .offsite/ that the kewp user's runs cannot replace."""
    if os.geteuid() == 0 and cfg.dir.stat().st_uid != 0:
        raise Failure(EXIT_USAGE, f"run this as the backup directory's owner, not root: systemctl start {unit}")


def cmd_offsite_copy(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    refuse_root(cfg, "kewp-offsite.service")
    off = Offsite.from_config(cfg)
    if not off.enabled:
        log(DISABLED, "warning")
        record(off, "copy", skipped="disabled", at=utc(dt.datetime.now(dt.UTC)))
        print("off-site copies are off")
        return EXIT_OK
    off.home.mkdir(mode=0o700, exist_ok=True)
    started = time.monotonic()
    with locked(off.home, off.timeout):   # one off-site run at a time; the backup directory stays free
        state = read_state(off)
        try:
            last = state.get("copy") or {}
            backup = resolve(cfg, args.file)
            if (not args.file and last.get("backup") == backup.name and last.get("snapshot")
                    and state.get("repository") == off.repository):
                log(f"{backup.name} is already off-site (snapshot {last['snapshot']}); nothing to do")
                print(f"{backup.name}: already off-site")
                return EXIT_OK
            ensure_repository(off, state)
            backup, stage = stage_backup(cfg, off, backup.name)
            try:
                created = backup.created.strftime("%Y-%m-%d %H:%M:%S")
                got = restic(off, "backup", "--json", "--tag", TAG, "--tag", backup.name,
                             "--host", socket.gethostname(), "--time", created, ".", cwd=stage)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
            if got.returncode != 0:
                raise restic_failure(off, f"copying {backup.name} off-site", got)
            summary = next((json.loads(line) for line in got.stdout.splitlines()
                            if '"message_type":"summary"' in line.replace(" ", "")), {})
            removed = forget(off)
        except Failure as exc:
            record(off, "copy", **{**last, "error": str(exc), "failed_at": utc(dt.datetime.now(dt.UTC))})
            raise Failure(exc.code, f"off-site copy FAILED (the local backups are fine): {exc}") from exc
    seconds = time.monotonic() - started
    record(off, "copy", backup=backup.name, backup_created_at=utc(backup.created),
           snapshot=summary.get("snapshot_id", "?"), copied_at=utc(dt.datetime.now(dt.UTC)),
           added_bytes=summary.get("data_added", 0), seconds=round(seconds, 1))
    log(f"off-site copy of {backup.name} done in {seconds:.1f} s: snapshot {summary.get('snapshot_id')} in "
        f"{off.repository}, {human(summary.get('data_added', 0))} new data; retention removed "
        f"{len(removed)} snapshot(s){': ' + ' '.join(removed) if removed else ''}")
    print(f"{backup.name}: off-site as snapshot {summary.get('snapshot_id')}")
    return EXIT_OK


# ---------------------------------------------------------------- offsite-list, offsite-check, offsite-status


def cmd_offsite_list(cfg: Config, args: argparse.Namespace) -> int:
    off = Offsite.from_config(cfg)
    require_enabled(off)
    found = snapshots(off)
    if args.json:
        print(json.dumps([{"id": s["id"], "short_id": s["short_id"], "time": s["time"], "host": s.get("hostname"),
                           "backup": backup_name(s)} for s in found], indent=2))
        return EXIT_OK
    print(f"{'SNAPSHOT':<10} {'BACKUP TIME (UTC)':<21} {'HOST':<16} BACKUP")
    for s in found:
        print(f"{s['short_id']:<10} {utc(parse_time(s['time'])):<21} {s.get('hostname', '?'):<16} {backup_name(s)}")
    print(f"{len(found)} off-site snapshots in {off.repository}")
    return EXIT_OK


def cmd_offsite_check(cfg: Config, args: argparse.Namespace) -> int:
    require_dir(cfg.dir)
    refuse_root(cfg, "kewp-offsite-check.service")
    off = Offsite.from_config(cfg)
    if not off.enabled:
        log(DISABLED, "warning")
        print("off-site copies are off")
        return EXIT_OK
    off.home.mkdir(mode=0o700, exist_ok=True)
    subset = args.read_data_subset or off.check_subset
    started = time.monotonic()
    with locked(off.home, off.timeout):
        got = restic(off, "check", "--read-data-subset", subset)
    now = utc(dt.datetime.now(dt.UTC))
    if got.returncode != 0:
        failure = restic_failure(off, f"restic check (reading {subset} of the data)", got, EXIT_CHECK_FAILED)
        record(off, "check", ok=False, at=now, subset=subset, error=str(failure))
        raise Failure(failure.code, f"{failure} The off-site repository may be damaged or tampered with: do not "
                                    f"rely on it until this is understood (runbook: {RUNBOOK})")
    record(off, "check", ok=True, at=now, subset=subset, seconds=round(time.monotonic() - started, 1))
    log(f"restic check ok (structure and {subset} of the data read) in {time.monotonic() - started:.1f} s")
    print("off-site check ok")
    return EXIT_OK


def status(off: Offsite, now: dt.datetime) -> dict[str, Any]:
    """What state.json says, with the age of the newest off-site copy (no network)."""
    state = read_state(off)
    copy = state.get("copy") or {}
    out: dict[str, Any] = {"enabled": off.enabled, "repository": off.repository, "max_age_hours": off.max_age_hours,
                           "copy": copy if state.get("repository") == off.repository else {},
                           "check": state.get("check") or {}}
    created = out["copy"].get("backup_created_at")
    out["age_seconds"] = int((now - parse_time(created)).total_seconds()) if created else None
    # KEWP_BACKUP_OFFSITE_MAX_AGE_HOURS=0: no limit. No copy yet is overdue only once one failed:
    # right after off-site copies are turned on, the first one waits for the next backup.
    age = out["age_seconds"]
    out["overdue"] = bool(off.enabled and off.max_age_hours
                          and (age > off.max_age_hours * 3600 if age is not None else out["copy"].get("error")))
    return out


def cmd_offsite_status(cfg: Config, _args: argparse.Namespace) -> int:
    print(json.dumps(status(Offsite.from_config(cfg), dt.datetime.now(dt.UTC)), indent=2, sort_keys=True))
    return EXIT_OK


# ---------------------------------------------------------------- offsite-restore


def pick(found: list[dict[str, Any]], spec: str, off: Offsite) -> dict[str, Any]:
    if not found:
        raise Failure(EXIT_NO_BACKUP, f"there is no kewp snapshot in {off.repository}: restore from a local "
                                      "backup or the replica instead (docs/operations.md#disaster-recovery)")
    if spec == "latest":
        return found[0]
    match = [s for s in found if s["id"].startswith(spec.lower())]
    if len(match) != 1:
        raise Failure(EXIT_NO_BACKUP, f"snapshot {spec!r} {'is ambiguous' if match else 'is not in'} "
                                      f"{off.repository}: see kewp-backup offsite-list")
    return match[0]


def restore_snapshot(cfg: Config, off: Offsite, spec: str, target: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore a snapshot's database to target only when every check passes; (snapshot, manifest)."""
    target = target.absolute()
    if target.exists() or target.is_symlink():
        raise Failure(EXIT_USAGE, f"{target} exists: offsite-restore never overwrites a file. Move it aside "
                                  "(or use kewp-backup restore for the live database) and run it again")
    if not target.parent.is_dir():
        raise Failure(EXIT_USAGE, f"{target.parent} does not exist")
    snap = pick(snapshots(off), spec, off)
    name = backup_name(snap)
    stage = target.parent / f"{TMP_PREFIX}offsite-restore-{os.getpid()}"
    try:
        stage.mkdir(mode=0o700)
        log(f"restoring off-site snapshot {snap['short_id']} (backup {name}, {snap['time']}) from {off.repository}")
        got = restic(off, "restore", snap["id"], "--target", str(stage), "--verify")
        damaged = (f"the off-site repository {off.repository} is damaged or was tampered with; nothing was "
                   f"written to {target}. Try an older snapshot (kewp-backup offsite-list; --snapshot ID), a local "
                   f"backup, or the replica; run kewp-backup offsite-check (runbook: {RUNBOOK})")
        if got.returncode != 0:
            failure = restic_failure(off, f"restic could not restore snapshot {snap['short_id']} intact", got,
                                     EXIT_CHECK_FAILED)
            if failure.code == EXIT_CHECK_FAILED:
                raise Failure(EXIT_CHECK_FAILED, f"{failure}: {damaged}")
            raise failure
        db_file, manifest_file = stage / paths.DB_NAME, stage / MANIFEST_NAME
        try:
            manifest = json.loads(manifest_file.read_text())
            expected = manifest["db_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise Failure(EXIT_CHECK_FAILED, f"snapshot {snap['short_id']} has no readable backup manifest "
                                             f"({exc}): {damaged}") from exc
        actual = sha256_file(db_file) if db_file.exists() else "missing"
        if actual != expected:
            raise Failure(EXIT_CHECK_FAILED, f"snapshot {snap['short_id']}: the database's sha256 is {actual}, its "
                                             f"manifest says {expected}: {damaged}")
        backup = Backup(name, manifest_file, db_file, manifest, parse_time(manifest["created_at"]))
        facts = check_db(db_file, backup)
        owner = target.parent.stat()
        if os.geteuid() == 0:
            os.chown(db_file, owner.st_uid, owner.st_gid)
        os.chmod(db_file, cfg.db_mode)
        os.replace(db_file, target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    counts = ", ".join(f"{k} {v}" for k, v in facts["row_counts"].items())
    log(f"restored off-site snapshot {snap['short_id']} (backup {name}) to {target}: restic's data checks, "
        f"the manifest's sha256 and integrity_check passed; rows: {counts}")
    return snap, manifest


def cmd_offsite_restore(cfg: Config, args: argparse.Namespace) -> int:
    off = Offsite.from_config(cfg)
    require_enabled(off)
    snap, manifest = restore_snapshot(cfg, off, args.snapshot, Path(args.to))
    print(f"restored off-site snapshot {snap['short_id']} (backup {manifest['name']}, "
          f"{manifest['created_at']}) to {Path(args.to).absolute()}")
    return EXIT_OK


def drill(cfg: Config, scratch_dir: Path) -> None:
    """The weekly drill's off-site half: the newest snapshot restored to a scratch file and checked."""
    off = Offsite.from_config(cfg)
    if not off.enabled:
        log(DISABLED + "; the drill checks local backups only", "warning")
        return
    scratch = scratch_dir / f"{TMP_PREFIX}offsite-drill-{os.getpid()}"
    scratch.mkdir(mode=0o700)
    try:
        t = time.monotonic()
        try:
            snap, _ = restore_snapshot(cfg, off, "latest", scratch / paths.DB_NAME)
        except Failure as exc:
            raise Failure(exc.code, f"off-site drill FAILED (the local drill passed): {exc}") from exc
        log(f"drill: off-site snapshot {snap['short_id']} restored to a scratch file and checked in "
            f"{time.monotonic() - t:.1f} s")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """kewp-backup's offsite-* commands."""
    s = sub.add_parser("offsite-copy", help="copy the newest good backup to the off-site restic repository")
    s.add_argument("file", nargs="?", help="NAME, NAME.db.zst or NAME.json instead (copied even if already off-site)")
    s.set_defaults(func=cmd_offsite_copy)
    s = sub.add_parser("offsite-list", help="list the off-site snapshots, newest first")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_offsite_list)
    s = sub.add_parser("offsite-check", help="restic check of the off-site repository, reading part of the data")
    s.add_argument("--read-data-subset", help="e.g. 10%% or 1/5 (KEWP_BACKUP_OFFSITE_CHECK_SUBSET)")
    s.set_defaults(func=cmd_offsite_check)
    s = sub.add_parser("offsite-status", help="the last off-site copy and check as recorded (JSON; no network)")
    s.set_defaults(func=cmd_offsite_status)
    s = sub.add_parser("offsite-restore", help="restore an off-site snapshot's database to a new file, checked")
    s.add_argument("--snapshot", default="latest", help="latest (default) or a snapshot ID from offsite-list")
    s.add_argument("--to", required=True, help="the file to create (never overwritten; its directory must exist)")
    s.set_defaults(func=cmd_offsite_restore)
