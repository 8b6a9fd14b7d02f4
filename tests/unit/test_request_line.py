"""The real gunicorn.conf.py lets the documented 2,000-character `text=` reach the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.services import openapi

from .helpers import REPO, free_port, stop_server


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read().decode()


@pytest.fixture
def server(db_path: Path, tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_ENV="development", KEWP_DATABASE=str(db_path), KEWP_EMBEDDINGS_DIR=str(tmp_path / "none"),
               KEWP_LOAD_MODEL="false", KEWP_WORKERS="1", KEWP_BIND=f"127.0.0.1:{port}")
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                                    "app:create_app()"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {log.read_text()[-2000:]}")
            try:
                if _get(base + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        stop_server(process, log)


def test_the_longest_documented_text_reaches_the_app_even_fully_percent_encoded(server):
    text = "%41" * openapi.TEXT_MAX  # 2,000 characters, 6,000 bytes in the URL
    status, mimetype, body = _get(f"{server}/api/v1/suggestions?text={text}")
    # The model is off here, so the app answers 503: what matters is that the app answered.
    assert (status, mimetype) == (503, "application/json"), body[:300]


def test_a_text_over_the_limit_is_a_json_400_naming_the_limit(server):
    status, mimetype, body = _get(f"{server}/api/v1/suggestions?text={'%41' * (openapi.TEXT_MAX + 1)}")
    assert (status, mimetype) == (400, "application/json")
    assert json.loads(body)["error"]["message"] == f"text is {openapi.TEXT_MAX + 1} characters long; the limit is 2000"
