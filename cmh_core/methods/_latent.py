"""Helpers shared by the latent-factor methods (AMSH and the methods built on its pieces).

* `balanced_procrustes`: the "balanced orthogonal" Procrustes step of discrete graph hashing, used
  by AMSH's V-step (``solve_V.m`` in the reference code; docs/methods/amsh.md):
  ``argmax_V tr(V^T Z)`` s.t. ``V V^T = scale^2 I`` and ``V 1 = 0``.
* `fit_rbf_anchors` / `rbf_anchor_features`: the RBF kernel map on anchors drawn from the training
  rows (``Kernelize.m``, docs/methods/amsh.md), with σ the mean squared train-anchor distance
  and the training column mean subtracted.

Nothing here forms an n×n matrix: the Procrustes step costs O(n r²), the kernel map streams over
row blocks and holds at most ``block × n_anchors`` scratch besides its (n, n_anchors) output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg

__all__ = ["balanced_procrustes", "fit_rbf_anchors", "rbf_anchor_features"]

_BLOCK = 4096  # rows per block of the kernel map (block × n_anchors float32 scratch)


# ---------------------------------------------------------------------------------------------
# Balanced orthogonal Procrustes
# ---------------------------------------------------------------------------------------------


def _orthonormal_complement(U: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` random orthonormal columns (n, k) orthogonal to the orthonormal columns of U (n, p)."""
    n = U.shape[0]
    G = rng.standard_normal((n, k))
    for _ in range(2):  # classical Gram-Schmidt twice: orthogonal to U to working precision
        G -= U @ (U.T @ G)
        G, _ = np.linalg.qr(G)
    return G


def _reorthonormalise(U: np.ndarray) -> np.ndarray:
    """One Cholesky-QR pass ``U R^-1`` (``R^T R = U^T U``): nearly orthonormal columns made orthonormal."""
    if U.shape[1] == 0:
        return U
    try:
        R = linalg.cholesky(U.T @ U, lower=False)
    except linalg.LinAlgError:  # columns far from orthonormal: Householder QR instead
        return np.linalg.qr(U)[0]
    return linalg.solve_triangular(R, U.T, trans="T", lower=False).T  # (R^-T U^T)^T = U R^-1


def balanced_procrustes(
    Z: np.ndarray,
    rng: np.random.Generator,
    *,
    center: bool = True,
    scale: float | None = None,
    eig_tol: float = 1e-4,
) -> np.ndarray:
    """Balanced orthogonal Procrustes: ``V = argmax tr(V^T Z)`` s.t. ``V V^T = scale² I`` (, ``V 1 = 0``).

    With ``Z_c = Z - mean over samples`` (``center``) and the thin SVD ``Z_c^T = U Σ Q^T``, the
    maximiser is ``V = scale · (U Q^T)^T`` (discrete graph hashing; AMSH ``solve_V.m``). Directions
    whose eigenvalue ``σ²`` of ``Z_c Z_c^T`` is ``<= eig_tol`` (or below ``1e-12 σ_max²``, where
    the Gram matrix has no accurate digits) carry no signal; their columns of U
    are replaced by random orthonormal columns orthogonal to the kept ones (and to ``1`` when
    ``center``), so the constraints hold exactly whatever the rank of Z. (The reference code draws
    them without orthogonalising against the kept columns, so its V V^T is only approximately
    scale² I when Z is rank deficient.) Since ``V 1 = 0``, ``tr(V^T Z) = tr(V^T Z_c)``: centring
    changes the solution, not the objective.

    The thin SVD is taken, as in the reference, from the eigendecomposition of the r×r Gram
    ``Z_c Z_c^T`` (three n×r GEMMs: about 12× faster than LAPACK's SVD of the n×r matrix at
    n = 20,000, r = 64), followed by one Cholesky-QR pass so that ``V V^T = scale² I`` holds to
    working precision; directions with eigenvalues near ``eig_tol`` are the only ones the Gram
    route resolves less accurately, and they add at most ``σ_k`` to the objective. Cost O(n r²).

    Parameters
    ----------
    Z : ndarray, shape (r, n)
        The linear term; r <= n - 1 when ``center`` (else r <= n).
    rng : numpy.random.Generator
        Draws the fill-in directions (only consumed when Z has null directions).
    center : bool, default=True
        Impose ``V 1 = 0`` (bit balance).
    scale : float, optional
        ``V V^T = scale² I``; default ``sqrt(n)`` (each row of V has mean square 1).
    eig_tol : float, default=1e-4
        Eigenvalues of ``Z_c Z_c^T`` at or below this are null directions (the reference's 1e-4).

    Returns
    -------
    V : ndarray of float64, shape (r, n)

    Raises
    ------
    ValueError
        If Z is not a finite 2-D array with r <= n - 1 (``center``) or r <= n, or scale <= 0.
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or not np.isfinite(Z).all():
        raise ValueError(f"Z must be a finite 2-D array (r, n), got shape {Z.shape}")
    r, n = Z.shape
    room = n - 1 if center else n  # dimensions available to r orthogonal rows
    if r > room:
        raise ValueError(
            f"Z has r={r} rows but only {room} orthogonal directions exist among n={n} samples"
            f"{' orthogonal to 1' if center else ''}; use r <= {room} or pass Z as (r, n), not (n, r)"
        )
    scale = float(np.sqrt(n)) if scale is None else float(scale)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}; use the default sqrt(n)")
    Zc = Z - Z.mean(axis=1, keepdims=True) if center else Z  # Z_c: (r, n)
    lam, Q = linalg.eigh(Zc @ Zc.T)  # Z_c Z_c^T = Q Σ² Q^T: (r, r), ascending
    lam, Q = lam[::-1], Q[:, ::-1]
    keep = lam > max(eig_tol, 1e-12 * lam[0])  # below 1e-12 λ_max the Gram has no accurate digits
    U = (Q[:, keep].T @ Zc).T / np.sqrt(lam[keep])  # U = Z_c^T Q Σ^-1: (n, k)
    U = _reorthonormalise(U)
    n_null = r - U.shape[1]
    if n_null:
        used = np.column_stack([np.full(n, 1.0 / np.sqrt(n)), U]) if center else U  # also ⟂ 1
        U = np.column_stack([U, _orthonormal_complement(used, n_null, rng)])
    Qt = Q.T  # rows of Q^T in the order of the columns of U (kept first, then null)
    return scale * (U @ Qt).T  # V = scale · (U Q^T)^T: (r, n)


# ---------------------------------------------------------------------------------------------
# RBF features on anchors
# ---------------------------------------------------------------------------------------------


def _sq_dist_block(Xb: np.ndarray, A: np.ndarray, a_sq: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Squared distances (b, m) of rows Xb to anchors A, both shifted by ``ref`` (no cancellation)."""
    Xs = Xb - ref  # shifting by the anchor mean keeps ||x||² + ||a||² - 2 x·a well conditioned
    D = (Xs**2).sum(axis=1, dtype=np.float64).astype(np.float32)[:, None] + a_sq - 2.0 * (Xs @ A.T)
    return np.maximum(D, 0.0, out=D)


def _kernel(X: np.ndarray, anchors: np.ndarray, sigma: float, block: int) -> np.ndarray:
    """``exp(-||x_i - a_j||² / (2σ))`` for all rows and anchors: (n, m) float32, by row blocks."""
    ref = anchors.mean(axis=0, dtype=np.float64).astype(np.float32)  # (d,)
    A = anchors - ref  # shifted anchors: (m, d)
    a_sq = (A**2).sum(axis=1, dtype=np.float64).astype(np.float32)  # ||a_j||²: (m,)
    out = np.empty((X.shape[0], anchors.shape[0]), dtype=np.float32)
    for s in range(0, X.shape[0], block):
        D = _sq_dist_block(X[s : s + block], A, a_sq, ref)
        np.exp(D * np.float32(-0.5 / sigma), out=out[s : s + block])
    return out


def fit_rbf_anchors(
    X: np.ndarray,
    n_anchors: int,
    rng: np.random.Generator,
    *,
    return_features: bool = False,
    block: int = _BLOCK,
) -> dict[str, Any] | tuple[dict[str, Any], np.ndarray]:
    """Fit the RBF anchor map of AMSH (``Kernelize.m``): anchors, bandwidth σ and column mean.

    * Anchors: ``min(n_anchors, n)`` distinct training rows drawn uniformly without replacement
      (the reference draws 1,500 and fails when n < 1,500; here the count is capped at n).
    * ``σ = mean_{i,j} ||x_i - a_j||²``: the mean of the squared train-anchor distances (not the
      square of the mean distance), computed in closed form as
      ``mean_i ||x_i - ā||² + mean_j ||a_j - ā||²`` (ā = anchor mean).
    * ``φ(x)_j = exp(-||x - a_j||² / (2σ)) - μ_j`` with μ the training column mean of the kernel.

    Parameters
    ----------
    X : ndarray of float32, shape (n, d)
        Training features of one modality.
    n_anchors : int
        Anchors wanted (>= 1); capped at n.
    rng : numpy.random.Generator
        Draws the anchors.
    return_features : bool, default=False
        Also return the centred training features Φ (saves computing the kernel twice).
    block : int, default=4096
        Rows per block (memory: ``block × n_anchors`` float32 scratch).

    Returns
    -------
    state : dict
        ``{"anchors": (m, d) float32, "sigma": float, "mean": (m,) float32}``, plain arrays that
        save in an ``.npz``; m = min(n_anchors, n).
    Phi : ndarray of float32, shape (n, m)
        Only if ``return_features``: ``rbf_anchor_features(X, state)``.

    Raises
    ------
    ValueError
        If n_anchors < 1, X is not 2-D with at least one row, or all rows of X are identical (σ = 0).
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be a 2-D array (n, d) with n >= 1, got shape {X.shape}")
    if isinstance(n_anchors, bool) or not isinstance(n_anchors, int | np.integer) or n_anchors < 1:
        raise ValueError(f"n_anchors must be a positive integer, got {n_anchors!r}; use e.g. 1500")
    n = X.shape[0]
    idx = np.sort(rng.choice(n, size=min(int(n_anchors), n), replace=False))
    anchors = X[idx].copy()  # (m, d)
    if not (X.max(axis=0) > X.min(axis=0)).any():
        raise ValueError(
            f"all {n} rows of X are identical, so every squared anchor distance is 0 and the RBF "
            "kernel is constant; pass features that vary across samples"
        )
    # σ = mean_ij ||x_i - a_j||² = mean_i ||x_i - ā||² + mean_j ||a_j - ā||²  (the cross term
    # averages to 0 over j): O(n d), no distance matrix needed
    ref = anchors.mean(axis=0, dtype=np.float64).astype(np.float32)  # ā: (d,)
    x_sq = sum(float(((X[s : s + block] - ref) ** 2).sum(dtype=np.float64)) for s in range(0, n, block))
    sigma = x_sq / n + float(((anchors - ref) ** 2).sum(dtype=np.float64)) / len(anchors)
    K = _kernel(X, anchors, sigma, block)  # (n, m), before centring
    mean = K.mean(axis=0, dtype=np.float64).astype(np.float32)  # training column mean μ: (m,)
    state = {"anchors": anchors, "sigma": float(sigma), "mean": mean}
    if not return_features:
        return state
    K -= mean
    return state, K


def rbf_anchor_features(X: np.ndarray, state: dict[str, Any], *, block: int = _BLOCK) -> np.ndarray:
    """Centred RBF anchor features ``φ(x)_j = exp(-||x - a_j||² / (2σ)) - μ_j``.

    Parameters
    ----------
    X : ndarray, shape (n, d)
        Features of the modality the state was fitted on.
    state : dict
        From `fit_rbf_anchors` (``anchors`` (m, d), ``sigma``, ``mean`` (m,)).
    block : int, default=4096
        Rows per block.

    Returns
    -------
    Phi : ndarray of float32, shape (n, m)

    Raises
    ------
    ValueError
        If X does not have the anchors' feature count.
    """
    X = np.asarray(X, dtype=np.float32)
    anchors = np.asarray(state["anchors"], dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != anchors.shape[1]:
        raise ValueError(
            f"X has shape {X.shape} but the anchors have {anchors.shape[1]} features; pass features "
            "of the modality the RBF map was fitted on"
        )
    K = _kernel(X, anchors, float(state["sigma"]), block)
    K -= np.asarray(state["mean"], dtype=np.float32)
    return K
