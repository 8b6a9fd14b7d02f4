"""Catalogue refresh (issue 17): a newer release made from the shipped one, the real model, a real WAL
database with the shipped curated links approved, and the app swapping the store in without a restart."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app import db
from app.services import catalog_refresh, mapping_flags, mapping_import
from app.services.catalog_refresh import RefreshError
from app.services.embeddings import KE_SET, WP_SET, EmbeddingStore
from tests.catalog_release import FLAGGED_PAIRS, SCENARIO, Edits, make_release

from .helpers import (
    REPO,
    SEED,
    SEED_STORE,
    audit_rows,
    csrf_token,
    engine_of,
    free_port,
    http_get,
    sign_in,
    stop_server,
)

pytest_plugins = ["tests.unit.suggest_fixtures"]
pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(db_path: Path) -> Path:
    """The test database with the shipped curated links approved, and a copy of the shipped store."""
    connection = db.connect(db_path)
    mapping_import.import_links(connection, SEED / "mappings.jsonl")
    connection.close()
    shutil.copytree(SEED_STORE, db_path.parent / "embeddings")
    return db_path.parent


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return make_release(tmp_path / "release", SCENARIO, version="2026-12")


def _refresh(conn, release: Path, data_dir: Path, encoder, **kwargs):
    return catalog_refresh.refresh(conn, catalog_refresh.read_release(release), data_dir / "embeddings", encoder,
                                   data_dir=data_dir, **kwargs)


def _manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "embeddings" / "manifest.json").read_text())


def test_refresh_reports_added_changed_and_withdrawn_items(conn, data_dir, release, real_encoder):
    report = _refresh(conn, release, data_dir, real_encoder)
    assert report.diffs["key_events"].added == ["KE 90001"]
    assert report.diffs["pathways"].added == ["WP90001"]
    assert sorted(report.diffs["pathways"].changed) == ["WP2879", "WP3915"]
    assert list(report.diffs["key_events"].changed) == ["KE 887"]
    assert report.diffs["key_events"].withdrawn == ["KE 1393"]
    assert report.diffs["pathways"].withdrawn == ["WP4324"]
    stored = catalog_refresh.latest(conn)
    assert stored["version"] == "2026-12" and json.loads(stored["report"])["pathways"]["added"] == ["WP90001"]
    assert "1 added, 1 changed, 1 withdrawn" in report.summary()
    status = json.loads((data_dir / catalog_refresh.STATUS_FILE).read_text())
    assert status["version"] == "2026-12" and status["refresh_id"] == stored["id"]


def test_only_new_or_changed_items_are_embedded(conn, data_dir, release, real_encoder):
    before = EmbeddingStore.load(data_dir / "embeddings")
    report = _refresh(conn, release, data_dir, real_encoder)
    after = EmbeddingStore.load(data_dir / "embeddings")
    # KE 90001, WP90001 new; KE 887 (description), WP3915 (title) changed; WP2879 changed genes only.
    assert report.reembedded == 4
    assert np.array_equal(after.get(KE_SET).vector("KE 55"), before.get(KE_SET).vector("KE 55"))
    # re-embedded from its new text (not just batch-to-batch float noise)
    assert not np.allclose(after.get(KE_SET).vector("KE 887"), before.get(KE_SET).vector("KE 887"), atol=1e-3)
    assert after.get(KE_SET).vector("KE 1393") is None and after.get(WP_SET).vector("WP4324") is None
    assert after.manifest["info"]["catalog_version"] == "2026-12"


def test_new_items_get_suggestions_in_a_running_app_without_a_restart(make_app, conn, data_dir, release,
                                                                     real_encoder):
    apps = [make_app(EMBEDDINGS_DIR=str(data_dir / "embeddings"), CATALOG_CHECK_SECONDS=0) for _ in range(2)]
    clients = [a.test_client() for a in apps]
    assert all(c.get("/api/v1/key-events/KE%2090001/suggestions").status_code == 404 for c in clients)
    _refresh(conn, release, data_dir, real_encoder)
    for app, client in zip(apps, clients, strict=True):
        response = client.get("/api/v1/key-events/KE%2090001/suggestions")
        assert response.status_code == 200, response.get_data(as_text=True)
        ranked = [item["wp_id"] for item in client.get("/api/v1/key-events/KE%2055/suggestions").get_json()["items"]]
        assert "WP90001" in ranked and "WP4324" not in ranked
        assert engine_of(app).status()["catalog_version"] == "2026-12"


def test_affected_approved_mappings_are_flagged_with_what_changed(conn, data_dir, release, real_encoder):
    report = _refresh(conn, release, data_dir, real_encoder)
    rows = conn.execute("SELECT m.ke_id, m.wp_id, f.reasons FROM mapping_flags f "
                        "JOIN mappings m ON m.id = f.mapping_id WHERE f.cleared_at IS NULL").fetchall()
    assert {(r["ke_id"], r["wp_id"]) for r in rows} == FLAGGED_PAIRS
    reasons = {(r["ke_id"], r["wp_id"]): " ".join(json.loads(r["reasons"])) for r in rows}
    assert "withdrawn" in reasons[("KE 1393", "WP1772")]
    assert "title changed" in reasons[("KE 66", "WP3915")]
    assert "genes changed" in reasons[("KE 479", "WP2879")]
    assert len(report.flagged) == len(FLAGGED_PAIRS)
    assert conn.execute("SELECT withdrawn_at FROM pathways WHERE wp_id = 'WP4324'").fetchone()[0]


def test_a_release_with_a_bad_row_is_refused_and_changes_nothing(conn, data_dir, release, real_encoder):
    with (release / "pathways.jsonl").open("a") as out:
        out.write('{"wp_id": "not-a-pathway", "title": "x"}\n')
    manifest = _manifest(data_dir)
    with pytest.raises(RefreshError, match=r"pathways.jsonl line \d+: wp_id 'not-a-pathway'.*nothing was changed"):
        _refresh(conn, release, data_dir, real_encoder)
    assert _manifest(data_dir) == manifest
    assert conn.execute("SELECT count(*) FROM key_events WHERE ke_id = 'KE 90001'").fetchone()[0] == 0


def test_a_release_withdrawing_too_much_is_refused(conn, data_dir, tmp_path, real_encoder):
    ids = [json.loads(line)["wp_id"] for line in (SEED / "pathways.jsonl").read_text().splitlines()[:200]]
    release = make_release(tmp_path / "truncated", Edits(withdraw=ids), version="cut")
    with pytest.raises(RefreshError, match=r"would withdraw 200 of 1020 pathways.*--allow-many-withdrawn"):
        _refresh(conn, release, data_dir, real_encoder)
    assert conn.execute("SELECT count(*) FROM pathways WHERE withdrawn_at IS NOT NULL").fetchone()[0] == 0


def test_a_store_that_cannot_be_written_keeps_the_old_catalogue(conn, db_path, release, real_encoder, small_fs):
    # The shipped store (5.3 MB) fits, a second one beside it does not.
    store_fs = small_fs(db_path.parent.parent / "small", 6 * 2**20)
    shutil.copytree(SEED_STORE, store_fs / "embeddings")
    mapping_import.import_links(conn, SEED / "mappings.jsonl")
    with pytest.raises(RefreshError, match=r"could not be written.*old catalogue keeps serving"):
        catalog_refresh.refresh(conn, catalog_refresh.read_release(release), store_fs / "embeddings", real_encoder,
                                data_dir=db_path.parent)
    assert EmbeddingStore.load(store_fs / "embeddings").get(KE_SET).vector("KE 90001") is None
    assert conn.execute("SELECT count(*) FROM key_events WHERE ke_id = 'KE 90001'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM mapping_flags").fetchone()[0] == 0
    assert catalog_refresh.latest(conn) is None


def test_a_worker_refuses_a_broken_new_store_and_keeps_serving(make_app, data_dir):
    app = make_app(EMBEDDINGS_DIR=str(data_dir / "embeddings"), CATALOG_CHECK_SECONDS=0)
    client = app.test_client()
    manifest_path = data_dir / "embeddings" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["checksum"] = "0" * 64  # as if a half-copied or edited store had been put in place
    manifest_path.write_text(json.dumps(manifest))
    response = client.get("/api/v1/key-events/KE%2055/suggestions")
    assert response.status_code == 200 and response.get_json()["items"]
    status = engine_of(app).status()
    assert status["ready"] and "newer store refused" in status["reload"]


def test_refreshing_the_same_release_again_changes_nothing(conn, data_dir, release, real_encoder):
    _refresh(conn, release, data_dir, real_encoder)
    manifest = _manifest(data_dir)
    again = _refresh(conn, release, data_dir, real_encoder)
    assert again.up_to_date and again.reembedded == 0
    assert _manifest(data_dir) == manifest
    assert conn.execute("SELECT count(*) FROM catalog_refreshes").fetchone()[0] == 1


def test_gunicorn_workers_swap_in_a_refresh_while_serving_without_a_failed_request(data_dir, release, tmp_path):
    """The real gunicorn.conf.py (preload, 2 workers) and the real `flask catalog refresh` in another process."""
    port, log = free_port(), tmp_path / "gunicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_ENV="development", KEWP_DATABASE=str(data_dir / "ke_wp_mapping.db"),
               KEWP_EMBEDDINGS_DIR=str(data_dir / "embeddings"), KEWP_LOAD_MODEL="false", KEWP_WORKERS="2",
               KEWP_BIND=f"127.0.0.1:{port}", KEWP_CATALOG_CHECK_SECONDS="1", HF_HUB_OFFLINE="1")
    bin_dir = Path(sys.executable).parent
    with log.open("w") as out:
        server = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "--access-logformat",
                                   "%(p)s %(r)s %(s)s", "app:create_app()"], cwd=REPO, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    failures: list[tuple[str, int]] = []
    served = [0]
    stop = threading.Event()

    def read_while_refreshing() -> None:
        paths = ["/api/v1/key-events/KE%2055/suggestions", "/ke/887", "/pathways/WP254", "/readyz"]
        while not stop.is_set():
            for path in paths:
                status, _ = http_get(base + path)
                served[0] += 1
                if status != 200:
                    failures.append((path, status))
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            with contextlib.suppress(OSError):
                if http_get(base + "/readyz", timeout=5)[0] == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        readers = [threading.Thread(target=read_while_refreshing) for _ in range(3)]
        for thread in readers:
            thread.start()
        refresh = subprocess.run([str(bin_dir / "flask"), "--app", "app", "catalog", "refresh", "--from", str(release)],
                                 cwd=REPO, env={**env, "KEWP_LOAD_MODEL": "true"}, capture_output=True, text=True,
                                 timeout=600, check=False)
        assert refresh.returncode == 0, refresh.stderr[-3000:]
        assert "approved mappings flagged for re-review: 4" in refresh.stdout
        answered: set[str] = set()
        deadline = time.monotonic() + 30
        while len(answered) < 2 and time.monotonic() < deadline:  # both workers, each by its own check
            status, _ = http_get(base + "/api/v1/key-events/KE%2090001/suggestions")
            if status == 200:
                answered = {line.split()[0] for line in log.read_text().splitlines()
                            if "KE%2090001/suggestions" in line and line.rstrip().endswith(" 200")}
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
        assert len(answered) == 2, log.read_text()[-3000:]
        assert served[0] > 20 and failures == [], failures[:10]
        assert "catalogue reloaded without a restart (version 2026-12)" in log.read_text()
        assert server.poll() is None  # never restarted
    finally:
        stop.set()
        stop_server(server, log)


def test_an_admin_sees_what_changed_and_clears_a_flag_with_an_audit_row(make_app, conn, data_dir, release,
                                                                       real_encoder):
    _refresh(conn, release, data_dir, real_encoder)
    client = make_app(EMBEDDINGS_DIR=str(data_dir / "embeddings")).test_client()
    sign_in(client, conn, "ada", "admin")
    page = client.get("/review").get_data(as_text=True)
    assert "Needs re-review after a catalogue refresh (4)" in page
    assert "KE 1393 was withdrawn from the catalogue (release 2026-12)" in page
    flag = mapping_flags.open_flags(conn)[0]
    response = client.post(f"/review/flags/{flag.id}/clear",
                           data={"csrf_token": csrf_token(client, "/review"), "comment": "still right"})
    assert response.status_code == 303
    assert mapping_flags.open_flag_of(conn, flag.mapping_id) is None
    [row] = audit_rows(conn, "clear_review_flag", "mapping")
    assert row["actor"] == "ada" and json.loads(row["after"])["comment"] == "still right"
    again = client.post(f"/review/flags/{flag.id}/clear", data={"csrf_token": csrf_token(client, "/review")})
    assert again.status_code == 409


def test_clearing_a_flag_needs_the_csrf_token(make_app, conn, data_dir, release, real_encoder):
    _refresh(conn, release, data_dir, real_encoder)
    client = make_app(EMBEDDINGS_DIR=str(data_dir / "embeddings")).test_client()
    sign_in(client, conn, "ada", "admin")
    flag = mapping_flags.open_flags(conn)[0]
    assert client.post(f"/review/flags/{flag.id}/clear", data={}).status_code == 400
    assert mapping_flags.open_flag_of(conn, flag.mapping_id) is not None


def test_a_flagged_mapping_says_why_on_its_page_and_an_admin_clears_it_there(make_app, conn, data_dir, release,
                                                                            real_encoder):
    _refresh(conn, release, data_dir, real_encoder)
    flag = mapping_flags.open_flags(conn)[0]
    client = make_app(EMBEDDINGS_DIR=str(data_dir / "embeddings")).test_client()
    public = client.get(f"/mappings/{flag.mapping_id}").get_data(as_text=True)
    assert "Needs re-review" in public and flag.reasons[0] in public and "Clear flag" not in public
    sign_in(client, conn, "ada", "admin")
    page = f"/mappings/{flag.mapping_id}"
    response = client.post(f"/review/flags/{flag.id}/clear",
                           data={"csrf_token": csrf_token(client, page), "back": "mapping"})
    assert response.status_code == 303 and response.headers["Location"].endswith(page)
    assert "Needs re-review" not in client.get(page).get_data(as_text=True)
