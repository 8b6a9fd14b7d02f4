"""A synthetic catalogue for scaling: the sample store plus random unit vectors as extra pathways.

Built with the app's own EmbeddingStore.save (so the load checks, the file format and the
suggester are the real ones) and the sample store's model identity, so the app loads it
with the real model. The sample's pathways (with their genes) stay in, so gene and GO
evidence is still computed; the extra pathways have no genes in the database, so the cost
that grows is the text similarity (matrix-vector product), the per-pathway score arrays and
the top-k selection.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.services.embeddings import KE_SET, WP_SET, EmbeddingStore, ModelInfo


def build(sample: Path, output: Path, pathways: int, seed: int = 0) -> Path:
    """Write a store with `pathways` pathway rows to `output` (reused when it already has that many)."""
    if (output / "manifest.json").is_file():
        existing = EmbeddingStore.load(output, verify=False)
        if len(existing.get(WP_SET)) == pathways:
            return output
    store = EmbeddingStore.load(sample)
    ke, wp = store.get(KE_SET), store.get(WP_SET)
    extra = max(0, pathways - len(wp))
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((extra, store.dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.concatenate([wp.ids.astype(str), np.array([f"WP{900000 + i}" for i in range(extra)], dtype=str)])
    model = store.model
    EmbeddingStore.save(
        output, {KE_SET: (ke.ids, np.asarray(ke.vectors)),
                 WP_SET: (ids, np.concatenate([np.asarray(wp.vectors), vectors]))},
        model=ModelInfo(model["name"], model["fingerprint"], int(model["dimension"]), model.get("path", "")),
        recipe=store.recipe, extras=store.extras,
        info={"synthetic": True, "sample_pathways": len(wp), "random_pathways": extra})
    return output
