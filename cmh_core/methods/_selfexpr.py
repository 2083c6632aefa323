"""HPsEH's quantified semantic matrix: the self-expression variants and the fused target S.

Three variants of the self-expression (the ``self_expression`` switch of `HPsEH`, docs/methods/hpseh.md):

* ``"data-specific"`` (default): the zero-diagonal least-squares self-expression of the stacked
  data ``D = [ρ_y Ŷ, Φ̃_1, Φ̃_2]`` (n, d), Φ̃_m the row-normalised training kernel features::

      min_Z ||D^T - D^T Z||² + γ ||Z||²  s.t. diag(Z) = 0
      ⇒  Z = I - Ω diag(Ω)^-1,  Ω = (D D^T + γ I)^-1,  then symmetrised: Z_s = (Z + Z^T) / 2

  held through Woodbury, ``Ω = γ^-1 (I - D K^-1 D^T)`` with ``K = D^T D + γ I`` (d, d): applying
  Z_s to an (r, n) matrix costs O(n d r) and ``diag(Ω)`` O(n d²); no n×n array is formed.
* ``"labels-only"``: ``Z* = Ŷ (Ŷ^T Ŷ + γ I)^-1 Ŷ^T`` (rank <= c; a function of the labels alone).
* ``"off"``: no quantified matrix.

The fused target is ``S = (2 Ŷ Ŷ^T - 1 1^T) + ρ κ Z``, with ``κ = ||2 Ŷ Ŷ^T - 1 1^T||_F / ||Z||_F``
so that ρ = 1 gives the quantified matrix the Frobenius mass of the label similarity (for the
data-specific Z the norm is that of Z before symmetrisation, an upper bound of ``||Z_s||_F``).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from cmh_core.methods._kernel import LabelSimilarity

__all__ = [
    "SELF_EXPRESSION_MODES",
    "DataSelfExpression",
    "FusedSimilarity",
    "fused_similarity",
    "self_expression_core",
]

SELF_EXPRESSION_MODES = ("data-specific", "labels-only", "off")
_BLOCK = 512  # rows per block of D K^-1 (a few 512 × d float64 scratch arrays)


def self_expression_core(Yh: np.ndarray, gamma: float) -> tuple[np.ndarray, float]:
    """c×c core ``G = (Ŷ^T Ŷ + γ I)^-1`` of the labels-only ``Z* = Ŷ G Ŷ^T`` and ``||Z*||_F``.

    Parameters
    ----------
    Yh : ndarray (n, c)
        Row-normalised labels Ŷ.
    gamma : float
        γ > 0.

    Returns
    -------
    G : ndarray of float64, shape (c, c)
    norm : float
        ``||Z*||_F = sqrt(tr(G K G K))``, K = Ŷ^T Ŷ (O(c³), no n×n array).
    """
    K = (Yh.T @ Yh).astype(np.float64)  # Ŷ^T Ŷ: (c, c)
    G = linalg.inv(K + gamma * np.eye(len(K)))
    G = (G + G.T) / 2
    GK = G @ K
    return G, float(np.sqrt(max(np.sum(GK * GK.T), 0.0)))


class DataSelfExpression:
    """The symmetrised zero-diagonal self-expression ``Z_s`` of D (n, d), applied via Woodbury.

    Parameters
    ----------
    D : ndarray (n, d)
        Stacked data ``[ρ_y Ŷ, Φ̃_1, Φ̃_2]``.
    gamma : float
        γ > 0, the ridge of the self-expression (also what keeps ``diag(Ω) > 0``).
    """

    def __init__(self, D: np.ndarray, gamma: float):
        self.D = np.asarray(D, dtype=np.float32)  # D: (n, d)
        self.gamma = float(gamma)
        K = (self.D.T @ self.D).astype(np.float64) + self.gamma * np.eye(D.shape[1])  # K: (d, d)
        self.Kinv = linalg.cho_solve(linalg.cho_factor(K), np.eye(len(K)))  # K^-1: (d, d)
        # p_i = d_i K^-1 d_i^T < 1 and ||K^-1 d_i||², by row blocks: D K^-1 (n, d) is never stored
        lev, e_sq = np.empty(len(self.D)), np.empty(len(self.D))
        for s in range(0, len(self.D), _BLOCK):
            Db = self.D[s : s + _BLOCK].astype(np.float64)
            Eb = Db @ self.Kinv
            lev[s : s + _BLOCK], e_sq[s : s + _BLOCK] = (
                np.einsum("ij,ij->i", Eb, Db),
                np.einsum("ij,ij->i", Eb, Eb),
            )
        self.one_minus_p = np.maximum(1.0 - lev, 1e-12)  # γ Ω_ii
        self.inv_diag = self.gamma / self.one_minus_p  # diag(Ω)^-1: (n,)
        # ||Z||_F² = Σ_j ((Ω²)_jj / Ω_jj² - 1), γ² (Ω²)_jj = 1 - p_j - γ ||K^-1 d_j||²
        om2 = np.maximum(self.one_minus_p - self.gamma * e_sq, 0.0)
        self.norm = float(np.sqrt(max(np.sum(om2 / self.one_minus_p**2 - 1.0), 0.0)))

    def _omega(self, A: np.ndarray) -> np.ndarray:
        """``A Ω`` for A (k, n): ``γ^-1 (A - ((A D) K^-1) D^T)`` (Ω symmetric), float64 (k, n)."""
        AE = ((A.astype(np.float32) @ self.D) @ self.Kinv).astype(np.float32)  # A D K^-1: (k, d)
        return (A - (AE @ self.D.T).astype(np.float64)) / self.gamma

    def apply(self, A: np.ndarray) -> np.ndarray:
        """``A Z_s`` for A (k, n), float64 (k, n): ``Z = I - Ω Δ^-1``, ``Z^T = I - Δ^-1 Ω``."""
        AZ = self._omega(A) * self.inv_diag  # A Ω Δ^-1
        AZt = self._omega(A * self.inv_diag)  # A Δ^-1 Ω
        return A - 0.5 * (AZ + AZt)


class FusedSimilarity:
    """``S = (2 Ŷ Ŷ^T - 1 1^T) + w Z`` applied to (r, n) matrices; S is never formed.

    Parameters
    ----------
    label : LabelSimilarity
        The label part, with the labels-only Z* already folded into its core when used.
    extra : DataSelfExpression or None
    weight : float
        w = ρ κ for ``extra``.
    """

    def __init__(self, label: LabelSimilarity, extra: DataSelfExpression | None = None, weight: float = 0.0):
        self.label, self.extra, self.weight = label, extra, float(weight)

    def apply(self, A: np.ndarray) -> np.ndarray:
        """``A S`` for A (r, n): float64 (r, n), O(n r (c + d))."""
        out = self.label.apply(A)
        if self.extra is not None and self.weight:
            out += self.weight * self.extra.apply(A)
        return out


def fused_similarity(
    mode: str, Yh: np.ndarray, Phis: list[np.ndarray], gamma: float, rho: float, rho_y: float
) -> FusedSimilarity:
    """Build the fused target S of `HPsEH` for a ``self_expression`` mode (module docstring).

    Parameters
    ----------
    mode : {"data-specific", "labels-only", "off"}
    Yh : ndarray (n, c)
        Row-normalised labels Ŷ.
    Phis : list of ndarray (n, a_t)
        Training kernel features Φ_m (row-normalised here for D).
    gamma, rho, rho_y : float
        γ (self-expression ridge), ρ (weight of Z in S), ρ_y (weight of Ŷ in D).

    Returns
    -------
    FusedSimilarity
    """
    c = Yh.shape[1]
    base = LabelSimilarity(Yh, 2.0 * np.eye(c))  # 2 Ŷ Ŷ^T - 1 1^T
    label_norm = float(np.sqrt(max(base.sq_norm(), 0.0)))
    if mode == "off" or rho == 0:
        return FusedSimilarity(base)
    if mode == "labels-only":
        G, norm = self_expression_core(Yh, gamma)
        kappa = label_norm / norm if norm > 0 else 0.0
        return FusedSimilarity(LabelSimilarity(Yh, 2.0 * np.eye(c) + rho * kappa * G))
    if mode != "data-specific":
        raise ValueError(f"self_expression must be one of {SELF_EXPRESSION_MODES}, got {mode!r}")
    blocks = [np.float32(rho_y) * Yh]
    for P in Phis:  # Φ̃_m: row-normalised kernel features
        blocks.append(P / np.maximum(np.linalg.norm(P, axis=1, keepdims=True), 1e-7))
    D = np.hstack(blocks).astype(np.float32, copy=False)
    del blocks  # D alone is kept: the fit's peak memory is O(n d)
    Z = DataSelfExpression(D, gamma)
    kappa = label_norm / Z.norm if Z.norm > 0 else 0.0
    return FusedSimilarity(base, Z, rho * kappa)
