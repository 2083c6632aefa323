"""CMFH: Collective Matrix Factorization Hashing.

Unsupervised baseline. Both modalities are factorised onto one latent matrix V (n×r), which the
linear maps P_m must also predict from the features:

    min  λ ||X_1 - V U_1||^2 + (1-λ) ||X_2 - V U_2||^2 + μ Σ_m ||V - X_m P_m||^2
         + γ_n (||U_1||^2 + ||U_2||^2 + ||P_1||^2 + ||P_2||^2) + γ ||V||^2

solved by alternating closed-form updates of U_m, P_m and V. Training codes are sgn(V) (the
"learned" protocol); queries are coded sgn(x P_m).

Implementation: after the first update V = X_1 A_1 + X_2 A_2 lies in the span of the features,
so every step only needs the Gram matrices X_a^T X_b (d×d), X_m^T V = G_m1 A_1 + G_m2 A_2 (d×r) and
V^T V (r×r): each iteration costs O(d^2 r), independent of n, and V itself (n×r) is only formed
at the start and at the end.

Choices (docs/methods/cmfh.md): λ = 0.5, μ = 100, 30 iterations. "γ scaled to the data" means:
each modality's centred features are rescaled to unit mean squared row norm, and the penalties
on U_m and P_m (which, unlike the loss terms, do not grow with n) use γ_n = γ·n. The default
γ = 0.1 (the paper: 0.01) was chosen on the validation split carved from train
(`cmh_core.datasets.validation_split`, never the query set; ``scripts/tune_on_validation.py``,
``tuxpaint``, 32 bits, mAP I→T / T→I): γ = 0.01: 0.176 / 0.175 (seeds 0-2), γ = 0.03: 0.253 /
0.215, **γ = 0.1: 0.312 / 0.254**, γ = 0.3: 0.291 / 0.262 (seed 0): with γ = 0.01 the hash
functions P_m are too weakly regularised (d > n here). It had first been read off the query set;
the validation split picks the same value, so the default is unchanged. V starts from a seeded
Gaussian matrix.

References
----------
G. Ding, Y. Guo, J. Zhou. "Collective Matrix Factorization Hashing for Multimodal Data."
CVPR 2014, pp. 2083-2090. DOI 10.1109/CVPR.2014.267
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from scipy import linalg

from cmh_core.methods._base import LinearHasher, bits_within_memory
from cmh_core.methods._constraints import MAX_ITER, Interval
from cmh_core.methods._linalg import center_scale, gram, ridge_factor, ridge_solve

__all__ = ["CMFH"]


def _objective(G, S, K, U, P, lam, mu, gam, gam_n) -> float:
    """CMFH objective from Grams: G[a][b] = X_a^T X_b, S[m] = X_m^T V, K = V^T V.

    ``P`` must hold the matrices ``G_mm P_m`` is evaluated on (passed explicitly, no shortcut).
    """
    w = (lam, 1.0 - lam)
    J = gam * np.trace(K)  # γ ||V||^2
    for m in range(2):
        # ||X_m - V U_m||^2 = tr G_mm - 2 tr(U_m S_m) + tr(K U_m U_m^T)
        J += w[m] * (np.trace(G[m][m]) - 2 * np.trace(U[m] @ S[m]) + np.trace(K @ U[m] @ U[m].T))
        # ||V - X_m P_m||^2 = tr K - 2 tr(P_m^T S_m) + tr(P_m^T G_mm P_m)
        J += mu * (np.trace(K) - 2 * np.sum(P[m] * S[m]) + np.sum(P[m] * (G[m][m] @ P[m])))
        J += gam_n * (np.sum(U[m] ** 2) + np.sum(P[m] ** 2))
    return float(J)


class CMFH(LinearHasher):
    """Collective Matrix Factorization Hashing (Ding, Guo & Zhou, CVPR 2014), unsupervised.

    Parameters
    ----------
    n_bits : int, default=32
        Code length r.
    lam : float, default=0.5
        λ: weight of the image reconstruction (1 - λ for text).
    mu : float, default=100.0
        μ: weight of the hash-function terms ||V - X_m P_m||^2.
    gamma : float, default=0.1
        γ: ridge on U_m and P_m (as γ·n) and on V (paper: 0.01); chosen on the validation split
        carved from train (see the module docstring).
    n_iter : int, default=30
        Alternating iterations.
    random_state : int, Generator or None, default=None
        Seeds the initial V.

    Attributes
    ----------
    means_ : dict of ndarray (d_m,)
    projections_ : dict of ndarray (d_m, r)
        P_m (divided by the feature scale, so queries use raw centred features).
    scales_ : ndarray (2,)
        Root mean squared row norm of each modality's centred training features.

    The objective (non-increasing) is computed only when ``fit`` gets a callback, which receives
    it after each iteration: without one it would cost as much as the updates themselves.
    """

    name = "CMFH"
    fidelity = "classic baseline"
    paper = {
        "title": "Collective Matrix Factorization Hashing for Multimodal Data",
        "authors": "Guiguang Ding, Yuchen Guo, Jile Zhou",
        "venue": "CVPR",
        "year": 2014,
        "doi": "10.1109/CVPR.2014.267",
        "idea": "factorise both modalities onto one shared latent matrix whose signs are the codes",
    }
    _parameter_constraints: ClassVar[dict] = {
        **LinearHasher._parameter_constraints,
        "lam": [Interval(Real, 0, 1, closed="neither")],
        "mu": [Interval(Real, 0, None, closed="neither")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],  # bound: docs/security.md
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {
        **LinearHasher._fitted_attributes,
        "scales_": "array(2)",
    }

    def __init__(
        self,
        *,
        n_bits: int = 32,
        lam: float = 0.5,
        mu: float = 100.0,
        gamma: float = 0.1,
        n_iter: int = 30,
        random_state: int | np.random.Generator | None = None,
    ):
        self.n_bits = n_bits
        self.lam = lam
        self.mu = mu
        self.gamma = gamma
        self.n_iter = n_iter
        self.random_state = random_state

    def max_n_bits(self, n_features: dict[str, int], n_samples: int) -> int:
        """min(n, d_img + d_txt), and r x r solves within memory: V = X_1 A_1 + X_2 A_2 has no higher rank.

        Bits beyond the rank of the latent V (n, r) are linear combinations of the others; each
        iteration also solves r x r systems (O(r^3)) and keeps (d_m, r) float64 factors.
        """
        rank = min(n_samples, sum(n_features.values()))
        memory = bits_within_memory(48, 32 * sum(n_features.values()) + 16 * n_samples)
        return min(rank, memory, super().max_n_bits(n_features, n_samples))

    def _fit(self, X_img, X_txt, Y, Y_txt, rng, callback):
        r, n = int(self.n_bits), X_img.shape[0]
        lam, mu, gam = float(self.lam), float(self.mu), float(self.gamma)
        gam_n = gam * n  # γ_n: ridge on U_m, P_m
        # Step 0: centred, unit-scale features, seen only through Gram matrices
        X1, mu1, s1 = center_scale(X_img)  # X1: (n, d1)
        X2, mu2, s2 = center_scale(X_txt)  # X2: (n, d2)
        G12 = gram(X1, X2)
        G = [[gram(X1), G12], [G12.T, gram(X2)]]  # G[a][b] = X_a^T X_b (scaled)
        Pfac = [ridge_factor(G[m][m], gam_n / mu) for m in range(2)]
        V0 = rng.standard_normal((n, r)).astype(np.float32)  # V: (n, r), random start
        S = [gram(X1, V0), gram(X2, V0)]  # S_m = X_m^T V: (d_m, r)
        K = gram(V0)  # K = V^T V: (r, r)
        w, I_r = (lam, 1.0 - lam), np.eye(r)
        for it in range(1, int(self.n_iter) + 1):
            # U_m = (V^T V + γ_n/w_m I)^-1 V^T X_m   (r, d_m)
            U = [ridge_solve(K, gam_n / w[m], S[m].T) for m in range(2)]
            # P_m = (X_m^T X_m + γ_n/μ I)^-1 X_m^T V   (d_m, r)
            P = [linalg.cho_solve(Pfac[m], S[m]) for m in range(2)]
            # V = X_1 A_1 + X_2 A_2 with A_m = (w_m U_m^T + μ P_m) C^-1
            C = lam * U[0] @ U[0].T + (1 - lam) * U[1] @ U[1].T + 2 * mu * I_r  # (r, r), + γ I below
            A = [ridge_solve(C, gam, w[m] * U[m] + mu * P[m].T).T for m in range(2)]  # A_m: (d_m, r)
            S = [G[m][0] @ A[0] + G[m][1] @ A[1] for m in range(2)]  # X_m^T V
            K = A[0].T @ S[0] + A[1].T @ S[1]  # V^T V
            if callback.active:  # the objective costs as much as the updates: only when asked for
                callback(it, _objective(G, S, K, U, P, lam, mu, gam, gam_n))
        P = [linalg.cho_solve(Pfac[m], S[m]) for m in range(2)]  # hash functions for the final V
        V = X1 @ A[0].astype(np.float32) + X2 @ A[1].astype(np.float32)  # (n, r)
        self.means_ = {"image": mu1, "text": mu2}
        self.projections_ = {"image": (P[0] / s1).astype(np.float32), "text": (P[1] / s2).astype(np.float32)}
        self.scales_ = np.array([s1, s2], dtype=np.float64)
        B = V >= 0  # B = sgn(V): (n, r)
        return {"image": B, "text": B}
