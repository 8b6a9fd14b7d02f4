"""A bounded closed-loop HTTP load generator: N client threads, each sending its next request when
the previous one is answered, until a request count or a deadline is reached (whichever is first).

Why not locust or wrk: the curation benchmark needs a signed-in session with a CSRF token per
client and a form whose hidden field depends on the answers; a stdlib client keeps that in one
place, adds no dependency, and on 2 cores its cost (well under a millisecond of CPU per request)
is small next to the app's. Every run is bounded in count and time; it only talks to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from .common import latency_summary

HOST = "127.0.0.1"
_CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


@dataclass
class Outcome:
    status: int
    seconds: float
    started: float
    error: str = ""


class Session:
    """One client's cookies against one server (HTTP/1.0-style: a connection per request)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        headers = {"Connection": "close"}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, data
        finally:
            conn.close()

    def csrf_token(self, path: str) -> str:
        status, body = self.request("GET", path)
        match = _CSRF.search(body)
        if status != 200 or not match:
            raise RuntimeError(f"GET {path} gave {status} without a csrf_token")
        return match.group(1).decode()

    def login(self, username: str, password: str) -> None:
        token = self.csrf_token("/login")
        status, _ = self.request("POST", "/login", {"username": username, "password": password, "csrf_token": token})
        if status not in (302, 303):
            raise RuntimeError(f"login of {username} gave {status}")


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    wall: float = 0.0

    def ok(self, statuses: tuple[int, ...] = (200,)) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in statuses]

    def summary(self, statuses: tuple[int, ...] = (200,)) -> dict[str, float | int]:
        good = self.ok(statuses)
        return {"requests": len(self.outcomes), "ok": len(good),
                "errors": len(self.outcomes) - len(good),
                "server_errors": sum(1 for o in self.outcomes if o.status >= 500 or o.status == 0),
                "per_second": round(len(good) / self.wall, 1) if self.wall else 0.0,
                **latency_summary([o.seconds for o in good])}


def run(clients: int, send: Callable[[int, int], tuple[int, str]], *, total: int, seconds: float,
        stop: threading.Event | None = None) -> LoadResult:
    """`clients` threads call send(client, n) (-> (status, error)) until `total` requests or `seconds` pass."""
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(range(total))
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            with lock:
                n = next(counter, None)
            if n is None:
                return
            t0 = time.monotonic()
            try:
                status, error = send(index, n)
            except (OSError, http.client.HTTPException) as exc:
                status, error = 0, repr(exc)
            outcome = Outcome(status, time.monotonic() - t0, t0, error)
            with lock:
                result.outcomes.append(outcome)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    result.wall = time.monotonic() - started
    return result
