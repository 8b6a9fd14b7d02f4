"""Build the embeddings store from the catalogue in SQLite: one code path for the
`flask --app app embeddings build` command and `scripts/precompute_embeddings.py`.

Encodes every Key Event and pathway with the text recipe (batched, with a progress bar
supplied by the caller), derives the gene evidence of each KE from the reference files
(gene aliases, GO annotations), and writes everything with EmbeddingStore.save (validated
first, swapped in atomically). No Flask imports.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .catalog import Catalog, load_catalog
from .embeddings import KE_SET, WP_SET, EmbeddingsError, EmbeddingStore
from .encoder import Encoder
from .genes import (
    ALIAS_FILE,
    GO_ANNOTATION_FILE,
    GO_TERMS_FILE,
    NAME_FILE,
    GeneMatcher,
    build_alias_map,
    build_name_map,
    read_alias_rows,
    read_go,
    read_name_rows,
)
from .ids import id_number
from .text_recipes import DEFAULT_RECIPE, RECIPES, clean_text, count_texts, encode_items, item_of

log = logging.getLogger(__name__)

DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parents[2] / "data" / "seed"
# The store's record of the text behind each vector, so a catalogue refresh re-embeds only
# the items whose text changed (catalog_refresh.py).
TEXTS_EXTRA = "texts"


def text_digest(title: str, description: str | None, components: str = "") -> str:
    """A short digest of what an item's vector is made from (its title, description and, for a KE,
    its event components; without components the digest is the one stores before them recorded)."""
    text = f"{title}\n{description or ''}" + (f"\n{components}" if components else "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...
    def close(self) -> Any: ...


ProgressFactory = Callable[[int, str], Progress]


def tqdm_progress(total: int, desc: str) -> Progress:
    """A progress bar on stderr; in a log (no terminal) it prints a line every 10 seconds."""
    import sys

    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=" texts", file=sys.stderr, mininterval=0.5 if interactive else 10,
                dynamic_ncols=interactive)


def gene_evidence(catalog: Catalog, reference_dir: Path | None) -> dict[str, Any]:
    """Aliases of pathway genes, genes named by each KE, and the gene sets of KE GO processes."""
    universe = {gene for pathway in catalog.pathways.values() for gene in pathway.genes}
    alias_path = reference_dir / ALIAS_FILE if reference_dir else None
    if alias_path is not None and alias_path.is_file():
        aliases = build_alias_map(read_alias_rows(alias_path), universe)
    else:
        log.warning("no %s in %s: genes are matched by official symbol only", ALIAS_FILE, reference_dir)
        aliases = build_alias_map(((g, g) for g in universe), universe)
    name_path = reference_dir / NAME_FILE if reference_dir else None
    if name_path is not None and name_path.is_file():
        names = build_name_map(read_name_rows(name_path), universe)
    else:
        log.warning("no %s in %s: genes written out by their full name are not found", NAME_FILE, reference_dir)
        names = {}
    matcher = GeneMatcher(aliases, names)
    ke_genes: dict[str, dict[str, dict[str, float]]] = {}
    for ke in catalog.key_events.values():
        named = matcher.find(ke.title)
        for component in ke.event_components:
            obj = component.get("object") or {}
            named.update(matcher.find(obj.get("name") if isinstance(obj, dict) else None))
        described = {g: w for g, w in matcher.find(clean_text(ke.description)).items() if g not in named}
        if named or described:
            ke_genes[ke.ke_id] = {"named": named, "described": described}

    ke_go: dict[str, list[str]] = {}
    go_terms: dict[str, dict[str, Any]] = {}
    terms_path = reference_dir / GO_TERMS_FILE if reference_dir else None
    annotations_path = reference_dir / GO_ANNOTATION_FILE if reference_dir else None
    if terms_path is not None and annotations_path is not None and terms_path.is_file() \
            and annotations_path.is_file():
        go = read_go(terms_path, annotations_path)
        for ke in catalog.key_events.values():
            ids = []
            for component in ke.event_components:
                process = component.get("process") or {}
                go_id = process.get("id") if isinstance(process, dict) else None
                if not go_id or go_id not in go.names:
                    continue  # not a GO Biological Process term (e.g. a phenotype or a function)
                if go_id not in go_terms:
                    genes = sorted(go.term_genes(go_id) & universe)
                    go_terms[go_id] = {"name": go.names[go_id], "genes": genes}
                if go_terms[go_id]["genes"] and go_id not in ids:
                    ids.append(go_id)
            if ids:
                ke_go[ke.ke_id] = ids
        go_terms = {go_id: term for go_id, term in go_terms.items() if term["genes"]}
    else:
        log.warning("no GO files (%s, %s) in %s: GO processes are not used", GO_TERMS_FILE,
                    GO_ANNOTATION_FILE, reference_dir)
    return {"aliases": aliases, "names": names, "ke_genes": ke_genes, "ke_go": ke_go, "go_terms": go_terms,
            "universe_size": len(universe)}


def build_store(conn: sqlite3.Connection, encoder: Encoder, output: str | Path, *,
                reference_dir: str | Path | None = DEFAULT_REFERENCE_DIR, recipe_name: str = DEFAULT_RECIPE,
                batch_size: int = 64, progress: ProgressFactory | None = None) -> dict[str, Any]:
    """Encode the catalogue and write the store to `output`; returns the manifest."""
    if recipe_name not in RECIPES:
        raise EmbeddingsError(f"unknown text recipe {recipe_name!r}; use one of {', '.join(RECIPES)}")
    recipe = RECIPES[recipe_name]
    catalog = load_catalog(conn)
    if not catalog.key_events or not catalog.pathways:
        raise EmbeddingsError(f"the catalogue has {len(catalog.key_events)} Key Events and "
                              f"{len(catalog.pathways)} pathways: import both first with "
                              "`flask --app app catalog import data/seed/key_events.jsonl data/seed/pathways.jsonl "
                              "data/seed/kers.jsonl`; nothing was written")
    started = time.monotonic()
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, items in ((KE_SET, sorted(catalog.key_events.values(), key=lambda k: id_number(k.ke_id))),
                        (WP_SET, sorted(catalog.pathways.values(), key=lambda p: id_number(p.wp_id)))):
        pairs = [item_of(item) for item in items]
        bar = progress(count_texts(recipe, pairs), name.replace("_", " ")) if progress else None
        try:
            vectors = encode_items(encoder, recipe, pairs, batch_size=batch_size,
                                   progress=bar.update if bar is not None else None)
        finally:
            if bar is not None:
                bar.close()
        ids = np.array([getattr(item, "ke_id", None) or item.wp_id for item in items], dtype=str)
        sets[name] = (ids, vectors)
    encode_seconds = time.monotonic() - started
    reference = Path(reference_dir) if reference_dir else None
    extras = {"genes": gene_evidence(catalog, reference),
              TEXTS_EXTRA: {KE_SET: {k.ke_id: text_digest(*item_of(k)) for k in catalog.key_events.values()},
                            WP_SET: {p.wp_id: text_digest(*item_of(p)) for p in catalog.pathways.values()}}}
    info = {"key_events": len(sets[KE_SET][0]), "pathways": len(sets[WP_SET][0]),
            "neighbour_pairs": sum(len(v) for v in catalog.neighbours.values()) // 2,
            "encode_seconds": round(encode_seconds, 1), "batch_size": batch_size,
            "reference_dir": str(reference) if reference else None}
    manifest = EmbeddingStore.save(output, sets, model=encoder.info, recipe=recipe, extras=extras, info=info)
    log.info("built embeddings for %d KEs and %d pathways in %.1fs", info["key_events"], info["pathways"],
             time.monotonic() - started)
    return manifest
