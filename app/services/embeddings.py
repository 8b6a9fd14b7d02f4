"""The embeddings store: pre-normalized float32 matrices with their ids, a manifest and checksums.

Format: one directory holding a plain ``.npy`` file per array plus ``manifest.json``
(and small JSON side files). Why not a single ``.npz``:

* ``np.load(..., mmap_mode="r")`` only memory-maps a plain ``.npy``; on an ``.npz`` it is
  silently ignored and every member is read into memory (and re-read on each ``z[key]``).
  The catalogue is ~1-2k rows today (a few MB, loads in under a millisecond either way)
  but may grow to 100k rows, where a ``.npy`` opens in 0.3 ms with mmap against ~380 ms
  for an ``.npz``; under gunicorn's preload the mapped pages are shared by all workers.
* Plain ``.npy`` also loads faster than ``.npz`` without mmap, and compression would save
  only ~9% on float vectors.
* A manifest in JSON is readable by operators (``cat manifest.json``) and carries what the
  arrays cannot: model name and fingerprint, dimension, text recipe name and version, row
  counts, the sha256 of every file and of the whole set, and the creation time.

Ids are fixed-width unicode arrays (``dtype=str``, never ``object``) so that every load
uses ``allow_pickle=False``. A store is written to a temporary directory next to its target
and swapped in with renames, so readers never see a half-written store; a store that fails
any check (pickled, truncated or corrupt file, checksum, dimension or model mismatch,
non-normalized rows) is refused with an ``EmbeddingsError`` saying what is wrong and the
command that rebuilds it. No Flask imports: the CLI, the scripts and the tests share this.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .checksums import sha256_file

log = logging.getLogger(__name__)

FORMAT = "kewp-embeddings"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NORM_TOLERANCE = 1e-3
KE_SET = "key_events"  # the store's two sets: Key Event and pathway vectors
WP_SET = "pathways"
REBUILD_HINT = ("rebuild it with `flask --app app embeddings build` "
                "(or `python scripts/precompute_embeddings.py --database DB --output DIR`)")


class EmbeddingsError(RuntimeError):
    """The store cannot be used; the message says what is wrong and how to rebuild it."""


class EmbeddingsMissing(EmbeddingsError):
    """There is no store at the configured place (nothing was built yet)."""


@dataclass(frozen=True)
class ModelInfo:
    """Identifies the encoder a store was (or must be) built with."""

    name: str
    fingerprint: str
    dimension: int
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "fingerprint": self.fingerprint, "dimension": self.dimension,
                "path": self.path}


@dataclass(frozen=True)
class Recipe:
    """How the texts that were encoded are made from the catalogue (bump version on change)."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass
class EmbeddingSet:
    """One matrix: row i is the unit vector of ids[i]."""

    ids: np.ndarray
    vectors: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {str(value): i for i, value in enumerate(self.ids.tolist())}

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def vector(self, item_id: str) -> np.ndarray | None:
        row = self.index.get(item_id)
        return None if row is None else self.vectors[row]


def _combined_checksum(files: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}:{files[name]}\n".encode())
    return digest.hexdigest()


def _check_set(name: str, ids: np.ndarray, vectors: np.ndarray, dimension: int, where: str) -> None:
    """Everything a set must satisfy, on save (bad input) and on load (bad file)."""
    if ids.ndim != 1 or ids.dtype.kind != "U":
        raise EmbeddingsError(f"{where}: ids of {name!r} must be a 1-D fixed-width unicode array "
                              f"(dtype=str), got dtype {ids.dtype} with shape {ids.shape}")
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise EmbeddingsError(f"{where}: vectors of {name!r} must be a 2-D float32 matrix, "
                              f"got dtype {vectors.dtype} with shape {vectors.shape}")
    if vectors.shape[0] != ids.shape[0]:
        raise EmbeddingsError(f"{where}: {name!r} has {ids.shape[0]} ids but {vectors.shape[0]} vectors")
    if vectors.shape[1] != dimension:
        raise EmbeddingsError(f"{where}: {name!r} vectors have dimension {vectors.shape[1]}, "
                              f"expected {dimension}")
    if len(set(ids.tolist())) != ids.shape[0]:
        raise EmbeddingsError(f"{where}: {name!r} has duplicate ids")
    if vectors.shape[0]:
        norms = np.linalg.norm(vectors, axis=1)
        bad = np.flatnonzero(~np.isfinite(norms) | (np.abs(norms - 1.0) > NORM_TOLERANCE))
        if bad.size:
            first = int(bad[0])
            raise EmbeddingsError(f"{where}: {bad.size} rows of {name!r} are not unit vectors "
                                  f"(e.g. {ids[first]!s} has norm {norms[first]:.4f}); vectors must be "
                                  "stored normalized so that a dot product is a cosine similarity")


@dataclass
class EmbeddingStore:
    """A loaded (and verified) store."""

    directory: Path
    manifest: dict[str, Any]
    sets: dict[str, EmbeddingSet]
    extras: dict[str, Any]

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def model(self) -> dict[str, Any]:
        return dict(self.manifest["model"])

    @property
    def recipe(self) -> Recipe:
        return Recipe(self.manifest["recipe"]["name"], int(self.manifest["recipe"]["version"]))

    def get(self, name: str) -> EmbeddingSet:
        try:
            return self.sets[name]
        except KeyError:
            raise EmbeddingsError(f"{self.directory}: the store has no set {name!r} (it has "
                                  f"{', '.join(sorted(self.sets)) or 'none'}); {REBUILD_HINT}") from None

    # --- writing ----------------------------------------------------------------------------

    @staticmethod
    def save(directory: str | Path, sets: Mapping[str, tuple[np.ndarray, np.ndarray]], *, model: ModelInfo,
             recipe: Recipe, extras: Mapping[str, Any] | None = None,
             info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validate everything, write to a temporary directory, then swap it in; returns the manifest.

        Bad input raises EmbeddingsError before anything is written.
        """
        return EmbeddingStore.stage(directory, sets, model=model, recipe=recipe, extras=extras,
                                    info=info).commit()

    @staticmethod
    def stage(directory: str | Path, sets: Mapping[str, tuple[np.ndarray, np.ndarray]], *, model: ModelInfo,
              recipe: Recipe, extras: Mapping[str, Any] | None = None,
              info: Mapping[str, Any] | None = None) -> StagedStore:
        """Write a complete store beside `directory` without swapping it in: the caller can load and
        check it, finish other work, then `commit()` (rename it in) or `discard()` it."""
        directory = Path(directory)
        prepared: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, (ids, vectors) in sets.items():
            if not name.replace("_", "").replace(".", "").isalnum():
                raise EmbeddingsError(f"set name {name!r} must be letters, digits, '_' or '.'")
            ids_array = np.asarray(ids)
            if ids_array.dtype.kind == "O" or ids_array.size == 0:
                ids_array = np.array([str(i) for i in ids_array.tolist()], dtype=str)
            _check_set(name, ids_array, np.asarray(vectors), model.dimension, "refusing to save")
            prepared[name] = (ids_array, np.ascontiguousarray(vectors))
        extras = dict(extras or {})
        for name in extras:
            if not name.replace("_", "").isalnum():
                raise EmbeddingsError(f"extra name {name!r} must be letters, digits or '_'")

        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            files: dict[str, str] = {}
            sizes: dict[str, int] = {}
            set_entries: dict[str, Any] = {}
            for name, (ids_array, vectors) in prepared.items():
                entry = {"rows": int(ids_array.shape[0]), "ids": f"{name}.ids.npy",
                         "vectors": f"{name}.vectors.npy"}
                np.save(tmp / entry["ids"], ids_array, allow_pickle=False)
                np.save(tmp / entry["vectors"], vectors, allow_pickle=False)
                set_entries[name] = entry
            extra_entries = {}
            for name, value in extras.items():
                filename = f"{name}.json"
                (tmp / filename).write_text(json.dumps(value, sort_keys=True, separators=(",", ":")),
                                            encoding="utf-8")
                extra_entries[name] = filename
            for path in sorted(tmp.iterdir()):
                files[path.name] = sha256_file(path)
                sizes[path.name] = path.stat().st_size
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "model": model.to_json(),
                "dimension": model.dimension,
                "recipe": {"name": recipe.name, "version": recipe.version},
                "sets": set_entries,
                "extras": extra_entries,
                "files": files,
                "sizes": sizes,
                "checksum": _combined_checksum(files),
                "info": dict(info or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            for path in tmp.iterdir():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
            # mkdtemp makes it 0700; the app (another uid in the container) must read it. Vectors are not secret.
            os.chmod(tmp, 0o755)  # noqa: S103
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return StagedStore(tmp, directory, manifest)

    # --- reading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | Path, *, expect_model: ModelInfo | None = None,
             expect_dimension: int | None = None, mmap: bool = False, verify: bool = True) -> EmbeddingStore:
        """Open and check a store; raises EmbeddingsError (EmbeddingsMissing if absent).

        ``expect_model`` (the loaded encoder) must match the model the store was built with,
        by fingerprint and dimension. ``mmap`` maps the vectors read-only instead of reading them.
        """
        directory = Path(directory)
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise EmbeddingsMissing(f"no embeddings store at {directory} ({MANIFEST} not found); "
                                    f"build it with `flask --app app embeddings build` (or "
                                    f"`python scripts/precompute_embeddings.py --database DB --output {directory}`)")
        manifest = cls._read_manifest(manifest_path)
        dimension = int(manifest["dimension"])
        if expect_dimension is not None and dimension != expect_dimension:
            raise EmbeddingsError(f"{directory}: the store has dimension {dimension} but the model gives "
                                  f"{expect_dimension}; it was built with another model; {REBUILD_HINT}")
        if expect_model is not None:
            built = manifest["model"]
            if dimension != expect_model.dimension:
                raise EmbeddingsError(
                    f"{directory}: the store has dimension {dimension} but the model {expect_model.name} "
                    f"({expect_model.path}) gives {expect_model.dimension}; {REBUILD_HINT}")
            if built.get("fingerprint") != expect_model.fingerprint:
                raise EmbeddingsError(
                    f"{directory}: the store was built with model {built.get('name')!r} "
                    f"(fingerprint {str(built.get('fingerprint'))[:12]}) but the app loads {expect_model.name!r} "
                    f"from {expect_model.path} (fingerprint {expect_model.fingerprint[:12]}); "
                    f"{REBUILD_HINT}, or point KEWP_MODEL_PATH at the model it was built with")

        if verify:
            cls._verify_files(directory, manifest)
        sets: dict[str, EmbeddingSet] = {}
        for name, entry in manifest["sets"].items():
            ids = cls._load_array(directory / entry["ids"], mmap=False)
            vectors = cls._load_array(directory / entry["vectors"], mmap=mmap)
            if ids.shape[0] != int(entry["rows"]):
                raise EmbeddingsError(f"{directory}: {entry['ids']} has {ids.shape[0]} rows, the manifest says "
                                      f"{entry['rows']}; {REBUILD_HINT}")
            try:
                _check_set(name, ids, vectors, dimension, str(directory))
            except EmbeddingsError as exc:
                raise EmbeddingsError(f"{exc}; {REBUILD_HINT}") from None
            sets[name] = EmbeddingSet(ids, vectors)
        extras: dict[str, Any] = {}
        for name, filename in manifest.get("extras", {}).items():
            try:
                extras[name] = json.loads((directory / filename).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise EmbeddingsError(f"{directory / filename}: unreadable ({exc}); {REBUILD_HINT}") from None
        return cls(directory, manifest, sets, extras)

    @staticmethod
    def _read_manifest(path: Path) -> dict[str, Any]:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EmbeddingsError(f"{path}: not a readable manifest ({exc}); {REBUILD_HINT}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise EmbeddingsError(f"{path}: not a kewp embeddings manifest; {REBUILD_HINT}")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise EmbeddingsError(f"{path}: format version {manifest.get('format_version')!r}, this kewp reads "
                                  f"version {FORMAT_VERSION}; {REBUILD_HINT}")
        required = ("model", "dimension", "recipe", "sets", "files", "checksum")
        missing = [key for key in required if key not in manifest]
        if missing:
            raise EmbeddingsError(f"{path}: manifest lacks {', '.join(missing)}; {REBUILD_HINT}")
        if not isinstance(manifest["dimension"], int) or manifest["dimension"] <= 0:
            raise EmbeddingsError(f"{path}: dimension {manifest['dimension']!r} is not a positive integer; "
                                  f"{REBUILD_HINT}")
        listed = {e[k] for e in manifest["sets"].values() for k in ("ids", "vectors")}
        listed |= set(manifest.get("extras", {}).values())
        unchecked = sorted(listed - set(manifest["files"]))
        if unchecked:
            raise EmbeddingsError(f"{path}: no checksum for {', '.join(unchecked)}; {REBUILD_HINT}")
        for name in listed:
            if Path(name).name != name:
                raise EmbeddingsError(f"{path}: file name {name!r} points outside the store; {REBUILD_HINT}")
        return manifest

    @staticmethod
    def _verify_files(directory: Path, manifest: dict[str, Any]) -> None:
        files: dict[str, str] = manifest["files"]
        if _combined_checksum(files) != manifest["checksum"]:
            raise EmbeddingsError(f"{directory}: the manifest's checksum does not match its file list "
                                  f"(edited by hand?); {REBUILD_HINT}")
        sizes = manifest.get("sizes", {})
        for name, expected in sorted(files.items()):
            path = directory / name
            if not path.is_file():
                raise EmbeddingsError(f"{path}: missing (listed in the manifest); {REBUILD_HINT}")
            size = path.stat().st_size
            if name in sizes and size != sizes[name]:
                what = "truncated" if size < sizes[name] else "replaced or changed"
                raise EmbeddingsError(f"{path}: {size} bytes, the manifest says {sizes[name]} ({what}); {REBUILD_HINT}")
            actual = sha256_file(path)
            if actual != expected:
                raise EmbeddingsError(f"{path}: checksum mismatch (sha256 {actual[:12]}..., manifest says "
                                      f"{expected[:12]}...): the file was changed or corrupted; {REBUILD_HINT}")

    @staticmethod
    def _load_array(path: Path, mmap: bool) -> np.ndarray:
        try:
            array = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        except FileNotFoundError:
            raise EmbeddingsError(f"{path}: missing; {REBUILD_HINT}") from None
        except ValueError as exc:
            if "pickle" in str(exc).lower() or "object" in str(exc).lower():
                raise EmbeddingsError(f"{path}: holds pickled Python objects; kewp loads only plain arrays "
                                      f"(allow_pickle=False) and never unpickles data; {REBUILD_HINT}") from None
            raise EmbeddingsError(f"{path}: truncated or corrupt .npy file ({exc}); {REBUILD_HINT}") from None
        except (OSError, EOFError) as exc:
            raise EmbeddingsError(f"{path}: unreadable, truncated or not a .npy file ({exc}); "
                                  f"{REBUILD_HINT}") from None
        if not isinstance(array, np.ndarray):
            raise EmbeddingsError(f"{path}: not a single .npy array; {REBUILD_HINT}")
        return array


@dataclass
class StagedStore:
    """A complete store written beside its target (`path`), not yet in use."""

    path: Path
    directory: Path
    manifest: dict[str, Any]

    def commit(self) -> dict[str, Any]:
        """Swap it in with renames; returns its manifest."""
        try:
            _swap_in(self.path, self.directory)
        except BaseException:
            self.discard()
            raise
        log.info("wrote embeddings store %s (%s; %s)", self.directory,
                 ", ".join(f"{n}: {e['rows']} rows" for n, e in self.manifest["sets"].items()),
                 Recipe(self.manifest["recipe"]["name"], self.manifest["recipe"]["version"]))
        return self.manifest

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _swap_in(tmp: Path, directory: Path) -> None:
    """Replace `directory` by `tmp` with renames (same filesystem), keeping no half state."""
    if not directory.exists():
        os.replace(tmp, directory)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
    old.rmdir()
    os.replace(directory, old)
    try:
        os.replace(tmp, directory)
    except OSError:
        os.replace(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)
