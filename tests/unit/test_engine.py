"""The Flask glue: the app starts without embeddings, /readyz says why, the CLI builds the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.engine import Engine, EngineUnavailable, get_engine
from app.services.encoder import Encoder
from app.services.suggestions import SuggestionError

pytest_plugins = ["tests.unit.suggest_fixtures"]  # shared session fixtures: built once per run



def test_app_starts_without_embeddings_and_says_how_to_build_them(app_factory) -> None:
    app = app_factory()
    with app.app_context():
        status = get_engine().status()
    assert status["ready"] is False
    assert status["model"] == "disabled"
    assert status["embeddings"].startswith("missing: no embeddings store at ")
    assert "flask --app app embeddings build" in status["embeddings"]
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "flask --app app embeddings build" in response.get_json()["embeddings"]


def test_app_with_a_store_is_ready_and_suggests_for_a_ke(app_factory, small_store: Path) -> None:
    app = app_factory(EMBEDDINGS_DIR=str(small_store))
    with app.app_context():
        engine = get_engine()
        status = engine.status()
        assert status["ready"] is True, status
        assert status["embeddings"].startswith("loaded (")
        assert " KEs, " in status["embeddings"] and "pathways" in status["embeddings"]
        results = engine.suggest_for_ke("KE 277", k=3)
        assert results[0].wp_id == "WP1981" and results[0].reasons
        with pytest.raises(EngineUnavailable, match="model, which is disabled"):
            engine.suggest_for_text("thyroid hormone")
        with pytest.raises(SuggestionError):
            engine.suggest_for_ke("KE 424242")
    assert app.test_client().get("/readyz").status_code == 200


def test_damaged_store_does_not_stop_the_app(app_factory, store_copy: Path) -> None:
    vectors = store_copy / "pathways.vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:200])
    app = app_factory(EMBEDDINGS_DIR=str(store_copy))
    with app.app_context():
        status = get_engine().status()
        assert status["ready"] is False
        assert status["embeddings"].startswith("error: ") and "truncated" in status["embeddings"]
        with pytest.raises(EngineUnavailable, match="embeddings error"):
            get_engine().suggest_for_ke("KE 277")


def test_missing_model_folder_is_reported_not_fatal(app_factory, small_store: Path, tmp_path: Path) -> None:
    app = app_factory(EMBEDDINGS_DIR=str(small_store), LOAD_MODEL=True, MODEL_PATH=str(tmp_path / "no-model"))
    with app.app_context():
        status = get_engine().status()
    assert status["model"].startswith("error: ") and "KEWP_MODEL_PATH" in status["model"]
    assert status["ready"] is False


def test_store_of_another_model_is_refused_even_with_the_model_disabled(
        app_factory, small_store: Path, tiny_model_dir: Path) -> None:
    app = app_factory(EMBEDDINGS_DIR=str(small_store), MODEL_PATH=str(tiny_model_dir))
    with app.app_context():
        status = get_engine().status()
    assert status["ready"] is False
    assert "holds another model" in status["embeddings"] and "embeddings build" in status["embeddings"]


def test_loading_runs_no_torch_computation(app_factory, small_store: Path, real_encoder: Encoder,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm-up encode in the gunicorn master would make forked workers hang."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("encode() ran while the app was loading")

    monkeypatch.setattr(Encoder, "load", classmethod(lambda cls, path: real_encoder))
    monkeypatch.setattr(Encoder, "encode", refuse)
    app = app_factory(EMBEDDINGS_DIR=str(small_store), LOAD_MODEL=True)
    with app.app_context():
        assert get_engine().status() == {"model": "loaded", "embeddings": get_engine().embeddings_status,
                                         "ready": True}


def test_free_text_uses_the_preloaded_model(app_factory, small_store: Path, real_encoder: Encoder,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Encoder, "load", classmethod(lambda cls, path: real_encoder))
    app = app_factory(EMBEDDINGS_DIR=str(small_store), LOAD_MODEL=True)
    with app.app_context():
        results = get_engine().suggest_for_text("decreased thyroid hormone synthesis", k=3)
    assert "WP1981" in [r.wp_id for r in results]


def test_cli_builds_and_checks_the_store(app_factory, tiny_model_dir: Path, tmp_path: Path) -> None:
    app = app_factory()
    runner = app.test_cli_runner()
    out = tmp_path / "built"
    result = runner.invoke(args=["embeddings", "build", "--output", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert "KEs" in result.output and "restart the app" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dimension"] == 64 and manifest["info"]["key_events"] > 0
    checked = runner.invoke(args=["embeddings", "check", "--dir", str(out)])
    assert checked.exit_code == 0 and "ok; model" in checked.output


def test_cli_refuses_a_missing_model_and_writes_nothing(app_factory, tmp_path: Path) -> None:
    app = app_factory()
    out = tmp_path / "built"
    result = app.test_cli_runner().invoke(
        args=["embeddings", "build", "--output", str(out), "--model", str(tmp_path / "absent")])
    assert result.exit_code != 0 and "KEWP_MODEL_PATH" in result.output
    assert not out.exists()


def test_cli_check_reports_a_damaged_store(app_factory, store_copy: Path) -> None:
    (store_copy / "key_events.ids.npy").write_bytes(b"\x93NUMPY garbage")
    result = app_factory().test_cli_runner().invoke(args=["embeddings", "check", "--dir", str(store_copy)])
    assert result.exit_code != 0 and "flask --app app embeddings build" in result.output


def test_engine_without_a_store_refuses_politely() -> None:
    engine = Engine()
    assert engine.status()["ready"] is False
    with pytest.raises(EngineUnavailable, match="suggestions are unavailable"):
        engine.suggest_for_ke("KE 1")


def test_shipped_seed_store_matches_the_default_model(real_encoder: Encoder) -> None:
    from app.services.embeddings import EmbeddingStore

    seed = Path(__file__).resolve().parents[2] / "data" / "seed" / "embeddings"
    store = EmbeddingStore.load(seed, expect_model=real_encoder.info)
    assert len(store.get("key_events")) == 1619 and len(store.get("pathways")) == 1020

