"""Browser tests against the deployed local VPS over HTTPS (Playwright with Debian's chromium).

The site: the local VPS (scripts/local-vps; KEWP_VPS_NAME / KEWP_VPS_SUBNET select which).
When it is already up (e.g. the deploy tests of the same pytest run made it), it is used as
it is; when it is down, it is made and converged with playbooks/site.yml here, and taken
down again at the end (unless KEWP_KEEP_VPS=1).

Needs: `apt-get install chromium` (Debian's build; Playwright's own browsers are never
downloaded) and the `playwright` Python package. Screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, SSH_CONFIG, local_vps, run_playbook

CHROMIUM = os.environ.get("KEWP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
ADMIN_PASSWORD_FILE = REPO / ".cache" / "local-secrets" / "kewp_admin_password"
ADMIN_USER = "admin"


@dataclass
class Site:
    """The deployed site and the accounts the tests sign in with."""

    address: str
    base_url: str
    admin: tuple[str, str]
    curator: tuple[str, str]


def vps_is_up() -> bool:
    proc = subprocess.run([str(REPO / "scripts" / "local-vps"), "status"], capture_output=True, text=True,
                          check=False)
    return proc.returncode == 0


def https_status(url: str) -> int | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def on_vps(address: str, command: list[str], *, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), "-o", "BatchMode=yes", f"root@{address}", *command],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"on the VPS: {' '.join(command)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.fail("the browser tests need root (scripts/local-vps boots a systemd-nspawn VPS): run them with sudo")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (Debian's build; never `playwright install`)")
    made_here = False
    if not vps_is_up():
        local_vps("up")
        made_here = True
    address = local_vps("address").strip()
    base_url = f"https://{address}"
    if made_here or https_status(f"{base_url}/login") != 200:
        run = run_playbook(label="e2e-converge")
        if run.returncode != 0:
            pytest.fail(f"converging the VPS for the browser tests failed (log {run.log}):\n{run.tail()}")
    deadline = time.monotonic() + 120
    while https_status(f"{base_url}/login") != 200:
        if time.monotonic() > deadline:
            pytest.fail(f"{base_url}/login does not answer 200 after converging")
        time.sleep(2)

    admin_password = ADMIN_PASSWORD_FILE.read_text().split()[0]
    # A new curator per run: the tests never depend on what an earlier run left behind.
    curator = (f"curator-{secrets.token_hex(3)}", secrets.token_urlsafe(18))
    on_vps(address, ["docker", "exec", "-i", "kewp", "flask", "--app", "app", "users", "add", curator[0],
                     "--role", "curator", "--password-stdin"], stdin=curator[1] + "\n")
    try:
        yield Site(address, base_url, (ADMIN_USER, admin_password), curator)
    finally:
        if made_here and os.environ.get("KEWP_KEEP_VPS") != "1":
            local_vps("down")


@pytest.fixture(scope="session")
def browser(site: Site):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS
