"""Shared latent-method helpers: balanced Procrustes and the RBF anchor map, against plain oracles."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from cmh_core.methods._latent import balanced_procrustes, fit_rbf_anchors, rbf_anchor_features


def _random_feasible(r: int, n: int, rng: np.random.Generator, center: bool = True) -> np.ndarray:
    """A random V (r, n) with V V^T = n I (and V 1 = 0): the feasible set of the Procrustes step."""
    G = rng.standard_normal((n, r))
    if center:
        G -= G.mean(axis=0)
    Q, _ = np.linalg.qr(G)
    return np.sqrt(n) * Q.T


def _check_constraints(V: np.ndarray, scale: float, center: bool = True) -> None:
    r, n = V.shape
    np.testing.assert_allclose(V @ V.T, scale**2 * np.eye(r), atol=1e-8 * scale**2)
    if center:
        np.testing.assert_allclose(V.sum(axis=1), 0.0, atol=1e-8 * scale * np.sqrt(n))


@pytest.mark.parametrize("center", [True, False])
def test_procrustes_constraints_and_closed_form_optimum(center):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((8, 300)) + 3.0  # offset: centring matters
    V = balanced_procrustes(Z, np.random.default_rng(1), center=center)
    _check_constraints(V, np.sqrt(300), center)
    Zc = Z - Z.mean(axis=1, keepdims=True) if center else Z
    # the maximum of tr(V^T Z) over the feasible set is scale · (nuclear norm of Z_c)
    best = np.sqrt(300) * np.linalg.svd(Zc, compute_uv=False).sum()
    assert np.trace(V.T @ Z) == pytest.approx(best, rel=1e-10)


def test_procrustes_beats_random_feasible_points():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((6, 200))
    V = balanced_procrustes(Z, rng)
    got = np.trace(V.T @ Z)
    for _ in range(200):
        W = _random_feasible(6, 200, rng)
        assert np.trace(W.T @ Z) <= got + 1e-9


def test_procrustes_custom_scale():
    Z = np.random.default_rng(3).standard_normal((4, 50))
    V = balanced_procrustes(Z, np.random.default_rng(0), scale=2.5)
    _check_constraints(V, 2.5)


@pytest.mark.parametrize("rank", [0, 1, 3])
def test_procrustes_rank_deficient(rank):
    rng = np.random.default_rng(4)
    r, n = 7, 120
    Z = rng.standard_normal((r, rank)) @ rng.standard_normal((rank, n)) if rank else np.zeros((r, n))
    Z = Z + 5.0  # a constant offset lies along 1 and must not count as a direction
    V = balanced_procrustes(Z, np.random.default_rng(5))
    _check_constraints(V, np.sqrt(n))
    Zc = Z - Z.mean(axis=1, keepdims=True)
    best = np.sqrt(n) * np.linalg.svd(Zc, compute_uv=False).sum()
    assert np.trace(V.T @ Z) == pytest.approx(best, rel=1e-9, abs=1e-6)


def test_procrustes_ill_conditioned():
    """Singular values spanning 1e-1 .. 1e5: constraints and optimum still hold to high accuracy."""
    rng = np.random.default_rng(8)
    r, n = 12, 5000
    U, _ = np.linalg.qr(rng.standard_normal((n, r)))
    Q, _ = np.linalg.qr(rng.standard_normal((r, r)))
    Z = (U * np.logspace(5, -1, r)) @ Q.T  # Z^T with known singular values
    Z = Z.T  # (r, n)
    V = balanced_procrustes(Z, rng, center=False)
    _check_constraints(V, np.sqrt(n), center=False)
    best = np.sqrt(n) * np.logspace(5, -1, r).sum()
    assert np.trace(V.T @ Z) == pytest.approx(best, rel=1e-10)


def test_procrustes_deterministic_per_rng():
    Z = np.random.default_rng(6).standard_normal((5, 2)) @ np.random.default_rng(7).standard_normal((2, 90))
    a = balanced_procrustes(Z, np.random.default_rng(11))
    b = balanced_procrustes(Z, np.random.default_rng(11))
    c = balanced_procrustes(Z, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)  # the 3 null directions are filled from the rng


def test_procrustes_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="r <= 9"):
        balanced_procrustes(np.ones((10, 10)), rng)
    with pytest.raises(ValueError, match="finite"):
        balanced_procrustes(np.full((2, 10), np.nan), rng)
    with pytest.raises(ValueError, match="scale"):
        balanced_procrustes(np.ones((2, 10)), rng, scale=0.0)


# ---------------------------------------------------------------------------------------------


def _naive_kernel(X, anchors):
    """Oracle: full distance matrix; σ = mean of the squared distances; training column mean."""
    D2 = cdist(X.astype(np.float64), anchors.astype(np.float64), "sqeuclidean")
    sigma = D2.mean()
    K = np.exp(-D2 / (2 * sigma))
    return sigma, K, K.mean(axis=0)


def test_rbf_matches_naive_oracle():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((257, 13)) * 3 + 40).astype(np.float32)  # far from 0: cancellation-prone
    state, Phi = fit_rbf_anchors(X, 31, np.random.default_rng(1), return_features=True, block=50)
    anchors = state["anchors"]
    assert anchors.shape == (31, 13)
    rows = [np.flatnonzero((X == a).all(axis=1)) for a in anchors]
    assert all(len(i) >= 1 for i in rows) and len({int(i[0]) for i in rows}) == 31  # distinct rows
    sigma, K, mu = _naive_kernel(X, anchors)
    assert state["sigma"] == pytest.approx(sigma, rel=1e-5)
    np.testing.assert_allclose(state["mean"], mu, atol=1e-5)
    np.testing.assert_allclose(Phi, K - mu, atol=1e-5)
    np.testing.assert_allclose(Phi.mean(axis=0), 0.0, atol=1e-5)  # training columns centred
    Xq = (rng.standard_normal((9, 13)) * 3 + 40).astype(np.float32)
    Dq = cdist(Xq.astype(np.float64), anchors.astype(np.float64), "sqeuclidean")
    np.testing.assert_allclose(rbf_anchor_features(Xq, state), np.exp(-Dq / (2 * sigma)) - mu, atol=1e-5)
    np.testing.assert_allclose(rbf_anchor_features(X, state, block=7), Phi, atol=1e-6)


def test_rbf_anchor_cap_determinism_and_npz():
    X = np.random.default_rng(2).standard_normal((20, 4)).astype(np.float32)
    s1 = fit_rbf_anchors(X, 1500, np.random.default_rng(3))
    s2 = fit_rbf_anchors(X, 1500, np.random.default_rng(3))
    assert s1["anchors"].shape == (20, 4)  # capped at n
    np.testing.assert_array_equal(s1["anchors"], s2["anchors"])
    buf = io.BytesIO()
    np.savez(buf, **s1)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        loaded = {k: z[k] for k in z.files}
    np.testing.assert_array_equal(rbf_anchor_features(X, loaded), rbf_anchor_features(X, s1))


def test_rbf_bad_input():
    rng = np.random.default_rng(0)
    X = np.ones((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="identical"):
        fit_rbf_anchors(X, 5, rng)
    Xv = rng.standard_normal((10, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="n_anchors"):
        fit_rbf_anchors(Xv, 0, rng)
    state = fit_rbf_anchors(Xv, 5, rng)
    with pytest.raises(ValueError, match="3 features"):
        rbf_anchor_features(np.ones((2, 4), dtype=np.float32), state)
