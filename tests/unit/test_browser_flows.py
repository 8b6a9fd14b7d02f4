"""Issue 18: the curation flows in a real browser (Debian's chromium, headless, through Playwright)
against the app on 127.0.0.1: withdraw, edit, bulk approve, AOP coverage, an invite sign-up and a
sign-in through a real OpenID Provider's own login page. Each test leaves a screenshot of the page
it ends on in test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import pytest

from app.services import invites

from .helpers import PASSWORD, REPO, approved_mapping, count, propose, sign_in_page
from .oidc_helpers import provider_env

pytest_plugins = ["tests.unit.browser_fixtures", "tests.unit.oidc_fixtures"]
ARTIFACTS = REPO / "test-artifacts"


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(15000)
    return page


def test_a_curator_withdraws_a_pending_proposal_after_confirming(page, live_url, conn, curator):
    proposal_id = propose(conn)
    sign_in_page(page, live_url, "cora")
    page.goto(f"{live_url}/mappings/proposals/{proposal_id}")
    page.click("text=Withdraw…")
    assert "cannot be reopened" in page.content()              # the confirmation step, no JavaScript needed
    page.click("text=Yes, withdraw it")
    page.wait_for_load_state()
    assert f"Proposal {proposal_id} is withdrawn" in page.content()
    screenshot(page, "withdrawn")
    assert conn.execute("SELECT status FROM proposals WHERE id = ?", (proposal_id,)).fetchone()[0] == "withdrawn"


def test_a_curator_edits_a_pending_proposal(page, live_url, conn, curator):
    proposal_id = propose(conn)
    sign_in_page(page, live_url, "cora")
    page.goto(f"{live_url}/mappings/proposals/{proposal_id}")
    page.click("a:has-text('Edit')")
    page.fill("textarea[name=rationale]", "Caspase-driven apoptosis is this Key Event (PMID 23456), edited.")
    page.click("button[name=step][value=submit]")      # the page's script keeps the level it showed in step
    page.wait_for_load_state()
    assert f"Proposal {proposal_id} is updated" in page.content()
    screenshot(page, "edited")
    row = conn.execute("SELECT status, rationale FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    assert tuple(row) == ("pending", "Caspase-driven apoptosis is this Key Event (PMID 23456), edited.")


def test_an_admin_bulk_approves_ticked_proposals(page, live_url, conn, admin, curator):
    ids = [propose(conn, wp="WP3915"), propose(conn, wp="WP2879")]
    sign_in_page(page, live_url, "ada")
    page.goto(f"{live_url}/review")
    for proposal_id in ids:
        page.check(f"input[name=ids][value='{proposal_id}']")
    page.fill("form#bulk textarea[name=comment]", "Both checked at the workshop.")
    page.click("button[name=decision][value=approve]")
    page.wait_for_load_state()
    screenshot(page, "bulk-confirm")
    page.click("text=Yes, approve 2")
    page.wait_for_load_state()
    assert "Approved 2 proposals" in page.content()
    screenshot(page, "bulk-approved")
    assert count(conn, "mappings") == 2
    assert count(conn, "audit_log", "action = 'approved'") == 2


def test_the_aop_coverage_page_shows_each_key_events_mapping_state(page, live_url, conn, curator):
    approved_mapping(conn)                                    # KE 55 -> WP254, approved
    aop = conn.execute("SELECT value FROM key_events, json_each(key_events.aop_ids) "
                       "WHERE ke_id = 'KE 55' LIMIT 1").fetchone()[0]
    number = aop.split()[1]
    sign_in_page(page, live_url, "cora")
    page.goto(f"{live_url}/aops?unmapped=true")
    page.click(f"a[href='/aops/{number}'] >> nth=0")
    page.wait_for_load_state()
    row = page.locator("tr#ke-55")
    assert "approved" in row.inner_text()
    assert page.locator("tr.state-none").count() > 0            # the KEs still unmapped, with a link to map them
    screenshot(page, "aop-coverage")


def test_an_invite_link_creates_a_curator_account(page, live_url, conn):
    _, code = invites.create(conn, "Browser workshop", days=1, max_uses=1, created_by="ada")
    page.goto(f"{live_url}/register?code={code}")
    page.fill("input[name=username]", "nia")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("text=Create account")
    page.wait_for_load_state()
    assert "Welcome, nia" in page.content()
    screenshot(page, "invite-sign-up")
    assert conn.execute("SELECT role FROM users WHERE username = 'nia'").fetchone()[0] == "curator"


@pytest.fixture
def oidc_site(make_app, monkeypatch, oidc_provider, serve) -> str:
    """A site with the test provider configured, served on 127.0.0.1; its base URL."""
    provider_env(monkeypatch, oidc_provider, new_accounts="open")
    return serve(make_app())


def test_sign_in_through_the_providers_own_login_page(page, oidc_site, oidc_provider, conn):
    base = oidc_site
    page.goto(f"{base}/login")
    page.click("text=Sign in with Test OP")
    page.wait_for_url(f"{oidc_provider.issuer}/interaction/**")
    page.fill("input[name=login]", "jane")
    page.fill("input[name=password]", "any password")
    screenshot(page, "oidc-provider-login")
    page.click("button.login-submit")
    page.wait_for_url(f"{oidc_provider.issuer}/interaction/**")  # the provider asks to authorize kewp
    page.click("button.login-submit")
    page.wait_for_url(f"{base}/")
    assert "Jane-Doe.test" in page.content() and "jane@example.org" not in page.content()
    screenshot(page, "oidc-signed-in")
    assert conn.execute("SELECT provider, subject FROM oidc_identities").fetchone()[:] == ("test", "jane")
