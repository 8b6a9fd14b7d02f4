"""Ids in URLs and parameters: ASCII digits that fit SQLite, the documented forms, nothing else."""

from __future__ import annotations

import pytest

from app.services import ids

from .helpers import assert_error

TOO_BIG = str(2**70)  # 1180591620717411303424: past SQLite's INTEGER
ARABIC_55 = "\u0665\u0665"  # ARABIC-INDIC DIGIT FIVE, twice


@pytest.mark.parametrize(("method", "path"), [
    ("GET", f"/mappings/{TOO_BIG}"),
    ("GET", f"/mappings/proposals/{TOO_BIG}"),
    ("GET", f"/mappings/{TOO_BIG}/change"),
    ("POST", f"/mappings/{TOO_BIG}/change"),
    ("GET", f"/mappings/{TOO_BIG}/delete"),
    ("POST", f"/mappings/{TOO_BIG}/delete"),
    ("POST", f"/review/{TOO_BIG}/approve"),
    ("POST", f"/review/{TOO_BIG}/reject"),
    ("GET", f"/ke/{TOO_BIG}"),
    ("GET", f"/pathways/WP{TOO_BIG}"),
    ("GET", f"/mappings/{2**63}"),
])
def test_an_id_too_big_for_sqlite_is_a_404_page_not_a_500(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("path", [f"/mappings/{ARABIC_55}", f"/ke/{ARABIC_55}", f"/pathways/WP{ARABIC_55}"])
def test_non_ascii_digits_in_a_page_url_are_a_404(client, path):
    assert client.get(path).status_code == 404


def test_the_largest_sqlite_id_reaches_the_view(client):
    response = client.get(f"/mappings/{2**63 - 1}")
    assert response.status_code == 404
    assert "There is no mapping 9223372036854775807." in response.get_data(as_text=True)


def test_an_api_mapping_id_too_big_for_sqlite_is_a_json_400_naming_the_limit(client):
    assert_error(client.get(f"/api/v1/mappings/{TOO_BIG}"), 400, "mapping_id", str(ids.SQLITE_INT_MAX))


@pytest.mark.parametrize("path", [
    f"/api/v1/key-events/{ARABIC_55}", f"/api/v1/key-events/KE{ARABIC_55}",
    f"/api/v1/key-events/{ARABIC_55}/suggestions",
    f"/api/v1/pathways/WP{ARABIC_55}", f"/api/v1/mappings/{ARABIC_55}",
    f"/api/v1/mappings?ke={ARABIC_55}", f"/api/v1/mappings?pathway=WP{ARABIC_55}",
])
def test_non_ascii_digits_in_an_api_id_are_a_json_400(client, path):
    assert_error(client.get(path), 400)


@pytest.mark.parametrize("path", [f"/api/v1/key-events/KE{TOO_BIG}", f"/api/v1/pathways/WP{TOO_BIG}",
                                  f"/api/v1/key-events/{'9' * 5000}"])
def test_an_api_ke_or_pathway_number_past_the_limit_is_a_json_400(client, path):
    assert_error(client.get(path), 400)


def test_the_kelvin_sign_does_not_pass_for_a_k():
    assert ids.ke_id("\u212aE55") is None
    assert ids.ke_id("kE55") == "KE 55"


@pytest.mark.parametrize(("text", "expected"), [
    ("55", "KE 55"), ("KE 55", "KE 55"), ("ke 55", "KE 55"), ("KE-55", "KE 55"), ("KE055", "KE 55"),
    ("KE 55 liver", ""), (ARABIC_55, ""), (TOO_BIG, ""),
])
def test_search_names_the_key_event_an_id_like_text_means(text, expected):
    assert ids.search_id("KE", text) == expected
