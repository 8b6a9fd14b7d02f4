"""The embeddings store: format, round trip, and every way a store can be bad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.services import embeddings as emb
from app.services.embeddings import (
    MANIFEST,
    EmbeddingsError,
    EmbeddingsMissing,
    EmbeddingStore,
    ModelInfo,
    Recipe,
)

from .suggest_helpers import refresh_manifest, unit_rows

MODEL = ModelInfo(name="test-model", fingerprint="f" * 64, dimension=8, path="/models/test")
RECIPE = Recipe("title", 1)
REBUILD = "flask --app app embeddings build"


def save(directory: Path, n: int = 5, dim: int = 8, model: ModelInfo = MODEL, **extra) -> dict:
    ids = np.array([f"KE {i}" for i in range(1, n + 1)], dtype=str)
    wp_ids = np.array([f"WP{i}" for i in range(1, n + 2)], dtype=str)
    return EmbeddingStore.save(directory, {"key_events": (ids, unit_rows(n, dim)),
                                           "pathways": (wp_ids, unit_rows(n + 1, dim, seed=1))},
                               model=model, recipe=RECIPE, **extra)


def test_round_trip_keeps_ids_vectors_and_manifest(tmp_path: Path) -> None:
    manifest = save(tmp_path / "store", extras={"genes": {"aliases": {"NRF2": ["NFE2L2"]}}})
    store = EmbeddingStore.load(tmp_path / "store", expect_model=MODEL)
    ke = store.get("key_events")
    assert ke.ids.dtype.kind == "U" and ke.ids.tolist() == [f"KE {i}" for i in range(1, 6)]
    assert ke.vectors.dtype == np.float32 and ke.vectors.shape == (5, 8)
    np.testing.assert_allclose(ke.vectors, unit_rows(5, 8))
    assert ke.index["KE 3"] == 2
    assert store.extras["genes"]["aliases"] == {"NRF2": ["NFE2L2"]}
    assert manifest["model"]["name"] == "test-model" and manifest["model"]["fingerprint"] == "f" * 64
    assert manifest["dimension"] == 8 and manifest["recipe"] == {"name": "title", "version": 1}
    assert manifest["sets"]["pathways"]["rows"] == 6
    assert len(manifest["checksum"]) == 64 and manifest["created"].endswith("Z")
    on_disk = json.loads((tmp_path / "store" / MANIFEST).read_text())
    assert on_disk == manifest


def test_files_are_plain_npy_with_fixed_width_unicode_ids(tmp_path: Path) -> None:
    save(tmp_path / "store")
    ids = np.load(tmp_path / "store" / "key_events.ids.npy", allow_pickle=False)
    assert ids.dtype.kind == "U"  # not object: loadable without pickle
    assert np.load(tmp_path / "store" / "key_events.vectors.npy", allow_pickle=False).dtype == np.float32


def test_every_load_refuses_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(tmp_path / "store")
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(emb.np, "load", spy)
    EmbeddingStore.load(tmp_path / "store")
    assert calls and all(value is False for value in calls)


def test_mmap_load_gives_a_memory_map(tmp_path: Path) -> None:
    save(tmp_path / "store")
    store = EmbeddingStore.load(tmp_path / "store", mmap=True)
    assert isinstance(store.get("pathways").vectors, np.memmap)


def test_object_ids_are_stored_as_unicode(tmp_path: Path) -> None:
    ids = np.array(["KE 1", "KE 22"], dtype=object)
    EmbeddingStore.save(tmp_path / "s", {"key_events": (ids, unit_rows(2, 8))}, model=MODEL, recipe=RECIPE)
    assert EmbeddingStore.load(tmp_path / "s").get("key_events").ids.dtype.kind == "U"


def test_missing_store_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsMissing, match="flask --app app embeddings build"):
        EmbeddingStore.load(tmp_path / "nothing-here")


def test_pickled_array_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store)
    np.save(store / "key_events.ids.npy", np.array(["KE 1", 2, None, "x", "y"], dtype=object), allow_pickle=True)
    with pytest.raises(EmbeddingsError, match=r"key_events.ids.npy: .*(replaced or changed|checksum mismatch)"):
        EmbeddingStore.load(store)
    refresh_manifest(store)  # even with a matching checksum it is never unpickled
    with pytest.raises(EmbeddingsError, match=r"pickled Python objects.*" + REBUILD):
        EmbeddingStore.load(store)


def test_raw_pickle_file_is_refused(tmp_path: Path) -> None:
    import pickle

    store = tmp_path / "store"
    save(store)
    (store / "key_events.vectors.npy").write_bytes(pickle.dumps(unit_rows(5, 8)))
    refresh_manifest(store)
    with pytest.raises(EmbeddingsError, match=r"pickled|truncated or corrupt"):
        EmbeddingStore.load(store)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store)
    path = store / "key_events.vectors.npy"
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(EmbeddingsError, match=r"truncated.*" + REBUILD):
        EmbeddingStore.load(store)
    refresh_manifest(store)  # the array itself is cut short
    with pytest.raises(EmbeddingsError, match=r"truncated or corrupt|unreadable"):
        EmbeddingStore.load(store)
    with pytest.raises(EmbeddingsError, match=r"truncated or corrupt|unreadable"):
        EmbeddingStore.load(store, mmap=True)


def test_tampered_vectors_fail_the_checksum(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store)
    path = store / "pathways.vectors.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(EmbeddingsError, match=r"pathways.vectors.npy: checksum mismatch.*" + REBUILD):
        EmbeddingStore.load(store)


def test_hand_edited_manifest_fails_the_checksum(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store)
    manifest = json.loads((store / MANIFEST).read_text())
    manifest["files"]["pathways.vectors.npy"] = "0" * 64
    (store / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EmbeddingsError, match="manifest's checksum does not match"):
        EmbeddingStore.load(store)


def test_wrong_dimension_for_the_model_is_refused(tmp_path: Path) -> None:
    save(tmp_path / "store", dim=8)
    other = ModelInfo(name="test-model", fingerprint="f" * 64, dimension=384, path="/models/test")
    with pytest.raises(EmbeddingsError, match=r"dimension 8 .* gives 384.*" + REBUILD):
        EmbeddingStore.load(tmp_path / "store", expect_model=other)
    with pytest.raises(EmbeddingsError, match="dimension 8 but the model gives 384"):
        EmbeddingStore.load(tmp_path / "store", expect_dimension=384)


def test_file_with_another_dimension_than_its_manifest_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store, dim=8)
    np.save(store / "pathways.vectors.npy", unit_rows(6, 7))
    refresh_manifest(store)
    with pytest.raises(EmbeddingsError, match=r"dimension 7, expected 8"):
        EmbeddingStore.load(store)


def test_model_mismatch_is_refused(tmp_path: Path) -> None:
    save(tmp_path / "store")
    other = ModelInfo(name="biobert", fingerprint="a" * 64, dimension=8, path="/models/biobert")
    with pytest.raises(EmbeddingsError, match=r"built with model 'test-model'.*biobert.*KEWP_MODEL_PATH"):
        EmbeddingStore.load(tmp_path / "store", expect_model=other)


def test_non_normalized_rows_are_refused_on_load(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store)
    np.save(store / "key_events.vectors.npy", unit_rows(5, 8) * 2)
    refresh_manifest(store)
    with pytest.raises(EmbeddingsError, match=r"not unit vectors .*KE 1 has norm 2\.0000"):
        EmbeddingStore.load(store)


@pytest.mark.parametrize(("ids", "vectors", "message"), [
    (np.array(["KE 1", "KE 2"]), unit_rows(2, 8) * 3, "not unit vectors"),
    (np.array(["KE 1", "KE 1"]), unit_rows(2, 8), "duplicate ids"),
    (np.array(["KE 1", "KE 2"]), unit_rows(2, 8).astype(np.float64), "float32"),
    (np.array(["KE 1", "KE 2"]), unit_rows(2, 5), "dimension 5, expected 8"),
    (np.array(["KE 1"]), unit_rows(2, 8), "1 ids but 2 vectors"),
    (np.array(["KE 1", "KE 2"]), np.full((2, 8), np.nan, dtype=np.float32), "not unit vectors"),
])
def test_bad_input_is_refused_and_nothing_is_written(tmp_path: Path, ids, vectors, message: str) -> None:
    with pytest.raises(EmbeddingsError, match=message):
        EmbeddingStore.save(tmp_path / "store", {"key_events": (ids, vectors)}, model=MODEL, recipe=RECIPE)
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_the_existing_store_untouched(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = save(store)
    with pytest.raises(EmbeddingsError):
        EmbeddingStore.save(store, {"key_events": (np.array(["KE 1"]), unit_rows(1, 8) * 2)},
                            model=MODEL, recipe=RECIPE)
    assert EmbeddingStore.load(store).manifest["checksum"] == first["checksum"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_save_replaces_a_store_whole(tmp_path: Path) -> None:
    store = tmp_path / "store"
    save(store, n=5)
    save(store, n=3)
    loaded = EmbeddingStore.load(store)
    assert len(loaded.get("key_events")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no temporary or old directories left
    assert not (store / "stale.npy").exists()


def test_unknown_set_names_the_sets_present(tmp_path: Path) -> None:
    save(tmp_path / "store")
    with pytest.raises(EmbeddingsError, match=r"has no set 'genes' .*key_events, pathways"):
        EmbeddingStore.load(tmp_path / "store").get("genes")
