"""Issue 18: the review queue and the mapping lists filter and sort server-side through the URL, page
links keep both, KE titles are links, and times read as "3 hours ago" with the exact UTC time kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from app.services import mappings as svc
from app.services import timefmt
from app.services.paging import Sort, SortError

from .helpers import LOW, add_mapping, approved_mapping, page_text, propose


def queue_ids(client, query: str = "") -> list[int]:
    return [int(n) for n in re.findall(r'id="proposal-(\d+)"', client.get(f"/review{query}").get_data(as_text=True))]


def age(conn, proposal_id: int, days: float) -> None:
    conn.execute("UPDATE proposals SET proposed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?) WHERE id = ?",
                 (f"-{days} days", proposal_id))


# --- sorting --------------------------------------------------------------------------------

def test_a_sort_takes_only_whitelisted_columns_and_directions():
    spec = Sort({"id": "t.id", "name": "t.name"}, default="id", default_direction="desc", tiebreak="t.id")
    assert spec.clean(None, None) == ("id", "desc")
    assert spec.clean("NAME", "") == ("name", "asc")
    assert spec.order_by("name", "desc") == "t.name DESC, t.id DESC"
    with pytest.raises(SortError, match="sort must be one of id, name"):
        spec.clean("name; DROP TABLE t", "asc")
    with pytest.raises(SortError, match="order must be asc or desc"):
        spec.clean("id", "sideways")


def test_the_review_queue_sorts_by_confidence_best_first_with_ties_in_id_order(admin_client, conn):
    low = propose(conn, wp="WP3915", answers=LOW)
    high_first = propose(conn, wp="WP2879")
    high_second = propose(conn)
    assert queue_ids(admin_client, "?sort=confidence&order=desc") == [high_second, high_first, low]
    assert queue_ids(admin_client, "?sort=confidence&order=asc") == [low, high_first, high_second]


def test_an_unknown_sort_column_is_400_and_names_the_allowed_ones(admin_client):
    response = admin_client.get("/review?sort=rationale")
    assert response.status_code == 400
    assert "sort must be one of" in response.get_data(as_text=True)
    assert admin_client.get("/mappings?sort=id&order=up").status_code == 400


def test_mappings_sort_by_key_event_number_not_text(client, conn):
    for ke in ("KE 1817", "KE 55", "KE 1505"):
        add_mapping(conn, ke, "WP254", "high")
    page = client.get("/mappings?sort=ke&order=asc").get_data(as_text=True)
    assert page.index("KE 55") < page.index("KE 1505") < page.index("KE 1817")


def test_column_headings_link_to_the_other_direction_and_keep_the_filters(admin_client, conn):
    propose(conn)
    page = admin_client.get("/review?sort=confidence&order=desc&curator=cora").get_data(as_text=True)
    assert 'aria-sort="descending"' in page
    assert re.search(r'href="/review\?[^"]*curator=cora[^"]*sort=confidence[^"]*order=asc"', page.replace("&amp;", "&"))


def test_page_links_keep_the_filters_and_the_sort(client, conn):
    for wp in [r[0] for r in conn.execute("SELECT wp_id FROM pathways ORDER BY wp_id LIMIT 27")]:
        add_mapping(conn, "KE 55", wp, "high")
    page = client.get("/mappings?ke=KE+55&confidence=high&sort=wp&order=desc").get_data(as_text=True)
    (next_link,) = re.findall(r'href="([^"]*page=2[^"]*)"', page.replace("&amp;", "&"))
    for part in ("ke=KE+55", "confidence=high", "sort=wp", "order=desc"):
        assert part in next_link


# --- filters --------------------------------------------------------------------------------

def test_the_review_queue_filters_by_key_event_pathway_curator_and_confidence(admin_client, conn):
    mine = propose(conn, wp="WP3915", by="Cyd")
    low = propose(conn, wp="WP2879", answers=LOW)
    other_ke = propose(conn, ke="KE 1505")
    assert queue_ids(admin_client, "?curator=cyd") == [mine]
    assert queue_ids(admin_client, "?confidence=low") == [low]
    assert queue_ids(admin_client, "?ke=KE1505") == [other_ke]
    assert queue_ids(admin_client, "?wp=WP2879") == [low]


def test_the_review_queue_filters_deletions_as_no_level(admin_client, conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    delete = svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "Superseded by WP3915."}, "delete",
                                                         mapping))
    propose(conn, wp="WP3915")
    assert queue_ids(admin_client, "?confidence=none") == [delete]


def test_the_review_queue_filters_by_how_long_a_proposal_has_waited(admin_client, conn):
    fresh, week_old, month_old = propose(conn, wp="WP3915"), propose(conn, wp="WP2879"), propose(conn)
    age(conn, week_old, 10)
    age(conn, month_old, 40)
    assert queue_ids(admin_client, "?age=day") == [fresh]
    assert queue_ids(admin_client, "?age=over-week") == [month_old, week_old]
    assert queue_ids(admin_client, "?age=over-month") == [month_old]


def test_a_bad_filter_is_400_with_the_reason(admin_client):
    for query, words in (("?age=ancient", "age must be one of"), ("?confidence=certain", "confidence must be"),
                         ("?ke=KE+999999", "not in the Key Event catalogue")):
        response = admin_client.get(f"/review{query}")
        assert response.status_code == 400, query
        assert words in response.get_data(as_text=True)


def test_the_queue_counts_stay_those_of_the_whole_queue_when_filtered(admin_client, conn):
    propose(conn, wp="WP3915", by="cyd")
    propose(conn, wp="WP2879")
    assert "<strong>2</strong> pending" in page_text(admin_client.get("/review?curator=cyd"))


def test_mappings_filter_by_curator(client, conn):
    approved_mapping(conn)
    add_mapping(conn, "KE 1505", "WP254", "high")
    conn.execute("UPDATE mappings SET proposed_by = 'cyd' WHERE ke_id = 'KE 1505'")
    page = client.get("/mappings?curator=CYD").get_data(as_text=True)
    assert "KE 1505" in page and "KE 55 " not in page


# --- links and times ------------------------------------------------------------------------

def test_key_event_titles_in_lists_are_links(client, conn):
    approved_mapping(conn)
    title = conn.execute("SELECT title FROM key_events WHERE ke_id = 'KE 55'").fetchone()[0]
    assert f'<a href="/ke/55">KE 55 {title}</a>' in client.get("/mappings").get_data(as_text=True)


def test_times_read_as_a_person_says_them():
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    cases = {"2026-12-02T11:59:30Z": "just now", "2026-12-02T11:55:00Z": "5 minutes ago",
             "2026-12-02T09:00:00Z": "3 hours ago", "2026-12-01T10:00:00Z": "yesterday",
             "2026-11-18T12:00:00Z": "2 weeks ago", "2025-11-30T12:00:00.123Z": "1 year ago", "": "",
             "not a time": ""}
    assert {stamp: timefmt.ago(stamp, now) for stamp in cases} == cases


def test_lists_show_relative_times_with_the_exact_utc_time_in_the_markup(admin_client, conn):
    proposal_id = propose(conn)
    conn.execute("UPDATE proposals SET proposed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-3 hours', "
                 "'-5 minutes') WHERE id = ?", (proposal_id,))
    stamp = conn.execute("SELECT proposed_at FROM proposals").fetchone()[0]
    page = admin_client.get("/review").get_data(as_text=True)
    assert f'<time datetime="{stamp}" title="{stamp[:10]} {stamp[11:19]} UTC">3 hours ago</time>' in page
