"""Mapping releases: numbered, immutable directories beside the database, with checksums and a CHANGELOG."""

from __future__ import annotations

import fcntl
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from app import db
from app.services import exports, releases, sssom_tsv
from app.services.checksums import sha256_file

from .helpers import SITE, add_mapping, count, make_release, parse_sssom

CONTENT = set(releases.CONTENT)


@pytest.fixture
def mapped(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "KE 55/WP254": add_mapping(conn, "KE 55", "WP254", "high", score=0.83),
        "KE 55/WP3915": add_mapping(conn, "KE 55", "WP3915", "low"),
        "KE 66/WP3": add_mapping(conn, "KE 66", "WP3", "medium"),
    }


@pytest.fixture
def root(db_path: Path) -> Path:
    return releases.root_for(db_path)


def tree(directory: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(directory.iterdir())}


def test_releases_are_stored_in_the_data_directory_beside_the_database(db_path, root):
    assert root == db_path.parent / "releases"


def test_a_release_holds_every_format_the_manifest_and_a_zip(conn, db_path, root, mapped):
    release = make_release(conn, db_path, note="First public set")
    assert release.number == 1
    names = {p.name for p in (root / "1").iterdir()}
    assert names == CONTENT | {releases.MANIFEST, "kewp-mappings-release-1.zip"}
    row = conn.execute("SELECT * FROM releases").fetchone()
    assert (row["number"], row["created_by"], row["note"], row["mappings"]) == (1, "ada", "First public set", 3)


def test_every_file_matches_the_size_and_sha256_recorded_for_it(conn, db_path, root, mapped):
    release = make_release(conn, db_path)
    assert releases.verify(root, release) == []
    assert release.manifest_sha256 == sha256_file(root / "1" / releases.MANIFEST)
    for entry in releases.manifest(root, release)["files"]:
        path = root / "1" / entry["name"]
        assert (entry["size"], entry["sha256"]) == (path.stat().st_size, sha256_file(path))


def test_a_changed_file_is_reported_by_verify(conn, db_path, root, mapped):
    release = make_release(conn, db_path)
    gmt = root / "1" / "kewp-ke-gene-sets.gmt"
    gmt.chmod(0o644)
    gmt.write_text("KE_55\ttampered\tAKT1\n")
    (root / "1" / "CHANGELOG.md").unlink()
    assert releases.verify(root, release) == ["kewp-ke-gene-sets.gmt: size or sha256 differs from the record",
                                             "CHANGELOG.md: missing"]


def test_the_manifest_counts_the_mappings_and_names_the_catalogue_imports_used(conn, db_path, root, mapped):
    document = releases.manifest(root, make_release(conn, db_path))
    assert document["counts"] == {"mappings": 3, "high": 1, "medium": 1, "low": 1, "key_events": 2,
                                       "pathways": 3, "gene_sets": 2, "added": 3, "changed": 0, "removed": 0}
    sources = {kind: [i["id"] for i in found] for kind, found in document["source_versions"].items()}
    assert sources == {"key_events": [1], "pathways": [2]}
    assert document["source_versions"]["key_events"][0]["source"] == "key_events.jsonl"


def test_the_release_sssom_file_is_valid_and_names_its_set_and_version(conn, db_path, root, mapped, tmp_path):
    from sssom.validators import validate

    make_release(conn, db_path)
    msdf = parse_sssom((root / "1" / releases.SSSOM_FILE).read_text(), tmp_path)
    assert all(not r.results for r in validate(msdf, fail_on_error=False).values())
    assert msdf.metadata["mapping_set_id"] == f"{SITE}/api/v1/releases/1/files/{releases.SSSOM_FILE}"
    assert msdf.metadata["mapping_set_version"] == "1"
    assert len(msdf.df) == 3


def test_a_second_release_is_the_next_number_and_leaves_the_first_as_it_was(conn, db_path, root, mapped):
    make_release(conn, db_path)
    before = tree(root / "1")
    row = dict(conn.execute("SELECT * FROM releases WHERE number = 1").fetchone())
    second = make_release(conn, db_path)
    assert second.number == 2
    assert tree(root / "1") == before
    assert dict(conn.execute("SELECT * FROM releases WHERE number = 1").fetchone()) == row


def test_a_release_row_can_be_neither_changed_nor_deleted(conn, db_path, mapped):
    make_release(conn, db_path)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE releases SET note = 'rewritten' WHERE number = 1")
    with pytest.raises(sqlite3.IntegrityError, match="permanent"):
        conn.execute("DELETE FROM releases")


def test_released_files_are_read_only(conn, db_path, root, mapped):
    make_release(conn, db_path)
    assert {p.stat().st_mode & 0o777 for p in (root / "1").iterdir()} == {0o444}


def test_a_number_whose_directory_exists_without_a_row_is_never_reused(conn, db_path, root, mapped):
    make_release(conn, db_path)
    (root / "2").mkdir()   # as a crash between the rename and the commit would leave it
    (root / "2" / "kept").write_text("not ours to overwrite")
    assert make_release(conn, db_path).number == 3
    assert (root / "2" / "kept").read_text() == "not ours to overwrite"


def test_a_failed_release_leaves_no_directory_and_no_row(conn, db_path, root, mapped, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk trouble")
    monkeypatch.setattr(sssom_tsv, "to_sssom_tsv", broken)
    with pytest.raises(RuntimeError):
        make_release(conn, db_path)
    assert [p.name for p in root.iterdir()] == [".lock"]   # no release, no half-built one
    assert count(conn, "releases") == 0


def test_curators_can_write_while_a_release_is_built_and_it_holds_the_mappings_as_they_were(
        conn, db_path, root, mapped, monkeypatch):
    other = db.connect(db_path)
    other.execute("PRAGMA busy_timeout = 100")   # a held write lock would fail this at once
    to_turtle = exports.to_turtle

    def turtle_while_a_curator_writes(*args, **kwargs):
        add_mapping(other, "KE 66", "WP254", "low")
        return to_turtle(*args, **kwargs)
    monkeypatch.setattr(exports, "to_turtle", turtle_while_a_curator_writes)
    release = make_release(conn, db_path)
    other.close()
    assert release.mappings == 3 and count(conn, "mappings") == 4
    assert "WP254,Apoptosis,high" in (root / "1" / "kewp-mappings.csv").read_text()
    assert "KE 66,Activation, ChREBP,WP254" not in (root / "1" / "kewp-mappings.csv").read_text()


def test_a_second_creator_while_one_is_building_is_told_to_wait(conn, db_path, root, mapped):
    root.mkdir()
    with (root / ".lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(releases.ReleaseError, match="another release is being made"):
            make_release(conn, db_path)
    assert make_release(conn, db_path).number == 1


def test_a_full_disk_publishes_nothing_and_says_so(conn, db_path, root, mapped, small_fs):
    small_fs(root, 8192)
    with pytest.raises(releases.ReleaseError, match="disk is full; nothing was published"):
        make_release(conn, db_path)
    assert [p.name for p in root.iterdir()] == [".lock"]
    assert count(conn, "releases") == 0


def test_without_approved_mappings_there_is_nothing_to_release(conn, db_path, root):
    with pytest.raises(releases.ReleaseError, match="no approved mappings"):
        make_release(conn, db_path)
    assert count(conn, "releases") == 0


@pytest.mark.parametrize(("note", "message"), [("x" * 501, "limit is 500"), ("evil\u202etxt", "bidirectional")])
def test_a_note_that_is_too_long_or_holds_control_characters_is_refused(conn, db_path, mapped, note, message):
    with pytest.raises(releases.ReleaseError, match=message):
        make_release(conn, db_path, note=note)


def test_the_first_changelog_lists_every_mapping_as_added(conn, db_path, root, mapped):
    make_release(conn, db_path)
    text = (root / "1" / "CHANGELOG.md").read_text()
    assert "The first release: 3 approved mappings" in text
    assert "- KE 55 – WP254 (Increase, Cell injury/death – Apoptosis): high" in text
    assert text.split("## Removed")[1].strip() == "None."


def test_the_changelog_lists_the_pairs_added_changed_and_removed_since_the_last_release(conn, db_path, root, mapped):
    make_release(conn, db_path)
    conn.execute("UPDATE mappings SET confidence = 'medium', rationale = 'Reread the paper.' WHERE id = ?",
                 (mapped["KE 55/WP254"],))
    conn.execute("DELETE FROM mappings WHERE id = ?", (mapped["KE 66/WP3"],))
    add_mapping(conn, "KE 66", "WP254", "low")
    second = make_release(conn, db_path)
    assert (second.added, second.changed, second.removed, second.mappings) == (1, 1, 1, 3)
    text = (root / "2" / "CHANGELOG.md").read_text()
    assert "Against release 1 (" in text and "1 added, 1 changed, 1 removed; 3 mappings in all." in text
    added, changed, removed = (text.split(f"## {title}")[1].split("##")[0].strip() for title in
                               ("Added", "Changed", "Removed"))
    assert added == "- KE 66 – WP254 (Activation, ChREBP – Apoptosis): low"
    assert changed == ("- KE 55 – WP254 (Increase, Cell injury/death – Apoptosis): "
                       "confidence high → medium; rationale rewritten")
    assert removed.startswith("- KE 66 – WP3 (Activation, ChREBP – ") and removed.endswith("(was medium)")


def test_a_release_without_changes_says_so(conn, db_path, root, mapped):
    make_release(conn, db_path)
    second = make_release(conn, db_path)
    assert (second.added, second.changed, second.removed) == (0, 0, 0)
    assert "0 added, 0 changed, 0 removed; 3 mappings in all." in (root / "2" / "CHANGELOG.md").read_text()


def test_the_zip_holds_every_file_of_the_release_byte_for_byte(conn, db_path, root, mapped):
    release = make_release(conn, db_path)
    bundle = root / "1" / release.bundle_name
    assert (release.bundle_size, release.bundle_sha256) == (bundle.stat().st_size, sha256_file(bundle))
    with zipfile.ZipFile(io.BytesIO(bundle.read_bytes())) as archive:
        packed = {name.removeprefix("kewp-mappings-release-1/"): archive.read(name) for name in archive.namelist()}
    assert set(packed) == CONTENT | {releases.MANIFEST}
    assert all(packed[name] == (root / "1" / name).read_bytes() for name in packed)


def test_zenodo_metadata_names_title_version_creators_and_licence(conn, db_path, root, mapped):
    make_release(conn, db_path, note="Reviewed <b>set</b>")
    zenodo = json.loads((root / "1" / ".zenodo.json").read_text())
    assert zenodo["title"].endswith("release 1")
    assert (zenodo["version"], zenodo["license"], zenodo["upload_type"]) == ("1", "cc-by-sa-4.0", "dataset")
    assert zenodo["creators"] == [{"name": "ada"}, {"name": "cora"}]
    assert "3 approved mappings" in zenodo["description"]
    assert "Reviewed &lt;b&gt;set&lt;/b&gt;" in zenodo["description"]


def test_making_a_release_is_in_the_audit_log(conn, db_path, mapped):
    make_release(conn, db_path)
    row = conn.execute("SELECT actor, action, entity_id FROM audit_log WHERE entity = 'release'").fetchone()
    assert tuple(row) == ("ada", "created", "1")


# --- the command line -------------------------------------------------------------------------

def test_flask_releases_create_makes_the_next_release_and_list_reports_it_intact(app, conn, root, mapped):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["releases", "create", "--note", "From the CLI"])
    assert created.exit_code == 0, created.output
    assert "release 1: 3 mappings (3 added, 0 changed, 0 removed)" in created.output
    assert runner.invoke(args=["releases", "create"]).exit_code == 0
    listed = runner.invoke(args=["releases", "list"])
    assert listed.exit_code == 0
    assert [line.split()[0] for line in listed.output.splitlines()] == ["2", "1"]
    assert "files intact  From the CLI" in listed.output
    assert releases.get_release(conn, 1).created_by == "cli"


def test_flask_releases_list_fails_when_a_file_was_changed(app, conn, root, mapped):
    runner = app.test_cli_runner()
    runner.invoke(args=["releases", "create"])
    (root / "1" / "CHANGELOG.md").unlink()
    listed = runner.invoke(args=["releases", "list"])
    assert listed.exit_code == 1
    assert "CHANGELOG.md: missing" in listed.output


def test_flask_releases_create_without_mappings_is_a_clear_error(app):
    result = app.test_cli_runner().invoke(args=["releases", "create"])
    assert result.exit_code == 1
    assert "no approved mappings to release" in result.output
