"""How a kewp mapping is said in registered vocabularies (SKOS, SSSOM, SEMAPV); no Flask imports.

The Turtle export and the SSSOM TSV of a release both take their terms from here, so the two
say the same thing about a mapping.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .confidence import LEVELS_BEST_FIRST

KE_IRI = "https://identifiers.org/aop.events:"
WP_IRI = "https://identifiers.org/wikipathways:"
SKOS_IRI = "http://www.w3.org/2004/02/skos/core#"
SSSOM_IRI = "https://w3id.org/sssom/"
SEMAPV_IRI = "https://w3id.org/semapv/vocab/"
PAV_IRI = "http://purl.org/pav/"   # SSSOM's author_id in RDF is pav:authoredBy

# The bioregistry prefixes for AOP-Wiki Key Events and WikiPathways, as identifiers.org spells them.
KE_PREFIX, WP_PREFIX = "aop.events", "wikipathways"

# Every relationship (causative, responsive, bidirectional, unclear) is a skos:relatedMatch:
# a Key Event and a pathway are different kinds of thing, so no exact or close match holds,
# and the causal direction the relationship records is not something a SKOS (or any SSSOM
# mapping) predicate can say. The relationship itself travels in the SSSOM `other` column.
PREDICATE = "relatedMatch"

# Curators assert every approved mapping after review.
JUSTIFICATION = "ManualMappingCuration"

# SSSOM needs a number from 0 to 1; kewp's level is an ordinal, so each level stands for the
# middle of a third of the range. Not a probability: compare, do not multiply.
CONFIDENCE_SCORES = dict(zip(LEVELS_BEST_FIRST, (0.9, 0.6, 0.3), strict=True))

# The licence of released mappings: they carry AOP-Wiki titles (CC BY-SA 4.0), so share-alike.
LICENSE = "https://creativecommons.org/licenses/by-sa/4.0/"

# What a mapping's suggestion_score is, as SSSOM's similarity_measure (free text) says it.
SIMILARITY_MEASURE = "kewp suggestion score when proposed (text embeddings, genes and GO terms)"

# The kewp-specific answers behind a mapping, kept in SSSOM's `other` (pipe-separated key=value).
ASSESSMENT = ("confidence", "relationship", "evidence", "specificity", "coverage")


def user_path(username: str) -> str:
    """A curator's id below the site's address: `user/<name>` (names never hold e-mail addresses)."""
    return "user/" + quote(username, safe="")


def assessment(mapping: dict[str, Any]) -> str:
    """`confidence=high|relationship=causative|...`: the answers SSSOM has no column for."""
    return "|".join(f"{name}={mapping[name]}" for name in ASSESSMENT)


def source_version(catalogue_import: dict[str, Any] | None) -> str:
    """The catalogue a mapping was approved against: which import of which file, when, and its sha256."""
    if catalogue_import is None:
        return ""
    return (f"kewp catalogue import {catalogue_import['id']}: {catalogue_import['source']}, "
            f"{catalogue_import['imported_at']}, sha256 {catalogue_import['sha256']}")
