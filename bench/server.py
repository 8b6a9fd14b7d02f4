"""Start and stop the app under gunicorn on 127.0.0.1 with a throw-away data directory."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .common import REPO, VENV_BIN

LOADED_LINE = "app.engine: embeddings loaded"  # logged once per create_app that loaded the store
SECRET = "bench-secret-" + "0" * 40  # fixed, so sessions are valid in every worker (even without preload)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_database(directory: Path) -> Path:
    """The sample catalogue and the shipped embeddings in `directory` (scripts/seed-dev-db); returns the DB."""
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "ke_wp_mapping.db"
    env = os.environ | {"KEWP_ENV": "development", "KEWP_DATABASE": str(database)}
    subprocess.run([str(REPO / "scripts" / "seed-dev-db")], cwd=REPO, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return database


def copy_data(template: Path, directory: Path) -> Path:
    """A fresh copy of a seeded data directory (database and embeddings); returns the DB path."""
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(template, directory)
    return directory / "ke_wp_mapping.db"


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """gunicorn serving the app; `with Server(...) as s:` waits until `ready_path` answers 200."""

    def __init__(self, database: Path, *, workers: int = 2, preload: bool = True,
                 embeddings: Path | None = None, load_model: bool = True, ready_path: str = "/readyz",
                 log: Path | None = None, start_timeout: float = 240.0, extra_env: dict[str, str] | None = None):
        self.database, self.workers, self.preload = database, workers, preload
        self.embeddings = embeddings or database.parent / "embeddings"
        self.load_model, self.ready_path = load_model, ready_path
        self.log = log or database.parent / "gunicorn.log"
        self.start_timeout = start_timeout
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.ready_seconds = 0.0

    @property
    def config(self) -> str:
        return str(REPO / ("gunicorn.conf.py" if self.preload else "bench/gunicorn_no_preload.py"))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
        return env | {
            "KEWP_ENV": "development", "KEWP_SECRET_KEY": SECRET, "KEWP_DATABASE": str(self.database),
            "KEWP_EMBEDDINGS_DIR": str(self.embeddings), "KEWP_WORKERS": str(self.workers),
            "KEWP_BIND": f"127.0.0.1:{self.port}", "KEWP_SECURE_COOKIES": "false",
            "KEWP_LOAD_MODEL": "true" if self.load_model else "false",
            "KEWP_LOG_LEVEL": "warning",
            "KEWP_TIMEOUT": "120", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        } | self.extra_env

    def start(self) -> Server:
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(VENV_BIN / "gunicorn"), "-c", self.config, "--access-logfile", "/dev/null", "app:create_app()"],
                cwd=REPO, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = started + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                status, _ = get(self.port, self.ready_path, timeout=2.0)
                if status == 200:
                    self.ready_seconds = time.monotonic() - started
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.ready_path} not 200 within {self.start_timeout:.0f}s; see {self.log}")

    def wait_apps_loaded(self, count: int, timeout: float = 300.0) -> float:
        """Wait until `count` app instances logged their loaded embeddings (without preload each worker
        loads its own, and /readyz is 200 as soon as the first one answers); returns seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.log.read_text(errors="replace").count(LOADED_LINE) >= count:
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"only some of {count} app instances loaded within {timeout:.0f}s; see {self.log}")

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sorted(int(c) for c in children)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # the group this Popen started, nothing else
            self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
