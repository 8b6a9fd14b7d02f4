"""Issue 15, third round: a Key Event's event components (object and GO process names) are a
third text view of its vector (recipe title+description+components), on the shipped
catalogue, the shipped store and the real model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app import db
from app.services.catalog_refresh import row_item
from app.services.embeddings import KE_SET
from app.services.encoder import Encoder
from app.services.evaluation import read_links
from app.services.precompute import text_digest
from app.services.text_recipes import DEFAULT_RECIPE, RECIPES, components_text, encode_items, item_of, views

from .helpers import SEED

pytest_plugins = ["tests.unit.suggest_fixtures"]


def test_components_text_names_objects_and_processes_once_without_the_direction(catalog) -> None:
    assert components_text(catalog.key_events["KE 12"].event_components) == \
        "acetylcholinesterase acetylcholinesterase activity"
    # two components with the same object and process names count once; "increased" is not written
    pgc = catalog.key_events["KE 1669"].event_components
    assert len(pgc) == 5
    text = components_text(pgc)
    assert text.split("; ")[0] == "site of DNA damage DNA damage response, detection of DNA damage"
    assert "increased" not in text
    assert components_text([]) == ""


def test_the_recipe_adds_the_components_view_for_kes_only(catalog) -> None:
    recipe = RECIPES[DEFAULT_RECIPE]
    ke = catalog.key_events["KE 12"]
    assert views(recipe, *item_of(ke)) == [*views(RECIPES["title+description"], ke.title, ke.description),
                                            "acetylcholinesterase acetylcholinesterase activity"]
    pathway = catalog.pathways["WP528"]
    assert item_of(pathway) == (pathway.title, pathway.description)
    assert views(recipe, *item_of(pathway)) == views(RECIPES["title+description"], pathway.title, pathway.description)
    # the old recipe ignores components (stores built with it still load and rank as before)
    assert views(RECIPES["title+description"], *item_of(ke)) == views(RECIPES["title+description"], ke.title,
                                                                       ke.description)


def test_the_shipped_store_is_built_with_components_and_they_rank_curated_pathways_higher(
        store, catalog, real_encoder: Encoder) -> None:
    assert store.recipe == RECIPES[DEFAULT_RECIPE]
    wp = store.get("pathways")
    kes = store.get(KE_SET)
    # KE 12's stored vector is exactly its three views, encoded now
    ke12 = encode_items(real_encoder, store.recipe, [item_of(catalog.key_events["KE 12"])])[0]
    assert float(ke12 @ kes.vector("KE 12")) > 0.9999
    # On the curated links of ten KEs that have components, text similarity alone puts the curated
    # pathway higher with the components view than without it (the vector the old recipe made).
    links = read_links([SEED / "curated_links_dev.jsonl"])
    chosen = sorted({x.ke_id for x in links if catalog.key_events.get(x.ke_id)
                     and components_text(catalog.key_events[x.ke_id].event_components)})[:10]
    old = encode_items(real_encoder, RECIPES["title+description"],
                       [(catalog.key_events[k].title, catalog.key_events[k].description) for k in chosen])
    column = {w: j for j, w in enumerate(wp.ids.tolist())}

    def mrr(vectors: dict[str, np.ndarray]) -> float:
        ranks = []
        for x in links:
            if x.ke_id in vectors and x.wp_id in column:
                sims = wp.vectors @ vectors[x.ke_id]
                ranks.append(1 + int((sims > sims[column[x.wp_id]]).sum()))
        return float(np.mean(1.0 / np.array(ranks)))

    with_components = mrr({k: kes.vector(k) for k in chosen})
    without = mrr(dict(zip(chosen, old, strict=True)))
    assert with_components > without, (with_components, without)


def test_a_change_of_event_components_changes_the_text_digest_so_a_refresh_re_embeds_the_ke(
        seeded_db_template: Path) -> None:
    conn = db.connect(seeded_db_template)
    try:
        row = dict(conn.execute("SELECT * FROM key_events WHERE ke_id = 'KE 12'").fetchone())
        pathway = dict(conn.execute("SELECT * FROM pathways WHERE wp_id = 'WP528'").fetchone())
    finally:
        conn.close()
    item = row_item("key_events", row)
    assert item[2] == "acetylcholinesterase acetylcholinesterase activity"
    changed = {**row, "extra": row["extra"].replace("acetylcholinesterase activity", "choline metabolic process")}
    assert text_digest(*row_item("key_events", changed)) != text_digest(*item)
    # without components the digest is the one older stores recorded (title and description only)
    assert text_digest(*row_item("pathways", pathway)) == text_digest(pathway["title"], pathway["description"])
