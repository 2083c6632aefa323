"""SCM-seq (Zhang & Li, AAAI 2014, Algorithm 2): SCM's projections learned bit by bit.

The t-th pair of directions maximises ``w1^T X1^T R_{t-1} X2 w2`` under
``w_m^T (X_m^T X_m + eps_m I) w_m = 1``, with the residual target

    R_0 = r S,   R_t = R_{t-1} - sgn(X1 w1_t) sgn(X2 w2_t)^T          (r = code length)

so each bit fits what the earlier bits' codes left of ``r S`` (S = 2 Ŷ Ŷ^T - 1 1^T). R_t is n×n
and is never formed: only ``X1^T R_t X2`` enters, and it is a product of thin factors,

    X1^T R_t X2 = r (2 X1^T Ŷ Ŷ^T X2 - X1^T 1 1^T X2) - Σ_k (X1^T b1_k)(X2^T b2_k)^T = G H^T

with G (d1, c + 1 + t) and H (d2, c + 1 + t). After whitening (``L_m L_m^T = C_mm + eps_m I``) the
top singular pair of ``L1^-1 G H^T L2^-T`` comes from the SVD of a small core: G̃ = Q1 R1 and
H̃ = Q2 R2 (orthonormal Q_m grown by one column a bit), then ``svd(R1 R2^T)``. A bit costs
O(n d) for the two sgn vectors and O(d k) for the factors: linear in n, as the paper claims.

As in the public MATLAB code of SCM-seq: if a bit's top singular value exceeds the previous bit's
(the residual update failed to lower the objective), learning stops and the remaining bits take
the plain CCA directions of the same index; ``n_sequential_bits_`` records where that happened.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import linalg

from cmh_core.methods._linalg import centered_grams, gram, relative_ridge, whitened_cross_svd

__all__ = ["scm_sequential"]


def _append(Q: np.ndarray, R: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grow the thin factorisation ``F = Q R`` by one column x of F (Gram-Schmidt, twice).

    Q (d, k) orthonormal, R (k, m) -> (Q', R') with R' (k', m + 1); Q gains a column only when x
    has a part outside span(Q).
    """
    a = Q.T @ x
    y = x - Q @ a
    a2 = Q.T @ y  # second pass: re-orthogonalisation keeps Q orthonormal to machine precision
    y -= Q @ a2
    a += a2
    rho = float(np.linalg.norm(y))
    if rho <= 1e-10 * max(float(np.linalg.norm(x)), 1e-300):
        return Q, np.column_stack([R, a])
    Q = np.column_stack([Q, y / rho])
    R = np.block([[R, a[:, None]], [np.zeros((1, R.shape[1])), np.array([[rho]])]])
    return Q, R


def _signs(X: np.ndarray, mu: np.ndarray, w: np.ndarray) -> np.ndarray:
    """b = sgn((X - mu) w) in {-1, +1} (0 -> +1, as `encode`): (n,) float32."""
    w = w.astype(np.float32)
    # X w - mu^T w: a matrix-vector product in float32 as the encoder's, without a centred copy of X
    return np.where(X @ w - np.float32(mu.astype(np.float32) @ w) >= 0, 1.0, -1.0).astype(np.float32)


def scm_sequential(
    X1: np.ndarray,
    X2: np.ndarray,
    Y: np.ndarray,
    mu1: np.ndarray,
    mu2: np.ndarray,
    C11: np.ndarray,
    C22: np.ndarray,
    r: int,
    alpha: float,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """SCM-seq projections, bit by bit on the residual semantic target (module docstring).

    Parameters
    ----------
    X1 : ndarray (n, d1), X2 : ndarray (n, d2)
        Training features (uncentred; ``mu_m`` are subtracted on the fly).
    Y : ndarray of {0, 1}, shape (n, c)
    mu1 : ndarray (d1,), mu2 : ndarray (d2,)
        Training means.
    C11 : ndarray (d1, d1), C22 : ndarray (d2, d2)
        Centred Gram matrices ``X_mc^T X_mc``.
    r : int
        Code length.
    alpha : float
        Relative ridge ``eps_m = alpha * trace(C_mm) / d_m``.
    callback : callable, optional
        ``callback(bit, sigma)`` after each learned bit.

    Returns
    -------
    W1 : ndarray (d1, r), W2 : ndarray (d2, r)
    s : ndarray (r,)
        Top singular value of the whitened residual cross matrix at each bit (CCA's canonical
        correlation for bits taken from the fallback).
    n_seq : int
        Bits learned sequentially (r unless the fallback fired).
    """
    n = X1.shape[0]
    mu1, mu2 = mu1.astype(np.float64), mu2.astype(np.float64)
    L1 = linalg.cholesky(C11 + relative_ridge(C11, alpha) * np.eye(len(C11)), lower=True)
    L2 = linalg.cholesky(C22 + relative_ridge(C22, alpha) * np.eye(len(C22)), lower=True)
    Yh = Y.astype(np.float32)
    Yh /= np.maximum(np.linalg.norm(Yh, axis=1, keepdims=True), 1e-7)  # Ŷ: rows L2-normalised
    ysum = Yh.sum(axis=0, dtype=np.float64)
    A1 = gram(X1, Yh) - np.outer(mu1, ysum)  # X1c^T Ŷ: (d1, c)
    A2 = gram(X2, Yh) - np.outer(mu2, ysum)  # X2c^T Ŷ: (d2, c)
    s1 = X1.sum(axis=0, dtype=np.float64) - n * mu1  # X1c^T 1: (d1,)
    s2 = X2.sum(axis=0, dtype=np.float64) - n * mu2  # X2c^T 1: (d2,)
    # X1c^T R_0 X2c = G H^T with R_0 = r S (eq. of Algorithm 2), whitened: G̃ = L1^-1 G, H̃ = L2^-1 H
    G = linalg.solve_triangular(L1, r * np.column_stack([2.0 * A1, -s1]), lower=True)
    H = linalg.solve_triangular(L2, np.column_stack([A2, s2]), lower=True)
    Q1, R1 = linalg.qr(G, mode="economic")
    Q2, R2 = linalg.qr(H, mode="economic")
    W1, W2 = np.zeros((len(C11), r)), np.zeros((len(C22), r))
    s = np.zeros(r)
    last = np.inf
    for t in range(r):
        U, S, Vt = linalg.svd(
            R1 @ R2.T, check_finite=False
        )  # core of L1^-1 X1^T R_t X2 L2^-T = Q1 (R1 R2^T) Q2^T
        if S[0] > last:  # the residual step raised the objective: stop, as the reference code does
            W1c, W2c, sc = whitened_cross_svd(C11, C22, centered_grams(X1, X2)[4], r, alpha)
            W1[:, t:], W2[:, t:], s[t:] = W1c[:, t:], W2c[:, t:], sc[t:]
            for b in range(t, r) if callback is not None else ():  # the progress bar still ends at r
                callback(b + 1, float(s[b]))
            return W1, W2, s, t
        last = S[0]
        u, v = Q1 @ U[:, 0], Q2 @ Vt[0]
        if u[np.argmax(np.abs(u))] < 0:  # fixed sign: the result does not depend on LAPACK's
            u, v = -u, -v
        W1[:, t] = linalg.solve_triangular(L1, u, trans="T", lower=True, check_finite=False)  # w1_t = L1^-T u
        W2[:, t] = linalg.solve_triangular(L2, v, trans="T", lower=True, check_finite=False)  # w2_t = L2^-T v
        s[t] = S[0]
        if callback is not None:
            callback(t + 1, float(S[0]))
        if t == r - 1:
            break
        b1, b2 = _signs(X1, mu1, W1[:, t]), _signs(X2, mu2, W2[:, t])  # sgn(X_mc w_m): (n,)
        p1 = X1.T @ b1 - mu1 * b1.sum(dtype=np.float64)  # X1c^T b1: (d1,)
        p2 = X2.T @ b2 - mu2 * b2.sum(dtype=np.float64)  # X2c^T b2: (d2,)
        # R_t = R_{t-1} - b1 b2^T  <=>  G gains -L1^-1 p1, H gains L2^-1 p2
        Q1, R1 = _append(Q1, R1, -linalg.solve_triangular(L1, p1, lower=True, check_finite=False))
        Q2, R2 = _append(Q2, R2, linalg.solve_triangular(L2, p2, lower=True, check_finite=False))
    return W1, W2, s, r
