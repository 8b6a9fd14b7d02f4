"""Catalogue import: idempotent upserts, clear reasons for rejected rows, every format."""

from __future__ import annotations

import gzip
import json

import pytest

from app import db
from app.services import catalog_import
from app.services.catalog_import import ImportFileError

from .helpers import SEED


@pytest.fixture
def empty(tmp_path):
    conn = db.connect(tmp_path / "empty.db")
    db.migrate(conn)
    yield conn
    conn.close()


def write_jsonl(path, records):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_seed_files_import_completely(empty):
    ke = catalog_import.import_file(empty, SEED / "key_events.jsonl")
    wp = catalog_import.import_file(empty, SEED / "pathways.jsonl")
    assert (ke.kind, ke.inserted, len(ke.rejected)) == ("key_events", 1619, 0)
    assert (wp.kind, wp.inserted, len(wp.rejected)) == ("pathways", 1020, 0)
    row = empty.execute("SELECT * FROM key_events WHERE ke_id = 'KE 55'").fetchone()
    assert row["title"] and json.loads(row["aop_ids"])


def test_reimport_changes_nothing(conn):
    report = catalog_import.import_file(conn, SEED / "pathways.jsonl")
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 1020)


def test_changed_row_is_updated_and_searchable(empty, tmp_path):
    path = tmp_path / "ke.jsonl"
    write_jsonl(path, [{"ke_id": "KE 1", "title": "Old title"}])
    catalog_import.import_file(empty, path)
    write_jsonl(path, [{"ke_id": "KE 1", "title": "Renamed hepatocyte event"}])
    report = catalog_import.import_file(empty, path)
    assert report.updated == 1
    hit = empty.execute("SELECT rowid FROM key_events_fts WHERE key_events_fts MATCH 'hepatocyte'").fetchall()
    assert len(hit) == 1
    assert not empty.execute("SELECT rowid FROM key_events_fts WHERE key_events_fts MATCH 'old'").fetchall()


def test_malformed_rows_are_rejected_with_line_and_reason(empty, tmp_path):
    path = write_jsonl(tmp_path / "ke.jsonl", [
        {"ke_id": "KE 1", "title": "Good"},
        "{not json",
        {"ke_id": "KE x", "title": "bad id"},
        {"ke_id": "KE 2", "title": "   "},
        {"ke_id": "KE 3", "title": 42},
        "[1, 2]",
        {"ke_id": "KE 1", "title": "duplicate in file"},
        {"ke_id": "ke4", "title": "lower-case id is normalised"},
    ])
    report = catalog_import.import_file(empty, path)
    reasons = dict(report.rejected)
    assert report.inserted == 2
    assert "not valid JSON" in reasons[2]
    assert "'KE x' is not a Key Event id" in reasons[3]
    assert "title is missing or empty" in reasons[4]
    assert "title must be text" in reasons[5]
    assert "JSON object is expected" in reasons[6]
    assert "appears more than once" in reasons[7]
    ids = [r[0] for r in empty.execute("SELECT ke_id FROM key_events ORDER BY ke_id")]
    assert ids == ["KE 1", "KE 4"]


def test_csv_and_tsv_gz_import(empty, tmp_path):
    csv_path = tmp_path / "wp.csv"
    csv_path.write_text('wp_id,title,genes,description\nWP10,"Apoptosis, extrinsic","TP53;CASP8","a, b"\n'
                        "WP11,Bad genes,\"TP53;<script>\",x\n")
    report = catalog_import.import_file(empty, csv_path)
    assert report.inserted == 1 and "gene symbol" in report.rejected[0][1]
    assert json.loads(empty.execute("SELECT genes FROM pathways").fetchone()[0]) == ["CASP8", "TP53"]
    tsv = tmp_path / "ke.tsv.gz"
    with gzip.open(tsv, "wt") as handle:
        handle.write("ke_id\ttitle\tbio_level\taop_ids\nKE 7\tSeven\tCellular\tAOP 3; AOP 1\n")
    report = catalog_import.import_file(empty, tsv)
    assert report.inserted == 1
    assert json.loads(empty.execute("SELECT aop_ids FROM key_events").fetchone()[0]) == ["AOP 1", "AOP 3"]


def test_unknown_format_and_missing_file_write_nothing(empty, tmp_path):
    bad = tmp_path / "ke.xlsx"
    bad.write_text("x")
    with pytest.raises(ImportFileError, match="unknown format"):
        catalog_import.import_file(empty, bad)
    with pytest.raises(ImportFileError, match="no such file"):
        catalog_import.import_file(empty, tmp_path / "missing.jsonl")
    empty_file = write_jsonl(tmp_path / "none.jsonl", [])
    with pytest.raises(ImportFileError, match="no importable rows"):
        catalog_import.import_file(empty, empty_file)
    assert empty.execute("SELECT count(*) FROM catalog_imports").fetchone()[0] == 0


def test_each_import_is_recorded_as_a_catalogue_version(empty, tmp_path):
    path = write_jsonl(tmp_path / "ke.jsonl", [{"ke_id": "KE 1", "title": "One"}])
    catalog_import.import_file(empty, path)
    first = catalog_import.catalog_version(empty, "key_events")
    catalog_import.import_file(empty, path)
    assert catalog_import.catalog_version(empty, "key_events") > first
    assert catalog_import.catalog_version(empty, "pathways") is None


def test_cli_import_prints_summary_and_rejections(app, tmp_path):
    path = write_jsonl(tmp_path / "ke.jsonl", [{"ke_id": "KE 99999", "title": "New"}, {"ke_id": "bad"}])
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 inserted" in result.output and "1 rejected" in result.output
    assert "line 2: ke_id 'bad'" in result.output


def test_cli_import_of_unreadable_file_exits_non_zero(app, tmp_path):
    result = app.test_cli_runner().invoke(args=["catalog", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1
    assert "no such file" in result.output
