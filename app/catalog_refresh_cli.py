"""`flask --app app catalog refresh`: bring the catalogue to a newer release (issue 17)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask import current_app

from . import db
from .services import catalog_refresh
from .services.embeddings import EmbeddingsError
from .services.encoder import Encoder, ModelError


def register(group: click.Group) -> None:
    group.add_command(refresh_command)


@click.command("refresh")
@click.option("--from", "source", metavar="DIR|URL",
              help="The release: a folder with key_events.*, pathways.* (and kers.*), or the URL of a release.json "
                   "(default: KEWP_CATALOG_RELEASE_URL).")
@click.option("--reference-dir", type=click.Path(path_type=Path), default=None,
              help="Folder with the gene alias and GO files (default: data/seed).")
@click.option("--title-similarity", type=click.FloatRange(0, 1), default=catalog_refresh.Thresholds.title_similarity,
              show_default=True, help="Flag mappings when an item's new title is less like the old than this.")
@click.option("--genes-distance", type=click.FloatRange(0, 1), default=catalog_refresh.Thresholds.genes_distance,
              show_default=True, help="Flag mappings when a pathway's genes change by more than this (Jaccard).")
@click.option("--max-withdrawn", type=click.FloatRange(0, 1), default=catalog_refresh.Thresholds.max_withdrawn,
              show_default=True, help="Refuse a release that withdraws more than this share of KEs or pathways.")
@click.option("--allow-many-withdrawn", is_flag=True, help="Apply a release even past --max-withdrawn.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 1024))
def refresh_command(*, source: str | None, reference_dir: Path | None, title_similarity: float, genes_distance: float,
                    max_withdrawn: float, allow_many_withdrawn: bool, batch_size: int) -> None:
    """Import a newer KE/pathway release, embed only new or changed items, swap the store in.

    Running app workers pick the new catalogue up within KEWP_CATALOG_CHECK_SECONDS, without a
    restart. A refused or failed refresh changes nothing: the old catalogue keeps serving."""
    from .services.precompute import DEFAULT_REFERENCE_DIR, tqdm_progress

    config = current_app.config
    source = source or os.environ.get("KEWP_CATALOG_RELEASE_URL", "")
    if not source:
        raise click.UsageError("give --from DIR (a release folder) or --from URL, or set KEWP_CATALOG_RELEASE_URL")
    thresholds = catalog_refresh.Thresholds(title_similarity, genes_distance, max_withdrawn)
    conn = db.connect(config["DATABASE"])
    try:
        with tempfile.TemporaryDirectory(prefix="kewp-release-") as scratch:
            folder = Path(source)
            if source.startswith(("http://", "https://")):
                folder = catalog_refresh.fetch_release(source, Path(scratch))
            release = catalog_refresh.read_release(folder, source=source)
            encoder = Encoder.load(config.get("MODEL_PATH"))
            report = catalog_refresh.refresh(
                conn, release, config["EMBEDDINGS_DIR"], encoder, data_dir=Path(config["DATABASE"]).parent,
                reference_dir=reference_dir or DEFAULT_REFERENCE_DIR, thresholds=thresholds,
                allow_many_withdrawn=allow_many_withdrawn, batch_size=batch_size, progress=tqdm_progress)
    except (catalog_refresh.RefreshError, ModelError, EmbeddingsError, db.DatabaseBusy) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    click.echo(report.summary())
