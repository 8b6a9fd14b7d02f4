"""Releases on the web: the public /releases page, the admin-only form, and /api/v1/releases."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from app.services import releases

from .helpers import SITE, add_mapping, assert_error, count, csrf_token, make_release, sign_in, validator_for


@pytest.fixture
def mapped(conn: sqlite3.Connection) -> None:
    add_mapping(conn, "KE 55", "WP254", "high", score=0.83)
    add_mapping(conn, "KE 66", "WP3", "medium")


@pytest.fixture
def released(conn, db_path, mapped) -> releases.Release:
    make_release(conn, db_path, note="First set")
    add_mapping(conn, "KE 55", "WP3915", "low")
    return make_release(conn, db_path)


def post_release(client, note: str = ""):
    return client.post("/releases/new", data={"note": note, "csrf_token": csrf_token(client, "/releases/new")})


# --- the public page --------------------------------------------------------------------------

def test_the_releases_page_lists_each_release_with_its_files_sizes_checksums_and_links(client, released):
    html = client.get("/releases").get_data(as_text=True)
    assert html.index('id="release-2"') < html.index('id="release-1"')
    assert "First set" in html
    for entry in releases.files(releases.root_for(client.application.config["DATABASE"]), released):
        assert f'href="/api/v1/releases/2/files/{entry["name"]}"' in html
        assert f"<code>{entry['sha256']}</code>" in html


def test_the_releases_page_says_when_there_is_none_and_offers_no_form_to_visitors(client):
    html = client.get("/releases").get_data(as_text=True)
    assert "No release yet." in html
    assert "/releases/new" not in html


# --- the admin form ---------------------------------------------------------------------------

def test_an_admin_makes_a_release_with_the_form_and_sees_it_listed(client, conn, mapped):
    sign_in(client, conn, "ada", "admin")
    assert 'href="/releases/new"' in client.get("/releases").get_data(as_text=True)
    assert "This will be release 1." in client.get("/releases/new").get_data(as_text=True)
    response = post_release(client, note="For the workshop")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/releases#release-1")
    html = client.get("/releases").get_data(as_text=True)
    assert "Made release 1: 2 mappings (2 added, 0 changed, 0 removed)." in html
    release = releases.get_release(conn, 1)
    assert (release.created_by, release.note) == ("ada", "For the workshop")


def test_a_curator_can_neither_open_the_form_nor_make_a_release(client, conn, mapped):
    sign_in(client, conn, "ada", "admin")
    token = csrf_token(client, "/releases/new")
    sign_in(client, conn, "cora", "curator")
    assert client.get("/releases/new").status_code == 403
    assert client.post("/releases/new", data={"csrf_token": token}).status_code == 403
    assert count(conn, "releases") == 0


def test_a_visitor_is_sent_to_sign_in_and_cannot_post(client, conn, mapped):
    assert client.get("/releases/new").status_code == 302
    assert client.post("/releases/new", data={}).status_code in (400, 401)
    assert count(conn, "releases") == 0


def test_the_form_refuses_a_post_without_its_csrf_token(client, conn, mapped):
    sign_in(client, conn, "ada", "admin")
    response = client.post("/releases/new", data={"note": "x"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert count(conn, "releases") == 0


def test_the_form_says_why_when_there_is_nothing_to_release(client, conn):
    sign_in(client, conn, "ada", "admin")
    response = post_release(client)
    assert response.status_code == 400
    assert "no approved mappings to release" in response.get_data(as_text=True)


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def test_the_api_lists_releases_newest_first_as_its_openapi_schema_says(client, spec, released):
    body = client.get("/api/v1/releases").get_json()
    assert not list(validator_for(spec, "ReleasePage").iter_errors(body))
    assert [r["number"] for r in body["items"]] == [2, 1]
    assert body["items"][0]["url"] == f"{SITE}/api/v1/releases/2"
    assert client.get("/api/v1/").get_json()["resources"]["releases"] == f"{SITE}/api/v1/releases"


def test_the_api_lists_releases_as_csv_without_the_file_lists(client, released):
    response = client.get("/api/v1/releases", headers={"Accept": "text/csv"})
    assert response.get_data(as_text=True).splitlines()[0].startswith("number,created_at,created_by,note,")
    assert "files" not in response.get_data(as_text=True).splitlines()[0]


def test_one_release_has_its_counts_and_every_file_with_a_download_url(client, spec, released):
    body = client.get("/api/v1/releases/2").get_json()
    assert not list(validator_for(spec, "Release").iter_errors(body))
    assert (body["mappings"], body["added"], body["changed"], body["removed"]) == (3, 1, 0, 0)
    names = {f["name"] for f in body["files"]}
    assert names == {*releases.CONTENT, releases.MANIFEST, "kewp-mappings-release-2.zip"}
    assert body["files"][0]["url"].startswith(f"{SITE}/api/v1/releases/2/files/")


def test_a_downloaded_file_matches_the_sha256_the_release_lists(client, released):
    for entry in client.get("/api/v1/releases/2").get_json()["files"]:
        response = client.get(entry["url"].removeprefix(SITE))
        assert response.status_code == 200
        assert hashlib.sha256(response.data).hexdigest() == entry["sha256"]
        assert response.mimetype == entry["media_type"].split(";")[0]
        assert "immutable" in response.headers["Cache-Control"]
        assert response.headers["Content-Disposition"] == f"attachment; filename={entry['name']}"


def test_an_unknown_release_is_a_json_404_and_a_malformed_number_a_400(client, released):
    assert_error(client.get("/api/v1/releases/9"), 404, "no release 9")
    assert_error(client.get("/api/v1/releases/9/files/CHANGELOG.md"), 404, "no release 9")
    assert_error(client.get("/api/v1/releases/two"), 400, "number")


def test_an_unknown_file_is_a_json_404_that_says_where_the_list_is(client, released):
    assert_error(client.get("/api/v1/releases/1/files/secrets.txt"), 404, "no file 'secrets.txt'",
                 "/api/v1/releases/1")


@pytest.mark.parametrize("name", ["..%2F..%2Fke_wp_mapping.db", "../../ke_wp_mapping.db", "..",
                                  "1/CHANGELOG.md", "%2Fetc%2Fpasswd"])
def test_a_path_instead_of_a_file_name_is_a_json_400(client, released, name):
    # A leading slash is merged away by werkzeug first (a 308 to files/etc/passwd).
    response = client.get(f"/api/v1/releases/2/files/{name}", follow_redirects=True)
    assert_error(response, 400, "is not a file name")


def test_releases_survive_a_restart(make_app, client, conn, mapped):
    sign_in(client, conn, "ada", "admin")
    post_release(client)
    listed = client.get("/api/v1/releases/1").get_json()
    restarted = make_app().test_client()
    assert restarted.get("/api/v1/releases/1").get_json() == listed
    sssom = next(f for f in listed["files"] if f["name"] == releases.SSSOM_FILE)
    body = restarted.get(sssom["url"].removeprefix(SITE)).data
    assert hashlib.sha256(body).hexdigest() == sssom["sha256"]
