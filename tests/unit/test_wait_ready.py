"""wait-ready (kewp_host.wait_ready) against a local /readyz and a stand-in docker: it waits for
200, says what runs (stdout and the unit's status text), and gives up on a container that is gone."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kewp_host import wait_ready

from .host_helpers import ReadyzApp, call, clean_environ, entry_point, run_entry, stand_in_docker


@pytest.fixture
def app() -> Iterator[ReadyzApp]:
    readyz = ReadyzApp()
    yield readyz
    readyz.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    stand_in_docker(tmp_path)
    return clean_environ(PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", FAKE_DIR=str(tmp_path))


def test_a_ready_app_is_described_in_one_line(app: ReadyzApp, env: dict[str, str]) -> None:
    result = call(wait_ready.main, ["--url", app.url, "--timeout", "5"], env)
    assert result.returncode == 0, result.stdout
    last = result.stdout.splitlines()[-1]
    assert last.startswith("ready: kewp 0.1.0+g1a2b3c4 (rev 1a2b3c4d5e6f), 2/2 workers, container 5f0e1d2c3b4a, "
                           "image kewp:test, ready in ")


def test_it_waits_until_the_app_answers_200(app: ReadyzApp, env: dict[str, str]) -> None:
    app.status = 503
    threading.Timer(1.0, lambda: setattr(app, "status", 200)).start()
    started = time.monotonic()
    result = call(wait_ready.main, ["--url", app.url, "--timeout", "20", "--interval", "0.1", "--quiet"], env)
    assert result.returncode == 0
    assert 0.9 < time.monotonic() - started < 10
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("ready: ")


def test_an_app_that_never_gets_ready_fails_with_its_last_answer(app: ReadyzApp, env: dict[str, str]) -> None:
    app.status = 503
    result = call(wait_ready.main, ["--url", app.url, "--timeout", "1", "--interval", "0.2"], env)
    assert result.returncode == 1
    assert "wait-ready: not ready after 1 s: HTTP 503: " in result.stdout
    assert '"database": "error: test"' in result.stdout


def test_a_container_that_is_gone_ends_the_wait_early(app: ReadyzApp, env: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app.status = None
    (tmp_path / "gone").touch()
    monkeypatch.setattr(wait_ready, "PROGRESS_EVERY", 0.3)
    started = time.monotonic()
    result = call(wait_ready.main, ["--url", app.url, "--timeout", "60", "--interval", "0.1"], env)
    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "container kewp does not exist; last answer: no answer (" in result.stdout


def test_the_installed_entry_point_sets_the_units_status_text(app: ReadyzApp, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    tool = entry_point(tmp_path, "wait-ready", "kewp_host.wait_ready")
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(5)
        result = run_entry(tool, "--url", app.url, "--timeout", "5", env={**env, "NOTIFY_SOCKET": address})
        sent = [sock.recv(2000).decode(), sock.recv(2000).decode()]
    assert result.returncode == 0, result.stderr
    assert sent[0] == f"STATUS=starting: waiting for {app.url}"
    assert sent[1] == "STATUS=" + result.stdout.splitlines()[-1]
    assert run_entry(tool, "--help", env=env).stdout.startswith("usage: wait-ready ")
    assert run_entry(tool, "--bogus", env=env).returncode == 2
