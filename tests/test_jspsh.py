"""JSPSH (sparse codes, reference-code port): objective, fixed-weight codes, limits, quality."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import assert_fit_memory_linear
from scipy import sparse

from cmh_core.datasets import load_dataset, make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.hamming import hamming_distance, unpack_bits
from cmh_core.methods import get_method
from cmh_core.methods._linalg import l2_normalize_rows, top_r_mask
from cmh_core.methods.jspsh import JSPSH, _apply_M, _cluster_matrix, _procrustes


@pytest.fixture(scope="module")
def syn():
    ds = make_synthetic(n=900, d_img=40, d_txt=30, n_labels=10, random_state=0)
    tr = ds.split.train
    return ds, (ds.image_features[tr], ds.text_features[tr], ds.labels[tr])


@pytest.fixture(scope="module")
def fitted(syn):
    return JSPSH(n_bits=8, random_state=0).fit(*syn[1])


# ---------------------------------------------------------------- stage 1
@pytest.mark.slow
def test_stage1_objective_never_decreases(syn):
    calls = []
    m = JSPSH(n_bits=8, n_iter=8, random_state=1).fit(*syn[1], callback=lambda *a: calls.append(a))
    steps = [c[0] for c in calls]
    obj = np.array([c[1] for c in calls])
    assert steps == list(range(1, 17))  # H-step, B-step per iteration
    np.testing.assert_allclose(obj, m.objective_)
    assert (np.diff(obj) >= -1e-9 * np.abs(obj[1:])).all(), obj
    assert obj[-1] > obj[0]


def test_apply_M_equals_dense_M():
    """M A in factored form equals ω A + r (S_L + α S_C) A with the n×n matrices built densely."""
    rng = np.random.default_rng(0)
    Y = (rng.random((60, 6)) < 0.3).astype(np.uint8)
    Y[Y.sum(1) == 0, 0] = 1
    Yn = l2_normalize_rows(Y.astype(np.float64))
    C, used = _cluster_matrix(Y, (3, 5, 500), rng)
    n_distinct = len(np.unique(Y, axis=0))
    assert used == [3, 5, n_distinct]  # 500 is capped at the distinct label vectors
    S_C = (C @ C.T).toarray()
    np.testing.assert_allclose(np.diag(S_C), 1.0)  # Σ_j w_j = 1: each item shares its own clusters
    same = (Y[:, None, :] == Y[None, :, :]).all(-1)
    np.testing.assert_allclose(S_C[same], 1.0)  # identical labels share every cluster
    A = rng.standard_normal((60, 7))
    M = 10 * np.eye(60) + 4 * (Yn @ Yn.T + 0.5 * S_C)
    np.testing.assert_allclose(_apply_M(A, Yn, sparse.csr_matrix(C), 10.0, 0.5, 4), M @ A, atol=1e-9)


def test_h_step_orthogonal_and_optimal_for_rank_deficient_Z():
    """The H-step: uncentred Procrustes, H (n, K) from Z (n, K) with zero columns (unused bits)."""
    rng = np.random.default_rng(0)
    n, K, scale = 50, 12, 1.7
    Z = rng.standard_normal((n, K))
    Z[:, [2, 7, 9]] = 0.0  # unused code bits
    H = _procrustes(Z, scale, rng)
    np.testing.assert_allclose(H.T @ H, scale**2 * np.eye(K), atol=1e-9)
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    np.testing.assert_allclose(np.sum(H * Z), scale * s.sum(), rtol=1e-10)  # max tr(H^T Z)


def test_top_r_mask_matches_stable_sort_oracle():
    rng = np.random.default_rng(0)
    for _ in range(50):
        G = rng.integers(0, 4, (6, 15)).astype(float)  # many ties
        r = int(rng.integers(1, 15))
        order = np.argsort(-G, axis=1, kind="stable")[:, :r]  # MATLAB sort(..., 'descend')
        ref = np.zeros(G.shape, bool)
        np.put_along_axis(ref, order, True, axis=1)
        np.testing.assert_array_equal(top_r_mask(G, r), ref)


# ---------------------------------------------------------------- codes
def test_fixed_weight_codes_and_code_length(syn, fitted):
    ds, (X1, X2, _) = syn
    assert fitted.code_length == 160 == JSPSH(n_bits=8).code_length  # K = 20 r
    assert JSPSH(n_bits=3, code_bits=64).code_length == 64
    q = ds.split.query
    for codes in (
        fitted.encode(ds.image_features[q], "image"),
        fitted.encode(ds.text_features[q], "text"),
        fitted.train_codes_["image"],
        fitted.train_codes_["text"],
    ):
        assert codes.shape[1] == 20
        np.testing.assert_array_equal(unpack_bits(codes, 160).sum(axis=1), 8)


def test_hamming_ranking_equals_inner_product_ranking(syn, fitted):
    rng = np.random.default_rng(5)
    Q = fitted.encode(rng.standard_normal((40, 40)).astype(np.float32), "image")
    DB = fitted.encode(rng.random((300, 30)).astype(np.float32), "text")
    ip = unpack_bits(Q, 160).astype(int) @ unpack_bits(DB, 160).astype(int).T  # <b_q, b_i>
    D = hamming_distance(Q, DB)
    np.testing.assert_array_equal(D, 2 * 8 - 2 * ip)  # d_H = 2r - 2<b, b'>
    np.testing.assert_array_equal(
        np.argsort(D, axis=1, kind="stable"), np.argsort(-ip, axis=1, kind="stable")
    )


@pytest.mark.slow
def test_same_seed_same_codes(syn, fitted):
    ds, train = syn
    again = JSPSH(n_bits=8, random_state=0).fit(*train)
    other = JSPSH(n_bits=8, random_state=1).fit(*train)
    X = ds.text_features[ds.split.query]
    np.testing.assert_array_equal(again.train_codes_["image"], fitted.train_codes_["image"])
    np.testing.assert_array_equal(again.encode(X, "text"), fitted.encode(X, "text"))
    assert (other.train_codes_["image"] != fitted.train_codes_["image"]).any()


# ---------------------------------------------------------------- limits and bad input
def test_r_too_large_for_n_is_refused(syn):
    X1, X2, Y = syn[1]
    n = len(Y)  # 720 training rows: K = 20 r < 720 allows r <= 35
    assert JSPSH().max_n_bits({"image": 40, "text": 30}, n) == 35
    assert JSPSH().max_n_bits({"image": 40, "text": 30}, 630) == 31  # tuxpaint: r = 32 (K = 640) fails
    assert JSPSH(code_bits=64).max_n_bits({}, 630) == 63
    with pytest.raises(
        ValueError, match=rf"n_bits=36 -> K=720 with n={n}; the largest is 35 \(K=700\); use n_bits <= 35"
    ):
        JSPSH(n_bits=36).fit(X1, X2, Y)
    with pytest.raises(ValueError, match=rf"K=1000 with n={n}.*smaller code_bits"):
        JSPSH(n_bits=4, code_bits=1000).fit(X1, X2, Y)


def test_r_not_below_K_is_refused(syn):
    with pytest.raises(ValueError, match="n_bits=64 .r. with code length K=64; use n_bits < 64"):
        JSPSH(n_bits=64, code_bits=64).fit(*syn[1])


def test_bad_parameters_are_refused(syn):
    with pytest.raises(ValueError, match="n_clusters.*got \\(100, 0\\)"):
        JSPSH(n_bits=4, n_clusters=(100, 0)).fit(*syn[1])
    with pytest.raises(ValueError, match="sparsity"):
        JSPSH(n_bits=4, sparsity=1.5).fit(*syn[1])
    with pytest.raises(ValueError, match="lam"):
        JSPSH(n_bits=4, lam=0.0).fit(*syn[1])


def test_all_zero_label_row_is_refused(syn):
    X1, X2, Y = syn[1]
    Y = Y.copy()
    Y[7] = 0
    with pytest.raises(ValueError, match="row 7"):
        JSPSH(n_bits=4).fit(X1, X2, Y)


def test_unpaired_input_is_refused(syn):
    X1, X2, Y = syn[1]
    with pytest.raises(ValueError, match="JSPSH needs paired data.*Y_txt was given"):
        JSPSH(n_bits=4).fit(X1, X2, Y, Y_txt=Y)
    with pytest.raises(ValueError, match="JSPSH needs paired data.*720 rows but X_txt has 700"):
        JSPSH(n_bits=4).fit(X1, X2[:700], Y)


@pytest.mark.slow
def test_memory_linear_in_n_no_n_by_n_array():
    """Peak traced memory of fit grows like n (stage 1 holds a few (n, K) arrays), far below n×n."""
    assert_fit_memory_linear(lambda: JSPSH(n_bits=2, random_state=0))


def test_registered():
    assert type(get_method("jspsh", n_bits=4)) is JSPSH
    assert JSPSH.fidelity == "reference-code" and JSPSH.paper["doi"] == "10.1109/TCSVT.2023.3307608"


# ---------------------------------------------------------------- quality on the bundled data
@pytest.mark.slow
def test_tuxpaint_beats_random_codes_by_0_10():
    """r = 16 (K = 320, the reference demo's setting), learned protocol, mean over seeds 0-2."""
    ds = load_dataset("tuxpaint")
    tr = ds.split.train
    train = ds.image_features[tr], ds.text_features[tr], ds.labels[tr]
    ours, chance = [], []
    for seed in range(3):
        m = JSPSH(n_bits=16, random_state=seed).fit(*train)
        assert list(m.n_clusters_) == [62, 62, 62]  # 100, 200, 500 capped at the distinct label vectors
        rand = get_method("RandomCodes", n_bits=m.code_length, random_state=seed).fit(*train)
        for model, out in ((m, ours), (rand, chance)):
            rep = evaluate(model, ds, protocol="learned")
            out.append((rep["i2t"]["mAP"], rep["t2i"]["mAP"]))
    ours, chance = np.mean(ours, axis=0), np.mean(chance, axis=0)
    assert ours[0] >= chance[0] + 0.10, (ours, chance)
    assert ours[1] >= chance[1] + 0.10, (ours, chance)
