"""kewp-healthcheck: probe kewp the way users reach it; restart it, with limits, when it hangs.

Installed by roles/kewp_host as /usr/local/libexec/kewp/kewp-healthcheck and run once a
minute by kewp-healthcheck.timer (kewp-healthcheck.service, as root in a tight sandbox).
Python 3 standard library only; it talks to systemd with systemctl.

One run = one check:
  1. GET /readyz through nginx (HTTPS on 127.0.0.1:443 with the site's name as SNI and Host:
     the path users take; nginx answers /readyz to local callers only). 200 with
     {"ready": true} is healthy. A ready app that says {"writable": false} (its disk is full)
     is alerted once and never restarted: a restart would not free any space.
  2. On a failure, the app is also asked directly (the serving colour's loopback port) so the journal says
     which side failed. A ready app behind a failing nginx is reported, never restarted
     (a restart would not help and only adds downtime).
  3. After KEWP_HEALTHCHECK_FAILURES consecutive failures the app's unit is restarted once,
     unless the back-off since the last restart has not passed, or the watch already
     restarted it KEWP_HEALTHCHECK_MAX_RESTARTS times within KEWP_HEALTHCHECK_WINDOW seconds:
     then it gives up (one alert) and leaves the app alone until a check succeeds again.
  Nothing is done while the unit is starting or stopping (a deploy, a restore) or when it
  is disabled or masked.

Every restart is counted: the file `restarts` in the state directory holds the total, each
restart logs "RESTART #N" (journalctl -t kewp-healthcheck), and state.json keeps the times,
the last check and the give-up mark (read by `kewpctl status`).

Exit codes (the unit's OnFailure= sends an alert for 3 and 4, so each is alerted once):
  0 healthy, or failing below the threshold, in back-off, or already given up (alerted)
  1 unexpected error   2 bad setting
  3 the app was restarted (the journal says whether it came back)
  4 gave up restarting, or nginx fails while the app is ready (a human is needed)

Settings (environment; the unit reads /etc/default/kewp-healthcheck, written by the role):
  KEWP_HEALTHCHECK_URL          probe URL via nginx          (https://127.0.0.1/readyz)
  KEWP_HEALTHCHECK_HOST         SNI and Host header; empty = "localhost"
  KEWP_HEALTHCHECK_TLS_VERIFY   1 = verify the certificate against the system CAs (0)
  KEWP_HEALTHCHECK_DIRECT_URL   the app without nginx        (the serving colour's /readyz)
  KEWP_HEALTHCHECK_TIMEOUT      seconds per probe            (10)
  KEWP_HEALTHCHECK_FAILURES     consecutive failures before a restart (3)
  KEWP_HEALTHCHECK_MAX_RESTARTS restarts within the window before giving up (3)
  KEWP_HEALTHCHECK_WINDOW       seconds of that window       (3600)
  KEWP_HEALTHCHECK_BACKOFF      seconds after a restart before the next one; doubles with
                                each restart in the window   (300)
  KEWP_HEALTHCHECK_SERVICE      the unit to restart          (kewp.service)
  KEWP_HEALTHCHECK_STATE_DIR    state directory ($STATE_DIRECTORY, else /var/lib/kewp-healthcheck)
  KEWP_HEALTHCHECK_REPLICATION_MAX_LAG  seconds the off-site replica may be behind; it, or the backup
                                host unreachable, in two checks in a row is alerted once (60)
  KEWP_HEALTHCHECK_BACKUP_TOOL  kewp-backup, asked for the off-site copy's age (offsite-status; no
                                network): one alert when it passes KEWP_BACKUP_OFFSITE_MAX_AGE_HOURS
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import socket
import ssl
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kewp_host import paths, readiness, replication, systemd
from kewp_host.commands import run, run_tolerant
from kewp_host.files import write_atomic
from kewp_host.journal import Logger
from kewp_host.settings import SettingError, env, whole_number

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_RESTARTED, EXIT_HUMAN = 0, 1, 2, 3, 4
PREFIX = "KEWP_HEALTHCHECK_"
# Written into a probe's detail when the app said {"writable": false} (its data disk is full);
# the decision is taken on Probe.writable, this is only for the operator's eyes.
NOT_WRITABLE = "NOT WRITABLE"

log = Logger("kewp-healthcheck", "stdout")


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def setting(name: str, default: str) -> str:
    return env(PREFIX + name, default)


def number(name: str, default: int, minimum: int = 0) -> int:
    return whole_number(PREFIX + name, setting(name, str(default)), minimum=minimum)


# ---------------------------------------------------------------- probes


@dataclass
class Probe:
    """One /readyz probe: ready to serve; writable False when the app said its data disk is full."""

    ready: bool
    detail: str
    writable: bool = True


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with the site's name as SNI and Host (like a browser would)."""

    def __init__(self, name: str, address: str, port: int, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(name, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def _connection(url: str, name: str, timeout: float, verify: bool) -> tuple[http.client.HTTPConnection, str, str]:
    parts = urllib.parse.urlsplit(url)
    address = parts.hostname or "127.0.0.1"
    if parts.scheme != "https":
        return http.client.HTTPConnection(address, parts.port or 80, timeout=timeout), address, parts.path or "/"
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    conn = _PinnedHTTPSConnection(name or address, address, parts.port or 443, timeout, context)
    return conn, address, parts.path or "/"


def probe(url: str, name: str, timeout: float, verify: bool) -> Probe:
    """GET a /readyz URL (with name as Host, and as SNI over HTTPS) and describe the answer in one line;
    never raises."""
    try:
        conn, address, path = _connection(url, name, timeout, verify)
        started = time.monotonic()
        try:
            conn.request("GET", path, headers={"Host": name or address, "User-Agent": "kewp-healthcheck",
                                               "Accept": "application/json"})
            response = conn.getresponse()
            body = response.read(4000).decode(errors="replace")
        finally:
            conn.close()
        took = time.monotonic() - started
    except TimeoutError:
        return Probe(False, f"no answer within {timeout:.0f} s (hung?)")
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    said = readiness.read(response.status, body)
    if said.ready:
        if not said.writable:
            return Probe(True, f"HTTP 200 ready in {took:.2f} s but {NOT_WRITABLE}: "
                               f"{said.disk.get('status', 'disk full')} (version {said.version})", writable=False)
        return Probe(True, f"HTTP 200 ready in {took:.2f} s (version {said.version})")
    if said.doc is not None:
        full = "" if said.writable else f"{NOT_WRITABLE}: "
        return Probe(False, f"{full}HTTP {response.status} not ready: "
                            f"{json.dumps(said.reasons(), sort_keys=True)[:300]}", writable=said.writable)
    return Probe(False, f"HTTP {response.status}: {' '.join(body.split())[:200]}")


# ---------------------------------------------------------------- systemd


def unit_state(unit: str) -> dict[str, str]:
    return systemd.show(unit, "ActiveState", "SubState", "UnitFileState", "LoadState")


def restart(unit: str) -> tuple[bool, str]:
    # A deliberate restart gets its chance even after the unit's own start limit was hit.
    run("systemctl", "reset-failed", unit)
    started = time.monotonic()
    result = run("systemctl", "restart", unit)
    took = time.monotonic() - started
    if result.returncode == 0:
        return True, f"systemctl restart {unit} succeeded in {took:.0f} s (the unit waits for /readyz)"
    return False, (f"systemctl restart {unit} failed after {took:.0f} s: {result.stderr.strip()}; "
                   f"see journalctl -u {unit}")


# ---------------------------------------------------------------- state


def load_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
        if isinstance(state, dict):
            return state
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        log(f"state file {path} unreadable ({exc}); starting afresh", "warning")
    return {}


def save_state(directory: Path, state: dict[str, Any]) -> None:
    write_atomic(directory / "state.json", json.dumps(state, indent=2, sort_keys=True) + "\n")
    write_atomic(directory / "restarts", f"{int(state.get('restarts_total', 0))}\n")


# ---------------------------------------------------------------- one check


@dataclass
class Settings:
    url: str
    name: str
    verify: bool
    direct_url: str
    timeout: int
    threshold: int
    max_restarts: int
    window: int
    backoff: int
    unit: str
    directory: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            url=setting("URL", "https://127.0.0.1/readyz"),
            name=setting("HOST", "localhost"),
            verify=setting("TLS_VERIFY", "0").lower() in ("1", "true", "yes"),
            direct_url=setting("DIRECT_URL", readiness.live_url()),
            timeout=number("TIMEOUT", 10, 1),
            threshold=number("FAILURES", 3, 1),
            max_restarts=number("MAX_RESTARTS", 3),
            window=number("WINDOW", 3600, 1),
            backoff=number("BACKOFF", 300),
            unit=setting("SERVICE", paths.SERVICE),
            directory=Path(setting("STATE_DIR", os.environ.get("STATE_DIRECTORY", paths.HEALTHCHECK_STATE_DIR))),
        )


def alert_disk_full_once(state: dict[str, Any], what: str, unit: str) -> int:
    """One alert per full-disk episode (re-armed when the app can save again); never a restart."""
    if state.get("disk_full_alerted"):
        return EXIT_OK
    state["disk_full_alerted"] = True
    log(f"ALERT: kewp cannot save: {what}. Not restarting {unit} (it would not free space). Free space on "
        f"the data disk; runbook: oncall.md#disk-low", "crit")
    return EXIT_HUMAN


def checked_ok(cfg: Settings, state: dict[str, Any], now: float, front: Probe) -> int:
    """A good check: re-arm everything; a ready app that cannot save is alerted once."""
    if state.get("consecutive_failures"):
        log(f"ready again after {state['consecutive_failures']} failed check(s): {front.detail}", "notice")
    if state.get("gave_up_at"):
        log("the watch is armed again (it had given up restarting)", "notice")
    state.update(consecutive_failures=0, last_ok_at=now, gave_up_at=None, front_door_alerted=False)
    if not front.writable:
        return alert_disk_full_once(state, f"{front.detail}. Curators are told 'the server's disk is full; "
                                           f"nothing was saved'", cfg.unit)
    if state.get("disk_full_alerted"):
        log("the app can save again (free space came back)", "notice")
        state["disk_full_alerted"] = False
    return EXIT_OK


def restart_if_allowed(cfg: Settings, state: dict[str, Any], now: float, failures: int, summary: str) -> int:
    """The threshold is reached and a restart could help: restart, unless in back-off or given up."""
    recent = state["restart_times"]
    if state.get("gave_up_at"):
        log(f"still failing; the watch gave up restarting at {iso(state['gave_up_at'])} and waits for a "
            f"human (it re-arms after the first good check)", "warning")
        return EXIT_OK
    if len(recent) >= cfg.max_restarts:
        state["gave_up_at"] = now
        log(f"ALERT: giving up: {cfg.unit} was restarted {len(recent)} times in the last {cfg.window} s "
            f"(limit {cfg.max_restarts}) and is still not ready; no more restarts until a check succeeds. "
            f"Runbook: oncall.md#kewp-healthcheck", "crit")
        return EXIT_HUMAN
    if recent:
        wait = cfg.backoff * 2 ** (len(recent) - 1)
        if now - recent[-1] < wait:
            log(f"back-off: the last restart was at {iso(recent[-1])}; the next one is allowed from "
                f"{iso(recent[-1] + wait)} ({len(recent)} of {cfg.max_restarts} restarts used in the window)",
                "warning")
            return EXIT_OK

    # Count first: a restart that kills this run (or the host) is still on record.
    state["restarts_total"] = int(state["restarts_total"]) + 1
    state["restart_times"] = [*recent, now]
    state["last_restart_at"] = now
    state["consecutive_failures"] = 0
    save_state(cfg.directory, state)
    log(f"RESTART #{state['restarts_total']} of {cfg.unit} ({len(state['restart_times'])} of {cfg.max_restarts} "
        f"allowed in {cfg.window} s) after {failures} failed checks: {summary}", "crit")
    restarted, how = restart(cfg.unit)
    after = probe(cfg.url, cfg.name, cfg.timeout, cfg.verify)
    log(f"after the restart: {how}; via nginx: {after.detail}", "notice" if restarted and after.ready else "error")
    state.update(last_check_at=time.time(), last_ok=after.ready,
                 last_detail=f"after restart, via nginx: {after.detail}")
    if after.ready:
        state["last_ok_at"] = state["last_check_at"]
    return EXIT_RESTARTED


def checked_failed(cfg: Settings, state: dict[str, Any], now: float, front: Probe, units: dict[str, str]) -> int:
    failures = int(state.get("consecutive_failures", 0)) + 1
    direct = probe(cfg.direct_url, "", cfg.timeout, verify=False)
    summary = (f"{cfg.unit} {units.get('ActiveState', 'unknown')}/{units.get('SubState')}; via nginx {cfg.url}: "
               f"{front.detail}; app direct: {direct.detail}")
    state.update(consecutive_failures=failures, last_detail=summary)
    log(f"check failed ({failures} of {cfg.threshold} in a row): {summary}", "warning")
    if failures < cfg.threshold:
        return EXIT_OK
    if not (front.writable and direct.writable):
        return alert_disk_full_once(state, "the app is not ready and its data disk is full", cfg.unit)
    if direct.ready:
        if state.get("front_door_alerted"):
            return EXIT_OK
        log(f"ALERT: users cannot reach kewp through nginx, but the app itself is ready: not restarting "
            f"{cfg.unit} (it would not help). Check: systemctl status nginx; journalctl -u nginx; "
            f"runbook: oncall.md#kewp-healthcheck", "crit")
        state["front_door_alerted"] = True
        return EXIT_HUMAN
    return restart_if_allowed(cfg, state, now, failures, summary)


def offsite_overdue_once(state: dict[str, Any]) -> int:
    """One alert per episode in which the newest off-site copy is missing or older than its limit
    (re-armed by a fresh copy); nothing when off-site copies are off or the tool cannot say."""
    got = run_tolerant(setting("BACKUP_TOOL", paths.BACKUP_TOOL), "offsite-status", timeout=30)
    try:
        st = json.loads(got.stdout) if got.returncode == 0 else {}
    except ValueError:
        st = {}
    if not st.get("overdue"):
        if state.get("offsite_alerted") and st:
            log("the off-site copy is fresh again", "notice")
            state["offsite_alerted"] = False
        return EXIT_OK
    if state.get("offsite_alerted"):
        return EXIT_OK
    state["offsite_alerted"] = True
    copy = st.get("copy") or {}
    age = f"{st['age_seconds'] // 3600} h old" if st.get("age_seconds") is not None else "missing"
    log(f"ALERT: the newest off-site copy ({copy.get('backup') or 'none'}) is {age}, over the "
        f"{st.get('max_age_hours')} h limit; last error: {copy.get('error') or 'none recorded'}. "
        f"journalctl -u kewp-offsite; runbook: oncall.md#off-site-copy-failed", "crit")
    return EXIT_HUMAN


def check(now: float) -> int:
    cfg = Settings.from_env()
    cfg.directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    state = load_state(cfg.directory / "state.json")
    state.setdefault("restarts_total", 0)
    state["restart_times"] = [t for t in state.get("restart_times", []) if now - t < cfg.window]

    units = unit_state(cfg.unit)
    active = units.get("ActiveState", "unknown")
    if units.get("LoadState") != "loaded" or units.get("UnitFileState") in ("disabled", "masked"):
        log(f"{cfg.unit} is {units.get('LoadState')}/{units.get('UnitFileState')}: not watched "
            f"(enable it to be watched)", "notice")
        return EXIT_OK
    if active in ("activating", "deactivating", "reloading"):
        log(f"{cfg.unit} is {active} ({units.get('SubState')}): a start or stop is under way, not checking")
        return EXIT_OK

    front = probe(cfg.url, cfg.name, cfg.timeout, cfg.verify)
    state.update(last_check_at=now, last_ok=front.ready, last_detail=f"via nginx: {front.detail}")
    if front.ready:
        code = checked_ok(cfg, state, now, front)
    else:
        code = checked_failed(cfg, state, now, front, units)
    # The off-site replica (kewp_replicate): its own alert, whatever the app's state.
    if replication.watch(state, now, Path(paths.DB_PATH), number("REPLICATION_MAX_LAG", 60, 1), log):
        code = max(code, EXIT_HUMAN)
    code = max(code, offsite_overdue_once(state))
    save_state(cfg.directory, state)
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(__doc__)
        return EXIT_OK if args[0] in ("-h", "--help") else EXIT_USAGE
    try:
        return check(time.time())
    except SettingError as exc:
        log(str(exc), "error")
        return EXIT_USAGE
    except OSError as exc:
        log(f"{type(exc).__name__}: {exc}", "error")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
