"""Text recipes: how a Key Event or pathway becomes the texts the encoder embeds.

The store build (precompute.py) and the suggester (a KE imported after the build) both call
`encode_items` with the store's recipe, so a query vector is made exactly as the stored ones.
A recipe's name and version are recorded in the store's manifest (embeddings.Recipe): bump the
version when a recipe's texts change. An item is (title, description) or, for a Key Event,
(title, description, components): its event components as one text (``components_text``).
No Flask imports.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from .embeddings import EmbeddingsError, Recipe
from .encoder import Encoder

DESCRIPTION_OPENING_CHARS = 300  # the opening sentences say what a KE or pathway is; the rest is detail
RECIPES = {
    "title": Recipe("title", 1),
    "title+description": Recipe("title+description", 1),
    # + a KE's event components (object and GO process names) as a third view: they say in
    # plain terms what the KE is about ("acetylcholinesterase acetylcholinesterase activity").
    # Grouped CV on the shipped links: text-only MRR +0.035 [+0.01,+0.06], R@10 +0.028 [+0.00,+0.06].
    "title+description+components": Recipe("title+description+components", 1),
}
DEFAULT_RECIPE = "title+description+components"
Item = tuple[str, str | None] | tuple[str, str | None, str]

_TAG = re.compile(r"<[^>]+>")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SPACE = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Plain text from AOP-Wiki HTML-ish descriptions and WikiPathways Markdown."""
    if not text:
        return ""
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    return _SPACE.sub(" ", text).strip()


def opening(text: str | None, chars: int = DESCRIPTION_OPENING_CHARS) -> str:
    """The first `chars` characters of the cleaned text, cut at a word boundary."""
    cleaned = clean_text(text)
    if len(cleaned) <= chars:
        return cleaned
    cut = cleaned[:chars]
    space = cut.rfind(" ")
    return cut[:space] if space > chars // 2 else cut


def components_text(components: Iterable[dict[str, Any]]) -> str:
    """A KE's event components as one text: each component's object and process names, once each
    (the action, "increased"/"decreased", is left out: pathways have no direction)."""
    parts: list[str] = []
    for component in components:
        names = [part.get("name") for part in (component.get("object"), component.get("process"))
                 if isinstance(part, dict) and part.get("name")]
        text = " ".join(names)
        if text and text not in parts:
            parts.append(text)
    return "; ".join(parts)


def item_of(record: Any) -> Item:
    """The texts of a catalogue KeyEvent or Pathway (or anything with a title and description) as
    encode_items takes them."""
    components = components_text(getattr(record, "event_components", None) or [])
    return (record.title, record.description, components) if components else (record.title, record.description)


def views(recipe: Recipe, title: str, description: str | None, components: str = "") -> list[str]:
    """The texts whose embeddings are summed into one item vector."""
    if recipe.name == "title":
        return [title]
    if recipe.name in ("title+description", "title+description+components"):
        start = opening(description)
        texts = [title, f"{title}. {start}"] if start else [title]
        if recipe.name == "title+description+components" and components:
            texts.append(components)
        return texts
    raise EmbeddingsError(f"unknown text recipe {recipe}; use one of {', '.join(RECIPES)}")


def encode_items(encoder: Encoder, recipe: Recipe, items: list[Item],
                 batch_size: int = 64, progress: Any = None) -> np.ndarray:
    """One unit vector per item: the normalized sum of its views' embeddings."""
    texts: list[str] = []
    slots: dict[str, int] = {}
    owners: list[list[int]] = []
    for item in items:
        rows = []
        for text in views(recipe, *item):
            if text not in slots:
                slots[text] = len(texts)
                texts.append(text)
            rows.append(slots[text])
        owners.append(rows)
    encoded = encoder.encode(texts, batch_size=batch_size, progress=progress)
    out = np.zeros((len(items), encoder.dimension), dtype=np.float32)
    for i, rows in enumerate(owners):
        out[i] = encoded[rows].sum(axis=0)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


def count_texts(recipe: Recipe, items: Iterable[Item]) -> int:
    return len({text for item in items for text in views(recipe, *item)})
