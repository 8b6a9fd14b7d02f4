"""The sha256 of a file, read in 1 MiB chunks: imports record it, the embeddings manifest lists it.

Its own module so the catalogue import need not load numpy (app/services/embeddings.py) for it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
