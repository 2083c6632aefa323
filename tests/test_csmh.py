"""CSMH (reconstructed from its abstract): the RFF MMD and its gradient against dense oracles, the
monotone objective, every switch changing the codes on tuxpaint, the MMD diagnostics, unpaired
training, retrieval quality as bounds (the n×n memory cap at n = 20,000:
tests/test_common.py::test_no_n_by_n_array)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import bits_changed, small_paired

from cmh_core.datasets import make_synthetic
from cmh_core.experiment import run_experiment
from cmh_core.hamming import pack_bits
from cmh_core.methods._kernel import normalized_labels
from cmh_core.methods._mmd import RFFMMD, class_weights
from cmh_core.methods.csmh import CSMH, cross_similarity

TUX = {"n_bits": 32, "random_state": 0}


@pytest.fixture(scope="module")
def small():
    return small_paired(4)


# ---------------------------------------------------------------- MMD and similarity vs dense oracles
def test_cross_similarity_matches_dense(small):
    Y = small[2]
    Ya, Yb = normalized_labels(Y[:120]), normalized_labels(Y[120:])
    A = np.random.default_rng(0).standard_normal((5, 120))
    dense = 2 * Ya.astype(np.float64) @ Yb.T.astype(np.float64) - 1  # S_ab (n_a, n_b)
    np.testing.assert_allclose(cross_similarity(A, Ya, Yb), A @ dense, rtol=1e-4, atol=1e-4)


def test_rff_mmd_value_and_gradient(small):
    """The MMD equals its definition with explicit weights; the gradient matches finite differences."""
    Y = small[2]
    Y1, Y2 = Y[:150], Y[150:]
    rng = np.random.default_rng(0)
    mmd = RFFMMD(4, Y1, Y2, np.random.default_rng(1), n_features=64)
    F1, F2 = rng.standard_normal((4, 150)), rng.standard_normal((4, 150)) + 0.3
    psi = lambda F: np.sqrt(2 / 64) * np.cos(mmd.Om.T @ F + mmd.b)  # noqa: E731  ψ: (D, n)
    (w1, m1), (w2, m2) = class_weights(Y1), class_weights(Y2)
    pi = 0.5 * (m1 / 150 + m2 / 150)
    want = np.sum((psi(F1).mean(axis=1) - psi(F2).mean(axis=1)) ** 2)
    for k in np.flatnonzero((m1 > 0) & (m2 > 0)):
        want += pi[k] * np.sum((psi(F1) @ w1[k] - psi(F2) @ w2[k]) ** 2)
    assert mmd.value(F1, F2) == pytest.approx(want, rel=1e-4)
    g = mmd.grad(F1, mmd.embed(F1, 0), mmd.embed(F2, 1), 0)
    E = np.zeros_like(F1)
    E[2, 7] = 1e-3
    fd = (mmd.value(F1 + E, F2) - mmd.value(F1 - E, F2)) / 2e-3
    assert g[2, 7] == pytest.approx(fd, rel=1e-2, abs=1e-7)


def test_a_mean_shift_cannot_absorb_the_gaussian_mmd():
    """§5.9 reason 1: a linear first-moment MMD is zeroed by a mean shift; the Gaussian-kernel one is not."""
    rng = np.random.default_rng(0)
    Y = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 400)]
    mmd = RFFMMD(4, Y, Y, np.random.default_rng(1), n_features=256)
    F1 = rng.standard_normal((4, 400))
    F2 = rng.standard_normal((4, 400)) * 3.0  # same mean, different spread
    F2 -= F2.mean(axis=1, keepdims=True) - F1.mean(axis=1, keepdims=True)
    assert mmd.value(F1, F1) == pytest.approx(0.0, abs=1e-10)
    assert mmd.value(F1, F2) > 1e-2


# ---------------------------------------------------------------- optimisation
@pytest.mark.slow
@pytest.mark.parametrize("params", [{}, {"alpha": 50.0}, {"mmd": False}, {"conditional": False}, "unpaired"])
def test_objective_never_increases(params):
    d = make_synthetic(n=800, d_img=64, d_txt=48, n_labels=10, random_state=0, query_fraction=0.01)
    X1, X2, Y, kw = d.image_features, d.text_features, d.labels, {}
    if params == "unpaired":
        perm = np.random.default_rng(0).permutation(len(Y))
        X2, kw, params = X2[perm], {"Y_txt": Y[perm]}, {}
    calls = []
    m = CSMH(n_bits=24, n_anchors=200, n_iter=12, random_state=0, **params)
    m.fit(X1, X2, Y, callback=lambda *a: calls.append(a), **kw)
    obj = np.array([c[1] for c in calls])
    assert len(obj) == 12 and np.all(np.isfinite(obj))
    np.testing.assert_array_equal(obj, m.objective_)
    assert np.all(np.diff(obj) <= 1e-6 * np.abs(obj[:-1])), np.diff(obj)


# ---------------------------------------------------------------- parameter errors
@pytest.mark.parametrize("param", ["alpha", "mu", "eta", "lam"])
def test_negative_weight_refused(param, small):
    with pytest.raises(ValueError, match=f"'{param}' parameter of CSMH must be .*range.*Got -1"):
        CSMH(n_bits=8, n_anchors=20, **{param: -1.0}).fit(*small)


def test_too_many_anchors_and_bits_refused(small):
    n = len(small[0])
    with pytest.raises(ValueError, match=f"n_anchors=301 exceeds the {n} training rows.*n_anchors <= {n}"):
        CSMH(n_bits=8, n_anchors=301).fit(*small)
    with pytest.raises(ValueError, match=r"n_bits=31 is too large.*largest is 30 \(.*; use n_bits <= 30"):
        CSMH(n_bits=31, n_anchors=30).fit(*small)
    with pytest.raises(ValueError, match="'mmd' parameter of CSMH"):
        CSMH(n_bits=8, mmd="yes").fit(*small)


# ---------------------------------------------------------------- tuxpaint: switches, diagnostics, quality
@pytest.mark.slow
@pytest.mark.parametrize("switch", [{"mmd": False}, {"conditional": False}])
def test_switch_changes_training_codes(switch, tux_fitted):
    full, abl = tux_fitted("CSMH", **TUX), tux_fitted("CSMH", **switch, **TUX)
    changed = bits_changed(full, abl)
    print(f"\nCSMH full vs {switch}: {changed} training bits differ")
    assert changed > 0


@pytest.mark.slow
def test_diagnostics_match_the_ablation(tux_fitted):
    """``bits_changed_without_mmd_`` is exactly the difference to CSMH(mmd=False) (paired: B is
    shared, so counted once), and training lowers the MMD."""
    full, off = tux_fitted("CSMH", **TUX), tux_fitted("CSMH", mmd=False, **TUX)
    assert full.bits_changed_without_mmd_ == bits_changed(full, off) // 2 > 0
    assert off.bits_changed_without_mmd_ == 0
    twin = full._without_mmd  # the α = 0 run scripts/ablation_kernel.py scores as CSMH(mmd=False)
    for i, mod in enumerate(("image", "text")):
        np.testing.assert_array_equal(pack_bits(twin["codes"][mod] > 0), off.train_codes_[mod])
        np.testing.assert_allclose(twin["projections"][i], off.projections_[mod], rtol=1e-5, atol=1e-6)
    print(f"\nMMD before {full.mmd_before_:.2e}, after {full.mmd_after_:.2e} ({off.mmd_after_:.2e} without)")
    assert full.mmd_after_ < full.mmd_before_
    assert full.mmd_after_ < off.mmd_after_


@pytest.mark.slow
def test_tuxpaint_beats_random_and_cca_itq(tux_report):
    got = tux_report("CSMH", **TUX)
    chance, cca = tux_report("RandomCodes", **TUX), tux_report("CCA-ITQ", **TUX)
    for d in ("i2t", "t2i"):
        assert got[d]["mAP"] >= chance[d]["mAP"] + 0.10, (d, got[d]["mAP"], chance[d]["mAP"])
        assert got[d]["mAP"] > cca[d]["mAP"], (d, got[d]["mAP"], cca[d]["mAP"])


@pytest.mark.slow
def test_tuxpaint_unpaired(tux, tux_report):
    """Fully unpaired training (every text shuffled away from its image) still beats chance clearly,
    with each modality's own learned codes as the database, and the MMD shrinks during training."""
    run = run_experiment(tux, "CSMH", n_bits=32, seed=0, unpaired=1.0)
    chance = tux_report("RandomCodes", **TUX)
    for d in ("i2t", "t2i"):
        assert run.report[d]["mAP"] >= chance[d]["mAP"] + 0.10, (d, run.report[d]["mAP"])
    m = run.model
    assert m.bits_changed_without_mmd_ > 0 and m.mmd_after_ < m.mmd_before_
