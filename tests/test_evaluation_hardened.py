"""The review's defects of cmh_core.evaluation (issue 8), each pinned by a test that failed before."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score
from test_evaluation import FakeHasher, fake_dataset, ref_ap

from cmh_core.evaluation import (
    evaluate,
    graded_relevance,
    mean_average_precision,
    mean_average_precision_codes,
    ndcg_at_k,
    precision_at_k,
    precision_recall_curve,
    precision_within_radius,
    recall_at_k,
    relevance_from_labels,
    retrieval_codes,
)
from cmh_core.hamming import hamming_distance, pack_bits

# -- NDCG: any gain dtype, both tie rules, against scikit-learn -----------------------------------


def test_ndcg_bool_gain_of_the_issue():
    assert ndcg_at_k(np.array([[0, 1]]), np.array([[True, False]]), 1) == 1.0


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.uint16, np.int64, np.float64])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_ndcg_matches_sklearn(dtype, k):
    rng = np.random.default_rng(3)
    g = rng.integers(0, 2 if dtype is bool else 4, (12, 40))
    g[0] = 0  # a query without gain scores 0 in both
    G = g.astype(dtype)
    T = np.expm1(g * np.log(2.0))  # sklearn uses raw gains; ours are 2^g - 1
    tied = rng.integers(0, 5, (12, 40))  # many ties: sklearn averages them (ignore_ties=False)
    ours = ndcg_at_k(tied, G, k, ties="expected")
    assert ours == pytest.approx(ndcg_score(T, -tied, k=k, ignore_ties=False), abs=1e-12)
    distinct = rng.permuted(np.tile(np.arange(40), (12, 1)), axis=1)  # no ties: one order
    assert ndcg_at_k(distinct, G, k) == pytest.approx(ndcg_score(T, -distinct, k=k), abs=1e-12)
    assert ndcg_at_k(distinct, G, k, ties="expected") == pytest.approx(ndcg_at_k(distinct, G, k), abs=1e-12)


# -- any number of distinct float distances ------------------------------------------------------


def test_100k_distinct_float_distances():
    rng = np.random.default_rng(0)
    D = rng.standard_normal((2, 100_000))  # 200,000 distinct values, 100,000 per row
    R = rng.random(D.shape) < 0.1
    for ties in ("stable", "expected"):  # no ties: both rules give the one ranking
        assert mean_average_precision(D, R, ties=ties) == pytest.approx(ref_ap(D, R).mean(), abs=1e-10)
    assert precision_at_k(D, R, 100) == pytest.approx(
        np.mean([R[i][np.argsort(D[i])][:100].mean() for i in range(2)]), abs=1e-12
    )


def test_float_distances_with_per_row_ties():
    rng = np.random.default_rng(1)
    D = np.round(rng.standard_normal((5, 3000)), 2) * 1e6  # ties within rows, values far off 0..65535
    R = rng.random(D.shape) < 0.3
    np.testing.assert_allclose(mean_average_precision(D, R), ref_ap(D, R).mean(), atol=1e-12)


# -- codes longer than 65,535 bits ---------------------------------------------------------------


def test_codes_longer_than_65535_bits():
    rng = np.random.default_rng(2)
    n_bits = 70_000
    a, b = rng.random((3, n_bits)) < 0.5, rng.random((20, n_bits)) < 0.5
    D = hamming_distance(pack_bits(a), pack_bits(b))
    assert D.dtype == np.int32
    np.testing.assert_array_equal(D, (a[:, None, :] != b[None, :, :]).sum(axis=2))
    R = rng.random(D.shape) < 0.3
    assert mean_average_precision(D, R) == pytest.approx(ref_ap(D, R).mean(), abs=1e-12)
    r = int(np.median(D))  # distances of such codes are ~35,000: still integer levels, no ranking
    inside = D <= r
    macro = np.mean(np.divide((inside & R).sum(1), inside.sum(1), out=np.zeros(3), where=inside.any(1)))
    assert precision_within_radius(D, R, r) == pytest.approx(macro, abs=1e-12)

    class Long(FakeHasher):
        pass

    with pytest.raises(ValueError, match="code_length=70000"):
        evaluate(Long(code_length=n_bits), fake_dataset())


# -- evaluate: one ranking, blocks, both tie rules ------------------------------------------------


def _close(a, b) -> bool:
    """Two JSON reports equal up to float rounding."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, str):
        return a == b
    return bool(np.allclose(a, b, rtol=0, atol=1e-12))


def _matrices(model, ds):
    codes = retrieval_codes(model, ds)
    Yq, Ydb = ds.labels[ds.split.query], ds.labels[ds.split.database]
    D = hamming_distance(codes["image_query"], codes["text_database"])
    return D, relevance_from_labels(Yq, Ydb), graded_relevance(Yq, Ydb)


@pytest.mark.parametrize("ties", ["stable", "expected"])
def test_evaluate_equals_the_metric_functions_in_small_blocks(monkeypatch, ties):
    from cmh_core.evaluation import _protocol

    ds = fake_dataset(n=300, c=6, seed=4)
    Y = ds.labels.copy()
    Y[::3, (np.arange(300)[::3] + 1) % 6] = 1  # some multi-label items: graded gains 0..2
    ds.labels[:] = Y
    model = FakeHasher(code_length=12, noise=0.3).fit(ds)
    D, R, G = _matrices(model, ds)
    whole = evaluate(model, ds, ties=ties, map_at=(5, 50), precision_ks=(1, 10, 100))
    monkeypatch.setattr(_protocol, "_BLOCK", 300)  # one query row per block
    rep = evaluate(model, ds, ties=ties, map_at=(5, 50), precision_ks=(1, 10, 100))["i2t"]
    assert _close(rep, whole["i2t"])
    assert rep["mAP"] == pytest.approx(mean_average_precision(D, R, ties=ties), abs=1e-12)
    assert rep["mAP_expected"] == pytest.approx(mean_average_precision(D, R, ties="expected"), abs=1e-12)
    for k in (5, 50):
        assert rep[f"mAP@{k}"] == pytest.approx(mean_average_precision(D, R, k=k, ties=ties), abs=1e-12)
        assert rep[f"NDCG@{k}"] == pytest.approx(ndcg_at_k(D, G, k, ties=ties), abs=1e-12)
    pk = rep["precision_at_k"]
    np.testing.assert_allclose(pk["precision"], precision_at_k(D, R, [1, 10, 100], ties=ties), atol=1e-12)
    np.testing.assert_allclose(pk["recall"], recall_at_k(D, R, [1, 10, 100], ties=ties), atol=1e-12)
    curve = precision_recall_curve(D, R, max_radius=12)
    for key in ("precision", "recall", "nonempty"):
        np.testing.assert_allclose(rep["pr_curve"][key], curve[key], atol=1e-12)
    assert rep["precision_within_radius2"] == pytest.approx(precision_within_radius(D, R, 2), abs=1e-12)
    micro = precision_within_radius(D, R, 2, "micro")
    assert rep["precision_within_radius2_micro"] == pytest.approx(micro, abs=1e-12)
    assert whole["mean_mAP_expected"] == pytest.approx(
        (whole["i2t"]["mAP_expected"] + whole["t2i"]["mAP_expected"]) / 2
    )


def test_expected_differs_from_stable_where_ties_favour_the_index_order():
    ds = fake_dataset(n=200, c=4, seed=0)
    order = np.argsort(ds.labels[ds.split.database].argmax(axis=1), kind="stable")
    ds.split.database[:] = ds.split.database[order]  # database grouped by label, as the old bundle
    m = FakeHasher(code_length=2).fit(ds)  # 2 bits for 4 labels: big tie groups
    stable, expected = evaluate(m, ds)["i2t"], evaluate(m, ds, ties="expected")["i2t"]
    assert expected["mAP"] == expected["mAP_expected"] == stable["mAP_expected"]
    assert stable["mAP"] > stable["mAP_expected"] + 0.01  # the inflation the random order removes


# -- train_index ----------------------------------------------------------------------------------


def test_train_index_identity_and_permuted_codes():
    ds = fake_dataset(seed=2)
    model = FakeHasher(code_length=16, noise=0.1, learned_noise=0.05).fit(ds)
    base = evaluate(model, ds)
    tr = ds.split.train
    same = evaluate(model, ds, train_index={"image": tr.copy(), "text": tr.copy()})
    assert _close(same, base)
    perm_i = np.random.default_rng(0).permutation(len(tr))
    perm_t = np.random.default_rng(1).permutation(len(tr))
    codes = model.train_codes_
    model.train_codes_ = {"image": codes["image"][perm_i], "text": codes["text"][perm_t]}
    moved = evaluate(model, ds, train_index={"image": tr[perm_i], "text": tr[perm_t]})
    for d in ("i2t", "t2i"):
        assert moved[d]["mAP"] == base[d]["mAP"] and moved[d]["mAP_expected"] == base[d]["mAP_expected"]
    assert evaluate(model, ds)["i2t"]["mAP"] != base["i2t"]["mAP"]  # the index does matter
    with pytest.raises(ValueError, match="train_index"):
        evaluate(model, ds, train_index={"image": tr})


# -- the Run record -------------------------------------------------------------------------------


def test_run_records_expected_map_and_unpaired():
    from cmh_core.datasets import make_synthetic
    from cmh_core.experiment import Run, run_experiment

    ds = make_synthetic(n=300, d_img=16, d_txt=12, random_state=0)
    run = run_experiment(ds, "CCA-ITQ", n_bits=8, seed=0)
    assert run.unpaired == 0.0
    assert run.map_i2t_expected == run.report["i2t"]["mAP_expected"]
    assert run.map_t2i_expected == run.report["t2i"]["mAP_expected"]
    again = Run.from_dict(run.to_dict())
    assert again.unpaired == 0.0 and again.map_i2t_expected == run.map_i2t_expected
    with pytest.raises(ValueError, match="unpaired|Y_txt"):  # the method's own refusal
        run_experiment(ds, "CCA-ITQ", n_bits=8, unpaired=0.5)
    with pytest.raises(ValueError, match="fraction"):
        run_experiment(ds, "CCA-ITQ", n_bits=8, unpaired=2.0)


def test_fused_codes_path_equals_matrices_and_its_numpy_fallback(monkeypatch):
    from cmh_core.evaluation import _average_precision as A

    rng = np.random.default_rng(7)
    Bq, Bd = rng.integers(0, 256, (30, 3), np.uint8), rng.integers(0, 256, (700, 3), np.uint8)
    Yq, Yd = rng.random((30, 70)) < 0.05, rng.random((700, 70)) < 0.05  # 70 labels: two label words
    D, R = hamming_distance(Bq, Bd), relevance_from_labels(Yq, Yd)
    for ties in ("stable", "expected"):
        ref = mean_average_precision(D, R, ties=ties)
        assert mean_average_precision_codes(Bq, Bd, Yq, Yd, ties=ties) == pytest.approx(ref, abs=1e-12)
    ds = fake_dataset(seed=3)
    model = FakeHasher(code_length=12, noise=0.2).fit(ds)
    fused = evaluate(model, ds, ties="expected")
    monkeypatch.setattr(A, "_FUSED", False)
    monkeypatch.setattr(A, "_KERNEL", False)  # no numba at all: matrices and radix argsorts
    assert _close(evaluate(model, ds, ties="expected"), fused)
    assert mean_average_precision_codes(Bq, Bd, Yq, Yd) == pytest.approx(
        mean_average_precision(D, R), abs=1e-12
    )
    with pytest.raises(ValueError, match="disagree"):
        mean_average_precision_codes(Bq, Bd, Yq[:-1], Yd)


@pytest.mark.parametrize(("n_bytes", "n_labels"), [(1, 24), (8, 70), (16, 24), (3, 130)])
def test_two_pass_map_kernel_equals_matrices_on_ties(n_bytes, n_labels):
    """`mean_average_precision_codes`'s two-pass kernel (histogram, then per-distance counters)
    against the matrix path, where its shortcuts could go wrong: more queries than one group (8),
    a database over several 4,096-item blocks, sparse bits (few distinct distances: huge tie groups
    ranked by index), one to three code and label words, queries with no relevant item."""
    rng = np.random.default_rng(n_bytes)
    n_bits = 8 * n_bytes
    p = 0.5 if n_bytes == 1 else 2.0 / n_bits
    Bq, Bd = (pack_bits(rng.random((n, n_bits)) < p) for n in (21, 9000))
    Yq, Yd = rng.random((21, n_labels)) < 0.03, rng.random((9000, n_labels)) < 0.03
    Yq[0] = False  # a query that shares no label: AP 0, still counted
    D, R = hamming_distance(Bq, Bd), relevance_from_labels(Yq, Yd)
    for ties in ("stable", "expected"):
        ref = mean_average_precision(D, R, ties=ties)
        assert mean_average_precision_codes(Bq, Bd, Yq, Yd, ties=ties) == pytest.approx(ref, abs=1e-9)


def test_evaluate_threads_give_the_same_report(monkeypatch):
    from cmh_core.evaluation import _protocol

    ds = fake_dataset(seed=5)
    model = FakeHasher(code_length=10, noise=0.2).fit(ds)
    one = evaluate(model, ds)
    monkeypatch.setattr(_protocol, "_BLOCK", 4000)  # many blocks for the threads to share
    assert _close(evaluate(model, ds, n_jobs=3), one)
    with pytest.raises(ValueError, match="n_jobs"):
        evaluate(model, ds, n_jobs=0)


@pytest.mark.slow
def test_fused_kernel_is_compiled_once_per_installation(tmp_path):
    """The fused mAP kernel and the search kernel are cached on disk, so a new process loads them
    instead of compiling."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np; from cmh_core.evaluation import mean_average_precision_codes as f; "
        "from cmh_core.hamming import search; "
        "B = np.arange(40, dtype=np.uint8).reshape(10, 4); Y = np.eye(10, 3, dtype=bool); "
        "print(f(B, B, Y, Y), search(B, B, 3, backend='numba')[1].tolist())"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = [
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True) for _ in "ab"
    ]
    assert all(o.returncode == 0 for o in out), out[0].stderr[-2000:]
    assert out[0].stdout == out[1].stdout
    cached = [p.name for p in tmp_path.rglob("*.nbi")]
    assert any("_kernels.fused_ap" in n for n in cached), cached
    assert any("_search_kernel.top_k" in n for n in cached), cached
