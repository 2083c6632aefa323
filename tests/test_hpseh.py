"""HPsEH (reconstructed from its abstract): the self-expression and the objective against dense
oracles, monotone objective, parameter errors, every switch changing the codes on tuxpaint, the
balanced terms and retrieval quality as bounds (the n×n memory cap at n = 20,000:
tests/test_common.py::test_no_n_by_n_array)."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import bits_changed, small_paired

from cmh_core.datasets import make_synthetic
from cmh_core.methods._kernel import normalized_labels
from cmh_core.methods._selfexpr import DataSelfExpression, fused_similarity
from cmh_core.methods.hpseh import HPsEH, LabelSimilarity, self_expression_core

MODES = ("data-specific", "labels-only", "off")
TUX = {"n_bits": 32, "random_state": 0}


@pytest.fixture(scope="module")
def small():
    return small_paired(3)


# ---------------------------------------------------------------- self-expression vs dense oracles
def test_labels_only_core_matches_dense_solution(small):
    Yh = normalized_labels(small[2]).astype(np.float64)
    G, norm = self_expression_core(Yh.astype(np.float32), 0.7)
    Z = np.linalg.solve(Yh @ Yh.T + 0.7 * np.eye(len(Yh)), Yh @ Yh.T)  # argmin ||Ŷ^T - Ŷ^T Z||² + γ||Z||²
    np.testing.assert_allclose(Yh @ G @ Yh.T, Z, atol=1e-5)
    assert norm == pytest.approx(np.linalg.norm(Z), rel=1e-5)


def test_data_self_expression_is_the_zero_diagonal_solution(small):
    """Z = I - Ω diag(Ω)^-1 through Woodbury equals the dense constrained least-squares solution."""
    rng = np.random.default_rng(0)
    D = rng.standard_normal((200, 15)).astype(np.float32)
    Z = DataSelfExpression(D, 0.7)
    Dd = D.astype(np.float64)
    Om = np.linalg.inv(Dd @ Dd.T + 0.7 * np.eye(200))  # dense Ω (n, n)
    Zd = np.eye(200) - Om / np.diag(Om)[None, :]
    assert np.abs(np.diag(Zd)).max() < 1e-12
    grad = -2 * Dd @ (Dd.T - Dd.T @ Zd) + 2 * 0.7 * Zd  # stationarity off the diagonal
    np.fill_diagonal(grad, 0.0)
    assert np.abs(grad).max() < 1e-8
    assert Z.norm == pytest.approx(np.linalg.norm(Zd), rel=1e-6)
    A = rng.standard_normal((4, 200))
    np.testing.assert_allclose(Z.apply(A), A @ (Zd + Zd.T) / 2, atol=1e-5)
    assert ((Zd + Zd.T) < -1e-6).mean() > 0.2, "the quantified matrix should grade dissimilarity"


@pytest.mark.parametrize("mode", MODES)
def test_fused_similarity_frobenius_balance(mode, small):
    """ρ = 1 gives Z the Frobenius mass of the label similarity: S differs from it exactly by ρ κ Z."""
    Yh = normalized_labels(small[2])
    Phis = [np.random.default_rng(i).standard_normal((300, 8)).astype(np.float32) for i in range(2)]
    S = fused_similarity(mode, Yh, Phis, 1.0, 1.0, 1.0)
    A = np.eye(300)
    Yd = Yh.astype(np.float64)
    label = 2 * Yd @ Yd.T - 1
    extra = S.apply(A) - label  # (n, n) dense only in this test
    want = 0.0 if mode == "off" else np.linalg.norm(label)
    if mode == "data-specific":  # the scale uses ||Z||, an upper bound of the symmetrised ||Z_s||
        assert 0.5 * want <= np.linalg.norm(extra) <= want * (1 + 1e-4)
    else:
        assert np.linalg.norm(extra) == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_objective_matches_dense_formula_up_to_a_constant(small):
    """The factored objective differs from the dense formula by the same constant for any state."""
    Y = small[2]
    n, c, r, a = len(Y), Y.shape[1], 6, 9
    Yh = normalized_labels(Y)
    S = LabelSimilarity(Yh, 2 * np.eye(c))
    Sd = 2 * Yh.astype(np.float64) @ Yh.T.astype(np.float64) - 1  # dense S (n, n)
    m = HPsEH(eta=0.5, alpha=0.3, beta=2.0, lam=0.1, mu=7.0)
    gaps = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        B = np.where(rng.random((r, n)) < 0.5, -1.0, 1.0)
        V = [np.linalg.qr(rng.standard_normal((n, r)))[0].T * np.sqrt(n) for _ in range(2)]  # V V^T = n I
        F = [rng.standard_normal((r, n)) for _ in range(2)]
        P = [rng.standard_normal((a, r)) for _ in range(2)]
        D = rng.standard_normal((r, c))
        got = m._objective(7.0 * S.apply(B) / n, B, V, F, P, D, Y.astype(np.float32))
        want = sum(
            7.0 * np.sum((r * Sd - B.T @ v) ** 2) / (r * n)
            + 0.5 * np.sum((B - v) ** 2)
            + 0.3 * (np.sum((v - f) ** 2) + 0.1 * np.sum(p**2))
            for v, f, p in zip(V, F, P, strict=True)
        )
        want += 2.0 * (np.sum((B - D @ Y.T) ** 2) + 1e-3 * np.sum(D**2))
        gaps.append(want - got)
    assert gaps[0] == pytest.approx(gaps[1], rel=1e-6)


# ---------------------------------------------------------------- optimisation
@pytest.mark.slow
@pytest.mark.parametrize("params", [{}, {"self_expression": "labels-only"}, {"self_expression": "off"}])
def test_objective_never_increases(params):
    d = make_synthetic(n=800, d_img=64, d_txt=48, n_labels=10, random_state=0, query_fraction=0.01)
    calls = []
    m = HPsEH(n_bits=24, n_anchors=200, n_iter=12, random_state=0, **params)
    m.fit(d.image_features, d.text_features, d.labels, callback=lambda *a: calls.append(a))
    obj = np.array([c[1] for c in calls])
    assert len(obj) == 12 and np.all(np.isfinite(obj))
    np.testing.assert_array_equal(obj, m.objective_)
    assert np.all(np.diff(obj) <= 1e-6 * np.abs(obj[:-1])), np.diff(obj)


# ---------------------------------------------------------------- parameter errors
@pytest.mark.parametrize("param", ["eta", "beta", "rho", "rho_y", "mu", "alpha", "lam", "lam_h", "gamma"])
def test_negative_weight_refused(param, small):
    with pytest.raises(ValueError, match=f"'{param}' parameter of HPsEH must be .*range.*Got -1"):
        HPsEH(n_bits=8, n_anchors=20, **{param: -1.0}).fit(*small)


def test_bad_switch_and_anchor_counts_refused(small):
    n = len(small[0])
    with pytest.raises(ValueError, match="'self_expression' parameter of HPsEH must be a str among"):
        HPsEH(n_bits=8, self_expression=True).fit(*small)
    with pytest.raises(ValueError, match=f"n_anchors=5000 exceeds the {n} training rows.*n_anchors <= {n}"):
        HPsEH(n_bits=8, n_anchors=5000).fit(*small)
    with pytest.raises(ValueError, match="n_anchors_train=40 exceeds the 30 anchors.*n_anchors_train <= 30"):
        HPsEH(n_bits=8, n_anchors=30, n_anchors_train=40).fit(*small)
    assert HPsEH(n_anchors=30).max_n_bits({"image": 24, "text": 16}, n) == 30
    assert HPsEH(n_anchors_train=20).max_n_bits({"image": 24, "text": 16}, n) == 20
    with pytest.raises(ValueError, match=r"n_bits=40 is too large.*largest is 30 \(.*; use n_bits <= 30"):
        HPsEH(n_bits=40, n_anchors=30).fit(*small)


@pytest.mark.slow
def test_large_alpha_on_singular_gram_fits(tux):
    """Issue 17: α = 3e3 made the ridge λ/α so small that the singular centred float32 Gram (n <= a
    on tuxpaint) failed Cholesky. The ridge is now λ itself, floored at 1e-6 of the Gram's diagonal."""
    tr = tux.split.train
    m = HPsEH(n_bits=16, alpha=3e3, lam=1e-12, n_iter=2, random_state=0)
    m.fit(tux.image_features[tr], tux.text_features[tr], tux.labels[tr])
    assert np.all(np.isfinite(m.objective_))


# ---------------------------------------------------------------- tuxpaint: switches, balance, quality
@pytest.mark.slow
@pytest.mark.parametrize(
    "pair", [("data-specific", "labels-only"), ("data-specific", "off"), ("labels-only", "off")]
)
def test_self_expression_switch_changes_training_codes(pair, tux_fitted):
    a, b = (tux_fitted("HPsEH", self_expression=p, **TUX) for p in pair)
    changed = bits_changed(a, b)
    print(f"\nHPsEH {pair[0]} vs {pair[1]}: {changed} training bits differ")
    assert changed > 0


@pytest.mark.slow
def test_balanced_terms_give_modality_specific_latents(tux_fitted):
    """The feature part of the V_m-step is no longer 1e-5 of the label part, and V_1 ≠ V_2."""
    m = tux_fitted("HPsEH", **TUX)
    assert m.term_norms_.shape == (2, len(HPsEH.TERM_NAMES)) and np.all(m.term_norms_ > 0)
    sim, feat = m.term_norms_[1, 0], m.term_norms_[1, 2]
    print(
        f"\nHPsEH V-step, end: ||μ B S / n|| = {sim:.1f}, ||α P^T Φ^T|| = {feat:.1f}; gap {m.latent_gap_:.3f}"
    )
    assert feat / sim > 1e-2
    assert m.latent_gap_ > 1e-3  # was 1e-5 at the first proposal's weights


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["data-specific", "off"])
def test_tuxpaint_beats_random_and_cca_itq(mode, tux_report):
    got = tux_report("HPsEH", self_expression=mode, **TUX)
    chance, cca = tux_report("RandomCodes", **TUX), tux_report("CCA-ITQ", **TUX)
    for d in ("i2t", "t2i"):
        assert got[d]["mAP"] >= chance[d]["mAP"] + 0.10, (d, got[d]["mAP"], chance[d]["mAP"])
        assert got[d]["mAP"] > cca[d]["mAP"], (d, got[d]["mAP"], cca[d]["mAP"])
