"""Method-specific errors, plus the baselines' numerical pieces checked against dumb oracles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cmh_core.datasets import make_synthetic
from cmh_core.methods import get_method
from cmh_core.methods.dch import dcc_update
from cmh_core.methods.random_codes import hashed_bits
from cmh_core.methods.scm import semantic_cross_matrix


@pytest.fixture(scope="module")
def small():
    ds = make_synthetic(n=300, d_img=20, d_txt=12, n_labels=6, random_state=2)
    return ds.image_features, ds.text_features, ds.labels


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("name", ["CCA-ITQ", "SCM"])
def test_more_bits_than_directions(name, small):
    with pytest.raises(
        ValueError, match=r"n_bits=16.*d_txt = 12.*largest is 12 \(min\(d_img, d_txt\).*n_bits <= 12"
    ):
        get_method(name, n_bits=16).fit(*small)


@pytest.mark.parametrize(
    ("name", "limit", "why"), [("DCH", 300, "rank at most n"), ("CMFH", 32, r"min\(n, d_img \+ d_txt\)")]
)
def test_huge_code_lengths_refused_before_any_work(name, limit, why, small):
    """DCH at 100,000 bits once died after a minute asking for 37 GiB; CMFH at 5,000 ran 16+ min."""
    m = get_method(name, n_bits=100_000)
    with pytest.raises(ValueError, match=f"n_bits=100000.*largest is {limit} .*{why}.*n_bits <= {limit}"):
        m.fit(*small)  # n = 300 training items, d_img + d_txt = 32
    big = {"image": 100_000, "text": 100_000}
    assert m.max_n_bits(big, 100_000) < 20_000  # r x r float64 arrays must fit in memory


def test_parameter_errors_name_value_and_range(small):
    """The issue's cases: each was an UnboundLocalError, ZeroDivisionError or LinAlgError."""
    cases = [
        ("CMFH", "n_iter", 0, r"\[1, 1000\]"),  # upper bound: docs/security.md
        ("DCH", "n_iter", 0, r"\[1, 1000\]"),
        ("CMFH", "lam", 1.0, r"\(0.0, 1.0\)"),
        ("CMFH", "mu", 0, r"\(0(\.0)?, inf\)"),
        ("CCA-ITQ", "alpha", -0.1, r"\(0(\.0)?, inf\)"),
        ("SCM", "alpha", -1, r"\(0(\.0)?, inf\)"),
        ("DCH", "alpha", -0.5, r"\(0(\.0)?, inf\)"),
        ("DCH", "n_dcc", 2.5, "int"),
    ]
    for name, key, value, valid in cases:
        default = get_method(name).get_params()[key]
        pattern = f"'{key}' parameter of {name}.*{valid}.*Got {value!r} instead.*{key}={default!r}"
        with pytest.raises(ValueError, match=pattern):
            get_method(name, **{key: value}).fit(*small)


def test_bad_n_bits_type_named(small):
    with pytest.raises(ValueError, match="'32'.*n_bits=32"):
        get_method("DCH", n_bits="32").fit(*small)
    with pytest.raises(ValueError, match="True"):
        get_method("DCH", n_bits=True).fit(*small)


def test_label_matrix_errors(small):
    X1, X2, Y = small
    m = get_method("CMFH", n_bits=8)
    with pytest.raises(ValueError, match="2-D multi-hot"):
        m.fit(X1, X2, Y.argmax(axis=1))
    Y0 = Y.copy()
    Y0[3] = 0
    with pytest.raises(ValueError, match="without any label"):
        m.fit(X1, X2, Y0)


def test_encode_one_row_needs_2d(small):
    m = get_method("SCM", n_bits=8).fit(*small)
    with pytest.raises(ValueError, match="reshape"):
        m.encode(small[0][0], "image")
    assert m.encode(small[0][:1], "image").shape == (1, 1)


def test_check_positive_int():
    from cmh_core._checks import check_positive_int

    assert check_positive_int(np.int64(3), "k") == 3 and type(check_positive_int(np.int64(3), "k")) is int
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=f"k must be a positive integer, got {bad!r}; use e.g. k=10"):
            check_positive_int(bad, "k", example=10)


def test_load_missing_file(tmp_path):
    from cmh_core.methods import load_model

    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "nope.npz")


# ---------------------------------------------------------------- oracles
def test_semantic_cross_matrix_matches_explicit_S(small):
    X1, X2, Y = small
    Yh = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    S = 2 * Yh @ Yh.T - 1  # the n×n matrix the method never forms
    np.testing.assert_allclose(semantic_cross_matrix(X1, X2, Y), X1.T @ S @ X2, rtol=1e-4, atol=1e-3)
    mu1, mu2 = X1.mean(axis=0), X2.mean(axis=0)
    ref = (X1 - mu1).T @ S @ (X2 - mu2)
    np.testing.assert_allclose(semantic_cross_matrix(X1, X2, Y, mu1, mu2), ref, rtol=1e-4, atol=1e-3)


def test_centered_grams_match_numpy(small):
    from cmh_core.methods._linalg import centered_grams

    X1, X2, _ = small
    mu1, mu2, C11, C22, C12 = centered_grams(X1, X2, block=7)
    A, B = X1.astype(np.float64) - X1.mean(axis=0), X2.astype(np.float64) - X2.mean(axis=0)
    for got, ref in ((C11, A.T @ A), (C22, B.T @ B), (C12, A.T @ B)):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_dcc_bit_update_is_optimal_per_bit():
    """Each DCC bit step minimises ||B W||^2 - 2 tr(B^T Q) over that bit, so a sweep never increases it
    and the result is a coordinate-wise minimum (checked by flipping every single bit)."""
    rng = np.random.default_rng(0)
    n, r, c = 50, 6, 4
    W, Q = rng.standard_normal((r, c)), rng.standard_normal((n, r))
    B0 = np.where(rng.random((n, r)) < 0.5, -1.0, 1.0)

    def f(B):
        return np.sum((B @ W) ** 2) - 2 * np.sum(B * Q)

    B = dcc_update(B0, Q, W, n_sweeps=20)
    assert f(B) <= f(B0) + 1e-9
    for i, k in itertools.product(range(n), range(r)):
        F = B.copy()
        F[i, k] *= -1
        assert f(F) >= f(B) - 1e-9


@pytest.mark.parametrize("order", ["C", "F"])
def test_dcc_update_leaves_its_input_alone(order):
    """Documented "not modified"; a Fortran-ordered B used to be changed in place."""
    rng = np.random.default_rng(1)
    W, Q = rng.standard_normal((5, 3)), rng.standard_normal((40, 5))
    B0 = np.asarray(np.where(rng.random((40, 5)) < 0.5, -1.0, 1.0), order=order)
    before = B0.copy()
    B = dcc_update(B0, Q, W, n_sweeps=3)
    np.testing.assert_array_equal(B0, before)
    assert (B != B0).any()  # the update did change something, on its own copy


@pytest.mark.parametrize("name", ["CMFH", "DCH"])
def test_objective_non_increasing(name, small):
    """Monotone alternating minimisation, observed through the callback (CMFH computes it only then)."""
    calls = []
    get_method(name, n_bits=8, random_state=0).fit(*small, callback=lambda *a: calls.append(a))
    obj = np.array([c[1] for c in calls])
    assert len(obj) == get_method(name).n_iter and np.isfinite(obj).all()
    assert np.all(np.diff(obj) <= 1e-6 * abs(obj[0])), obj


def test_cmfh_skips_the_objective_without_a_callback(small, monkeypatch):
    from cmh_core.methods import cmfh

    calls = []
    monkeypatch.setattr(cmfh, "_objective", lambda *a: calls.append(1) or 0.0)
    get_method("CMFH", n_bits=8, random_state=0).fit(*small)
    assert calls == []
    get_method("CMFH", n_bits=8, n_iter=4, random_state=0).fit(*small, callback=lambda *a: None)
    assert len(calls) == 4


def test_cca_itq_projections_are_correlated(small):
    """Per bit, the projected training modalities correlate at least as much as the regularised
    canonical correlation promises (ridge only lowers the denominator's variances below 1)."""
    from cmh_core.methods._linalg import centered_grams, whitened_cross_svd

    X1, X2, _ = small
    mu1, mu2, C11, C22, C12 = centered_grams(X1, X2)
    W1, W2, s = whitened_cross_svd(C11, C22, C12, 8, 0.1)
    P1, P2 = (X1 - mu1) @ W1, (X2 - mu2) @ W2
    corr = np.array([np.corrcoef(P1[:, k], P2[:, k])[0, 1] for k in range(8)])
    assert np.all(corr >= s - 1e-4), (corr, s)
    assert np.all(np.diff(s) <= 1e-12) and s[0] < 1  # sorted, and a correlation


def test_cca_itq_whitening_constraint(small):
    """W_m^T (C_mm + eps_m I) W_m = I for the fitted projections W_m R (R orthogonal keeps it)."""
    from cmh_core.methods._linalg import centered_grams, relative_ridge

    X1, X2, Y = small
    m = get_method("CCA-ITQ", n_bits=8, random_state=0).fit(X1, X2, Y)
    _, _, C11, C22, _ = centered_grams(X1, X2, cross=False)
    for C, mod in ((C11, "image"), (C22, "text")):
        W = m.projections_[mod].astype(np.float64)
        Sigma = C + relative_ridge(C, m.alpha) * np.eye(len(C))
        np.testing.assert_allclose(W.T @ Sigma @ W, np.eye(8), atol=1e-4)


def test_random_codes_keyed_by_row_modality_and_seed(small):
    X1 = small[0]
    a = hashed_bits(X1[:20], 40, seed=1, modality="image")
    np.testing.assert_array_equal(a[5:10], hashed_bits(X1[5:10], 40, seed=1, modality="image"))
    assert (a != hashed_bits(X1[:20], 40, seed=1, modality="text")).any()
    assert (a != hashed_bits(X1[:20], 40, seed=2, modality="image")).any()
    long = hashed_bits(X1[:200], 600, seed=1, modality="image")  # > 512 bits: several digests
    assert long.shape == (200, 600) and abs(long.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(long[:20, :40], a)
