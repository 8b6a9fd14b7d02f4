"""Issue 18: /stats: mappings and proposals by state and confidence, curators' contributions (names,
never e-mail addresses), Key Events covered by biological level, mappings over time as an SVG chart."""

from __future__ import annotations

from datetime import date

from app.services import mappings as svc
from app.services import stats

from .helpers import LOW, add_mapping, approved_mapping, propose, sign_in


def test_mappings_are_counted_by_confidence(conn):
    add_mapping(conn, "KE 55", "WP254", "high")
    add_mapping(conn, "KE 55", "WP3915", "low")
    add_mapping(conn, "KE 3", "WP254", "low")
    assert stats.mappings_by_confidence(conn) == {"high": 1, "medium": 0, "low": 2}


def test_proposals_are_counted_by_status_and_confidence_with_deletions_as_no_level(conn):
    mapping = svc.get_mapping(conn, approved_mapping(conn))
    svc.propose(conn, "cyd", svc.clean_proposal(conn, {"rationale": "Superseded by WP3915."}, "delete", mapping))
    svc.withdraw(conn, propose(conn, wp="WP3915", answers=LOW), "cora")
    table = stats.proposals_by_state(conn)
    assert table["approved"]["high"] == 1
    assert table["pending"]["none"] == 1
    assert table["withdrawn"]["low"] == 1
    assert sum(table["rejected"].values()) == 0


def test_contributions_count_what_each_person_proposed_and_reviewed(conn):
    approved_mapping(conn)                                   # cora proposed, ada approved
    svc.reject(conn, propose(conn, wp="WP3915"), "ada", "No.")
    propose(conn, wp="WP2879", by="cyd")
    people = {p.name: p for p in stats.contributions(conn)}
    assert (people["cora"].mappings, people["cora"].proposed, people["cora"].approved,
            people["cora"].rejected) == (1, 2, 1, 1)
    assert (people["ada"].reviews, people["ada"].proposed) == (2, 0)
    assert people["cyd"].pending == 1


def test_a_name_that_looks_like_an_e_mail_address_is_cut_at_the_at_sign(conn):
    add_mapping(conn, "KE 55", "WP254", "high")
    conn.execute("UPDATE mappings SET proposed_by = 'jo.doe@example.org'")
    assert [p.name for p in stats.contributions(conn)] == ["jo.doe"]
    assert stats.display_name("jo@example.org") == "jo"


def test_key_events_covered_are_counted_by_biological_level_in_aop_wiki_order(conn):
    add_mapping(conn, "KE 55", "WP254", "high")
    propose(conn, ke="KE 3")
    rows = {c.level: c for c in stats.coverage_by_level(conn)}
    level_55 = conn.execute("SELECT bio_level FROM key_events WHERE ke_id = 'KE 55'").fetchone()[0]
    assert rows[level_55].mapped == 1
    assert rows["Cellular"].pending >= 1
    levels = [c.level for c in stats.coverage_by_level(conn)]
    assert levels.index("Molecular") < levels.index("Cellular") < levels.index("Organ")
    assert sum(c.key_events for c in rows.values()) == 1619


def test_mappings_over_time_count_creations_and_deletions_day_by_day(conn):
    mapping_id = approved_mapping(conn)
    approved_mapping(conn, wp="WP3915")
    conn.execute("UPDATE audit_log SET at = '2026-11-01T10:00:00.000Z' WHERE entity = 'mapping'")
    delete = svc.clean_proposal(conn, {"rationale": "Merged into another mapping."}, "delete",
                                svc.get_mapping(conn, mapping_id))
    svc.approve(conn, svc.propose(conn, "cyd", delete), "ada")
    conn.execute("UPDATE audit_log SET at = '2026-11-03T10:00:00.000Z' WHERE action = 'deleted'")
    points = stats.mappings_over_time(conn, today=date(2026, 11, 4))
    assert [(p.period, p.total) for p in points] == [("2026-11-01", 2), ("2026-11-02", 2), ("2026-11-03", 1),
                                                     ("2026-11-04", 1)]


def test_mappings_over_a_long_time_are_counted_by_month(conn):
    add_mapping(conn, "KE 55", "WP254", "high")
    conn.execute("UPDATE mappings SET created_at = '2026-01-15T00:00:00Z'")
    points = stats.mappings_over_time(conn, today=date(2026, 4, 2))
    assert [(p.period, p.total) for p in points] == [("2026-01", 1), ("2026-02", 1), ("2026-03", 1),
                                                     ("2026-04", 1)]


def test_the_chart_scales_bars_to_the_largest_value_inside_the_box():
    chart = stats.bar_chart([stats.Point("2026-01", 2), stats.Point("2026-02", 4)], width=100, height=60, margin=10)
    assert chart.top == 4
    assert [b.height for b in chart.bars] == [20.0, 40.0]
    assert all(10 <= b.x and b.x + b.width <= 90 for b in chart.bars)
    assert chart.bars[1].y == 10.0


def test_the_stats_page_draws_an_svg_chart_and_hides_proposals_from_signed_out_visitors(client, conn):
    approved_mapping(conn)
    propose(conn, wp="WP3915", by="cyd")   # cyd has only a pending proposal
    page = client.get("/stats").get_data(as_text=True)
    assert "<svg" in page and "<rect" in page and "<script" not in page
    assert "Proposals by status" not in page and "cyd" not in page
    assert "cora" in page


def test_signed_in_users_see_proposals_and_reviews_on_the_stats_page(client, conn):
    approved_mapping(conn)
    propose(conn, wp="WP3915", by="cyd")
    sign_in(client, conn, "cora", "curator")
    page = client.get("/stats").get_data(as_text=True)
    assert "Proposals by status" in page and "cyd" in page and "Reviews done" in page
