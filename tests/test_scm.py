"""SCM's two variants: SCM-seq's residual learning checked against an explicit n×n computation,
its codes, memory linear in n, and quality on the bundled data."""

from __future__ import annotations

import numpy as np
import pytest
from fit_helpers import assert_fit_memory_linear
from scipy import linalg

from cmh_core.datasets import make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.methods import get_method
from cmh_core.methods._linalg import relative_ridge
from cmh_core.methods.scm import SCM


@pytest.fixture(scope="module")
def small():
    ds = make_synthetic(n=260, d_img=20, d_txt=14, n_labels=5, random_state=3)
    tr = ds.split.train
    return ds.image_features[tr], ds.text_features[tr], ds.labels[tr]


def _brute_force_seq(X1, X2, Y, r, alpha, W1_fit, W2_fit):
    """Algorithm 2 with the n×n residual R_t formed explicitly (small n only).

    Returns each bit's top singular value and directions; the sign vectors that update R_t are taken
    from the fitted model's directions (sgn(X w) is invariant to w's scale, not to its sign).
    """
    X1c, X2c = X1 - X1.mean(0), X2 - X2.mean(0)
    C11, C22 = X1c.T @ X1c, X2c.T @ X2c
    L1 = linalg.cholesky(C11 + relative_ridge(C11, alpha) * np.eye(len(C11)), lower=True)
    L2 = linalg.cholesky(C22 + relative_ridge(C22, alpha) * np.eye(len(C22)), lower=True)
    Yh = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    R = r * (2 * Yh @ Yh.T - 1.0)  # R_0 = r S: (n, n)
    sig, dirs = [], []
    for t in range(r):
        M = linalg.solve_triangular(L1, X1c.T @ R @ X2c, lower=True)
        M = linalg.solve_triangular(L2, M.T, lower=True).T
        U, s, Vt = linalg.svd(M)
        sig.append(s[0])
        dirs.append(
            (
                linalg.solve_triangular(L1.T, U[:, 0], lower=False),
                linalg.solve_triangular(L2.T, Vt[0], lower=False),
            )
        )
        b1 = np.where(X1c @ W1_fit[:, t] >= 0, 1.0, -1.0)
        b2 = np.where(X2c @ W2_fit[:, t] >= 0, 1.0, -1.0)
        R = R - np.outer(b1, b2)  # R_t = R_{t-1} - sgn(X1 w1) sgn(X2 w2)^T
    return np.array(sig), dirs


def _cos(a, b):
    return abs(float(a @ b)) / (np.linalg.norm(a) * np.linalg.norm(b))


def test_seq_matches_the_explicit_residual_algorithm(small):
    X1, X2, Y = (np.asarray(a, dtype=np.float64) for a in small)
    m = SCM(n_bits=8, variant="seq").fit(*small)
    W1, W2 = m.projections_["image"].astype(np.float64), m.projections_["text"].astype(np.float64)
    sig, dirs = _brute_force_seq(X1, X2, Y, 8, m.alpha, W1, W2)
    assert m.n_sequential_bits_ == 8
    np.testing.assert_allclose(m.correlations_, sig, rtol=1e-4)
    assert np.all(np.diff(sig) < 0)  # each residual step lowered the objective
    for t, (w1, w2) in enumerate(dirs):
        assert _cos(W1[:, t], w1) > 0.999 and _cos(W2[:, t], w2) > 0.999, t


def test_seq_first_bit_is_orth_first_bit_and_later_bits_differ(small):
    orth = SCM(n_bits=8, variant="orth").fit(*small)
    seq = SCM(n_bits=8, variant="seq").fit(*small)
    # R_0 = r S: the first direction is SCM-orth's, its singular value r times as large
    assert _cos(orth.projections_["image"][:, 0], seq.projections_["image"][:, 0]) > 0.999
    np.testing.assert_allclose(seq.correlations_[0], 8 * orth.correlations_[0], rtol=1e-5)
    X = small[0]
    B_orth, B_seq = orth.encode(X, "image"), seq.encode(X, "image")
    assert not np.array_equal(B_orth, B_seq)  # the switch changes codes
    assert orth.n_sequential_bits_ == 0


def test_unknown_variant_is_refused(small):
    with pytest.raises(ValueError, match="variant"):
        SCM(n_bits=4, variant="sequential").fit(*small)


@pytest.mark.slow
def test_seq_memory_linear_in_n_no_n_by_n_array():
    """Peak traced memory of an SCM-seq fit grows like n, far below an n×n array."""
    assert_fit_memory_linear(lambda: SCM(n_bits=8, variant="seq"))


@pytest.mark.slow
@pytest.mark.parametrize("bits", [16, 64])
def test_seq_beats_random_codes_on_tuxpaint(tux, bits):
    """Learned protocol on the bundled TF-IDF data; RandomCodes as the floor (mean of seeds 0-2)."""
    tr = tux.split.train
    train = tux.image_features[tr], tux.text_features[tr], tux.labels[tr]
    rep = evaluate(SCM(n_bits=bits, variant="seq").fit(*train), tux)
    rand = [
        evaluate(get_method("RandomCodes", n_bits=bits, random_state=s).fit(*train), tux) for s in range(3)
    ]
    for d in ("i2t", "t2i"):
        floor = float(np.mean([x[d]["mAP"] for x in rand]))
        assert rep[d]["mAP"] >= floor + 0.10, (d, rep[d]["mAP"], floor)


def test_seq_falls_back_to_cca_when_a_residual_step_raises_the_objective(small, monkeypatch):
    """The reference code's rule: stop at the first bit whose top singular value grew; CCA fills the rest.

    It never fired on the bundled data, so the rise is forced: the 4th core SVD reports a larger value.
    """
    from cmh_core.methods import _scm_seq
    from cmh_core.methods._linalg import centered_grams, whitened_cross_svd

    plain = SCM(n_bits=8, variant="seq").fit(*small)
    real_svd, calls = linalg.svd, []

    def svd(M, *args, **kwargs):
        U, S, Vt = real_svd(M, *args, **kwargs)
        calls.append(1)
        if len(calls) == 4:
            S = S.copy()
            S[0] = 1e12
        return U, S, Vt

    monkeypatch.setattr(_scm_seq.linalg, "svd", svd)
    m = SCM(n_bits=8, variant="seq").fit(*small)
    monkeypatch.undo()
    assert m.n_sequential_bits_ == 3
    np.testing.assert_allclose(m.projections_["image"][:, :3], plain.projections_["image"][:, :3], rtol=1e-5)
    _, _, C11, C22, C12 = centered_grams(*small[:2])
    W1, W2, s = whitened_cross_svd(C11, C22, C12, 8, m.alpha)
    np.testing.assert_allclose(m.projections_["image"][:, 3:], W1[:, 3:], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.projections_["text"][:, 3:], W2[:, 3:], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.correlations_[3:], s[3:], rtol=1e-4)  # float32 cross Gram vs float64
