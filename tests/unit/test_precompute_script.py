"""scripts/precompute_embeddings.py and scripts/evaluate_suggestions.py run on a real database."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.unit.suggest_fixtures"]  # shared session fixtures: built once per run


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"kewp_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"kewp_script_{name}"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_precompute_writes_a_store_with_the_given_model(small_db: Path, tiny_model_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb"
    code = _script("precompute_embeddings").main(
        [str(small_db), "--output", str(out), "--model", str(tiny_model_dir), "--batch-size", "16"])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dimension"] == 64 and manifest["info"]["batch_size"] == 16
    assert manifest["recipe"] == {"name": "title+description+components", "version": 1}  # the default
    assert f"wrote {out}" in capsys.readouterr().out


def test_precompute_refuses_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _script("precompute_embeddings").main([str(tmp_path / "none.db"), "--output", str(tmp_path / "emb")])
    assert exit_info.value.code == 2
    assert "catalog import" in capsys.readouterr().err
    assert not (tmp_path / "emb").exists()


def test_precompute_refuses_a_missing_model_and_writes_nothing(small_db: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = _script("precompute_embeddings").main(
        [str(small_db), "--output", str(tmp_path / "emb"), "--model", str(tmp_path / "no-model")])
    assert code == 1
    assert "KEWP_MODEL_PATH" in capsys.readouterr().err
    assert not (tmp_path / "emb").exists()


def test_evaluation_reports_recall_and_mrr_per_variant_with_intervals(small_db: Path, small_store: Path,
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "emb"
    shutil.copytree(small_store, store)
    links = Path(__file__).resolve().parents[2] / "data" / "seed" / "mappings.jsonl"
    code = _script("evaluate_suggestions").main(
        ["--database", str(small_db), "--store", str(store), "--links", str(links), "--folds", "3",
         "--bootstrap", "200", "--choice-draws", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "21 links on " in out and "(1 skipped: KE or pathway not in the catalogue or store: KE 228->WP5071)" in out
    assert "| text only (title + description)" in out and "| all signals" in out and "| all - approved" in out
    assert "differing from the weight search: 0" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "variant" not in line]
    assert len(rows) == 21  # 3 app rows, text only, text + and all - each of 8 signals, all
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        values = [float(c.split()[0]) for c in cells[1:6]]
        r1, r5, r10, r50, mrr = values
        assert 0.0 <= r1 <= r5 <= r10 <= r50 <= 1.0 and 0.0 < mrr <= 1.0
        for cell, value in zip(cells[1:6], values, strict=True):
            low, high = (float(v) for v in cell.split()[1].strip("[]").split(","))
            assert low <= value + 0.005 and value - 0.005 <= high
