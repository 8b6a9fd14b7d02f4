"""Flask glue for suggestions: load the model and the embeddings once, expose them to views.

``init_app(app)`` runs in the gunicorn master (preload_app), so the model's and the
vectors' memory is shared copy-on-write by the workers. It runs NO torch computation (no
warm-up encode): a master that ran torch with 2+ threads makes forked workers hang on
their first encode. Missing or bad embeddings never stop the app: it starts, and
``/readyz`` says what is wrong and the command that fixes it.

Views use ``get_engine()`` and then ``status()``, ``suggest_for_ke(ke_id, k)``,
``suggest_for_text(text, k)`` and ``score_for_pair(ke_id, wp_id)``.

Hot swap: before a request each worker reads the store's small manifest at most every
KEWP_CATALOG_CHECK_SECONDS; when its checksum differs from the loaded one (a `flask catalog
refresh` or `embeddings build` renamed a new store in) the worker loads and checks the new
store and the catalogue, then swaps them in. A store that fails to load is refused once and
the old one keeps serving; nothing restarts and no request fails.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import db
from .services.catalog import Catalog, load_catalog
from .services.embeddings import KE_SET, WP_SET, EmbeddingsError, EmbeddingsMissing, EmbeddingStore
from .services.encoder import Encoder, ModelError, check_model_dir, fingerprint, model_name
from .services.neighbours import ApprovedSuggester
from .services.suggestions import Suggester, Suggestion, SuggestionError

log = logging.getLogger(__name__)

EXTENSION = "kewp_engine"
BUILD_COMMAND = "flask --app app embeddings build"


class EngineUnavailable(RuntimeError):
    """Suggestions cannot be served right now; the message says why and what to do."""


class Engine:
    """The loaded model (optional), embeddings store and suggester of one app."""

    def __init__(self) -> None:
        self.encoder: Encoder | None = None
        self.store: EmbeddingStore | None = None
        self.suggester: Suggester | None = None
        self.model_status = "disabled"
        self.embeddings_status = "missing: not loaded"
        self.directory: Path | None = None
        self.database: str | None = None
        self.model_path: str | None = None
        self.check_seconds = 5.0
        self._next_check = 0.0
        self._refused: str | None = None  # the manifest checksum of a store that failed to load
        self.reload_status = ""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Engine:
        engine = cls()
        if config.get("LOAD_MODEL", True):
            try:
                engine.encoder = Encoder.load(config.get("MODEL_PATH"))
                engine.model_status = "loaded"
            except ModelError as exc:
                engine.model_status = f"error: {exc}"
                log.error("model not loaded: %s", exc)
        engine.check_seconds = float(config.get("CATALOG_CHECK_SECONDS", 5))
        engine.load_embeddings(Path(config["EMBEDDINGS_DIR"]), config.get("DATABASE"), config.get("MODEL_PATH"))
        return engine

    def _configured_fingerprint(self, model_path: str | None) -> tuple[str, str] | None:
        """(name, fingerprint) of the configured model folder when the model is not loaded."""
        try:
            folder = check_model_dir(model_path)
        except ModelError:
            return None  # not installed here: KE suggestions need no model
        return model_name(folder), fingerprint(folder)

    def _load(self, directory: Path, database: str | None, model_path: str | None) -> tuple[EmbeddingStore, Suggester]:
        """The checked store and a suggester on it and the current catalogue; raises on any problem."""
        store = EmbeddingStore.load(directory, expect_model=self.encoder.info if self.encoder else None)
        if self.encoder is None and self.model_status == "disabled":
            configured = self._configured_fingerprint(model_path)
            if configured is not None and configured[1] != store.model.get("fingerprint"):
                raise EmbeddingsError(
                    f"{directory}: the store was built with model {store.model.get('name')!r} but "
                    f"KEWP_MODEL_PATH={model_path} holds another model ({configured[0]}); rebuild it with "
                    f"`{BUILD_COMMAND}`, or point KEWP_MODEL_PATH at the model it was built with")
        catalog = load_catalog_from(database)
        return store, ApprovedSuggester.live(store, catalog, database, encoder=self.encoder)

    def load_embeddings(self, directory: Path, database: str | None, model_path: str | None = None) -> None:
        """Load and check the store and the catalogue; on failure record why (never raise)."""
        started = time.monotonic()
        self.directory, self.database, self.model_path = directory, database, model_path
        try:
            store, suggester = self._load(directory, database, model_path)
        except EmbeddingsMissing as exc:
            self.embeddings_status = f"missing: {exc}"
            log.warning("suggestions unavailable: %s", exc)
            return
        except EmbeddingsError as exc:
            self.embeddings_status = f"error: {exc}"
            log.error("suggestions unavailable: %s", exc)
            return
        except sqlite3.Error as exc:
            self.embeddings_status = f"error: cannot read the catalogue from {database}: {exc}"
            log.error("suggestions unavailable: %s", self.embeddings_status)
            return
        self.store, self.suggester = store, suggester
        self.embeddings_status = (f"loaded ({len(store.get(KE_SET))} KEs, {len(store.get(WP_SET))} pathways; "
                                  f"{store.model.get('name')}, {store.recipe})")
        log.info("embeddings %s from %s in %.2fs", self.embeddings_status, directory, time.monotonic() - started)

    def catalog_version(self) -> str | None:
        """The catalogue version the loaded store was refreshed to (None: built, never refreshed)."""
        return (self.store.manifest.get("info") or {}).get("catalog_version") if self.store else None

    def maybe_reload(self) -> bool:
        """Swap in a newer store if one was renamed in (cheap: one small file read every
        check_seconds); True when it did. Never raises: a bad store is logged and refused."""
        now = time.monotonic()
        if self.directory is None or now < self._next_check:
            return False
        self._next_check = now + self.check_seconds
        try:
            checksum = json.loads((self.directory / "manifest.json").read_text(encoding="utf-8")).get("checksum")
        except (OSError, ValueError, AttributeError):
            return False  # mid-rename or no store: look again at the next check
        loaded = self.store.manifest.get("checksum") if self.store else None
        if not checksum or checksum in (loaded, self._refused):
            return False
        started = time.monotonic()
        try:
            store, suggester = self._load(self.directory, self.database, self.model_path)
        except (EmbeddingsError, sqlite3.Error) as exc:
            self._refused = checksum
            self.reload_status = f"newer store refused, the previous one keeps serving: {exc}"
            log.error("catalogue not reloaded: %s", self.reload_status)
            return False
        self.store, self.suggester, self._refused, self.reload_status = store, suggester, None, ""
        self.embeddings_status = (f"loaded ({len(store.get(KE_SET))} KEs, {len(store.get(WP_SET))} pathways; "
                                  f"{store.model.get('name')}, {store.recipe})")
        log.info("catalogue reloaded without a restart (version %s): %s in %.2fs", self.catalog_version(),
                 self.embeddings_status, time.monotonic() - started)
        return True

    # --- what the views call --------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        model_ok = self.model_status in ("loaded", "disabled")
        status = {"model": self.model_status, "embeddings": self.embeddings_status,
                  "ready": model_ok and self.suggester is not None}
        if self.catalog_version():  # set once a refresh has run
            status["catalog_version"] = self.catalog_version()
        if self.reload_status:
            status["reload"] = self.reload_status
        return status

    def _require(self) -> Suggester:
        if self.suggester is None:
            raise EngineUnavailable(f"suggestions are unavailable: embeddings {self.embeddings_status}")
        return self.suggester

    def suggest_for_ke(self, ke_id: str, k: int = 10) -> list[Suggestion]:
        """Top-k pathways for a Key Event id like 'KE 55'; raises SuggestionError for an unknown KE."""
        return self._require().for_ke(ke_id, k)

    def score_for_pair(self, ke_id: str, wp_id: str) -> float | None:
        """The suggestion score of one KE -> pathway pair (as the KE page shows it), or None when
        suggestions are off or the engine cannot score the pair (never raises)."""
        if self.suggester is None:
            return None
        try:
            return self.suggester.score_for_pair(ke_id, wp_id)
        except SuggestionError as exc:
            log.info("no suggestion score for %s -> %s: %s", ke_id, wp_id, exc)
            return None

    def suggest_for_text(self, text: str, k: int = 10) -> list[Suggestion]:
        """Top-k pathways for free text, encoded with the preloaded model."""
        if self.encoder is None:
            raise EngineUnavailable(f"free-text suggestions need the model, which is {self.model_status} "
                                    "(set KEWP_LOAD_MODEL=true and KEWP_MODEL_PATH to a model folder)")
        return self._require().for_text(text, k)


def load_catalog_from(database: str | None) -> Catalog:
    if not database:
        raise EmbeddingsError("no database is configured (KEWP_DATABASE)")
    conn = db.connect(database)
    try:
        return load_catalog(conn)
    finally:
        conn.close()


def init_app(app: Flask) -> None:
    engine = app.extensions[EXTENSION] = Engine.from_config(app.config)

    def swap_in_a_refreshed_catalog() -> None:  # a before_request hook must return None
        engine.maybe_reload()
    app.before_request(swap_in_a_refreshed_catalog)
    app.cli.add_command(embeddings_cli)


def get_engine() -> Engine:
    return current_app.extensions[EXTENSION]


# --- CLI ------------------------------------------------------------------------------------

embeddings_cli = AppGroup("embeddings", help="Build and check the precomputed embeddings used for suggestions.")


@embeddings_cli.command("build")
@click.option("--output", type=click.Path(path_type=Path), help="Store directory (default: EMBEDDINGS_DIR).")
@click.option("--model", "model_path", type=click.Path(path_type=Path),
              help="Model folder (default: MODEL_PATH, i.e. KEWP_MODEL_PATH).")
@click.option("--reference-dir", type=click.Path(path_type=Path), default=None,
              help="Folder with gene_alias.tsv.gz, gene_go_bp.tsv.gz, go_terms.jsonl.gz (default: data/seed).")
@click.option("--recipe", default=None, help="Text recipe (default: title+description).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 1024))
def build_command(output: Path | None, model_path: Path | None, reference_dir: Path | None, recipe: str | None,
                  batch_size: int) -> None:
    """Encode the Key Events and pathways in the database and write the store."""
    from .services.precompute import DEFAULT_RECIPE, DEFAULT_REFERENCE_DIR, build_store, tqdm_progress

    config = current_app.config
    output = output or Path(config["EMBEDDINGS_DIR"])
    engine = current_app.extensions.get(EXTENSION)
    try:
        if model_path is None and engine is not None and engine.encoder is not None:
            encoder = engine.encoder
        else:
            encoder = Encoder.load(model_path or config.get("MODEL_PATH"))
        conn = db.connect(config["DATABASE"])
        try:
            manifest = build_store(conn, encoder, output, reference_dir=reference_dir or DEFAULT_REFERENCE_DIR,
                                   recipe_name=recipe or DEFAULT_RECIPE, batch_size=batch_size,
                                   progress=tqdm_progress)
        finally:
            conn.close()
    except (ModelError, EmbeddingsError) as exc:
        raise click.ClickException(str(exc)) from None
    info = manifest["info"]
    click.echo(f"wrote {output}: {info['key_events']} KEs, {info['pathways']} pathways, "
               f"{manifest['dimension']} dims, model {manifest['model']['name']}, recipe "
               f"{manifest['recipe']['name']} v{manifest['recipe']['version']} "
               f"(encoded in {info['encode_seconds']}s); restart the app to load it")


@embeddings_cli.command("check")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Store directory (default: EMBEDDINGS_DIR).")
def check_command(directory: Path | None) -> None:
    """Verify the store (checksums, dimension, model, unit rows) and print its manifest summary."""
    directory = directory or Path(current_app.config["EMBEDDINGS_DIR"])
    engine = current_app.extensions.get(EXTENSION)
    expected = engine.encoder.info if engine is not None and engine.encoder is not None else None
    try:
        store = EmbeddingStore.load(directory, expect_model=expected)
    except EmbeddingsError as exc:
        raise click.ClickException(str(exc)) from None
    m = store.manifest
    click.echo(f"{directory}: ok; model {m['model']['name']} ({m['dimension']} dims), recipe {store.recipe}, "
               f"created {m['created']}; " + ", ".join(f"{n}: {len(s)} rows" for n, s in store.sets.items()))


__all__ = ["Engine", "EngineUnavailable", "SuggestionError", "get_engine", "init_app"]
