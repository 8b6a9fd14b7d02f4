"""Health endpoints used by Docker, systemd and nginx."""

from __future__ import annotations


def test_healthz_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "alive"


def test_readyz_reports_each_part_and_is_503_without_embeddings(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["ready"] is False
    assert body["database"].startswith("writable")
    assert "missing" in body["embeddings"]


def test_readyz_reports_an_outdated_schema(app, conn):
    conn.execute("PRAGMA user_version = 0")
    body = app.test_client().get("/readyz").json
    assert "schema version 0" in body["database"]
