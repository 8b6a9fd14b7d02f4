"""Small file-system helpers: checksums, fsync, atomic writes, sizes and free space."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a hidden temporary file and a rename: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def unlink_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def file_size(path: Path) -> int:
    """Size in bytes; 0 for a file that does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def human(n: float, largest: str = "GiB") -> str:
    """A size for people: 512 B, 1.5 KiB, ... up to `largest` (GiB or TiB)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    units = units[: units.index(largest) + 1]
    for unit in units:
        if abs(n) < 1024 or unit == largest:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} {largest}"  # pragma: no cover (the loop always returns)
