"""Kernel-hash machinery shared by HPsEH and CSMH.

RBF-anchor kernel features, the factored label similarity, ridge solves, the PCA initialisation,
the balanced Procrustes step and `KernelHasher`, the base class whose hash functions are kernel
ridge regressions ``φ_m(x) W_m``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy import linalg
from sklearn.utils.extmath import randomized_svd
from threadpoolctl import threadpool_limits

from cmh_core.methods._base import CrossModalHasher
from cmh_core.methods._latent import balanced_procrustes, fit_rbf_anchors, rbf_anchor_features

__all__ = [
    "KERNEL_FITTED_ATTRIBUTES",
    "KernelHasher",
    "LabelSimilarity",
    "fit_kernel_features",
    "gram",
    "kernel_project",
    "kernel_ridge",
    "normalized_labels",
    "pca_scores",
    "procrustes",
    "resolve_anchors",
    "resolve_train_anchors",
    "ridge_factor",
    "sign",
    "sq",
    "store_kernel_model",
    "train_columns",
]

_DEFAULT_ANCHORS = 1000
_RIDGE_FLOOR = 1e-6  # relative to the mean diagonal of a Gram: above float32 rounding


# ---------------------------------------------------------------------------------------------
# Kernel features, factored label similarity, ridge solves
# ---------------------------------------------------------------------------------------------


def normalized_labels(Y: np.ndarray) -> np.ndarray:
    """Ŷ: labels with every row L2-normalised (zero rows stay zero), float32 (n, c)."""
    Yf = np.asarray(Y, dtype=np.float32)
    norms = np.sqrt((Yf**2).sum(axis=1, keepdims=True))
    return Yf / np.maximum(norms, 1e-7)


class LabelSimilarity:
    """The n×n target ``S = Ŷ C Ŷ^T - 1 1^T`` held in factored form (never formed).

    Parameters
    ----------
    Yh : ndarray (n, c)
        Row-normalised labels Ŷ.
    core : ndarray (c, c)
        Symmetric core C (``2 I`` gives the label similarity ``2 Ŷ Ŷ^T - 1 1^T`` in [-1, 1]).
    """

    def __init__(self, Yh: np.ndarray, core: np.ndarray):
        self.Yh = np.asarray(Yh, dtype=np.float32)  # Ŷ: (n, c)
        self.core = np.asarray(core, dtype=np.float64)  # C: (c, c)

    def apply(self, A: np.ndarray) -> np.ndarray:
        """``A S`` for A (r, n): ``((A Ŷ) C) Ŷ^T - (A 1) 1^T``, float64 (r, n), O(n r c)."""
        AY = (A.astype(np.float32) @ self.Yh).astype(np.float64)  # A Ŷ: (r, c)
        out = ((AY @ self.core).astype(np.float32) @ self.Yh.T).astype(np.float64)  # (r, n)
        out -= A.sum(axis=1, dtype=np.float64)[:, None]
        return out

    def sq_norm(self) -> float:
        """``||S||_F²`` = tr(C K C K) - 2 u^T C u + n², K = Ŷ^T Ŷ, u = Ŷ^T 1 (O(n c²))."""
        K = (self.Yh.T @ self.Yh).astype(np.float64)
        u = self.Yh.sum(axis=0, dtype=np.float64)
        CK = self.core @ K
        return float(np.sum(CK * CK.T) - 2.0 * u @ self.core @ u + self.Yh.shape[0] ** 2)


def fit_kernel_features(
    X_img: np.ndarray, X_txt: np.ndarray, n_anchors: int, rng: np.random.Generator
) -> tuple[dict[str, dict[str, Any]], list[np.ndarray]]:
    """RBF anchor maps and centred training features Φ_m (n, a) float32 for both modalities."""
    states, Phis = {}, []
    for m, X in (("image", X_img), ("text", X_txt)):
        states[m], Phi = fit_rbf_anchors(X, n_anchors, rng, return_features=True)
        Phis.append(Phi)
    return states, Phis


def resolve_anchors(method: str, n_anchors: int | None, n_samples: int) -> int:
    """Anchor count: ``None`` → min(1000, n); an explicit count above n is refused.

    Raises
    ------
    ValueError
        If ``n_anchors > n_samples``, naming both and the fix.
    """
    if n_anchors is None:
        return min(_DEFAULT_ANCHORS, n_samples)
    if n_anchors > n_samples:
        raise ValueError(
            f"{method}: n_anchors={n_anchors} exceeds the {n_samples} training rows the anchors are "
            f"drawn from; use n_anchors <= {n_samples}, or n_anchors=None for min(1000, n)"
        )
    return int(n_anchors)


def ridge_factor(gram: np.ndarray, eps: float) -> tuple:
    """Cholesky factor (float64) of ``gram + ε' I`` (a, a) for repeated ridge solves.

    ``ε' = max(ε, 1e-6 · mean diag(gram))``: the ridge is never below the rounding error of a
    float32 Gram. A centred Gram with n <= a is singular, and a tiny ridge (e.g. HPsEH's former
    λ/α at α = 3e3) left it indefinite to float32 accuracy, so Cholesky raised LinAlgError.
    """
    g = np.asarray(gram, dtype=np.float64)
    floor = _RIDGE_FLOOR * max(float(np.trace(g)) / len(g), 0.0)
    return linalg.cho_factor(g + max(float(eps), floor) * np.eye(len(g)))


def gram(Phi: np.ndarray) -> np.ndarray:
    """``Φ^T Φ`` (a, a) float64 from float32 features (n, a)."""
    return (Phi.T @ Phi).astype(np.float64)


def resolve_train_anchors(method: str, n_train_anchors: int | None, n_anchors: int, default: int) -> int:
    """Training-projection anchors: ``None`` → min(default, a); more than the a hash anchors is refused.

    Raises
    ------
    ValueError
        If ``n_anchors_train > n_anchors`` (they are a subset of the hash functions' anchors).
    """
    if n_train_anchors is None:
        return min(int(default), n_anchors)
    if n_train_anchors > n_anchors:
        raise ValueError(
            f"{method}: n_anchors_train={n_train_anchors} exceeds the {n_anchors} anchors of the hash "
            f"functions it is drawn from; use n_anchors_train <= {n_anchors}, or None"
        )
    return int(n_train_anchors)


def train_columns(Phis: list[np.ndarray], n_cols: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A seeded subset of ``n_cols`` anchor columns of each Φ_m: the training features (n, n_cols).

    The anchors are a uniform draw of training rows, so a uniform subset of them is too; the
    columns stay centred. All columns (no copy) when ``n_cols`` is the full count.
    """
    out = []
    for P in Phis:
        if n_cols >= P.shape[1]:
            out.append(P)
        else:
            out.append(np.ascontiguousarray(P[:, np.sort(rng.choice(P.shape[1], n_cols, replace=False))]))
    return out


def kernel_ridge(Phi: np.ndarray, fac: tuple, T: np.ndarray) -> np.ndarray:
    """``(Φ^T Φ + ε I)^-1 Φ^T T^T`` for targets T (r, n): the projection (a, r), float64."""
    return linalg.cho_solve(fac, (Phi.T @ T.T.astype(np.float32)).astype(np.float64))


def pca_scores(Phis: list[np.ndarray], gram: np.ndarray, r: int, rng: np.random.Generator) -> np.ndarray:
    """Top-r principal-component scores (r, n) of the centred ``[Φ_1, ...]`` from its Gram.

    ``gram`` is the Gram of the column-stacked features (Σ a_m square); its top-r eigenvectors E
    come from a randomised SVD (sklearn; the Gram is PSD, so singular = eigen vectors), which is
    only an initialisation and costs O(a² r) instead of the O(a³) of a full eigensolver.
    """
    _, _, Et = randomized_svd(gram, r, random_state=int(rng.integers(2**31)))  # Et: (r, Σ a_m)
    Et = Et.astype(np.float32)
    out, start = np.zeros((r, Phis[0].shape[0])), 0
    for P in Phis:
        out += (P @ Et[:, start : start + P.shape[1]].T).T
        start += P.shape[1]
    return out


# What `store_kernel_model` sets, for save/load (kinds as in `CrossModalHasher._fitted_attributes`)
KERNEL_FITTED_ATTRIBUTES: dict[str, str] = {
    **CrossModalHasher._fitted_attributes,
    "anchors_": "{array(*, d)}",  # RBF anchors per modality: (a, d_m)
    "kernel_means_": "{array(*)}",  # training column mean of Φ_m: (a,)
    "sigmas_": "{float}",  # RBF width σ_m
    "projections_": "{array(*, r)}",  # W_m: (a, r)
    "objective_": "array(*)",  # objective per iteration
}


def store_kernel_model(model: CrossModalHasher, states: dict, W: list, history: list) -> None:
    """Set the fitted attributes of a kernel-hash model (npz-savable: arrays and floats)."""
    model.anchors_ = {m: s["anchors"] for m, s in states.items()}
    model.kernel_means_ = {m: s["mean"] for m, s in states.items()}
    model.sigmas_ = {m: float(s["sigma"]) for m, s in states.items()}
    model.projections_ = {m: w.astype(np.float32) for m, w in zip(states, W, strict=True)}
    model.objective_ = np.asarray(history, dtype=np.float64)


def kernel_project(model: CrossModalHasher, X: np.ndarray, modality: str) -> np.ndarray:
    """Hash function output ``φ_m(x) W_m`` (n, r) float32 of a fitted kernel-hash model."""
    state = {
        "anchors": model.anchors_[modality],
        "sigma": model.sigmas_[modality],
        "mean": model.kernel_means_[modality],
    }
    return rbf_anchor_features(X, state) @ model.projections_[modality]


def procrustes(Z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`balanced_procrustes` (r, n) → (r, n) with single-threaded LAPACK.

    The thin SVD of an n×r matrix gains nothing from threads, and OpenBLAS's threaded LAPACK was
    15-40x slower than one thread on the shared 2-core machine (1 s instead of 65 ms at n = 10,000,
    r = 64), which alone broke the 10 s training target.
    """
    with threadpool_limits(1):
        return balanced_procrustes(Z, rng)


def sign(A: np.ndarray) -> np.ndarray:
    """sgn with 0 → +1, float64."""
    return np.where(A >= 0, 1.0, -1.0)


def sq(A: np.ndarray) -> float:
    """``||A||_F²`` accumulated in float64."""
    return float(np.einsum("ij,ij->", A, A, dtype=np.float64))


class KernelHasher(CrossModalHasher):
    """Shared base of HPsEH and CSMH: unified codes with RBF-anchor kernel ridge hash functions.

    Subclasses have an ``n_anchors`` parameter, call `store_kernel_model` at the end of ``_fit``
    and get the fitted attributes, the code-length limit and the hash function from here.
    """

    _fitted_attributes: ClassVar[dict[str, str]] = KERNEL_FITTED_ATTRIBUTES

    def max_n_bits(self, n_features: dict[str, int], n_samples: int) -> int:
        """Largest n_bits: min(n - 1, a) for n training rows and a anchors.

        ``n - 1``: r balanced orthogonal rows (V 1 = 0) need r <= n - 1; ``a`` (anchors): the
        PCA init and the kernel hash functions have only a directions.
        """
        return min(n_samples - 1, resolve_anchors(self.name, self.n_anchors, n_samples))

    def _project(self, X, modality):
        return kernel_project(self, X, modality)
