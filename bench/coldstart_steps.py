"""Times the start-up steps of the app in a fresh Python process; prints one JSON object.

    python -m bench.coldstart_steps DATABASE EMBEDDINGS_DIR SCRATCH_DIR

The same functions create_app calls, in its order: imports (Flask, the app, numpy), the
model (importing torch and sentence-transformers, then loading the weights), the
embeddings (store load with checksums, catalogue read, suggester index), the migrations
(a new empty database to the current schema, and the no-op check on a migrated one).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    database, embeddings, scratch = (Path(a) for a in sys.argv[1:4])
    steps: dict[str, float] = {}
    t = time.monotonic()
    import flask  # noqa: F401
    import numpy  # noqa: F401

    import app  # noqa: F401
    from app import db
    from app.config import default_model_path
    from app.engine import load_catalog_from
    from app.services.embeddings import EmbeddingStore
    from app.services.encoder import Encoder
    from app.services.suggestions import Suggester
    steps["imports_app"] = time.monotonic() - t

    t = time.monotonic()
    import torch  # noqa: F401
    steps["import_torch"] = time.monotonic() - t
    t = time.monotonic()
    import sentence_transformers  # noqa: F401
    steps["import_sentence_transformers"] = time.monotonic() - t
    t = time.monotonic()
    encoder = Encoder.load(default_model_path())
    steps["model_weights"] = time.monotonic() - t

    t = time.monotonic()
    store = EmbeddingStore.load(embeddings, expect_model=encoder.info)
    steps["embeddings_store"] = time.monotonic() - t
    t = time.monotonic()
    catalog = load_catalog_from(str(database))
    Suggester(store, catalog, encoder=encoder)
    steps["catalogue_and_index"] = time.monotonic() - t

    fresh = scratch / "migrate-fresh.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{fresh}{suffix}").unlink(missing_ok=True)
    t = time.monotonic()
    conn = db.connect(fresh)
    db.migrate(conn)
    conn.close()
    steps["migrations_fresh_db"] = time.monotonic() - t
    t = time.monotonic()
    conn = db.connect(database)
    db.migrate(conn)
    conn.close()
    steps["migrations_up_to_date"] = time.monotonic() - t
    print(json.dumps({k: round(v, 3) for k, v in steps.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
