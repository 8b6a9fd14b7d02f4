"""The assessment questions and the rule that turns their answers into a confidence level.

The questions and their allowed answers are defined here; the weights, thresholds and caps
live in one file, `app/confidence.toml`, checked when it is loaded so a typo fails at
start-up with the key to fix. docs/curation.md explains the rule to curators and its
worked examples are checked by the tests. No Flask imports.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_PATH = Path(__file__).resolve().parent.parent / "confidence.toml"
LEVELS = ("low", "medium", "high")  # in increasing order
LEVELS_BEST_FIRST = tuple(reversed(LEVELS))  # how lists, filters and exports show them


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    help: str


@dataclass(frozen=True)
class Question:
    name: str
    label: str
    choices: tuple[Choice, ...]

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def label_of(self, value: str | None) -> str:
        return next((c.label for c in self.choices if c.value == value), value or "")


QUESTIONS: tuple[Question, ...] = (
    Question("relationship", "How does the pathway relate to the Key Event?", (
        Choice("causative", "Causative", "the pathway's activity causes or drives the Key Event"),
        Choice("responsive", "Responsive", "the pathway responds to the Key Event (downstream of it)"),
        Choice("bidirectional", "Bidirectional", "each affects the other"),
        Choice("unclear", "Unclear", "related, but the direction is not clear"),
    )),
    Question("evidence", "What is the relationship based on?", (
        Choice("known", "Known", "established in the literature or curated databases"),
        Choice("likely", "Likely", "strong supporting evidence, not yet established"),
        Choice("possible", "Possible", "plausible, with limited evidence"),
        Choice("uncertain", "Uncertain", "speculative"),
    )),
    Question("specificity", "How specific is the pathway to the Key Event?", (
        Choice("specific", "Specific", "the pathway is about this Key Event's process"),
        Choice("includes", "Includes", "the pathway includes the process among others"),
        Choice("loose", "Loose", "only loosely related"),
    )),
    Question("coverage", "How much of the Key Event's biology does the pathway cover?", (
        Choice("complete", "Complete", "the complete mechanism"),
        Choice("key_steps", "Key steps", "the key steps of the mechanism"),
        Choice("minor", "Minor", "a minor aspect"),
    )),
)
QUESTION_BY_NAME = {q.name: q for q in QUESTIONS}
FIELDS = tuple(q.name for q in QUESTIONS)


class ConfidenceConfigError(ValueError):
    """confidence.toml is missing a value or has a wrong one; the message names the key."""


@dataclass(frozen=True)
class Rule:
    weights: Mapping[str, Mapping[str, int]]
    high: int
    medium: int
    caps: Mapping[str, Mapping[str, str]]

    @property
    def max_score(self) -> int:
        return sum(max(w.values()) for w in self.weights.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the form's live preview (JSON in a data attribute)."""
        return {"weights": {k: dict(v) for k, v in self.weights.items()},
                "thresholds": {"high": self.high, "medium": self.medium},
                "caps": {k: dict(v) for k, v in self.caps.items()}, "levels": list(LEVELS)}


@dataclass(frozen=True)
class Assessment:
    level: str
    score: int
    max_score: int
    capped_by: tuple[str, ...] = ()  # "evidence=uncertain", ... when a cap lowered the level

    def explain(self) -> str:
        text = f"score {self.score} of {self.max_score}"
        if self.capped_by:
            text += f", capped by {', '.join(self.capped_by)}"
        return text


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfidenceConfigError(f"{key} = {value!r}: use a whole number >= 0")
    return value


def parse_rule(data: Mapping[str, Any], source: str = "confidence.toml") -> Rule:
    """Check the parsed config covers every answer exactly once and its numbers make sense."""
    weights_in = data.get("weights")
    if not isinstance(weights_in, Mapping):
        raise ConfidenceConfigError(f"{source}: no [weights.*] tables")
    weights: dict[str, dict[str, int]] = {}
    for question in QUESTIONS:
        table = weights_in.get(question.name)
        if not isinstance(table, Mapping):
            raise ConfidenceConfigError(f"{source}: [weights.{question.name}] is missing")
        missing = [v for v in question.values if v not in table]
        unknown = [v for v in table if v not in question.values]
        if missing or unknown:
            raise ConfidenceConfigError(
                f"{source}: [weights.{question.name}] must give a weight for exactly "
                f"{', '.join(question.values)} (missing: {', '.join(missing) or 'none'}; "
                f"unknown: {', '.join(unknown) or 'none'})")
        weights[question.name] = {v: _int(table[v], f"weights.{question.name}.{v}") for v in question.values}
    extra = [k for k in weights_in if k not in QUESTION_BY_NAME]
    if extra:
        raise ConfidenceConfigError(f"{source}: unknown question(s) under [weights]: {', '.join(extra)}")

    thresholds = data.get("thresholds")
    if not isinstance(thresholds, Mapping) or "high" not in thresholds or "medium" not in thresholds:
        raise ConfidenceConfigError(f"{source}: [thresholds] needs high and medium")
    high = _int(thresholds["high"], "thresholds.high")
    medium = _int(thresholds["medium"], "thresholds.medium")
    max_score = sum(max(w.values()) for w in weights.values())
    if not 0 < medium < high <= max_score:
        raise ConfidenceConfigError(f"{source}: thresholds must satisfy 0 < medium ({medium}) < high ({high}) "
                                    f"<= the highest possible score ({max_score})")

    caps: dict[str, dict[str, str]] = {}
    for name, table in (data.get("caps") or {}).items():
        question = QUESTION_BY_NAME.get(name)
        if question is None or not isinstance(table, Mapping):
            raise ConfidenceConfigError(f"{source}: [caps.{name}] is not one of the questions "
                                        f"({', '.join(FIELDS)})")
        for value, level in table.items():
            if value not in question.values:
                raise ConfidenceConfigError(f"{source}: caps.{name}.{value}: {value!r} is not an answer "
                                            f"({', '.join(question.values)})")
            if level not in LEVELS:
                raise ConfidenceConfigError(f"{source}: caps.{name}.{value} = {level!r}: use one of "
                                            f"{', '.join(LEVELS)}")
        caps[name] = dict(table)
    return Rule(weights, high, medium, caps)


def load_rule(path: str | Path = CONFIG_PATH) -> Rule:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfidenceConfigError(f"{path}: the confidence rule file is missing") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfidenceConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_rule(data, str(path))


@functools.lru_cache(maxsize=1)
def default_rule() -> Rule:
    """The rule from app/confidence.toml, read once per process."""
    return load_rule()


def validate_answers(answers: Mapping[str, Any]) -> dict[str, str]:
    """Per-question error messages for missing or unknown answers (empty when all are fine)."""
    errors = {}
    for question in QUESTIONS:
        value = answers.get(question.name)
        if value in (None, ""):
            errors[question.name] = "Choose an answer."
        elif value not in question.values:
            errors[question.name] = (f"{str(value)[:40]!r} is not an allowed answer; choose one of "
                                     f"{', '.join(c.label for c in question.choices)}.")
    return errors


def assess(answers: Mapping[str, str], rule: Rule | None = None) -> Assessment:
    """The confidence level for a complete, valid set of answers (see validate_answers)."""
    rule = rule or default_rule()
    errors = validate_answers(answers)
    if errors:
        raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))
    score = sum(rule.weights[q][answers[q]] for q in FIELDS)
    level = "high" if score >= rule.high else "medium" if score >= rule.medium else "low"
    capped_by = []
    for name, table in rule.caps.items():
        cap = table.get(answers[name])
        if cap is not None and LEVELS.index(cap) < LEVELS.index(level):
            capped_by.append((cap, f"{name}={answers[name]}"))
    if capped_by:
        level = min((cap for cap, _ in capped_by), key=LEVELS.index)
    return Assessment(level, score, rule.max_score, tuple(why for _, why in capped_by))
