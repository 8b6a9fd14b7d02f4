"""Browser-test fixtures: the app served on a loopback port and Debian's chromium (KEWP_CHROMIUM)
driven headless by Playwright (which downloads no browser). Test modules load them with
``pytest_plugins = ["tests.unit.browser_fixtures"]``; skipped where chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("KEWP_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def serve() -> Iterator[Callable[[object], str]]:
    """serve(app) -> its base URL: the app on 127.0.0.1, a free port, threaded, until the test ends.
    KEWP_PUBLIC_URL becomes that URL, as on a site where users reach it there."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        app.config["PUBLIC_URL"] = url
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return url

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def live_url(app, serve) -> str:
    return serve(app)


@pytest.fixture(scope="session")
def chromium():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def browser(chromium):
    """A fresh browser profile per test (its own cookies) that reaches only 127.0.0.1: anything
    else a page asks for (a web font, say) is refused, so no test talks to the outside."""
    context = chromium.new_context()
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("http://127.0.0.1")
                  else route.abort())
    yield context
    context.close()
