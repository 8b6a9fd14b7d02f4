"""A curator maps a Key Event to a pathway in a real browser, an admin approves, the export has it.

Runs against the deployed local VPS over HTTPS (nginx, self-signed certificate, the app in
its container), so it also shows that the security headers (CSP above all) leave the pages
working: a Content-Security-Policy violation fails the test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Site

pytestmark = pytest.mark.e2e

SEARCH_TERM = "acetylcholinesterase"
RATIONALE = ("End-to-end test: the pathway describes the process this Key Event perturbs; "
             "the suggestion's reasons name the same genes.")


class Recorder:
    """Screenshots, console errors and CSP violations of one browser context."""

    def __init__(self, artifacts: Path, who: str) -> None:
        self.artifacts = artifacts
        self.who = who
        self.step = 0
        self.problems: list[str] = []

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", self._response)

    def _console(self, message) -> None:
        # Failed loads are reported with their URL by _response.
        if message.text.startswith("Failed to load resource"):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            where = message.location.get("url", "?")
            self.problems.append(f"console {message.type} on {where}: {message.text}")

    def _response(self, response) -> None:
        # Browsers ask for /favicon.ico on their own; the app has none (yet).
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def shot(self, page, name: str) -> None:
        self.step += 1
        page.screenshot(path=self.artifacts / f"{self.who}-{self.step:02d}-{name}.png", full_page=True)
        # With Debian's chromium, a click on a scrolled page after a full-page screenshot is
        # lost (the page sees no event); starting from the top again avoids it.
        page.evaluate("window.scrollTo(0, 0)")


@pytest.fixture
def open_context(browser, site: Site, artifacts: Path):
    """A fresh browser context (own cookies) per person: open_context('curator') -> (page, recorder)."""
    contexts = []
    page_recorders: dict[int, Recorder] = {}

    def _open(who: str):
        context = browser.new_context(ignore_https_errors=True, base_url=site.base_url,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        recorder = Recorder(artifacts, who)
        recorder.watch(page)
        page_recorders[id(page)] = recorder
        return page, recorder

    yield _open
    for context in contexts:
        # Where each person ended up (the last screenshot of a failed run shows why).
        for page in context.pages:
            recorder = page_recorders.get(id(page))
            if recorder is not None:
                recorder.shot(page, "last")
        context.close()


def sign_in(page, recorder: Recorder, user: tuple[str, str]) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(user[0])
    page.get_by_label("Password").fill(user[1])
    recorder.shot(page, "sign-in")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_text(f"{user[0]} (").first.is_visible(), f"{user[0]} is not shown as signed in"


@pytest.fixture
def timing(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[dict[str, float]]:
    """Marks (seconds since the start) of the flow's steps; reported and kept in timings.json."""
    start = time.monotonic()
    marks: dict[str, float] = {}
    yield marks
    marks = {name: round(at - start, 2) for name, at in marks.items()}
    (artifacts / "timings.json").write_text(json.dumps(marks, indent=2) + "\n")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and marks:
        steps = ", ".join(f"{name} {at:.1f} s" for name, at in marks.items())
        reporter.write_line(f"e2e timings (from the start): {steps}")


def test_curator_proposes_admin_approves_export_contains_it(site: Site, open_context, timing):
    from playwright.sync_api import expect

    # --- the curator -----------------------------------------------------------------------
    page, curator = open_context("curator")
    sign_in(page, curator, site.curator)
    timing["curator signed in"] = time.monotonic()

    # Find a Key Event with the search form.
    page.get_by_role("link", name="Key Events", exact=True).click()
    page.get_by_role("textbox", name="Search").fill(SEARCH_TERM)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"/ke\?"))
    curator.shot(page, "ke-search")
    results = page.locator("table tbody tr td:first-child a")
    expect(results.first).to_be_visible()
    results.first.click()
    page.wait_for_url(re.compile(r"/ke/"))
    ke_id = page.locator("p.muted").first.inner_text().split("·")[0].strip()
    assert re.fullmatch(r"KE \d+", ke_id), ke_id

    # Suggestions are shown; propose the best one nobody has mapped or proposed yet.
    expect(page.get_by_role("heading", name="Suggested pathways")).to_be_visible()
    propose_links = page.locator("table.suggestions").get_by_role("link", name="Propose")
    expect(propose_links.first).to_be_visible()
    curator.shot(page, "ke-suggestions")
    timing["suggestions shown"] = time.monotonic()
    href = propose_links.first.get_attribute("href")
    wp_id = re.search(r"wp=(WP\d+)", href or "").group(1)
    propose_links.first.click()
    page.wait_for_url(re.compile(r"/mappings/propose\?"))

    # The form comes filled in from the suggestion; answer the assessment questions.
    fieldsets = page.locator("form.proposal fieldset")
    assert fieldsets.count() >= 1
    for index in range(fieldsets.count()):
        fieldsets.nth(index).get_by_role("radio").first.check()
    page.get_by_label("Rationale").fill(RATIONALE)
    # confidence.js (allowed by the CSP: script-src 'self') shows the level at once.
    expect(page.locator("[data-confidence-output] .badge")).to_have_count(1)
    curator.shot(page, "propose-form")
    page.get_by_role("button", name="Submit proposal").click()
    page.wait_for_url(re.compile(r"/mappings/proposals/\d+"))
    proposal_id = int(re.search(r"/mappings/proposals/(\d+)", page.url).group(1))
    expect(page.get_by_role("status").first).to_contain_text(f"proposal {proposal_id}")
    curator.shot(page, "proposal-recorded")
    timing["proposal submitted"] = time.monotonic()

    # --- the admin ---------------------------------------------------------------------------
    admin_page, admin = open_context("admin")
    sign_in(admin_page, admin, site.admin)
    admin_page.get_by_role("link", name="Review", exact=True).click()
    admin_page.wait_for_url(re.compile(r"/review"))
    row = admin_page.locator(f"#proposal-{proposal_id}")
    expect(row).to_contain_text(ke_id)
    expect(row).to_contain_text(wp_id)
    expect(row).to_contain_text(site.curator[0])
    admin.shot(admin_page, "review-queue")
    row.get_by_role("button", name="Approve").click()
    admin_page.wait_for_url(re.compile(r"/review"))
    expect(admin_page.get_by_role("status").first).to_contain_text(f"Approved proposal {proposal_id}")
    admin.shot(admin_page, "approved")
    timing["approved"] = time.monotonic()

    # --- the export --------------------------------------------------------------------------
    page.get_by_role("link", name="Export", exact=True).click()
    page.wait_for_url(re.compile(r"/export"))
    curator.shot(page, "export")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    saved = curator.artifacts / f"export-{download.suggested_filename}"
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert any(ke_id in row.values() and wp_id in row.values() for row in rows), (
        f"{ke_id} -> {wp_id} is not in the exported CSV ({len(rows)} rows; {saved})")
    timing["export checked"] = time.monotonic()

    # The pages worked under the site's CSP and without script errors.
    assert not curator.problems, curator.problems
    assert not admin.problems, admin.problems
