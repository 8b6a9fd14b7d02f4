"""The real gunicorn.conf.py with preload_app and 2 workers: every worker encodes (no fork hang)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .helpers import REPO, SEED, free_port, http_get, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture
def served(db_path: Path, tmp_path: Path):
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_ENV="development", KEWP_DATABASE=str(db_path), KEWP_EMBEDDINGS_DIR=str(SEED / "embeddings"),
               KEWP_WORKERS="2", KEWP_BIND=f"127.0.0.1:{port}", HF_HUB_OFFLINE="1")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log.open("w") as out:
        # The access log names the worker pid that answered each request.
        server = subprocess.Popen([str(gunicorn), "-c", "gunicorn.conf.py", "--access-logformat", "%(p)s %(r)s %(s)s",
                                   "app:create_app()"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"gunicorn exited: {log.read_text()[-3000:]}")
            try:
                if http_get(base + "/readyz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/readyz never answered 200: {log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base, server, log
    finally:
        stop_server(server, log)


def test_every_preloaded_worker_answers_suggestions(served):
    base, server, log = served
    status, body = http_get(base + "/readyz")
    assert status == 200 and json.loads(body)["model"] == "loaded"
    text = urllib.request.quote("mitochondrial dysfunction leading to ATP depletion")
    urls = [f"{base}/api/v1/suggestions?text={text}&k=5"] * 12 + [f"{base}/api/v1/key-events/KE%2055/suggestions"] * 4
    # Concurrent requests spread over both sync workers; a hung worker makes these time out.
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda u: http_get(u, timeout=30), urls))
    assert [code for code, _ in results] == [200] * len(urls)
    assert all(json.loads(body)["items"] for _, body in results)
    time.sleep(0.5)  # let the access log flush
    pids = set(re.findall(r"^<(\d+)> GET /api/v1/suggestions\?text=\S+ HTTP/1.1 200\s*$", log.read_text(), re.M))
    workers = {int(p) for p in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                              text=True, check=False).stdout.split()}
    assert len(workers) == 2
    assert {int(p) for p in pids} == workers, f"free-text encodes answered by {pids}, workers are {workers}"
