"""Faults under load: signed-in curators post proposals through nginx over HTTPS while the
container is killed, the VPS reboots, or the data disk fills up.

Two kinds of client post at once: a browser-like one that follows every 303 (and reads the
page it lands on) and a script that never follows a redirect. After each fault, every proposal
that was answered 303 must be in the database, `integrity_check` must be ok, and nothing but a
clear 502/503/507 (or no answer while the VPS is down) may have been answered. Each test puts
what the curators saw and the time back to ready in the run's summary. Load is bounded in time and count.
"""

from __future__ import annotations

import collections
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
import urllib3
from testinfra.host import Host

from .conftest import live_port, summary_lines

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "nginx", "kewp-healthcheck")
DB = "/var/lib/kewp/ke_wp_mapping.db"
DATA_DIR = "/var/lib/kewp"
SQL = f"runuser -u kewp -- sqlite3 -cmd '.timeout 10000' {DB}"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ANSWERS = {"relationship": "causative", "evidence": "known", "specificity": "includes", "coverage": "key_steps"}
CLEAR_FAILURES = {502, 503, 507}
MAX_POSTS_PER_CLIENT = 1500   # a bound on top of the time limits below
POST_PAUSE = 0.02

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)   # the local VPS is self-signed


def sql(host: Host, statement: str) -> str:
    return host.check_output(f'{SQL} "{statement}"')


@dataclass
class Tally:
    """What one client was answered, and which proposals it was told were recorded."""

    statuses: collections.Counter = field(default_factory=collections.Counter)
    acknowledged: list[str] = field(default_factory=list)
    acknowledged_at: dict[str, float] = field(default_factory=dict)   # rationale -> time.time() of its 303
    unexpected: list[str] = field(default_factory=list)   # status + start of the body


class Curator:
    """A signed-in curator posting proposals; `follow` = behave like a browser after each 303."""

    def __init__(self, base: str, username: str, password: str, follow: bool) -> None:
        self.base, self.username, self.password, self.follow = base, username, password, follow
        self.session = requests.Session()
        self.session.trust_env = False   # else REQUESTS_CA_BUNDLE would override verify=False
        self.session.verify = False
        self.session.headers["Referer"] = base + "/"   # as a browser sends it (CSRF checks it over HTTPS)
        self.tally = Tally()
        self.token = ""

    def _token(self, path: str) -> str:
        page = self.session.get(self.base + path, timeout=10)
        page.raise_for_status()
        match = CSRF.search(page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self) -> None:
        token = self._token("/login")
        answer = self.session.post(self.base + "/login", timeout=10, allow_redirects=False,
                                   data={"username": self.username, "password": self.password, "csrf_token": token})
        assert answer.status_code in (302, 303), f"sign-in as {self.username}: HTTP {answer.status_code}"
        self.token = self._token("/mappings/propose")

    def post(self, ke: str, wp: str, rationale: str) -> None:
        data = {"ke": ke, "wp": wp, **ANSWERS, "rationale": rationale, "step": "submit",
                "confirmed_confidence": "high", "csrf_token": self.token}
        try:
            answer = self.session.post(self.base + "/mappings/propose", data=data, timeout=15,
                                       allow_redirects=False)
        except requests.RequestException as exc:
            self.tally.statuses[f"no answer ({type(exc).__name__})"] += 1
            return
        self.tally.statuses[answer.status_code] += 1
        if answer.status_code == 303:
            self.tally.acknowledged.append(rationale)
            self.tally.acknowledged_at[rationale] = time.time()
            if self.follow:
                try:   # what a browser does next; its answer is not the write's
                    landed = self.session.get(self.base + answer.headers["Location"], timeout=15)
                    self.tally.statuses[f"follow {landed.status_code}"] += 1
                except requests.RequestException as exc:
                    self.tally.statuses[f"follow: no answer ({type(exc).__name__})"] += 1
        elif answer.status_code not in CLEAR_FAILURES:
            self.tally.unexpected.append(f"{answer.status_code}: {' '.join(answer.text.split())[:300]}")
        elif answer.status_code == 507:
            assert "nothing was saved" in answer.text, answer.text[:500]


class Storm:
    """Curators posting unique proposals until stopped (or a client's post limit is reached)."""

    def __init__(self, curators: list[Curator], pairs: Iterator[tuple[str, str]], tag: str) -> None:
        self.curators, self.pairs, self.tag = curators, pairs, tag
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.serial = itertools.count(1)
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True) for c in curators]

    def _next(self) -> tuple[str, str, str]:
        with self.lock:
            ke, wp = next(self.pairs)
            return ke, wp, f"Fault test {self.tag} #{next(self.serial)}: apoptosis evidence in PMID 12345."

    def _run(self, curator: Curator) -> None:
        for _ in range(MAX_POSTS_PER_CLIENT):
            if self.stop_event.is_set():
                return
            curator.post(*self._next())
            time.sleep(POST_PAUSE)

    def __enter__(self) -> Storm:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def posted(self) -> int:
        return sum(sum(c.tally.statuses[s] for s in c.tally.statuses if not str(s).startswith("follow"))
                   for c in self.curators)

    def acknowledged(self) -> list[str]:
        return [r for c in self.curators for r in c.tally.acknowledged]

    def report(self) -> str:
        lines = []
        for c in self.curators:
            kind = "browser-like (follows 303)" if c.follow else "script (never follows)"
            seen = ", ".join(f"{k}: {v}" for k, v in sorted(c.tally.statuses.items(), key=lambda kv: str(kv[0])))
            lines.append(f"  {kind}: {seen}")
        return "\n".join(lines)


@dataclass
class Site:
    host: Host
    base: str
    make_curators: Callable[[], list[Curator]]
    pairs: Iterator[tuple[str, str]]


def readyz(host: Host) -> tuple[int, str]:
    out = host.run(f"curl -s -o /dev/stderr -w '%{{http_code}}' --max-time 5 http://127.0.0.1:{live_port(host)}/readyz")
    return int(out.stdout or 0), out.stderr


def wait_ready(host: Host, since: float, limit: float = 240) -> float:
    """Seconds from `since` until /readyz answers 200 through the app's port."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if readyz(host)[0] == 200:
                return time.monotonic() - since
        except Exception:  # noqa: BLE001 - the VPS may be rebooting: ssh fails until it is back
            pass
        time.sleep(0.5)
    pytest.fail(f"kewp was not ready {limit:.0f} s after the fault:\n"
                f"{host.run('journalctl -u kewp -n 60 --no-pager').stdout}")


def stored(host: Host, tag: str) -> set[str]:
    out = sql(host, f"SELECT rationale FROM proposals WHERE rationale LIKE 'Fault test {tag} #%'")
    return set(out.splitlines())


def assert_nothing_lost(host: Host, storm: Storm, tag: str, fault: str, back: float) -> None:
    acknowledged = storm.acknowledged()
    in_db = stored(host, tag)
    missing = [r for r in acknowledged if r not in in_db]
    unexpected = [u for c in storm.curators for u in c.tally.unexpected]
    summary_lines.append(f"fault: {fault}: {storm.posted()} proposals posted, {len(acknowledged)} answered 303, "
                         f"{len(in_db)} stored, {len(missing)} acknowledged but missing; back in {back:.1f} s\n"
                         f"{storm.report()}")
    assert not missing, f"{len(missing)} proposals answered 303 are not in the database: {missing[:5]}"
    assert not unexpected, f"answers other than 303 or a clear 502/503/507: {unexpected[:5]}"
    assert sql(host, "PRAGMA integrity_check") == "ok"
    assert len(acknowledged) > 0, "no proposal was acknowledged at all: the load did not run"


def curator_accounts(host: Host, count: int) -> list[tuple[str, str]]:
    """`count` new curator accounts (name, password) in the running app."""
    accounts = []
    for _ in range(count):
        name, password = f"fault-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
        made = host.run(f"printf '%s\\n' '{password}' | docker exec -i -e KEWP_LOAD_MODEL=false kewp "
                        f"flask --app app users add {name} --role curator --password-stdin")
        assert made.rc == 0, made.stderr
        accounts.append((name, password))
    return accounts


def unproposed_pairs(host: Host) -> Iterator[tuple[str, str]]:
    """(KE, pathway) pairs nobody has mapped or proposed, away from the ones other tests use (KE 12 -> WP528)."""
    kes = sql(host, "SELECT ke_id FROM key_events WHERE ke_id NOT IN (SELECT ke_id FROM mappings) AND ke_id NOT IN "
                    "(SELECT ke_id FROM proposals) AND ke_id != 'KE 12' ORDER BY ke_id DESC LIMIT 200").splitlines()
    wps = sql(host, "SELECT wp_id FROM pathways WHERE wp_id != 'WP528' ORDER BY wp_id DESC LIMIT 40").splitlines()
    assert len(kes) >= 100 and len(wps) >= 20
    return ((ke, wp) for wp in wps for ke in kes)


def signed_in_curators(base: str, accounts: list[tuple[str, str]], count: int) -> list[Curator]:
    """`count` curators over the accounts, alternately browser-like and script: one sign-in per
    account (nginx limits sign-ins per address), the other clients share that account's session."""
    curators = [Curator(base, *accounts[n % len(accounts)], follow=n % 2 == 0) for n in range(count)]
    for n, curator in enumerate(curators):
        if n < len(accounts):
            curator.sign_in()
        else:
            first = curators[n % len(accounts)]
            curator.session.cookies.update(first.session.cookies)
            curator.token = first.token
    return curators


@pytest.fixture(scope="module")
def site(host: Host, deployment) -> Iterator[Site]:
    base = f"https://{deployment.address}"
    accounts = curator_accounts(host, 2)
    yield Site(host, base, lambda: signed_in_curators(base, accounts, 2), unproposed_pairs(host))
    # A thousand pending proposals would bury what later suites (the browser test) look for.
    sql(host, "DELETE FROM proposals WHERE rationale LIKE 'Fault test %' AND status = 'pending'")


def tag() -> str:
    return secrets.token_hex(4)


def test_sigkill_of_the_container_during_a_storm_loses_no_acknowledged_proposal(site: Site) -> None:
    host, run = site.host, tag()
    with Storm(site.make_curators(), site.pairs, run) as storm:
        time.sleep(4)
        killed = time.monotonic()
        host.run_expect([0], "docker kill --signal KILL kewp")
        back = wait_ready(host, killed)
        time.sleep(4)   # and it takes writes again
    assert_nothing_lost(host, storm, run, "SIGKILL of the container", back)
    assert host.service("kewp").is_running


def test_a_reboot_during_a_storm_loses_no_acknowledged_proposal(site: Site) -> None:
    host, run = site.host, tag()
    with Storm(site.make_curators(), site.pairs, run) as storm:
        time.sleep(4)
        rebooted = time.monotonic()
        host.run("systemctl reboot")   # the ssh connection drops: expected
        time.sleep(5)
        back = wait_ready(host, rebooted)
        time.sleep(4)
    assert_nothing_lost(host, storm, run, "reboot of the VPS", back)


@pytest.fixture
def small_data_disk(site: Site) -> Iterator[int]:
    """The data directory moved onto a tmpfs with 100 MiB to spare; moved back afterwards."""
    host = site.host
    used = int(host.check_output(f"du -sb {DATA_DIR} | cut -f1"))
    host.run_expect([0], "systemctl stop kewp")
    host.run_expect([0], f"rm -rf /root/kewp-data && cp -a {DATA_DIR} /root/kewp-data && "
                         f"mount -t tmpfs -o size={used + 100 * 2**20},mode=0750,uid=10001,gid=10001 tmpfs {DATA_DIR} "
                         f"&& cp -a /root/kewp-data/. {DATA_DIR}/")
    try:
        host.run_expect([0], "systemctl start kewp")
        yield used
    finally:
        # Keep what was written on the tmpfs: it goes back to the real disk.
        host.run(f"rm -f {DATA_DIR}/filler; systemctl stop kewp")
        host.run_expect([0], f"rm -rf /root/kewp-data && cp -a {DATA_DIR} /root/kewp-data && umount {DATA_DIR} && "
                             f"rm -rf {DATA_DIR}/* && cp -a /root/kewp-data/. {DATA_DIR}/ && rm -rf /root/kewp-data")
        host.run_expect([0], "systemctl start kewp")
        wait_ready(host, time.monotonic())


def test_a_full_data_disk_during_a_storm_is_a_clear_507_and_loses_nothing(site: Site, small_data_disk: int) -> None:
    host, run = site.host, tag()
    restarts_before = host.run("cat /var/lib/kewp-healthcheck/restarts 2>/dev/null || echo 0").stdout.strip()
    with Storm(site.make_curators(), site.pairs, run) as storm:
        time.sleep(3)
        host.run(f"dd if=/dev/zero of={DATA_DIR}/filler bs=1M status=none")   # until the disk is full
        full = time.monotonic()
        time.sleep(6)
        status, body = readyz(host)
        kewpctl = host.run("kewpctl status")
        healthcheck = host.run("systemctl start kewp-healthcheck.service; "
                               "journalctl -u kewp-healthcheck -n 40 -o cat --no-pager")
        host.run_expect([0], f"rm -f {DATA_DIR}/filler")
        back = time.monotonic() - full
        time.sleep(5)   # writes are taken again
    statuses = collections.Counter()
    for curator in storm.curators:
        statuses.update(curator.tally.statuses)
    assert statuses[507] > 0, f"no write failed for space: {storm.report()}"
    assert status == 200 and '"writable":false' in body.replace(" ", ""), body
    assert kewpctl.rc == 1 and "CANNOT SAVE" in kewpctl.stdout, kewpctl.stdout
    assert "ALERT: kewp cannot save" in healthcheck.stdout, healthcheck.stdout
    restarts_after = host.run("cat /var/lib/kewp-healthcheck/restarts 2>/dev/null || echo 0").stdout.strip()
    assert restarts_after == restarts_before, "the health watch restarted the app for a full disk"
    assert_nothing_lost(host, storm, run, "data disk full", back)
    assert "Traceback" not in host.run("journalctl -u kewp --since '-2min' -o cat --no-pager").stdout


def test_the_apps_response_headers_fit_in_half_of_nginxs_proxy_buffer(site: Site) -> None:
    """nginx answers 502 "upstream sent too big header" past proxy_buffer_size: the app's real
    headers (after many posts that were never followed) stay well inside it."""
    curator = site.make_curators()[1]
    for n in range(30):
        curator.post(*next(site.pairs), f"Fault test headers-{tag()} #{n}: apoptosis evidence in PMID 12345.")
    assert set(curator.tally.statuses) == {303}, curator.tally.statuses
    cookie = "; ".join(f"{k}={v}" for k, v in curator.session.cookies.items())
    out = site.host.check_output(f"curl -s -o /dev/null -D - -H 'Cookie: {cookie}' http://127.0.0.1:{live_port(site.host)}/mappings/mine")
    size = len(out.encode())
    conf = site.host.file("/etc/nginx/sites-available/kewp.conf").content_string
    buffer = re.search(r"proxy_buffer_size (\d+)k;", conf)
    assert buffer, "no proxy_buffer_size in the nginx site"
    assert size < int(buffer.group(1)) * 1024 / 2, f"{size} bytes of headers:\n{out}"
