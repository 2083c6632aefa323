"""CSMH (reconstructed from its abstract): factored MMD and objective against dense oracles,
monotone objective, ablation semantics, parameter errors, and Tux Paint quality as bounds."""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core.datasets import load_dataset, make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.methods import get_method
from cmh_core.methods.csmh import CSMH, mean_matrix_products
from cmh_core.methods.hpseh import LabelSimilarity, normalized_labels

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def small():
    d = make_synthetic(n=300, d_img=24, d_txt=16, n_labels=6, random_state=4, query_fraction=0.01)
    return d.image_features, d.text_features, d.labels


def _dense_M(Y: np.ndarray) -> np.ndarray:
    """M = [1/n, Y diag(1/n_k)] (n, c+1), the dense oracle of §5.3."""
    Yf = Y.astype(np.float64)
    return np.column_stack([np.full(len(Y), 1.0 / len(Y)), Yf / np.maximum(Yf.sum(axis=0), 1.0)])


def test_mean_matrix_products_match_dense(small):
    Y = small[2].copy()
    Y[:, -1] = 0  # a label no row has gets a zero column, not a division by zero
    Phi = np.random.default_rng(0).standard_normal((len(Y), 7)).astype(np.float32)
    np.testing.assert_allclose(mean_matrix_products(Phi, Y, True), Phi.T @ _dense_M(Y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean_matrix_products(Phi, Y, False), Phi.T @ _dense_M(Y)[:, :1], atol=1e-6)


def test_objective_matches_dense_formula(small):
    rng = np.random.default_rng(2)
    Y = small[2]
    n, r, a = len(Y), 5, 8
    Phis = [rng.standard_normal((n, a)) for _ in range(2)]
    W = [rng.standard_normal((a, r)) for _ in range(2)]
    F = [(P @ w).T for P, w in zip(Phis, W, strict=True)]
    PM = [P.T @ _dense_M(Y) for P in Phis]
    B = np.where(rng.random((r, n)) < 0.5, -1.0, 1.0)
    V = rng.standard_normal((r, n))
    S = LabelSimilarity(normalized_labels(Y), 2 * np.eye(Y.shape[1]))
    m = CSMH(beta=1.5, eta=0.7, lam=0.2)
    got = m._objective(S, S.sq_norm(), B, V, F, W, PM, 0.3)
    Yh = normalized_labels(Y).astype(np.float64)
    Sd = 2 * Yh @ Yh.T - 1  # dense S (n, n)
    want = sum(np.sum((V - f) ** 2) + 0.2 * np.sum(w**2) for f, w in zip(F, W, strict=True))
    want += 0.3 * np.sum(((F[0] - F[1]) @ _dense_M(Y)) ** 2)  # α MMD_joint
    want += 1.5 * np.sum((r * Sd - B.T @ V) ** 2) + 0.7 * np.sum((B - V) ** 2)
    assert got == pytest.approx(want, rel=1e-6)


# ---------------------------------------------------------------- optimisation
@pytest.mark.parametrize("params", [{}, {"alpha": 50.0}, {"mmd": False}, {"conditional": False}])
def test_objective_never_increases(params):
    d = make_synthetic(n=800, d_img=64, d_txt=48, n_labels=10, random_state=0, query_fraction=0.01)
    calls = []
    m = CSMH(n_bits=24, n_anchors=200, n_iter=12, random_state=0, **params)
    m.fit(d.image_features, d.text_features, d.labels, callback=lambda *a: calls.append(a))
    obj = np.array([c[1] for c in calls])
    assert len(obj) == 12 and np.all(np.isfinite(obj))
    np.testing.assert_array_equal(obj, m.objective_)
    assert np.all(np.diff(obj) <= 1e-9 * np.abs(obj[:-1])), np.diff(obj)


def test_marginal_mmd_alone_is_zero_on_centred_features(small):
    """The documented finding: Φ_m is centred, so the marginal MMD vanishes and
    ``conditional=False`` learns exactly what ``mmd=False`` learns; the conditional part differs."""
    kw = {"n_bits": 8, "n_anchors": 50, "n_iter": 4, "random_state": 0}
    off = CSMH(mmd=False, **kw).fit(*small)
    marg = CSMH(conditional=False, alpha=100.0, **kw).fit(*small)
    cond = CSMH(alpha=100.0, **kw).fit(*small)
    np.testing.assert_allclose(marg.objective_, off.objective_, rtol=1e-6)
    assert not np.allclose(cond.objective_, off.objective_, rtol=1e-6)


# ---------------------------------------------------------------- parameter errors
@pytest.mark.parametrize("param", ["alpha", "beta", "eta", "lam", "lam_h"])
def test_negative_weight_refused(param, small):
    with pytest.raises(ValueError, match=f"'{param}' parameter of CSMH must be .*range.*Got -1"):
        CSMH(n_bits=8, n_anchors=20, **{param: -1.0}).fit(*small)


def test_too_many_anchors_and_bits_refused(small):
    n = len(small[0])
    with pytest.raises(ValueError, match=f"n_anchors=301 exceeds the {n} training rows.*n_anchors <= {n}"):
        CSMH(n_bits=8, n_anchors=301).fit(*small)
    assert CSMH(n_anchors=30).max_n_bits({"image": 24, "text": 16}, n) == 30
    with pytest.raises(
        ValueError, match=r"n_bits=31 is too large.*largest is 30 \(.*min\(n - 1, a\).*\); use n_bits <= 30"
    ):
        CSMH(n_bits=31, n_anchors=30).fit(*small)
    with pytest.raises(ValueError, match="'mmd' parameter of CSMH"):
        CSMH(n_bits=8, mmd="yes").fit(*small)


# ---------------------------------------------------------------- Tux Paint, learned protocol
@pytest.fixture(scope="module")
def tux_scores():
    """``{(variant, bits): (mean mAP I→T, mean mAP T→I)}`` over seeds 0-2."""
    tux = load_dataset("tuxpaint")
    tr = tux.split.train
    data = (tux.image_features[tr], tux.text_features[tr], tux.labels[tr])
    variants = {
        "CSMH": ("CSMH", {}),
        "CSMH-noMMD": ("CSMH", {"mmd": False}),
        "CCA-ITQ": ("CCA-ITQ", {}),
        "RandomCodes": ("RandomCodes", {}),
    }
    out = {}
    for bits in (32, 64):
        for label, (name, params) in variants.items():
            runs = []
            for seed in SEEDS:
                m = get_method(name, n_bits=bits, random_state=seed, **params).fit(*data)
                rep = evaluate(m, tux)
                runs.append((rep["i2t"]["mAP"], rep["t2i"]["mAP"]))
            out[label, bits] = tuple(np.mean(runs, axis=0))
            print(f"\n{label:<12} {bits} bits: I→T {out[label, bits][0]:.3f}  T→I {out[label, bits][1]:.3f}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("bits", [32, 64])
def test_tuxpaint_beats_random_and_cca_itq(bits, tux_scores):
    got, chance, cca = tux_scores["CSMH", bits], tux_scores["RandomCodes", bits], tux_scores["CCA-ITQ", bits]
    for g, c, b, direction in zip(got, chance, cca, ("I→T", "T→I"), strict=True):
        assert g >= c + 0.10, f"CSMH {bits} bits {direction}: {g:.3f} vs RandomCodes {c:.3f}"
        assert g > b, f"CSMH {bits} bits {direction}: {g:.3f} vs CCA-ITQ {b:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("bits", [32, 64])
def test_tuxpaint_mmd_not_worse_than_without(bits, tux_scores):
    """Full CSMH is not worse than CSMH(mmd=False) by more than 0.01 mAP (it is not better either)."""
    full, abl = tux_scores["CSMH", bits], tux_scores["CSMH-noMMD", bits]
    diff = np.subtract(full, abl)
    print(f"\nCSMH - CSMH(mmd=False), {bits} bits: I→T {diff[0]:+.3f}, T→I {diff[1]:+.3f}")
    assert np.all(diff >= -0.01), diff
