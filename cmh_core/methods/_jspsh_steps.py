"""JSPSH's solver steps, moved verbatim out of `cmh_core.methods.jspsh` (the method file stays under
300 lines): spherical k-means of the labels, the cluster matrix C (C Cᵀ = S_C), M applied in factored
form, the Procrustes H-step and the blocked float64 Gram products of stage 2. The maths is in
docs/methods/jspsh.md; the reference is ``train_JSPSH.m`` (github.com/hutt94/JSPSH).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from scipy import linalg, sparse

from cmh_core.methods._linalg import l2_normalize_rows

_EIG_TOL = 1e-6  # train_JSPSH.m: directions with eigenvalue of ZᵀZ <= 1e-6 are filled at random
_BLOCK = 4096  # rows per block of the float64 Gram accumulation


# ---------------------------------------------------------------------- stage 1 helpers
def _spherical_kmeans(U: np.ndarray, weight: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cosine k-means (MATLAB ``kmeans(..., 'Distance', 'cosine')``) of unit rows with multiplicities.

    k-means++ seeding (on unit vectors squared Euclidean distance is 2 (1 − cos), so the D²
    sampling equals MATLAB's cosine seeding), then batch Lloyd steps: assign to the largest
    cosine, centroid = weighted mean of the unit rows; an empty cluster takes the row farthest
    from its centroid (MATLAB's 'singleton'); stops when assignments repeat, at most 100 steps.

    Parameters
    ----------
    U : ndarray (m, c), unit rows (the distinct label vectors)
    weight : ndarray (m,), how many training rows each distinct vector stands for
    k : int, 1 <= k < m

    Returns
    -------
    ndarray of int (m,), cluster of each row of U
    """
    from sklearn.cluster import kmeans_plusplus  # lazy: sklearn.cluster is slow to import

    seed = int(rng.integers(2**31 - 1))
    C, _ = kmeans_plusplus(U, k, sample_weight=weight, random_state=seed, n_local_trials=1)
    assign = None
    for _ in range(100):
        cos = U @ (C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)).T  # (m, k)
        new = np.argmax(cos, axis=1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        C = np.zeros_like(C)
        np.add.at(C, assign, U * weight[:, None])  # weighted cluster sums: (k, c)
        fit = cos[np.arange(len(U)), assign]  # cosine of each row to its centroid
        for j in np.flatnonzero(np.bincount(assign, minlength=k) == 0):
            far = int(np.argmin(fit))
            C[j], assign[far], fit[far] = U[far], j, np.inf
    return assign


def _cluster_matrix(Y: np.ndarray, n_clusters: tuple[int, ...], rng: np.random.Generator):
    """Weighted one-hot cluster assignments of the label rows, stacked over granularities.

    Each granularity k_j is capped at the number of distinct label vectors (the reference's
    MATLAB k-means collapses to that partition anyway); the weights keep the requested
    w_j = k_j / Σ k (``main_demo.m``'s ``param.km``).

    Returns
    -------
    C : scipy.sparse.csr_matrix (n, Σ k_j'), column block j = sqrt(w_j) C_j, so C Cᵀ = S_C
    used : list of int, the k_j' actually used
    """
    distinct, inverse, counts = np.unique(Y, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()  # row i of Y is distinct[inverse[i]]
    U = l2_normalize_rows(distinct.astype(np.float64))
    w = np.asarray(n_clusters, dtype=np.float64) / float(sum(n_clusters))  # w_j = k_j / Σ k
    blocks, used = [], []
    for k, wj in zip(n_clusters, w, strict=True):
        k = min(int(k), len(U))
        part = np.arange(len(U)) if k == len(U) else _spherical_kmeans(U, counts.astype(float), k, rng)
        rows = np.arange(len(Y))
        blocks.append(sparse.csr_matrix((np.full(len(Y), np.sqrt(wj)), (rows, part[inverse])), (len(Y), k)))
        used.append(k)
    return sparse.hstack(blocks, format="csr"), used


def _apply_M(A: np.ndarray, Yn: np.ndarray, C, omega: float, alpha: float, r: int) -> np.ndarray:
    """``M A = ω A + r (Ŷ (Ŷᵀ A) + α C (Cᵀ A))`` for A (n, K), never forming the n×n M."""
    out = C @ (C.T @ A)  # S_C A = Σ_j w_j C_j (C_j^T A), cluster sums
    out *= alpha
    out += Yn @ (Yn.T @ A)  # S_L A = Ŷ (Ŷ^T A)
    out *= r
    out += omega * A
    return out


def _procrustes(Z: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """``H = scale · U Vᵀ`` maximising tr(HᵀZ) s.t. HᵀH = scale² I (uncentred Procrustes).

    As in ``train_JSPSH.m``: eigendecomposition ZᵀZ = V Λ Vᵀ, U = Z V Λ^{-1/2} on the directions
    with eigenvalue > 1e-6 (here also above the float64 rounding of the largest one, so that
    rounding noise of an unused bit is not taken for a direction); the other directions get
    random orthonormal columns, here also made orthogonal to U so that HᵀH is exact.

    Parameters
    ----------
    Z : ndarray (n, K), float64
    scale : float, sqrt(n r / K)

    Returns
    -------
    H : ndarray (n, K), float64
    """
    lam, V = linalg.eigh(Z.T @ Z)  # ascending eigenvalues of ZᵀZ: (K,), (K, K)
    keep = lam > max(_EIG_TOL, lam[-1] * len(lam) * np.finfo(np.float64).eps)
    P = V[:, keep] / np.sqrt(lam[keep])  # U = Z P: (n, rank), orthonormal columns
    H = Z @ (scale * (P @ V[:, keep].T))  # scale · U V^T in one n×K×K product
    if not keep.all():  # unused code bits: random orthonormal fill, orthogonal to U
        R = rng.standard_normal((Z.shape[0], int((~keep).sum())))  # (n, f)
        R -= Z @ (P @ (P.T @ (Z.T @ R)))  # R - U U^T R
        H += np.linalg.qr(R)[0] @ (scale * V[:, ~keep].T)
    return H


def _orth(A: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of a full-rank A (n, K): MATLAB ``orth``'s U, via AᵀA."""
    lam, V = linalg.eigh(A.T @ A)
    return A @ (V[:, ::-1] / np.sqrt(lam[::-1]))  # columns by decreasing singular value


# ---------------------------------------------------------------------- stage 2 helpers
def _gram64(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """``Aᵀ B`` (``Aᵀ A`` when B is None) in float64, by row blocks (no float64 n×d copy)."""
    B_ = A if B is None else B
    out = np.zeros((A.shape[1], B_.shape[1]))
    for s in range(0, A.shape[0], _BLOCK):
        a = A[s : s + _BLOCK].astype(np.float64)
        out += a.T @ (a if B is None else B_[s : s + _BLOCK].astype(np.float64))
    return out


def _check_clusters(n_clusters) -> None:
    """``n_clusters`` must be a non-empty sequence of positive ints."""
    ok = isinstance(n_clusters, list | tuple) and len(n_clusters) > 0
    ok = ok and all(isinstance(k, Integral) and not isinstance(k, bool) and k >= 1 for k in n_clusters)
    if not ok:
        raise ValueError(
            f"n_clusters must be a non-empty tuple of positive ints (k-means granularities), "
            f"got {n_clusters!r}; use e.g. n_clusters=(100, 200, 500)"
        )


def code_length(n_bits: int, code_bits: int | None, sparsity: float) -> int:
    """K: ``code_bits``, or round(r / sparsity) (= 20 r at the default sparsity)."""
    if code_bits is not None:
        return int(code_bits)
    return max(1, int(round(n_bits / float(sparsity))))


def largest_active_bits(code_bits: int | None, sparsity: float, n_samples: int) -> int:
    """Largest r with r < K(r) < n (the reference learns codes only when ``kdim < n``); 0 if none."""
    if code_bits is not None:
        return int(code_bits) - 1 if int(code_bits) < n_samples else 0
    r = int(np.floor(n_samples * float(sparsity))) + 1
    while r > 0 and not (r < code_length(r, None, sparsity) < n_samples):
        r -= 1
    return r
