"""scripts/validate_e5_queries.py: the rule that picks each bundle's query expansion k."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmh_core.methods import METHODS as METHOD_NAMES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def script(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from scripts import validate_e5_queries

    return validate_e5_queries


def _rec(method, kind, k, m):
    return {
        "dataset": "openmoji",
        "study": "expansion",
        "method": method,
        "kind": kind,
        "k": k,
        "mAP": m,
        "seed": 0,
        "n_queries": 7,
    }


def test_best_mean_wins_and_ties_go_to_the_smaller_k(script):
    base = {0: 0.50, 1: 0.60, 3: 0.70, 5: 0.70, 10: 0.40}
    rs = [_rec(m, q, k, v) for m in ("DCH", "CSMH") for q in ("caption", "name") for k, v in base.items()]
    assert script.choose_k(rs, "openmoji")[0] == 3  # 3 and 5 tie: the smaller change wins
    rs += [_rec("SDEH", q, k, 0.9 if k == 10 else 0.1) for q in ("caption", "name") for k in base]
    best, score = script.choose_k(rs, "openmoji")
    assert best == 10 and score[10] == pytest.approx((0.4 + 0.4 + 0.9) / 3)
    assert "chosen: **k = 10**" in script.tables(rs)


def test_validation_items_are_carved_from_train(script):
    from cmh_core.datasets import load_dataset

    ds = load_dataset("openmoji")
    fit, val = script.validation_split(ds)
    assert set(fit) | set(val) == set(ds.split.train) and not set(fit) & set(val)
    assert not set(val) & set(ds.split.query) and len(val) == len(ds.split.train) // 5


@pytest.mark.parametrize("name", ["openmoji", "tuxpaint"])
def test_bundles_carry_the_k_the_committed_runs_choose(script, name):
    runs = ROOT / "docs" / "multilingual-runs" / "query_expansion.jsonl"
    rs = [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]
    assert {r["method"] for r in rs if r["dataset"] == name} == set(script.METHODS)
    stored = json.loads((ROOT / "assets" / "datasets" / name / "e5.json").read_text())
    assert stored["query_expansion_k"] == script.choose_k(rs, name)[0]
    feats = ROOT / "docs" / "multilingual-runs" / "text_features.jsonl"
    fr = [json.loads(line) for line in feats.read_text().splitlines() if line.strip()]
    assert {r["method"] for r in fr if r["dataset"] == name} == set(METHOD_NAMES)  # every method
    assert stored["text_features_validation"] == script.features_summary(fr, name)
