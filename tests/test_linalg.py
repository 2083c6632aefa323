"""The shared linear-algebra helpers of the shallow methods, against plain numpy/scipy oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from cmh_core.methods._linalg import (
    center_scale,
    centered_grams,
    itq_rotation,
    relative_ridge,
    ridge_solve,
    top_singular_triplets,
    whitened_cross_svd,
)


def _spectrum_matrix(p, q, s, seed=0):
    """p×q matrix with the given singular values and random singular vectors."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((p, len(s))))[0]
    V = np.linalg.qr(rng.standard_normal((q, len(s))))[0]
    return (U * s) @ V.T


@pytest.mark.parametrize(("p", "q"), [(60, 40), (40, 60)])
def test_top_singular_triplets_match_full_svd(p, q):
    s_true = np.linspace(1.0, 0.5, 40)  # distinct, well separated at the top
    M = _spectrum_matrix(p, q, s_true)
    U, s, V = top_singular_triplets(M, 8)  # 2 r <= min(p, q): the eigh path
    Uf, sf, Vft = linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(s, sf[:8], rtol=1e-10)
    np.testing.assert_allclose(M @ V, U * s, atol=1e-10)  # M v_k = s_k u_k
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=1e-10)
    np.testing.assert_allclose(V.T @ V, np.eye(8), atol=1e-10)
    np.testing.assert_allclose(np.abs(U.T @ Uf[:, :8]), np.eye(8), atol=1e-8)  # same vectors up to sign
    np.testing.assert_allclose(np.abs(V.T @ Vft[:8].T), np.eye(8), atol=1e-8)
    assert np.all(U[np.argmax(np.abs(U), axis=0), np.arange(8)] > 0)  # signs fixed, solver-independent


def test_top_singular_triplets_rank_deficient_falls_back():
    """Kept singular values near 0 (SCM beyond c + 1 bits): M^T u / s would be noise, so full SVD."""
    M = _spectrum_matrix(50, 30, np.array([3.0, 2.0, 1.0]))  # rank 3
    U, s, V = top_singular_triplets(M, 6)
    np.testing.assert_allclose(s[:3], [3, 2, 1], rtol=1e-10)
    assert np.all(s[3:] < 1e-10)
    np.testing.assert_allclose(V.T @ V, np.eye(6), atol=1e-10)  # still orthonormal
    np.testing.assert_allclose(U.T @ U, np.eye(6), atol=1e-10)
    U2, s2, V2 = top_singular_triplets(M, 6, max_rank=3)  # the known rank skips the eigh attempt
    np.testing.assert_allclose(s2, s, atol=1e-12)
    np.testing.assert_allclose(M @ V2[:, :3], U2[:, :3] * s2[:3], atol=1e-10)


def test_whitened_cross_svd_same_values_as_full_svd():
    """The truncated solver gives the regularised CCA of the full SVD (values and constraints)."""
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((200, 5))
    X1 = Z @ rng.standard_normal((5, 30)) + 0.5 * rng.standard_normal((200, 30))
    X2 = Z @ rng.standard_normal((5, 25)) + 0.5 * rng.standard_normal((200, 25))
    _, _, C11, C22, C12 = centered_grams(X1.astype(np.float32), X2.astype(np.float32))
    W1, W2, s = whitened_cross_svd(C11, C22, C12, 4, 0.1)
    S1 = C11 + relative_ridge(C11, 0.1) * np.eye(30)
    S2 = C22 + relative_ridge(C22, 0.1) * np.eye(25)
    # oracle: full SVD of S1^-1/2 C12 S2^-1/2 with symmetric square roots
    R1, R2 = linalg.inv(linalg.sqrtm(S1)).real, linalg.inv(linalg.sqrtm(S2)).real
    s_ref = linalg.svd(R1 @ C12 @ R2, compute_uv=False)[:4]
    np.testing.assert_allclose(s, s_ref, rtol=1e-8)
    np.testing.assert_allclose(W1.T @ S1 @ W1, np.eye(4), atol=1e-8)  # whitening constraint
    np.testing.assert_allclose(W2.T @ S2 @ W2, np.eye(4), atol=1e-8)
    np.testing.assert_allclose(W1.T @ C12 @ W2, np.diag(s), atol=1e-8)  # canonical correlations


def test_itq_loss_never_increases():
    rng = np.random.default_rng(0)
    V = rng.standard_normal((500, 8)).astype(np.float32) @ rng.standard_normal((8, 8)).astype(np.float32)
    V -= V.mean(axis=0)
    losses = []
    R = itq_rotation(V, 30, np.random.default_rng(1), lambda it, loss: losses.append(loss))
    assert len(losses) == 30
    assert np.all(np.diff(losses) <= 1e-6 * losses[0]), losses
    np.testing.assert_allclose(R.T @ R, np.eye(8), atol=1e-10)
    B = np.where(V @ R.astype(np.float32) >= 0, 1.0, -1.0)
    assert np.sum((B - V @ R) ** 2) <= losses[-1] * (1 + 1e-5)  # the final R is at least as good


def test_ridge_solve_and_center_scale():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 6))
    G, rhs = A.T @ A, rng.standard_normal((6, 3))
    np.testing.assert_allclose(
        ridge_solve(G, 0.5, rhs), np.linalg.solve(G + 0.5 * np.eye(6), rhs), rtol=1e-10
    )
    np.testing.assert_allclose(ridge_solve(G, 0.5, rhs.T.copy().T), ridge_solve(G, 0.5, rhs))  # any order
    X = (3 * rng.standard_normal((50, 4)) + 7).astype(np.float32)
    Xs, mean, scale = center_scale(X)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.mean(np.sum(Xs.astype(np.float64) ** 2, axis=1)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(Xs * scale + mean, X, rtol=1e-5, atol=1e-5)
