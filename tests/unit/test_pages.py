"""Server-rendered pages: browse, search, detail, errors."""

from __future__ import annotations


def test_start_page_shows_catalogue_counts(client):
    body = client.get("/").get_data(as_text=True)
    assert "1619" in body and "1020" in body


def test_key_event_search_page(client):
    body = client.get("/ke?q=oxidative+stress").get_data(as_text=True)
    assert "Oxidative Stress" in body or "oxidative stress" in body.lower()


def test_key_event_page_shows_aops_and_relationships(client):
    response = client.get("/ke/55")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "KE 55" in body and "In AOPs" in body


def test_unknown_key_event_is_a_404_page(client):
    response = client.get("/ke/999999")
    assert response.status_code == 404
    assert "no Key Event KE 999999" in response.get_data(as_text=True)


def test_pathway_page_lists_genes(client):
    body = client.get("/pathways/WP3").get_data(as_text=True)
    assert "NFE2L2" in body


def test_bad_page_number_is_a_clear_400(client):
    response = client.get("/ke?page=abc")
    assert response.status_code == 400
    assert "page must be a whole number" in response.get_data(as_text=True)


def test_oversized_request_body_is_refused_with_413(client):
    response = client.post("/login", data={"username": "x" * (10 * 1024 * 1024)})
    assert response.status_code == 413
    assert "larger than the 2 MB limit" in response.get_data(as_text=True)


def test_errors_never_show_a_traceback(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
