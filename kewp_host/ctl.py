"""kewpctl: the on-call view of kewp on this host, and the few actions on-call needs.

Installed by roles/kewp_host as /usr/local/bin/kewpctl; run as root on the VPS, or from the
control node with `ansible kewp -b -m command -a 'kewpctl status'`. Python 3 standard library;
it asks systemctl, journalctl, docker and kewp-backup, and reads /proc.

  kewpctl status            one screen: service, container, version, readiness, health watch,
                            workers and their memory (PSS), database and WAL size, backups,
                            disk, failed units. Exit 0 when all is well, 1 when something needs
                            a human (each cause on its own "!" line, with what to do).
  kewpctl logs [-f] [--unit app|watch|backup|alert|all] [journalctl options]
                            the app's journal (journalctl -u kewp.service ...)
  kewpctl backup-now        start kewp-backup.service, wait, show the result (exit 1 if it failed)
  kewpctl restore [FILE] [--yes]
                            restore a backup (default: the newest good one) with kewp-backup
                            restore, holding the health watch while the app is down
  kewpctl alert-test        send a test alert through the channels of /etc/kewp/alert.env (the
                            same code as kewp-alert@.service); exit 1 when none is set or one fails

Settings: environment, else /etc/default/kewp-oncall (KEY=VALUE, written by the role), else the
defaults in SETTINGS below. See docs/oncall.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kewp_host import catalog, docker, paths, readiness, replication, systemd
from kewp_host.backup import alert
from kewp_host.backup.common import Failure
from kewp_host.commands import run_tolerant as run
from kewp_host.files import human
from kewp_host.settings import Layers, read_env_file

CONFIG_FILE = "/etc/default/kewp-oncall"
SETTINGS = {
    "KEWP_ONCALL_SERVICE": paths.SERVICE,
    "KEWP_ONCALL_CONTAINER": paths.CONTAINER,
    "KEWP_ONCALL_DB": paths.DB_PATH,
    "KEWP_ONCALL_BACKUP_DIR": paths.BACKUP_DIR,
    "KEWP_ONCALL_BACKUP_TOOL": paths.BACKUP_TOOL,
    "KEWP_ONCALL_BACKUP_SERVICE": "kewp-backup.service",
    "KEWP_ONCALL_BACKUP_TIMER": "kewp-backup.timer",
    # The newest good backup may be this old (hourly backups + up to 5 min random delay).
    "KEWP_ONCALL_BACKUP_MAX_AGE_HOURS": "2",
    # A file system is "low" below either of these.
    "KEWP_ONCALL_DISK_MIN_FREE_PERCENT": "10",
    "KEWP_ONCALL_DISK_MIN_FREE_MB": "1024",
    # The replica on the backup host may be this far behind (kewp_replicate; RPO goal 2 s).
    "KEWP_ONCALL_REPLICATION_MAX_LAG_SECONDS": "60",
    "KEWP_ONCALL_HEALTHCHECK_STATE_DIR": paths.HEALTHCHECK_STATE_DIR,
    "KEWP_ONCALL_HEALTHCHECK_TIMER": "kewp-healthcheck.timer",
    "KEWP_ONCALL_HEALTHCHECK_WINDOW": "3600",
    "KEWP_ONCALL_READY_TIMEOUT": "5",
    "KEWP_ONCALL_ALERT_ENV": alert.ALERT_ENV,
}
RUNBOOK = paths.RUNBOOK
# Sections of docs/oncall.md for each unit that can fail.
RUNBOOK_ANCHORS = {
    "kewp-backup.service": "backup-failed",
    "kewp-prune.service": "backup-prune-failed",
    "kewp-restore-drill.service": "restore-drill-failed",
    "kewp-offsite.service": "off-site-copy-failed",
    "kewp-offsite-check.service": "off-site-check-failed",
    "kewp-healthcheck.service": "kewp-healthcheck",
    "kewp-alert@": "alerts",
}
UNIT_ALIASES = {
    "app": [paths.SERVICE],
    "watch": ["kewp-healthcheck.service"],
    "backup": ["kewp-backup.service", "kewp-prune.service", "kewp-restore-drill.service", "kewp-offsite.service",
               "kewp-offsite-check.service"],
    "alert": ["kewp-alert@*.service"],
    "all": ["kewp*"],
}


def settings() -> dict[str, str]:
    """SETTINGS from the environment (a blank variable counts as unset), else the config file
    (lines that are not KEY=VALUE are skipped; a missing or unreadable file is no file), else the defaults."""
    config_file = os.environ.get("KEWP_ONCALL_CONFIG", CONFIG_FILE)
    try:
        file_values = read_env_file(Path(config_file), strict=False)
    except OSError:
        file_values = {}
    layers = Layers(file_values, config_file, empty_is_unset=True)
    return {key: layers.lookup(key, default)[0] for key, default in SETTINGS.items()}


# ---------------------------------------------------------------- helpers


def show(unit: str, *props: str) -> dict[str, str]:
    """Properties of a unit, timestamps as @epoch where systemd can (see epoch)."""
    return systemd.show(unit, *props, options=("--timestamp=unix",), runner=run)


def epoch(value: str | None) -> float | None:
    """A timestamp from `systemctl show` as seconds; None when unset. --timestamp=unix gives
    @1700000000, but systemd 252 still prints some (NextElapseUSecRealtime) as
    "Tue 2026-11-24 07:03:14 UTC" (UTC because show() runs systemctl with TZ=UTC)."""
    if not value or value in ("0", "n/a"):
        return None
    if value.startswith("@"):
        return float(value[1:]) if value[1:].isdigit() and int(value[1:]) > 0 else None
    try:
        return dt.datetime.strptime(value, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def clock(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    seconds = abs(int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def size(n: float) -> str:
    return human(n, "TiB")


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, label: str, text: str) -> None:
        self.lines.append((label, text))

    def problem(self, text: str) -> None:
        self.problems.append(text)


# ---------------------------------------------------------------- the parts of `status`


def service_part(cfg: dict[str, str], rep: Report) -> dict[str, str]:
    unit = cfg["KEWP_ONCALL_SERVICE"]
    props = show(unit, "LoadState", "ActiveState", "SubState", "UnitFileState", "Result", "ActiveEnterTimestamp",
                 "StateChangeTimestamp", "NRestarts", "StatusText", "ExecMainStatus", "Environment")
    active, sub = props.get("ActiveState", "unknown"), props.get("SubState", "?")
    now = time.time()
    if active == "active":
        since = epoch(props.get("ActiveEnterTimestamp"))
        when = f" since {clock(since)} (up {span(now - since)})" if since else ""
    else:
        since = epoch(props.get("StateChangeTimestamp"))
        when = f" since {clock(since)} ({span(now - since)} ago)" if since else ""
    rep.add("service", f"{unit} {active} ({sub}){when}; enabled: {props.get('UnitFileState', '?')}; "
                       f"automatic restarts by systemd: {props.get('NRestarts', '?')}")
    if props.get("StatusText"):
        rep.add("", f"status line: {props['StatusText'][:150]}")
    if props.get("LoadState") != "loaded":
        rep.problem(f"{unit} is {props.get('LoadState')}: not installed? Run playbooks/site.yml")
    elif active == "failed":
        rep.problem(f"{unit} FAILED (result {props.get('Result')}, exit status {props.get('ExecMainStatus')}): "
                    f"journalctl -u {unit} -n 100; then systemctl reset-failed {unit} && systemctl start {unit} "
                    f"(runbook: kewpservice)")
    elif active in ("inactive", "deactivating") and props.get("UnitFileState") == "enabled":
        rep.problem(f"{unit} is {active} although enabled: the app is DOWN. A container stopped behind "
                    f"systemd's back (docker stop kewp) exits cleanly and systemd does not restart it. "
                    f"Start it: systemctl start {unit} (runbook: kewpservice)")
    elif sub == "auto-restart":
        status = props.get("ExecMainStatus", "?")
        how = {"137": " = killed", "143": " = terminated"}.get(status, "")
        rep.problem(f"the app EXITED (exit status {status}{how}) and systemd restarts {unit} in a few seconds: "
                    f"was the container stopped behind systemd's back (docker stop kewp) or killed for memory "
                    f"(dmesg -T | grep -i oom)? journalctl -u {unit} -n 50 (runbook: kewpservice)")
    elif active == "activating":
        rep.problem(f"{unit} is still starting ({sub}): wait, then look again; journalctl -u {unit} -f")
    return props


def container_part(cfg: dict[str, str], rep: Report, unit_props: dict[str, str]) -> tuple[list[str], dict]:
    name = cfg["KEWP_ONCALL_CONTAINER"]
    found, stderr = docker.inspect(name)
    info: dict[str, Any] = found or {}
    unit_active = unit_props.get("ActiveState") == "active"
    if not info:
        why = stderr.strip().splitlines()[-1] if stderr.strip() else "no such container"
        rep.add("container", f"{name}: none ({why})")
        if unit_active:
            rep.problem(f"{cfg['KEWP_ONCALL_SERVICE']} is active but container {name} does not exist: "
                        f"systemctl restart {cfg['KEWP_ONCALL_SERVICE']}")
        return [], {}
    state = info.get("State", {})
    status = state.get("Status", "?")
    env = docker.environment(info)
    started = state.get("StartedAt", "")[:19].replace("T", " ")
    rep.add("container", f"{name} {info.get('Id', '')[:12]} {status} (started {started} UTC), "
                         f"image {info.get('Config', {}).get('Image', '?')}")
    version, revision = docker.version(info)
    rep.add("version", f"{version} (revision {revision[:12]})")
    if status == "paused":
        rep.problem(f"container {name} is PAUSED (docker pause): requests hang. docker unpause {name}, or "
                    f"systemctl restart {cfg['KEWP_ONCALL_SERVICE']}")
    elif status != "running":
        rep.problem(f"container {name} is {status}: systemctl restart {cfg['KEWP_ONCALL_SERVICE']}")
    elif not unit_active:
        rep.problem(f"container {name} runs but {cfg['KEWP_ONCALL_SERVICE']} is not active: it runs outside "
                    f"systemd (started by hand?). docker stop {name} && systemctl start {cfg['KEWP_ONCALL_SERVICE']}")
    return [env.get("KEWP_WORKERS", "")], info


def ready_part(cfg: dict[str, str], rep: Report) -> None:
    url = readiness.live_url()
    started = time.monotonic()
    status, body, error = readiness.fetch(url, float(cfg["KEWP_ONCALL_READY_TIMEOUT"]))
    took = time.monotonic() - started
    said = readiness.read(status, body)
    doc = said.doc or {}
    parts = ", ".join(f"{k} {v}" for k, v in doc.items() if k not in ("ready", "version") and not isinstance(v, dict))
    if said.ready:
        rep.add("ready", f"yes: HTTP 200 in {took:.2f} s from {url}; {parts}")
        if not said.writable:
            rep.problem(f"the app serves pages but CANNOT SAVE: {said.disk.get('status', 'not writable')} on "
                        f"{said.disk.get('path', 'the data directory')}; curators get 'disk full, nothing was saved'. "
                        "Free space (a restart does not help): runbook: disk-low")
        return
    what = f"HTTP {status}" if status else f"no answer ({error})"
    rep.add("ready", f"NO: {what} from {url}{'; ' + parts if parts else ''}")
    rep.problem(f"the app is NOT READY ({what}{': ' + parts if parts else ''}): journalctl -u "
                f"{cfg['KEWP_ONCALL_SERVICE']} -n 100 (runbook: not-ready)")


def health_part(cfg: dict[str, str], rep: Report) -> None:
    directory = Path(cfg["KEWP_ONCALL_HEALTHCHECK_STATE_DIR"])
    timer = show(cfg["KEWP_ONCALL_HEALTHCHECK_TIMER"], "ActiveState", "LoadState")
    try:
        state = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    now = time.time()
    window = int(cfg["KEWP_ONCALL_HEALTHCHECK_WINDOW"])
    recent = [t for t in state.get("restart_times", []) if now - t < window]
    if state.get("last_check_at"):
        result = "ok" if state.get("last_ok") else f"FAILED ({state.get('consecutive_failures', 0)} in a row)"
        text = f"last check {clock(state['last_check_at'])} ({span(now - state['last_check_at'])} ago) {result}"
    else:
        text = "no check yet"
    last_restart = f", last {clock(state['last_restart_at'])}" if state.get("last_restart_at") else ""
    text += (f"; watch restarts: {state.get('restarts_total', 0)} total, {len(recent)} in the last "
             f"{span(window)}{last_restart}; timer {timer.get('ActiveState', '?')}")
    rep.add("health", text)
    if state.get("last_check_at") and not state.get("last_ok"):
        rep.add("", f"last failure: {str(state.get('last_detail', ''))[:160]}")
    if state.get("gave_up_at"):
        rep.problem(f"the health watch GAVE UP restarting at {clock(state['gave_up_at'])} after {len(recent)} "
                    f"restarts: the app stays broken until someone fixes it (runbook: kewp-healthcheck)")
    if len(recent) >= 2 and not state.get("gave_up_at"):
        rep.problem(f"the app is FLAPPING: the health watch restarted it {len(recent)} times in the last "
                    f"{span(window)}: journalctl -t kewp-healthcheck; journalctl -u {cfg['KEWP_ONCALL_SERVICE']}")
    if timer.get("ActiveState") != "active":
        rep.problem(f"the health watch is OFF ({cfg['KEWP_ONCALL_HEALTHCHECK_TIMER']} is "
                    f"{timer.get('ActiveState', '?')}): systemctl start {cfg['KEWP_ONCALL_HEALTHCHECK_TIMER']} "
                    "when maintenance is over")


def pss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def workers_part(cfg: dict[str, str], rep: Report, configured: list[str], running: bool) -> None:
    if not running:
        rep.add("workers", "none (container not running)")
        return
    procs = docker.gunicorn_processes(cfg["KEWP_ONCALL_CONTAINER"]) or []
    masters, workers = docker.split_gunicorn(procs)
    want = configured[0] if configured and configured[0] else "?"
    memory = {pid: pss_kib(pid) for pid, _, _ in procs}
    total = sum(v for v in memory.values() if v)
    each = ", ".join(f"{pid} {size((memory[pid] or 0) * 1024)}" for pid, _, _ in workers)
    master = ", ".join(f"{pid} {size((memory[pid] or 0) * 1024)}" for pid, _, _ in masters)
    rep.add("workers", f"{len(workers)} of {want} running; PSS master {master or '-'}; workers {each or '-'}; "
                       f"total {size(total * 1024)}")
    if want.isdigit() and len(workers) < int(want):
        rep.problem(f"only {len(workers)} of {want} gunicorn workers run: journalctl -u "
                    f"{cfg['KEWP_ONCALL_SERVICE']} (workers killed for memory? dmesg | grep -i oom)")


def database_part(cfg: dict[str, str], rep: Report) -> None:
    db = Path(cfg["KEWP_ONCALL_DB"])
    try:
        main = db.stat().st_size
    except OSError as exc:
        rep.add("database", f"{db}: {exc.strerror}")
        rep.problem(f"the database {db} is missing or unreadable ({exc.strerror}) (runbook: restore-from-a-backup)")
        return
    wal = Path(f"{db}-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    rep.add("database", f"{db} {size(main)}, WAL {size(wal_size)}")


def backups_part(cfg: dict[str, str], rep: Report) -> None:
    tool = cfg["KEWP_ONCALL_BACKUP_TOOL"]
    got = run(tool, "--dir", cfg["KEWP_ONCALL_BACKUP_DIR"], "list", "--json", timeout=60)
    now = time.time()
    limit_h = float(cfg["KEWP_ONCALL_BACKUP_MAX_AGE_HOURS"])
    timer = show(cfg["KEWP_ONCALL_BACKUP_TIMER"], "ActiveState", "NextElapseUSecRealtime", "LastTriggerUSec")
    nxt = epoch(timer.get("NextElapseUSecRealtime"))
    schedule = f"next {clock(nxt)} (in {span(nxt - now)})" if nxt else f"NO next run (timer {timer.get('ActiveState')})"
    if got.returncode != 0:
        rep.add("backups", f"cannot list ({got.stderr.strip()[-150:]}); {schedule}")
        rep.problem(f"cannot list backups: {tool} list failed: {got.stderr.strip()[-150:]}")
        return
    try:
        backups = json.loads(got.stdout)
    except ValueError:
        backups = []
    good = [b for b in backups if b.get("good") and b.get("created_at")]
    if good:
        newest = good[0]
        created = dt.datetime.fromisoformat(newest["created_at"].replace("Z", "+00:00")).timestamp()
        age_h = (now - created) / 3600
        rep.add("backups", f"newest good {newest['name']} {span(now - created)} old (limit {limit_h:g} h), "
                           f"{size(newest.get('size') or 0)}; {len(good)} good of {len(backups)}; {schedule}")
        if age_h > limit_h:
            rep.problem(f"the newest good backup is {span(now - created)} old, over the {limit_h:g} h limit: "
                        "are backups running? systemctl list-timers 'kewp-*'; journalctl -u kewp-backup; "
                        "kewpctl backup-now (runbook: backup-failed)")
    else:
        rep.add("backups", f"NO good backup in {cfg['KEWP_ONCALL_BACKUP_DIR']} ({len(backups)} listed); {schedule}")
        rep.problem("there is NO good backup: kewpctl backup-now; journalctl -u kewp-backup (runbook: backup-failed)")
    if not nxt:
        rep.problem(f"no backup is scheduled: systemctl enable --now {cfg['KEWP_ONCALL_BACKUP_TIMER']}")


def offsite_status(cfg: dict[str, str]) -> dict | None:
    """kewp-backup offsite-status (state.json and settings; no network); None when it cannot say."""
    got = run(cfg["KEWP_ONCALL_BACKUP_TOOL"], "--dir", cfg["KEWP_ONCALL_BACKUP_DIR"], "offsite-status", timeout=30)
    try:
        return json.loads(got.stdout) if got.returncode == 0 else None
    except ValueError:
        return None


def offsite_part(st: dict | None, rep: Report) -> None:
    """The last off-site (restic) copy: the time of the backup it holds and its age."""
    if st is None:
        rep.add("off-site", "cannot tell (kewp-backup offsite-status failed)")
        rep.problem("cannot read the off-site copy's state: kewp-backup offsite-status (runbook: off-site-copy-failed)")
        return
    if not st["enabled"]:
        rep.add("off-site", "OFF: no backup host configured (kewp_backup_offsite_repository); "
                            "the backups exist on this host only")
        return
    copy, limit = st.get("copy") or {}, st.get("max_age_hours") or 0
    limit_text = f"limit {limit:g} h" if limit else "no limit"
    if copy.get("backup_created_at"):
        text = (f"last off-site copy: {copy['backup_created_at']} ({copy['backup']}), {span(st['age_seconds'])} old "
                f"({limit_text}), snapshot {copy.get('snapshot')} at {copy.get('copied_at')}")
    else:
        text = "last off-site copy: NONE yet"
    if copy.get("error"):
        text += f"; the last attempt FAILED at {copy.get('failed_at')}"
    check = st.get("check") or {}
    if check:
        text += f"; restic check {'ok' if check.get('ok') else 'FAILED'} at {check.get('at')}"
    rep.add("off-site", text)
    if st.get("overdue"):
        what = "missing" if st.get("age_seconds") is None else "too old"
        rep.problem(f"the newest off-site copy is {what} ({limit_text}): "
                    f"{copy.get('error') or 'journalctl -u kewp-offsite'} (runbook: off-site-copy-failed)")
    if check and not check.get("ok"):
        rep.problem(f"restic check of the off-site repository FAILED at {check.get('at')}: "
                    "journalctl -u kewp-offsite-check (runbook: off-site-check-failed)")


def disk_part(cfg: dict[str, str], rep: Report) -> None:
    min_pct = float(cfg["KEWP_ONCALL_DISK_MIN_FREE_PERCENT"])
    min_bytes = int(cfg["KEWP_ONCALL_DISK_MIN_FREE_MB"]) * 1024 * 1024
    texts, seen = [], {}
    for what, path in (("data", Path(cfg["KEWP_ONCALL_DB"]).parent), ("backups", Path(cfg["KEWP_ONCALL_BACKUP_DIR"]))):
        try:
            st = os.statvfs(path)
            dev = os.stat(path).st_dev
        except OSError as exc:
            texts.append(f"{what} {path}: {exc.strerror}")
            continue
        free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
        pct = 100 * free / total if total else 0
        same = f" (same file system as {seen[dev]})" if dev in seen else ""
        seen.setdefault(dev, what)
        texts.append(f"{what} {path} {size(free)} free of {size(total)} ({pct:.0f} %){same}")
        if pct < min_pct or free < min_bytes:
            rep.problem(f"disk LOW for {what}: {path} has {size(free)} free ({pct:.0f} %; limits {min_pct:g} % and "
                        f"{size(min_bytes)}): du -xsh /var/lib/docker {cfg['KEWP_ONCALL_BACKUP_DIR']} /var/log; "
                        "docker image prune (runbook: disk-low)")
    rep.add("disk", "; ".join(texts))


def units_part(cfg: dict[str, str], rep: Report) -> None:
    got = run("systemctl", "list-units", "--failed", "--all", "--plain", "--no-legend", "--no-pager", "kewp*")
    failed = [line.split()[0] for line in got.stdout.splitlines() if line.strip()]
    if not failed:
        rep.add("units", "failed kewp units: none")
        return
    details = []
    for unit in failed:
        props = show(unit, "Result", "ExecMainStatus", "StateChangeTimestamp")
        when = epoch(props.get("StateChangeTimestamp"))
        details.append(f"{unit} ({props.get('Result')}, status {props.get('ExecMainStatus')}"
                       f"{', at ' + clock(when) if when else ''})")
        if unit != cfg["KEWP_ONCALL_SERVICE"]:  # the service part already names kewp.service
            anchor = RUNBOOK_ANCHORS.get(unit.split("@")[0] + ("@" if "@" in unit else ""), "failed-units")
            rep.problem(f"{unit} FAILED ({props.get('Result')}, exit status {props.get('ExecMainStatus')}): "
                        f"journalctl -u {unit} -n 50; systemctl status {unit} (runbook: {anchor}); "
                        f"it stays failed until its next good run or systemctl reset-failed {unit}")
    rep.add("units", "FAILED: " + "; ".join(details))


def cmd_status(cfg: dict[str, str], _args: argparse.Namespace) -> int:
    rep = Report()
    unit_props = service_part(cfg, rep)
    configured, info = container_part(cfg, rep, unit_props)
    ready_part(cfg, rep)
    health_part(cfg, rep)
    workers_part(cfg, rep, configured, (info.get("State") or {}).get("Status") == "running")
    database_part(cfg, rep)
    catalog.catalog_part(cfg, rep)
    backups_part(cfg, rep)
    replication.report(rep, Path(cfg["KEWP_ONCALL_DB"]), float(cfg["KEWP_ONCALL_REPLICATION_MAX_LAG_SECONDS"]))
    offsite_part(offsite_status(cfg), rep)
    disk_part(cfg, rep)
    units_part(cfg, rep)
    verdict = f"NEEDS A HUMAN ({len(rep.problems)})" if rep.problems else "OK"
    print(f"kewp on {os.uname().nodename} at {clock(time.time())}: {verdict}")
    for label, text in rep.lines:
        print(f"{label:<10} {text}")
    for text in rep.problems:
        print(f"! {text}")
    if rep.problems:
        print(f"runbook: {RUNBOOK} (docs/oncall.md); anchors in brackets")
    return 1 if rep.problems else 0


# ---------------------------------------------------------------- actions


def cmd_logs(_cfg: dict[str, str], args: argparse.Namespace) -> int:
    argv = ["journalctl", "--no-pager" if not sys.stdout.isatty() else "--pager-end"]
    for pattern in UNIT_ALIASES.get(args.unit, [args.unit]):
        argv += ["-u", pattern]
    if args.follow:
        argv.append("--follow")
    argv += ["-n", str(args.lines), *args.rest]
    os.execvp(argv[0], argv)  # noqa: S606 (a fixed program; the rest are journalctl's own options)
    return 1


def cmd_backup_now(cfg: dict[str, str], _args: argparse.Namespace) -> int:
    unit = cfg["KEWP_ONCALL_BACKUP_SERVICE"]
    print(f"starting {unit} and waiting for it to finish ...", flush=True)
    started = run("systemctl", "start", unit, timeout=3600)
    props = show(unit, "Result", "ExecMainStatus", "InvocationID")
    print(run(*systemd.journal_argv(unit, props.get("InvocationID"), 20)).stdout.rstrip())
    if started.returncode != 0 or props.get("Result") != "success":
        print(f"FAILED: {unit} result {props.get('Result')}, exit status {props.get('ExecMainStatus')} "
              f"{started.stderr.strip()}; runbook: {RUNBOOK}#backup-failed", file=sys.stderr)
        return 1
    listing = run(cfg["KEWP_ONCALL_BACKUP_TOOL"], "--dir", cfg["KEWP_ONCALL_BACKUP_DIR"], "list")
    print("\n".join(listing.stdout.splitlines()[:3] + listing.stdout.splitlines()[-1:]))
    print(f"ok: {unit} succeeded")
    return 0


def cmd_restore(cfg: dict[str, str], args: argparse.Namespace) -> int:
    tool = cfg["KEWP_ONCALL_BACKUP_TOOL"]
    what = args.file or "the newest good backup"
    if not args.yes:
        if not sys.stdin.isatty():
            print("kewpctl restore replaces the live database and restarts the app: add --yes to confirm",
                  file=sys.stderr)
            return 2
        print(run(tool, "--dir", cfg["KEWP_ONCALL_BACKUP_DIR"], "list").stdout.rstrip())
        answer = input(f"Restore {what} over the live database and restart the app? Type 'restore': ")
        if answer.strip() != "restore":
            print("nothing done")
            return 2
    timer = cfg["KEWP_ONCALL_HEALTHCHECK_TIMER"]
    held = show(timer, "ActiveState").get("ActiveState") == "active"
    if held:
        print(f"holding the health watch while the app is down: systemctl stop {timer}", flush=True)
        run("systemctl", "stop", timer)
    try:
        # kewp-backup owns restore: verify, stop the app, swap (keeping a safety copy), start, wait.
        code = subprocess.run([tool, "--dir", cfg["KEWP_ONCALL_BACKUP_DIR"], "restore",
                               *([args.file] if args.file else [])], check=False).returncode
    finally:
        if held:
            run("systemctl", "start", timer)
            print(f"health watch running again: systemctl start {timer}")
    print(f"kewp-backup restore exited {code}; now: kewpctl status")
    return code


def cmd_alert_test(cfg: dict[str, str], _args: argparse.Namespace) -> int:
    path = Path(cfg["KEWP_ONCALL_ALERT_ENV"])
    try:
        channels = alert.Channels.from_file(path)
    except OSError as exc:
        print(f"kewpctl alert-test: cannot read {path} ({exc.strerror}): converge playbooks/site.yml "
              "(the kewp_host role writes it)", file=sys.stderr)
        return 1
    except Failure as exc:
        print(f"kewpctl alert-test: {path}: {exc}", file=sys.stderr)
        return 1
    where = channels.configured()
    if not where:
        print(f"kewpctl alert-test: {alert.NO_CHANNEL} ({path} sets neither KEWP_ALERT_WEBHOOK_URL nor "
              "KEWP_ALERT_MAIL_TO; failures are only in the journal)", file=sys.stderr)
        return 1
    host = os.uname().nodename
    now = clock(time.time())
    headline = f"TEST kewp: a test alert from {host} at {now} (kewpctl alert-test); nothing failed, no action needed"
    print(f"sending a test alert to {'; '.join(where)} ...", flush=True)
    delivered, failed = alert.send(
        channels, f"[kewp] test alert from {host}", headline,
        ["Real alerts look like this and come when a kewp unit fails (runbook: docs/oncall.md#alerts)."],
        {"unit": "alert-test", "host": host, "result": "test", "exit_status": "0", "at": now})
    for what in delivered:
        print(f"sent: {what}")
    for what in failed:
        print(f"FAILED: {what}", file=sys.stderr)
    if failed:
        print(f"a real alert would not arrive there either: fix the setting (kewp_host_alert_* in the inventory) "
              f"or the receiver, then run kewpctl alert-test again (runbook: {RUNBOOK}#alerts)", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kewpctl", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"Runbook: {RUNBOOK} (docs/oncall.md in the repository).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("status", help="one screen of state; exit 1 when something needs a human").set_defaults(
        func=cmd_status)
    p = sub.add_parser("logs", help="journal of the app (or --unit watch|backup|alert|all|UNIT); "
                                    "other options go to journalctl, e.g. --since -1h -o cat")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, default=100, help="lines to show (default 100)")
    p.add_argument("--unit", default="app", help="app (default), watch, backup, alert, all, or a unit name")
    p.set_defaults(func=cmd_logs)
    sub.add_parser("backup-now", help="take a backup now and show the result").set_defaults(func=cmd_backup_now)
    p = sub.add_parser("restore", help="restore a backup (default: the newest good one) with kewp-backup restore")
    p.add_argument("file", nargs="?", help="NAME, NAME.db.zst or NAME.json (see kewp-backup list)")
    p.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    p.set_defaults(func=cmd_restore)
    sub.add_parser("alert-test", help="send a test alert through the configured webhook and/or mail").set_defaults(
        func=cmd_alert_test)
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "logs":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "logs":  # everything kewpctl does not know goes to journalctl
        args.rest = [a for a in unknown if a != "--"]
    if os.geteuid() != 0:
        print("kewpctl: run as root (sudo kewpctl ...): it reads the app's /proc and the docker socket",
              file=sys.stderr)
        return 2
    if shutil.which("systemctl") is None:
        print("kewpctl: systemctl not found: run it on the kewp host", file=sys.stderr)
        return 2
    return args.func(settings(), args)


if __name__ == "__main__":
    sys.exit(main())
