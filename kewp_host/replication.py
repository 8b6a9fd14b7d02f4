"""Continuous replication (kewp-replicate.service, Litestream over SFTP): pause it around a restore,
and measure how far the replica on the backup host is behind the live database.

The lag is the age of the oldest change the replica does not have yet: Litestream writes each
change set as a local LTX file (`.<db>-litestream/ltx/0/MINTXID-MAXTXID.ltx`, its mtime = when
it was made); the replica's newest transaction comes from `litestream ltx` (one SFTP listing,
with the host's off-site key, as root). 0 when the replica has everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kewp_host.commands import run, run_tolerant

UNIT = "kewp-replicate.service"
LITESTREAM = "/usr/local/bin/litestream"
CONFIG = Path("/etc/litestream.yml")
# The files kewp_offsite writes, named as the unit's LoadCredential= names them.
CREDENTIALS = "/etc/kewp/offsite"


class ReplicationError(Exception):
    """Replication could not be paused: nothing was changed."""


def configured(config: Path = CONFIG) -> bool:
    return config.is_file() and Path(LITESTREAM).exists()


def litestream(*args: str, config: Path = CONFIG, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """litestream ARGS with the site's configuration and the off-site key (root only)."""
    env = {**os.environ, "CREDENTIALS_DIRECTORY": CREDENTIALS}
    try:
        # Go's flag parsing stops at the first positional argument: -config right after the command.
        return run(LITESTREAM, args[0], "-config", str(config), *args[1:], timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess([LITESTREAM, *args], 127, "", f"litestream {args[0]}: {exc}")


@contextmanager
def paused(db: Path, log: callable) -> Iterator[None]:  # type: ignore[valid-type]
    """Stop replication (if it runs) while the database file is replaced; afterwards clear its
    local state (the new file is a different database) and start it again: it snapshots the new
    database instead of appending the old one's history to it."""
    active = configured() and run_tolerant("systemctl", "is-active", "--quiet", UNIT).returncode == 0
    if active:
        log(f"stopping {UNIT} while the database is replaced")
        stopped = run_tolerant("systemctl", "stop", UNIT, timeout=60)
        if stopped.returncode != 0:
            raise ReplicationError(f"systemctl stop {UNIT} failed: {stopped.stderr.strip()}; nothing was changed")
    try:
        yield
    finally:
        if active:
            reset = litestream("reset", str(db))
            if reset.returncode != 0:
                log(f"litestream reset {db} failed ({reset.stderr.strip()[-200:]}); starting {UNIT} anyway")
            started = run_tolerant("systemctl", "start", UNIT, timeout=60)
            log(f"{UNIT} started again" if started.returncode == 0 else
                f"systemctl start {UNIT} FAILED: {started.stderr.strip()}; start it by hand")


@dataclass
class Lag:
    seconds: float | None      # None: unknown (the replica could not be listed)
    reachable: bool
    local_txid: int
    replica_txid: int
    detail: str


def local_changes(db: Path) -> list[tuple[int, int, float]]:
    """(min txid, max txid, made at) of the local level-0 LTX files."""
    out = []
    for path in (db.parent / f".{db.name}-litestream" / "ltx" / "0").glob("*.ltx"):
        try:
            low, high = (int(part, 16) for part in path.stem.split("-"))
            out.append((low, high, path.stat().st_mtime))
        except (ValueError, OSError):
            continue
    return out


def measure(db: Path, now: float | None = None, config: Path = CONFIG, timeout: float = 20) -> Lag:
    now = time.time() if now is None else now
    changes = local_changes(db)
    local = max((high for _, high, _ in changes), default=0)
    listed = litestream("ltx", "-json", "-level", "all", str(db), config=config, timeout=timeout)
    if listed.returncode != 0:
        reason = (listed.stderr.strip() or listed.stdout.strip()).splitlines()[-1:] or ["no output"]
        return Lag(None, False, local, 0, f"cannot list the replica: {reason[0][-200:]}")
    try:
        files = json.loads(listed.stdout or "[]") or []
        replica = max((int(f["max_txid"], 16) for f in files), default=0)
    except (ValueError, KeyError, TypeError) as exc:
        return Lag(None, True, local, 0, f"unreadable litestream ltx output ({exc})")
    pending = [made for low, _, made in changes if low > replica]
    seconds = max(0.0, now - min(pending)) if pending else 0.0
    behind = f"{len(pending)} change set(s) not on the replica yet" if pending else "the replica has every change"
    return Lag(seconds, True, local, replica, f"{behind} (local txid {local}, replica txid {replica})")


def report(rep: object, db: Path, limit: float) -> None:
    """The `kewpctl status` line (rep: ctl.Report): lag, and a problem past the limit or when the
    backup host cannot be reached. Nothing when replication is not set up on this host."""
    if not configured():
        return
    unit = run_tolerant("systemctl", "is-active", UNIT).stdout.strip() or "unknown"
    lag = measure(db)
    if not lag.reachable:
        rep.add("replica", f"backup host UNREACHABLE ({lag.detail}); {UNIT} {unit}")
        rep.problem(f"the replica on the backup host cannot be reached: {lag.detail}. Curators are not "
                    f"affected; changes wait on this host. journalctl -u {UNIT} -n 30 (runbook: replication-lag)")
        return
    rep.add("replica", f"lag {lag.seconds:.1f} s (limit {limit:g} s): {lag.detail}; {UNIT} {unit}")
    if unit != "active":
        rep.problem(f"{UNIT} is {unit}: nothing new reaches the backup host. systemctl start {UNIT}; "
                    f"journalctl -u {UNIT} -n 30 (runbook: replication-lag)")
    elif lag.seconds is not None and lag.seconds > limit:
        rep.problem(f"replication is {lag.seconds:.0f} s behind (limit {limit:g} s): journalctl -u {UNIT} -n 30 "
                    "(runbook: replication-lag)")


def watch(state: dict, now: float, db: Path, limit: float, log: callable) -> bool:  # type: ignore[valid-type]
    """The health watch's replication check (kewp-healthcheck, once a minute). Returns True when
    an alert is due: the backup host unreachable or the lag over the limit in two checks in a row
    (one lost SFTP listing is not an incident), alerted once per episode."""
    if not configured():
        return False
    lag = measure(db, now)
    bad = not lag.reachable or (lag.seconds or 0.0) > limit
    streak = int(state.get("replication_bad_checks", 0)) + 1 if bad else 0
    state.update(replication_bad_checks=streak, replication_lag=lag.seconds,
                 replication_reachable=lag.reachable, replication_detail=lag.detail)
    if bad and streak >= 2 and not state.get("replication_alerted"):
        state["replication_alerted"] = True
        what = ("the backup host cannot be reached" if not lag.reachable
                else f"replication is {lag.seconds:.0f} s behind (limit {limit:g} s)")
        log(f"ALERT: {what}: {lag.detail}. The app keeps serving; changes wait on this host until the "
            f"replica catches up. journalctl -u {UNIT}; runbook: oncall.md#replication-lag", "crit")
        return True
    if bad:
        log(f"replication check: {lag.detail}" + ("" if lag.reachable else " (backup host unreachable)"), "warning")
    elif state.get("replication_alerted"):
        state["replication_alerted"] = False
        log(f"replication caught up: {lag.detail}", "notice")
    return False
