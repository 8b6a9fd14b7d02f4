"""Approved mappings as an SSSOM TSV mapping set (https://mapping-commons.github.io/sssom/); no Flask imports.

A YAML header (each line behind `# `: prefixes, the set's id, version and licence) then one
tab-separated row per mapping. The terms are those of mapping_vocab, shared with the Turtle.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import yaml

from . import ids
from . import mapping_vocab as vocab
from .text import strip_forbidden

COLUMNS = (
    "subject_id", "subject_label", "predicate_id", "object_id", "object_label",
    "mapping_justification", "confidence", "author_id", "reviewer_id", "mapping_date",
    "subject_source_version", "object_source_version", "similarity_score", "similarity_measure",
    "comment", "other",
)


@dataclass(frozen=True)
class MappingSet:
    """What the header says about the set as a whole."""

    site: str                  # KEWP_PUBLIC_URL: curators' ids and the set id are below it
    mapping_set_id: str
    version: str
    title: str
    description: str
    published: date


def curie_map(site: str) -> dict[str, str]:
    return {vocab.KE_PREFIX: vocab.KE_IRI, vocab.WP_PREFIX: vocab.WP_IRI, "skos": vocab.SKOS_IRI,
            "semapv": vocab.SEMAPV_IRI, "kewp": f"{site}/"}


def row(mapping: dict[str, Any], imports: dict[int, dict[str, Any]]) -> dict[str, str]:
    """One mapping's SSSOM columns; `imports` are the catalogue imports by id (catalog.imports)."""
    return {
        "subject_id": f"{vocab.KE_PREFIX}:{ids.id_number(mapping['ke_id'])}",
        "subject_label": mapping["ke_title"],
        "predicate_id": f"skos:{vocab.PREDICATE}",
        "object_id": f"{vocab.WP_PREFIX}:{mapping['wp_id']}",
        "object_label": mapping["wp_title"],
        "mapping_justification": f"semapv:{vocab.JUSTIFICATION}",
        "confidence": str(vocab.CONFIDENCE_SCORES[mapping["confidence"]]),
        "author_id": f"kewp:{vocab.user_path(mapping['proposed_by'])}",
        "reviewer_id": f"kewp:{vocab.user_path(mapping['approved_by'])}",
        "mapping_date": mapping["updated_at"][:10],
        "subject_source_version": vocab.source_version(imports.get(mapping["ke_catalog_version"])),
        "object_source_version": vocab.source_version(imports.get(mapping["wp_catalog_version"])),
        "similarity_score": "" if mapping["suggestion_score"] is None else str(mapping["suggestion_score"]),
        "similarity_measure": "" if mapping["suggestion_score"] is None else vocab.SIMILARITY_MEASURE,
        "comment": mapping["rationale"],
        "other": vocab.assessment(mapping),
    }


def _cell(value: str) -> str:
    # A TSV row is one line: tabs and line breaks in titles or rationales become spaces.
    return " ".join(strip_forbidden(value).split())


def to_sssom_tsv(mappings: list[dict[str, Any]], mapping_set: MappingSet,
                 imports: dict[int, dict[str, Any]]) -> str:
    header = {
        "curie_map": curie_map(mapping_set.site),
        "mapping_set_id": mapping_set.mapping_set_id,
        "mapping_set_version": mapping_set.version,
        "mapping_set_title": mapping_set.title,
        "mapping_set_description": mapping_set.description,
        "license": vocab.LICENSE,
        "mapping_provider": mapping_set.site,
        "publication_date": mapping_set.published.isoformat(),
    }
    text = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=1000)
    buffer = io.StringIO()
    buffer.write("".join(f"# {line}\n" for line in text.splitlines()))
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(COLUMNS)
    for mapping in mappings:
        cells = row(mapping, imports)
        writer.writerow([_cell(cells[name]) for name in COLUMNS])
    return buffer.getvalue()
