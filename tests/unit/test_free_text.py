"""Free text (rationale, review comments): control and bidi characters are refused with a
message naming the field, the character and its position; exports never emit them raw."""

from __future__ import annotations

import json

import pytest

from app.services import exports, text
from app.services import mappings as svc

from .helpers import HIGH, KE, RATIONALE, WP, add_mapping, count, csrf_token, propose, propose_form, sign_in

FORBIDDEN = ["\x00", "\x1b", "\x7f", "\x85", "\u202a", "\u202c", "\u202e", "\u2066", "\u2069"]
# What an old row might hold: NUL, ESC and an RLO that would reorder the rest when displayed.
DIRTY = "Evil\x00 rationale\x1b[31m red \u202eesrever\u202c end"


@pytest.mark.parametrize("char", FORBIDDEN)
def test_forbidden_character_is_named_with_its_code_point_and_position(char):
    message = text.problem("Apoptosis" + char + " and more", "rationale")
    assert message is not None
    assert message.startswith("The rationale contains")
    assert f"U+{ord(char):04X}" in message
    assert "at position 10; remove it" in message


def test_bidi_override_is_called_a_bidirectional_control_character():
    assert "bidirectional-text control character U+202E (RIGHT-TO-LEFT OVERRIDE)" in text.problem("a\u202eb", "comment")


@pytest.mark.parametrize("clean", ["tab\there", "two\nlines", "crlf\r\nline", "ünïcödé – “quotes” 中文 emoji 🧬"])
def test_ordinary_text_with_tabs_newlines_and_unicode_passes(clean):
    assert text.problem(clean, "rationale") is None


def test_crlf_and_lone_cr_become_lf():
    assert text.normalise_newlines("a\r\nb\rc\n") == "a\nb\nc\n"


def test_rationale_with_esc_is_refused_naming_the_field_character_and_position(conn):
    with pytest.raises(svc.ValidationError) as refused:
        svc.clean_proposal(conn, {"ke": KE, "wp": WP, **HIGH, "rationale": "Apoptosis\x1b[31m is the cell death."})
    assert refused.value.errors["rationale"].startswith(
        "The rationale contains a control character U+001B at position 10; remove it")
    assert count(conn, "proposals") == 0


def test_rationale_crlf_is_stored_as_lf(conn):
    data = svc.clean_proposal(conn, {"ke": KE, "wp": WP, **HIGH, "rationale": "First line.\r\nSecond line."})
    assert data.rationale == "First line.\nSecond line."


def test_propose_form_refuses_a_bidi_override_and_keeps_what_was_typed(client, conn):
    sign_in(client, conn, "cora", "curator")
    typed = "Apoptosis \u202eis the cell death this KE describes."
    response = client.post("/mappings/propose", data=propose_form(client, rationale=typed))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The rationale contains a bidirectional-text control character U+202E" in page
    assert "at position 11" in page
    assert typed in page  # nothing typed is lost
    assert 'value="causative"' in page and 'checked' in page
    assert count(conn, "proposals") == 0


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_review_comment_with_a_nul_is_refused_and_kept_in_the_form(client, conn, decision):
    sign_in(client, conn, "ada", "admin")
    proposal_id = propose(conn)
    comment = "Looks fine\x00 to me."
    response = client.post(f"/review/{proposal_id}/{decision}",
                           data={"comment": comment, "csrf_token": csrf_token(client, "/review")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "contains a control character U+0000 at position 11; remove it" in page
    assert "Looks fine" in page and "to me." in page
    assert count(conn, "proposals", "status = 'pending'") == 1


def test_service_refuses_a_c1_control_in_an_approval_comment(conn):
    with pytest.raises(svc.ValidationError) as refused:
        svc.approve(conn, propose(conn), "ada", "OK\x9b")
    assert "The comment contains a control character U+009B at position 3" in refused.value.errors["comment"]
    assert count(conn, "mappings") == 0


# --- exports of rows stored before the check ----------------------------------------------

def raw_forbidden(body: str) -> list[str]:
    return [c for c in FORBIDDEN if c in body]


@pytest.fixture
def dirty_mapping(conn):
    return add_mapping(conn, KE, WP, "high", rationale=DIRTY)


@pytest.mark.parametrize("path", ["/export/mappings.csv", "/export/mappings.json", "/export/mappings.ttl",
                                  "/api/v1/mappings", "/api/v1/mappings/1"])
def test_exports_and_api_never_emit_control_or_bidi_characters_raw(client, dirty_mapping, path):
    body = client.get(path).get_data(as_text=True)
    assert raw_forbidden(body) == []
    assert "\\u0000" not in body and "\\u001b" not in body.lower() and "\\u202e" not in body.lower()
    assert "Evil rationale[31m red esrever end" in body


def test_api_csv_never_emits_control_characters_raw(client, dirty_mapping):
    body = client.get("/api/v1/mappings", headers={"Accept": "text/csv"}).get_data(as_text=True)
    assert raw_forbidden(body) == []


def test_exported_json_rationale_is_the_stored_text_without_the_invisible_characters(client, dirty_mapping):
    document = json.loads(client.get("/export/mappings.json").get_data(as_text=True))
    assert document["mappings"][0]["rationale"] == "Evil rationale[31m red esrever end"


def test_gene_set_export_drops_control_characters_from_titles():
    line = exports.to_gmt([("KE 7", "Title\x1b with \u2066isolate", ["A"])])
    assert line == "KE_7\tTitle with isolate\tA\n"


def test_csv_cell_drops_control_characters_before_the_formula_check():
    assert exports.safe_cell("\x00=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert exports.safe_cell(RATIONALE) == RATIONALE
