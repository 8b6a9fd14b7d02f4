"""The confidence rule: answers -> high / medium / low, its config file, and the curator guide."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.services import confidence
from app.services.confidence import ConfidenceConfigError, assess, load_rule, parse_rule

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "curation.md"


def answers(relationship: str, evidence: str, specificity: str, coverage: str) -> dict[str, str]:
    return {"relationship": relationship, "evidence": evidence, "specificity": specificity, "coverage": coverage}


def config() -> dict:
    with confidence.CONFIG_PATH.open("rb") as handle:
        return tomllib.load(handle)


def test_strongest_answers_give_high_with_the_full_score():
    result = assess(answers("causative", "known", "specific", "complete"))
    assert (result.level, result.score, result.max_score) == ("high", 10, 10)


def test_weakest_answers_give_low():
    assert assess(answers("unclear", "uncertain", "loose", "minor")).level == "low"


def test_score_at_the_high_threshold_is_high_and_one_below_is_medium():
    assert assess(answers("causative", "known", "includes", "key_steps")).score == 8
    assert assess(answers("causative", "known", "includes", "key_steps")).level == "high"
    assert assess(answers("causative", "likely", "includes", "key_steps")).score == 7
    assert assess(answers("causative", "likely", "includes", "key_steps")).level == "medium"


def test_score_at_the_medium_threshold_is_medium_and_one_below_is_low():
    assert assess(answers("causative", "likely", "loose", "minor")).score == 5
    assert assess(answers("causative", "likely", "loose", "minor")).level == "medium"
    assert assess(answers("responsive", "likely", "loose", "minor")).score == 4
    assert assess(answers("responsive", "likely", "loose", "minor")).level == "low"


def test_uncertain_evidence_caps_the_level_at_low():
    result = assess(answers("causative", "uncertain", "specific", "complete"))
    assert result.score == 7
    assert result.level == "low"
    assert result.capped_by == ("evidence=uncertain",)


def test_possible_evidence_caps_the_level_at_medium():
    result = assess(answers("causative", "possible", "specific", "complete"))
    assert (result.score, result.level, result.capped_by) == (8, "medium", ("evidence=possible",))


def test_unclear_relationship_caps_the_level_at_medium_when_weights_would_allow_high():
    data = config()
    data["weights"]["relationship"]["unclear"] = 3
    rule = parse_rule(data)
    result = assess(answers("unclear", "known", "specific", "complete"), rule)
    assert (result.score, result.level, result.capped_by) == (10, "medium", ("relationship=unclear",))


def test_improving_any_single_answer_never_lowers_the_level():
    rule = confidence.default_rule()
    order = {q.name: sorted(q.values, key=lambda v, n=q.name: rule.weights[n][v]) for q in confidence.QUESTIONS}
    rank = {level: i for i, level in enumerate(confidence.LEVELS)}
    combos = list(itertools.product(*(order[name] for name in confidence.FIELDS)))
    assert len(combos) == 4 * 4 * 3 * 3
    for combo in combos:
        base = dict(zip(confidence.FIELDS, combo, strict=True))
        level = assess(base).level
        assert level in confidence.LEVELS
        for name in confidence.FIELDS:
            position = order[name].index(base[name])
            for better in order[name][position + 1:]:
                if rule.weights[name][better] > rule.weights[name][base[name]]:
                    assert rank[assess({**base, name: better}).level] >= rank[level], (base, name, better)


def test_missing_and_unknown_answers_are_reported_per_question():
    errors = confidence.validate_answers({"relationship": "causative", "evidence": "definitely",
                                         "specificity": ""})
    assert set(errors) == {"evidence", "specificity", "coverage"}
    assert "'definitely' is not an allowed answer" in errors["evidence"]
    assert errors["coverage"] == "Choose an answer."


def test_assess_refuses_incomplete_answers():
    with pytest.raises(ValueError, match="coverage"):
        assess({"relationship": "causative", "evidence": "known", "specificity": "specific"})


def test_config_without_a_weight_for_an_answer_is_refused_naming_it():
    data = config()
    del data["weights"]["evidence"]["likely"]
    with pytest.raises(ConfidenceConfigError, match=r"weights\.evidence.*missing: likely"):
        parse_rule(data)


def test_config_with_an_unknown_answer_is_refused_naming_it():
    data = config()
    data["weights"]["coverage"]["most"] = 1
    with pytest.raises(ConfidenceConfigError, match="unknown: most"):
        parse_rule(data)


def test_config_with_a_negative_or_fractional_weight_is_refused():
    data = config()
    data["weights"]["coverage"]["minor"] = -1
    with pytest.raises(ConfidenceConfigError, match=r"weights\.coverage\.minor = -1"):
        parse_rule(data)
    data["weights"]["coverage"]["minor"] = 0.5
    with pytest.raises(ConfidenceConfigError, match=r"weights\.coverage\.minor = 0\.5"):
        parse_rule(data)


def test_config_with_thresholds_out_of_order_is_refused():
    data = config()
    data["thresholds"] = {"high": 5, "medium": 8}
    with pytest.raises(ConfidenceConfigError, match="thresholds must satisfy"):
        parse_rule(data)


def test_config_with_a_cap_to_an_unknown_level_is_refused():
    data = config()
    data["caps"]["evidence"]["possible"] = "meh"
    with pytest.raises(ConfidenceConfigError, match=r"caps\.evidence\.possible = 'meh'"):
        parse_rule(data)


def test_config_file_that_is_not_toml_is_refused_with_its_path(tmp_path):
    bad = tmp_path / "confidence.toml"
    bad.write_text("[weights\n")
    with pytest.raises(ConfidenceConfigError, match="not valid TOML"):
        load_rule(bad)
    with pytest.raises(ConfidenceConfigError, match="missing"):
        load_rule(tmp_path / "nope.toml")


def _guide_table(marker: str) -> list[list[str]]:
    text = GUIDE.read_text()
    section = text.split(f"<!-- {marker}", 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not re.fullmatch(r"-+", cells[0]):
            rows.append(cells)
    return rows[1:]  # without the header


def test_curation_guide_weight_table_matches_the_config_file():
    rule = confidence.default_rule()
    documented = {(q, a): int(w) for q, a, w in _guide_table("weights")}
    actual = {(q, a): w for q, table in rule.weights.items() for a, w in table.items()}
    assert documented == actual


def test_curation_guide_worked_examples_are_what_the_rule_computes():
    rows = _guide_table("examples")
    assert len(rows) >= 8
    for relationship, evidence, specificity, coverage, score, level, capped in rows:
        result = assess(answers(relationship, evidence, specificity, coverage))
        assert (result.score, result.level) == (int(score), level), (relationship, evidence, specificity, coverage)
        assert (", ".join(result.capped_by) or "–") == capped


def test_curation_guide_states_the_configured_thresholds():
    rule = confidence.default_rule()
    text = GUIDE.read_text()
    assert f"**{rule.high} or more is high**" in text
    assert f"**{rule.medium} to {rule.high - 1} is medium**" in text


NODE_HARNESS = r"""
const fs = require("fs");
const [script, ruleJson, combosJson] = process.argv.slice(2);
let answers = {}, listener = null;
const confirmed = { value: "" };
const output = { textContent: "", appendChild() {} };
const form = {
  getAttribute: () => ruleJson,
  addEventListener: (_event, fn) => { listener = fn; },
  querySelector(selector) {
    if (selector === "[data-confidence-output]") { return output; }
    if (selector === "input[name=confirmed_confidence]") { return confirmed; }
    const name = /name='(\w+)'/.exec(selector)[1];
    return name in answers ? { value: answers[name] } : null;
  },
};
global.document = { querySelector: () => form, createElement: () => ({}) };
eval(fs.readFileSync(script, "utf8"));
const levels = JSON.parse(combosJson).map((combo) => { answers = combo; listener(); return confirmed.value; });
process.stdout.write(JSON.stringify(levels));
"""


def test_live_preview_script_computes_the_same_level_as_the_server_for_every_answer_combination(tmp_path):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed; the live preview is progressive JavaScript only")
    rule = confidence.default_rule()
    combos = [dict(zip(confidence.FIELDS, combo, strict=True))
              for combo in itertools.product(*(q.values for q in confidence.QUESTIONS))]
    combos.append({"relationship": "causative"})  # incomplete answers: no level
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    script = REPO / "app" / "static" / "confidence.js"
    result = subprocess.run([node, str(harness), str(script), json.dumps(rule.as_dict()), json.dumps(combos)],
                            capture_output=True, text=True, timeout=30, check=True)
    levels = json.loads(result.stdout)
    assert levels[:-1] == [assess(c).level for c in combos[:-1]]
    assert levels[-1] == ""
