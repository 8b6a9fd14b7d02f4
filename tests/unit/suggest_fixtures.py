"""Fixtures for the embeddings/suggestion tests: a small real catalogue, the real model,
a tiny random BERT, and a store built from them.

Test modules load them with ``pytest_plugins = ["tests.unit.suggest_fixtures"]`` (so the
session fixtures are built once per run, not once per module) and import plain helpers
from ``suggest_helpers``. The catalogue is a slice of ``data/seed`` (every KE and pathway
of the curated links, some AOP neighbours and distractor pathways) inserted with plain
sqlite3, so these tests do not depend on the catalogue importer.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app import db
from app.config import default_model_path
from app.services.catalog import load_catalog
from app.services.embeddings import EmbeddingStore
from app.services.encoder import Encoder

from .helpers import SEED
from .suggest_helpers import build_small_store, insert_catalog, select_catalog


@pytest.fixture(scope="session")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated WAL database holding a slice of the seed catalogue (read-only for tests)."""
    path = tmp_path_factory.mktemp("suggest-db") / "ke_wp_mapping.db"
    conn = db.connect(path)
    try:
        db.migrate(conn)
        insert_catalog(conn, *select_catalog())
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path


@pytest.fixture(scope="session")
def real_encoder() -> Encoder:
    return Encoder.load(default_model_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 64-dimensional, 1-layer BERT saved as a plain Hugging Face folder (no hub)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(
        "the of and in cell cells liver oxidative stress apoptosis pathway increase increased decrease "
        "decreased receptor activation signaling gene protein thyroid hormone death injury").split()]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(words), hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path) -> Encoder:
    return Encoder.load(tiny_model_dir)


@pytest.fixture(scope="session")
def small_store(small_db: Path, real_encoder: Encoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store for the small catalogue, built with the real model (do not modify it)."""
    output = tmp_path_factory.mktemp("suggest-store") / "embeddings"
    build_small_store(small_db, real_encoder, output)
    return output


@pytest.fixture
def store_copy(small_store: Path, tmp_path: Path) -> Path:
    """A private copy of the small store, for tests that damage it."""
    target = tmp_path / "embeddings"
    shutil.copytree(small_store, target)
    return target


@pytest.fixture
def app_factory(small_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """create_app on a private copy of the small database; keyword arguments override settings."""
    from app import create_app

    for name in list(__import__("os").environ):
        if name.startswith("KEWP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEWP_ENV", "testing")
    monkeypatch.setenv("KEWP_SECRET_KEY", "test-secret-key-that-is-long-enough-0123456789")
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "data" / "ke_wp_mapping.db"
    database.parent.mkdir()
    shutil.copy(small_db, database)

    def factory(**overrides: object):
        config = {"KEWP_ENV": "testing", "TESTING": True, "DATABASE": str(database),
                  "EMBEDDINGS_DIR": str(tmp_path / "no-embeddings"), "LOAD_MODEL": False,
                  "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789"}
        config.update(overrides)
        return create_app(config)

    yield factory


@pytest.fixture(scope="module")
def catalog(seeded_db_template: Path):
    """The shipped catalogue (test_suggestions overrides it with the small slice)."""
    conn = db.connect(seeded_db_template)
    try:
        return load_catalog(conn)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def store() -> EmbeddingStore:
    """The shipped embeddings store (test_suggestions overrides it with the small one)."""
    return EmbeddingStore.load(SEED / "embeddings")
