"""zstd, as a subprocess streamed through sha256."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from kewp_host.backup.common import EXIT_USAGE, Failure
from kewp_host.files import CHUNK, sha256_file


def zstd(*argv: str) -> subprocess.Popen[bytes]:
    exe = shutil.which("zstd")
    if exe is None:
        raise Failure(EXIT_USAGE, "the zstd command is missing: apt-get install zstd")
    return subprocess.Popen([exe, "-q", "--no-progress", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stream_to(proc: subprocess.Popen[bytes], dest: Path) -> str:
    """Write proc's stdout to dest (fsynced); returns its sha256. Raises OSError for zstd's errors."""
    digest = hashlib.sha256()
    assert proc.stdout is not None and proc.stderr is not None
    try:
        with dest.open("wb") as fout:
            while chunk := proc.stdout.read(CHUNK):
                digest.update(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise OSError(f"zstd exited with {code}: {err}")
    return digest.hexdigest()


def compress(src: Path, dest: Path, level: int) -> tuple[str, str]:
    """zstd src into dest; returns (sha256 of src, sha256 of dest)."""
    raw_sha = sha256_file(src)
    # zstd adds a checksum of the content to the frame; -T0: one thread per core.
    return raw_sha, stream_to(zstd(f"-{level}", "-T0", "-c", str(src)), dest)


