"""Backup of a big live database while the app writes: duration, compression ratio, write latency.

    .venv/bin/python bench/backup.py [--size-mb 220] [--workdir DIR] [--level 3]

Builds a synthetic database of at least --size-mb with the app's schema (app/migrations) and
text that looks like curation (key events, pathways, mappings, JSON audit rows), then runs
kewp-backup backup (python -m kewp_host.backup) while a writer thread commits a mapping every few milliseconds
through the app's own db module, and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import db

REPO = Path(__file__).resolve().parents[1]
# kewp-backup as it runs from the repository (the VPS runs the same package through an entry point).
KEWP_BACKUP = [sys.executable, "-m", "kewp_host.backup"]


def words(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def build(path: Path, size_mb: int) -> None:
    rng = random.Random(42)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 11)))
             for _ in range(6000)]
    genes = [f"GENE{i}" for i in range(20000)]
    conn = db.connect(path)
    db.migrate(conn)
    kes, wps = 20000, 5000
    with db.write_transaction(conn):
        conn.executemany("INSERT INTO key_events (ke_id, title, bio_level, description, aop_ids) VALUES (?,?,?,?,?)",
                         ((f"KE {i}", words(rng, vocab, 8), "Cellular", words(rng, vocab, 180),
                           json.dumps([f"AOP {rng.randint(1, 500)}" for _ in range(3)])) for i in range(1, kes + 1)))
        conn.executemany("INSERT INTO pathways (wp_id, title, organism, description, genes) VALUES (?,?,?,?,?)",
                         ((f"WP{i}", words(rng, vocab, 6), "Homo sapiens", words(rng, vocab, 120),
                           json.dumps(rng.sample(genes, 60))) for i in range(1, wps + 1)))
        conn.execute("INSERT INTO users (username, role) VALUES ('alice', 'admin')")
    n = 0
    while path.stat().st_size + (path.with_name(path.name + "-wal").stat().st_size) < size_mb * 1024 * 1024:
        with db.write_transaction(conn):
            rows = []
            for _ in range(5000):
                n += 1
                rows.append(("alice", "mapping.approve", "mapping", str(n),
                             json.dumps({"rationale": words(rng, vocab, 40)}),
                             json.dumps({"rationale": words(rng, vocab, 45), "confidence": "high"})))
            conn.executemany("INSERT INTO audit_log (actor, action, entity, entity_id, before, after) "
                             "VALUES (?,?,?,?,?,?)", rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mb", type=int, default=220)
    p.add_argument("--workdir", type=Path)
    p.add_argument("--level", type=int, default=3, help="zstd level")
    args = p.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="kewp-bench-backup-"))
    (work / "data").mkdir(parents=True, exist_ok=True)
    (work / "backups").mkdir(exist_ok=True)
    live = work / "data" / "ke_wp_mapping.db"
    if not live.exists():
        t = time.monotonic()
        build(live, args.size_mb)
        print(f"built {live}: {live.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - t:.0f} s")

    conn = db.connect(live)
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            ke, wp = n % 20000 + 1, (n // 20000) % 5000 + 1
            t0 = time.monotonic()
            try:
                with db.write_transaction(conn):
                    conn.execute("INSERT OR IGNORE INTO mappings (ke_id, wp_id, relationship, evidence, specificity, "
                                 "coverage, confidence, rationale, proposed_by, approved_by) VALUES "
                                 "(?, ?, 'causative', 'literature', 'specific', 'complete', 'high', 'bench', "
                                 "'alice', 'alice')", (f"KE {ke}", f"WP{wp}"))
                latencies.append(time.monotonic() - t0)
            except Exception as exc:  # noqa: BLE001 (every failure counts)
                failures.append(repr(exc))
            n += 1
            time.sleep(0.005)

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_BACKUP_CONFIG="/nonexistent", KEWP_BACKUP_DB=str(live), KEWP_BACKUP_DIR=str(work / "backups"),
               KEWP_BACKUP_COMPRESS_LEVEL=str(args.level))
    before = len(latencies)
    t = time.monotonic()
    result = subprocess.run([*KEWP_BACKUP, "backup"], cwd=REPO, env=env, capture_output=True, text=True,
                            check=False)
    wall = time.monotonic() - t
    during = latencies[before:]
    stop.set()
    thread.join()
    conn.close()
    if result.returncode != 0:
        print(result.stderr)
        return 1
    data = Path(result.stdout.strip())
    manifest = json.loads(data.with_name(data.name.removesuffix(".db.zst") + ".json").read_text())
    d = manifest["durations"]
    print(f"database: {manifest['db_size'] / 2**20:.0f} MiB (source {manifest['source']['db_size'] / 2**20:.0f} MiB "
          f"+ WAL {manifest['source']['wal_size'] / 2**20:.1f} MiB)")
    print(f"backup: {wall:.1f} s wall; snapshot {d['snapshot']:.1f} s, integrity_check {d['integrity_check']:.1f} s, "
          f"zstd -{args.level} {d['compress']:.1f} s")
    print(f"compressed: {manifest['size'] / 2**20:.1f} MiB, ratio {manifest['ratio']:.2f}")
    during.sort()
    if during:
        print(f"writes during the backup: {len(during)} committed, {len(failures)} failed; latency "
              f"median {during[len(during) // 2] * 1000:.1f} ms, max {during[-1] * 1000:.1f} ms")
    print(f"work directory: {work}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
