"""A real OpenID Provider for the sign-in tests: panva's oidc-provider (node, tests/oidc_provider/)
on 127.0.0.1, started once per run. Test modules load it with
``pytest_plugins = ["tests.unit.oidc_fixtures"]`` and import helpers from ``oidc_helpers``.

The provider knows one client (`kewp-test`, redirect URIs on 127.0.0.1 and localhost, any port);
its own login page accepts any login name, which becomes the `sub` (names come from NAMES), then
asks to authorize kewp.
`make unit` installs node and the provider's pinned packages (npm ci) when they are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from .oidc_helpers import CALLBACK_PATH, CLIENT_ID, CLIENT_SECRET, NAMES, OP_DIR, Provider


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make unit installs it)")
    if not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=OP_DIR, check=True, timeout=300)
    env = {**os.environ, "KEWP_TEST_OP_NAMES": json.dumps(NAMES), "KEWP_TEST_OP_CLIENTS": json.dumps([{
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"http://127.0.0.1{CALLBACK_PATH}", f"http://localhost{CALLBACK_PATH}"]}])}
    process = subprocess.Popen([node, "server.mjs"], cwd=OP_DIR, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()     # "issuer http://127.0.0.1:PORT" once it listens
        if not line.startswith("issuer "):
            pytest.fail(f"the test OpenID Provider did not start (exit {process.poll()}): {line!r}")
        yield Provider(line.split()[1])
    finally:
        process.terminate()
        process.wait(10)
