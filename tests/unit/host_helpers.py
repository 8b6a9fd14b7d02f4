"""Helpers for the host tools' tests (kewp_host): run a tool's main() in this process with its own
environment and captured output, or run it as the VPS does, through a thin entry point under python -I."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The same shape as the entry points installed on the VPS, with the repository instead of
# /usr/local/lib/kewp on the path.
ENTRY_POINT = """#!/usr/bin/python3 -I
import sys
sys.path.insert(0, {repo!r})
from {module} import main
sys.exit(main())
"""


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ is exactly `values` inside the block, and as it was afterwards."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without kewp's and systemd's variables, plus extra."""
    drop = ("KEWP_", "JOURNAL_STREAM", "NOTIFY_SOCKET", "STATE_DIRECTORY")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def call(main: Callable[[list[str]], int], args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """main(args) in this process with env as the whole environment; its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    with environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def entry_point(directory: Path, name: str, module: str) -> Path:
    """A thin entry point like the VPS's, importing the package from this repository."""
    path = directory / name
    path.write_text(ENTRY_POINT.format(repo=str(REPO), module=module))
    path.chmod(0o755)
    return path


def entry_argv(path: Path, *args: str) -> list[str]:
    """`python3 -I path args`: -I puts neither PYTHONPATH nor the script's directory on sys.path."""
    return [sys.executable, "-I", str(path), *args]


def run_entry(path: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(entry_argv(path, *args), env=dict(env), capture_output=True, text=True, timeout=300,
                          check=False, cwd="/")


def stand_in(bin_dir: Path, name: str, script: str) -> None:
    """A shell script called name in bin_dir (put bin_dir first on PATH)."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / name).write_text(script)
    (bin_dir / name).chmod(0o755)


class ReadyzApp:
    """A local /readyz: answers with self.status (None: the connection is closed at once) and
    self.writable, like the app."""

    def __init__(self) -> None:
        self.status: int | None = 200
        self.writable = True
        self.database: str | None = None  # the "database" text; None: "ok" when ready, else "error: test"
        self.requests = 0
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app.requests += 1
                if app.status is None:
                    self.close_connection = True
                    return
                body = json.dumps({"ready": app.status == 200, "version": "t", "writable": app.writable,
                                   "disk": {"status": "only 0.0 MiB free, below KEWP_MIN_FREE_MB=64"},
                                   "database": app.database or ("ok" if app.status == 200 else "error: test"),
                                   }).encode()
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class WebhookReceiver:
    """A local webhook on 127.0.0.1: keeps each POSTed JSON body in self.received and answers
    self.status."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kewp"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# A container "kewp" with two gunicorn workers, for a stand-in docker (inspect, top); the file
# FAKE_DIR/gone makes it disappear.
INSPECT = [{"Id": "5f0e1d2c3b4a" + "0" * 52, "State": {"Running": True, "Status": "running",
                                                      "StartedAt": "2026-11-24T05:00:00.123Z"},
            "Config": {"Image": "kewp:test", "Env": ["KEWP_VERSION=0.1.0+g1a2b3c4", "KEWP_WORKERS=2"],
                       "Labels": {"org.opencontainers.image.revision": "1a2b3c4d5e6f7a8b"}}}]
TOP = """PID PPID COMMAND
10 1 docker-init -- gunicorn
11 10 python gunicorn -c gunicorn.conf.py
12 11 python gunicorn -c gunicorn.conf.py
13 11 python gunicorn -c gunicorn.conf.py
"""
FAKE_DOCKER = """#!/bin/sh
[ -e "$FAKE_DIR/gone" ] && { echo "Error: No such container: $3" >&2; exit 1; }
case "$1" in
  inspect) cat "$FAKE_DIR/inspect.json";;
  top) cat "$FAKE_DIR/top.txt";;
esac
"""


def stand_in_docker(fake_dir: Path) -> None:
    """docker in fake_dir/bin, answering from fake_dir/inspect.json and fake_dir/top.txt."""
    stand_in(fake_dir / "bin", "docker", FAKE_DOCKER)
    (fake_dir / "inspect.json").write_text(json.dumps(INSPECT))
    (fake_dir / "top.txt").write_text(TOP)
