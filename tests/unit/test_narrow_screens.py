"""Issue 18: the pages are usable 360 px wide, with no horizontal scrolling (a real browser, headless).

The app is served on a loopback port and Debian's chromium opens each page at 360 x 740 CSS
pixels (tests/unit/browser_fixtures.py). Skipped where chromium or Playwright is missing.
"""

from __future__ import annotations

from .helpers import approved_mapping, propose, sign_in_page

pytest_plugins = ["tests.unit.browser_fixtures"]  # live_url, browser
WIDTH = 360
PAGES = ["/", "/ke", "/ke/55", "/pathways", "/pathways/WP254", "/mappings", "/mappings/1", "/mappings/mine",
         "/mappings/proposals/2", "/mappings/proposals/2/edit", "/mappings/propose?ke=KE+55&wp=WP3915", "/review",
         "/suggest?text=apoptosis", "/aops", "/aops/471", "/stats", "/register", "/releases"]


def overflowing(page) -> list[str]:
    """The elements wider than the viewport (tag, class, width), empty when the page fits."""
    return page.evaluate("""(width) => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > width + 1)
        .slice(0, 5).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""",
                         WIDTH)


def test_every_page_fits_a_360_px_wide_screen_without_horizontal_scrolling(browser, live_url, conn, admin):
    approved_mapping(conn)                       # mapping 1, proposals 1
    propose(conn, wp="WP3915", by="ada")         # proposal 2, the admin's own: edit page and review row
    propose(conn, wp="WP2879")
    page = browser.new_page()
    page.set_viewport_size({"width": WIDTH, "height": 740})
    sign_in_page(page, live_url, "ada")
    too_wide = {}
    for path in PAGES:
        response = page.goto(live_url + path)
        assert response.status < 400, (path, response.status)
        assert "/login" not in page.url, f"{path}: not signed in"
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > WIDTH:
            too_wide[path] = (scroll_width, overflowing(page))
    assert too_wide == {}
