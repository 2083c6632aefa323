"""Exports of a run: FAISS index, codes .npz, model file, metrics CSV/JSON, and the Train page buttons."""

import csv
import io
import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cmh_core import exports
from cmh_core.evaluation import mean_average_precision, relevance_from_labels
from cmh_core.experiment import Run, run_experiment
from cmh_core.hamming import hamming_distance, search
from cmh_core.methods import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tux):
    return run_experiment(tux, "DCH", n_bits=32, seed=0)


@pytest.fixture(scope="module")
def codes(run, tux):
    return exports.run_codes(run, tux)


def _check_topk_against_oracle(D, I, D_ref, full):
    """Equal distances; every id really at its distance; below the last distance, the same id sets."""
    assert np.array_equal(D, D_ref)
    for row in range(len(D)):
        assert len(set(I[row])) == len(I[row])  # no id twice
        assert np.array_equal(full[row, I[row]], D[row])  # each id lies at the distance reported
        for d in np.unique(D[row][D[row] < D[row, -1]]):  # tie groups fully inside the top k
            assert set(I[row][D[row] == d]) == set(np.flatnonzero(full[row] == d))


@pytest.mark.parametrize("direction", ["i2t", "t2i"])
def test_faiss_index_file_returns_the_top_k_of_hamming_search(codes, tmp_path, direction):
    src, dst = ("image", "text") if direction == "i2t" else ("text", "image")
    path = tmp_path / "db.faissindex"
    path.write_bytes(exports.faiss_index_bytes(codes[f"{dst}_database"]))
    index = faiss.read_index_binary(str(path))
    assert index.ntotal == len(codes[f"{dst}_database"]) and index.d == 32
    q, k = codes[f"{src}_query"], 20
    D_faiss, I_faiss = index.search(q, k)
    D_ref, I_ref = search(q, codes[f"{dst}_database"], k=k)
    full = hamming_distance(q, codes[f"{dst}_database"])  # (n_q, n_db) oracle
    _check_topk_against_oracle(D_faiss, I_faiss, D_ref, full)
    _check_topk_against_oracle(D_ref, I_ref, D_ref, full)


def test_codes_npz_reloads_to_the_same_codes_and_ids(run, tux, codes, tmp_path):
    path = tmp_path / "codes.npz"
    path.write_bytes(exports.codes_npz(run, tux, codes))
    with np.load(path, allow_pickle=False) as z:
        for role in ("image_query", "text_query", "image_database", "text_database"):
            assert z[role].dtype == np.uint8 and np.array_equal(z[role], codes[role])
        rows = {"query": tux.split.query, "database": tux.split.database}
        for role in ("image_query", "text_query", "image_database", "text_database"):
            modality, part = role.split("_")
            assert z[f"{role}_ids"].tolist() == [f"{modality}:{i}" for i in rows[part]]
        assert int(z["n_bits"]) == 32 and str(z["method"]) == "DCH" and str(z["dataset"]) == "tuxpaint"
        assert str(z["protocol"]) == "learned" and str(z["format"]) == exports.CODES_FORMAT
        # the exported codes are the evaluated ones: they give back the run's mAP
        R = relevance_from_labels(tux.labels[tux.split.query], tux.labels[tux.split.database])
        got = mean_average_precision(hamming_distance(z["image_query"], z["text_database"]), R)
    assert got == pytest.approx(run.map_i2t, abs=1e-12)


def test_unpaired_run_exports_the_codes_it_was_evaluated_with(synthetic_ds):
    run = run_experiment(synthetic_ds, "AMSH", n_bits=16, seed=3, unpaired=1.0)
    with np.load(io.BytesIO(exports.codes_npz(run, synthetic_ds)), allow_pickle=False) as z:
        ds = synthetic_ds
        R = relevance_from_labels(ds.labels[ds.split.query], ds.labels[ds.split.database])
        got = mean_average_precision(hamming_distance(z["text_query"], z["image_database"]), R)
    assert got == pytest.approx(run.map_t2i, abs=1e-12)


def test_model_file_reloads_and_encodes_identically(run, tux, tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(exports.model_bytes(run))
    back = load_model(path)
    assert type(back) is type(run.model) and back.get_params() == run.model.get_params()
    for modality, X in (("image", tux.image_features), ("text", tux.text_features)):
        assert np.array_equal(back.encode(X, modality), run.model.encode(X, modality))


def test_metrics_csv_parses_back_to_the_runs_numbers(run):
    rows = list(csv.DictReader(io.StringIO(exports.metrics_csv(run))))
    value = {(r["section"], r["metric"], r["at"]): r["value"] for r in rows}
    assert float(value[("i2t", "mAP", "")]) == run.map_i2t  # written exactly (repr of the float)
    assert float(value[("t2i", "mAP_expected", "")]) == run.map_t2i_expected
    assert float(value[("run", "fit_seconds", "")]) == run.fit_seconds
    assert value[("run", "method", "")] == "DCH" and value[("param", "alpha", "")] == "0.1"
    pk = run.report["i2t"]["precision_at_k"]
    for k, p in zip(pk["k"], pk["precision"], strict=True):
        assert float(value[("i2t", "precision_at_k.precision", str(k))]) == p
    pr = run.report["t2i"]["pr_curve"]
    got = [float(value[("t2i", "pr_curve.recall", str(r))]) for r in pr["radius"]]
    assert got == pr["recall"] and len(pr["radius"]) == 33  # radius 0..32


def test_metrics_json_is_the_run_record(run):
    d = json.loads(exports.metrics_json(run))
    back = Run.from_dict(d)
    assert back.report == json.loads(json.dumps(run.report))
    assert back.params == run.to_dict()["params"] and back.fit_seconds == run.fit_seconds
    assert back.history == run.history


def test_a_record_without_its_model_cannot_export_codes(run, tux):
    bare = Run.from_dict(run.to_dict())
    assert "mAP" in exports.metrics_csv(bare)  # numbers still export
    with pytest.raises(ValueError, match="no fitted model"):
        exports.codes_npz(bare, tux)
    with pytest.raises(ValueError, match="no fitted model"):
        exports.model_bytes(bare)


def test_write_exports_writes_every_file(run, tux, tmp_path):
    out = exports.write_exports(run, tux, tmp_path)
    assert sorted(out) == sorted(
        ["metrics.csv", "metrics.json", "codes.npz", "model.npz", "text_database.faissindex",
         "image_database.faissindex"]
    )  # fmt: skip
    assert all(p.stat().st_size > 0 for p in out.values())
    assert faiss.read_index_binary(str(out["image_database.faissindex"])).ntotal == len(tux.split.database)
    with pytest.raises(ValueError, match="no such folder"):
        exports.write_exports(run, tux, tmp_path / "missing")


def test_item_ids_refuse_an_unknown_modality():
    assert exports.item_ids("text", [3, 10]).tolist() == ["text:3", "text:10"]
    with pytest.raises(ValueError, match="modality must be"):
        exports.item_ids("audio", [1])


def test_run_codes_for_downloads_are_built_once_per_run_key(run, tux, monkeypatch):
    from ui.exports import _run_codes
    from ui.state import RunKey

    calls = []
    real = exports.run_codes
    monkeypatch.setattr(exports, "run_codes", lambda r, d: calls.append(1) or real(r, d))
    _run_codes.clear()
    key = RunKey.from_run(run)
    first = _run_codes(key, run, tux)
    assert _run_codes(key, run, tux) is first and calls == [1]  # the three code exports share one build
    other = RunKey.make(key.dataset, key.method, key.n_bits, key.seed + 1)
    _run_codes(other, run, tux)
    assert calls == [1, 1]  # another run key builds its own
    assert np.array_equal(first["text_database"], exports.run_codes(run, tux)["text_database"])


@pytest.mark.slow
@pytest.mark.app
def test_train_page_offers_every_download_after_training():
    from apptest_helpers import press_train

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.switch_page("pages/2_Train.py").run()
    assert not at.download_button  # nothing trained, nothing to download
    press_train(at)  # a background training: waits until it is the current run
    assert not at.exception, at.exception
    labels = [b.label for b in at.download_button]
    for want in ("Metrics CSV", "Metrics JSON", "Codes .npz", "Model .npz", "FAISS index (texts)",
                 "FAISS index (images)", "HTML report"):  # fmt: skip
        assert want in labels, labels


def _compare_page_stub() -> None:
    from cmh_core.comparison import run_comparison
    from cmh_core.datasets import make_synthetic
    from ui.exports import comparison_downloads

    ds = make_synthetic(n=300, d_img=16, d_txt=12, n_labels=4, random_state=0)
    comparison_downloads(run_comparison(ds, ["RandomCodes"], [8, 16], 1), ds)


@pytest.mark.app
def test_comparison_downloads_offer_report_csv_and_json():
    at = AppTest.from_function(_compare_page_stub, default_timeout=90).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.download_button] == ["HTML report", "Runs CSV", "Runs JSON"]
