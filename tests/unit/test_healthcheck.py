"""scripts/kewp-healthcheck against a local HTTP server and a stand-in systemctl: threshold,
restart, back-off, limit, re-arming, and an app that is ready behind a failing front door."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "kewp-healthcheck"

FAKE_SYSTEMCTL = """#!/bin/sh
case "$1" in
  show) printf 'LoadState=loaded\\nActiveState=%s\\nSubState=running\\nUnitFileState=enabled\\n' \
        "$(cat "$FAKE_DIR/active" 2>/dev/null || echo active)";;
  restart) echo "$2" >> "$FAKE_DIR/restarts.log";;
esac
exit 0
"""


class App:
    """A /readyz that answers with self.status (None: the connection is closed at once)."""

    def __init__(self) -> None:
        self.status: int | None = 200
        self.writable = True
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if app.status is None:
                    self.close_connection = True
                    return
                body = json.dumps({"ready": app.status == 200, "version": "t", "writable": app.writable,
                                   "disk": {"status": "only 0.0 MiB free, below KEWP_MIN_FREE_MB=64"},
                                   "database": "ok" if app.status == 200 else "error: test"}).encode()
                self.send_response(app.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/readyz"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, object]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(FAKE_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    front, direct = App(), App()
    yield {"tmp": tmp_path, "front": front, "direct": direct, "vars": {
        "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path),
        "KEWP_HEALTHCHECK_URL": front.url, "KEWP_HEALTHCHECK_DIRECT_URL": direct.url,
        "KEWP_HEALTHCHECK_STATE_DIR": str(tmp_path / "state"), "KEWP_HEALTHCHECK_TIMEOUT": "2",
        "KEWP_HEALTHCHECK_FAILURES": "2", "KEWP_HEALTHCHECK_MAX_RESTARTS": "2",
        "KEWP_HEALTHCHECK_BACKOFF": "0"}}
    front.server.shutdown()
    direct.server.shutdown()


def check(env: dict, **extra: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, str(SCRIPT)], env={**env["vars"], **extra},
                          capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def restarts(env: dict) -> int:
    log = env["tmp"] / "restarts.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def state(env: dict) -> dict:
    return json.loads((env["tmp"] / "state" / "state.json").read_text())


def test_a_ready_app_is_left_alone(env: dict) -> None:
    assert check(env)[0] == 0
    assert restarts(env) == 0
    assert state(env)["last_ok"] is True


def test_failures_below_the_threshold_do_not_restart(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    code, out = check(env)
    assert code == 0 and "check failed (1 of 2 in a row)" in out
    assert restarts(env) == 0


def test_the_threshold_restarts_once_and_counts_it(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    check(env)
    code, out = check(env)
    assert code == 3, out
    assert "RESTART #1 of kewp.service" in out
    assert restarts(env) == 1
    assert (env["tmp"] / "state" / "restarts").read_text() == "1\n"


def test_backoff_holds_the_next_restart(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    for _ in range(2):
        check(env)
    for _ in range(2):
        code, out = check(env, KEWP_HEALTHCHECK_BACKOFF="600")
    assert code == 0 and "back-off" in out, out
    assert restarts(env) == 1


def test_the_limit_gives_up_once_and_rearms_after_a_good_check(env: dict) -> None:
    env["front"].status = env["direct"].status = None
    codes = [check(env, KEWP_HEALTHCHECK_FAILURES="1")[0] for _ in range(5)]
    assert codes == [3, 3, 4, 0, 0]
    assert restarts(env) == 2
    assert state(env)["gave_up_at"]
    env["front"].status = env["direct"].status = 200
    code, out = check(env)
    assert code == 0 and "armed again" in out
    assert not state(env)["gave_up_at"]


def test_a_ready_app_behind_a_failing_front_door_is_not_restarted(env: dict) -> None:
    env["front"].status = 502
    codes = [check(env)[0] for _ in range(4)]
    assert codes == [0, 4, 0, 0], "one alert, no restart"
    assert restarts(env) == 0


def test_a_ready_app_that_cannot_save_is_alerted_once_and_never_restarted(env: dict) -> None:
    env["front"].writable = env["direct"].writable = False
    results = [check(env) for _ in range(4)]
    assert [code for code, _ in results] == [4, 0, 0, 0], "one alert, no restart loop"
    assert "ALERT: kewp cannot save" in results[0][1] and "only 0.0 MiB free" in results[0][1]
    assert restarts(env) == 0
    env["front"].writable = env["direct"].writable = True
    code, out = check(env)
    assert code == 0 and "can save again" in out
    env["front"].writable = False
    assert check(env)[0] == 4, "a new episode is alerted again"


def test_an_app_not_ready_because_its_disk_is_full_is_alerted_and_never_restarted(env: dict) -> None:
    env["front"].status = env["direct"].status = 503
    env["front"].writable = env["direct"].writable = False
    codes = [check(env)[0] for _ in range(5)]
    assert codes == [0, 4, 0, 0, 0]
    assert restarts(env) == 0


def test_a_unit_that_is_starting_is_not_checked(env: dict) -> None:
    (env["tmp"] / "active").write_text("activating")
    env["front"].status = env["direct"].status = 503
    for _ in range(3):
        code, out = check(env)
        assert code == 0 and "not checking" in out
    assert restarts(env) == 0


def test_a_bad_setting_is_named(env: dict) -> None:
    code, out = check(env, KEWP_HEALTHCHECK_FAILURES="three")
    assert code == 2 and "KEWP_HEALTHCHECK_FAILURES='three'" in out
