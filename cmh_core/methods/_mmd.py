"""CSMH's Gaussian-kernel MMD through random Fourier features, and its majorise-minimise ridge step.

The MMD between the latent projections F_1 (r, n_1) and F_2 (r, n_2) of the two modalities, with the
Gaussian kernel ``k(f, g) = exp(-||f - g||² / (2 σ²))`` approximated by D random Fourier features
``ψ(f) = sqrt(2/D) cos(Ω^T f + b)``, Ω ~ N(0, σ^-2 I) (r, D), b ~ U[0, 2π) (Rahimi & Recht, 2007)::

    MMD(F_1, F_2) = Σ_k π_k || Σ_i w^1_ik ψ(f_1i) - Σ_j w^2_jk ψ(f_2j) ||²

k = 0 is the marginal term (w_i = 1/n_m, π_0 = 1); k = 1..c the class-conditional terms with
multi-label weights: item i spreads weight 1/|y_i| over its labels, ``w^m_ik = (Y_ik/|y_i|) / m^m_k``
with m^m_k the class mass in modality m, and ``π_k`` the mean of the two modalities' class shares
``m^m_k / n_m``. A class missing from either modality is left out. Everything is O(n D (r + K)).

The term is not quadratic in W_m, so `MMDRidge` takes a majorise-minimise step: with L_m a bound on
the Lipschitz constant of ∇_{F_m} MMD (derived in docs/methods/csmh.md), the majoriser
``MMD(F⁰) + <∇, F - F⁰> + L/2 ||F - F⁰||²`` turns the W_m-step into one ridge regression, so the
objective never increases and the MMD-shaped W_m are the hash functions themselves.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from cmh_core.methods._kernel import ridge_factor

__all__ = ["MMDRidge", "RFFMMD", "class_weights"]

_BLOCK = 1024  # samples per block of random features (D × block scratch, not D × n)


def class_weights(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class multi-label weights (c, n) (rows sum to 1 where the class has mass) and masses (c,)."""
    Yf = np.asarray(Y, dtype=np.float64)
    share = Yf / np.maximum(Yf.sum(axis=1, keepdims=True), 1.0)  # Y_ik / |y_i|: (n, c)
    mass = share.sum(axis=0)  # m_k: (c,)
    return (share / np.maximum(mass, 1e-12)).T, mass


class RFFMMD:
    """Marginal (+ class-conditional) Gaussian-kernel MMD of two latent sets, via RFF.

    Parameters
    ----------
    r : int
        Latent dimension (bits).
    Y1, Y2 : ndarray (n_1, c), (n_2, c)
        Labels of the two modalities' training rows.
    rng : numpy.random.Generator
        Draws Ω and b.
    conditional : bool
        Add the class-conditional terms.
    n_features : int
        D random features.
    sigma2 : float or None
        σ²; None means r (unrelated ±1 codes are 2r apart, so k = e^-1 between them).
    """

    def __init__(self, r, Y1, Y2, rng, *, conditional=True, n_features=256, sigma2=None):
        s2 = float(r if sigma2 is None else sigma2)
        self.Om = rng.standard_normal((r, n_features)) / np.sqrt(s2)  # Ω: (r, D)
        self.b = rng.uniform(0.0, 2.0 * np.pi, n_features)[:, None]  # b: (D, 1)
        self.c = np.sqrt(2.0 / n_features)
        self.Om32, self.b32 = self.Om.astype(np.float32), self.b.astype(np.float32)
        rows = [[np.full((1, len(Y1)), 1.0 / len(Y1))], [np.full((1, len(Y2)), 1.0 / len(Y2))]]
        if conditional:
            (w1, m1), (w2, m2) = class_weights(Y1), class_weights(Y2)
            keep = (m1 > 0) & (m2 > 0)
            pi = 0.5 * (m1 / len(Y1) + m2 / len(Y2))  # π_k
            rows[0].append(np.sqrt(pi[keep])[:, None] * w1[keep])
            rows[1].append(np.sqrt(pi[keep])[:, None] * w2[keep])
        self.Wt = [np.vstack(r_) for r_ in rows]  # √π_k w^m_ik: (K, n_m)
        # L_m: 2 ||J||² + the curvature part (docs/methods/csmh.md), from the weights
        om2, omF = linalg.norm(self.Om, 2) ** 2, float(np.sum(self.Om**2))
        sq_pi = np.sqrt(np.concatenate([[1.0], pi[keep]])) if conditional else np.ones(1)
        self.lipschitz = [
            2 * self.c**2 * om2 * float(np.sum(W**2)) + 4 * self.c**2 * omF * float((sq_pi @ W).max())
            for W in self.Wt
        ]

    def _args(self, F: np.ndarray):
        """``(columns, Ω^T F_b + b)`` (D, b) float32 over blocks of samples: O(D · block) scratch."""
        F32 = F.astype(np.float32)
        for s in range(0, F.shape[1], _BLOCK):
            yield slice(s, s + _BLOCK), self.Om32.T @ F32[:, s : s + _BLOCK] + self.b32

    def embed(self, F: np.ndarray, m: int) -> np.ndarray:
        """Weighted mean embeddings (D, K) of modality m's latents F (r, n_m).

        float32 features (the MMD's rounding error stays far below the values compared).
        """
        mu = np.zeros((self.Om.shape[1], self.Wt[m].shape[0]))
        for cols, Arg in self._args(F):
            mu += (self.c * np.cos(Arg)) @ self.Wt[m][:, cols].T
        return mu

    def value(self, F1: np.ndarray, F2: np.ndarray) -> float:
        """MMD(F_1, F_2) (marginal + conditional)."""
        return float(np.sum((self.embed(F1, 0) - self.embed(F2, 1)) ** 2))

    def grad(self, F: np.ndarray, mu_m: np.ndarray, mu_o: np.ndarray, m: int) -> np.ndarray:
        """∇_{F_m} MMD (r, n_m) from modality m's latents and embedding, and the other's embedding.

        ``∂ψ/∂f = -c sin(Ω^T f + b) Ω^T``; ``∇ = -2 c Ω (sin(Ω^T F + b) ⊙ (Δ W^m))``, Δ = μ_m - μ_o.
        """
        out, Dl = np.empty(F.shape), mu_m - mu_o  # Δ: (D, K)
        for cols, Arg in self._args(F):
            out[:, cols] = -2.0 * self.c * (self.Om @ (np.sin(Arg) * (Dl @ self.Wt[m][:, cols])))
        return out


class MMDRidge:
    """The W_m-step ``min ||B_m - W^T Φ^T||² + λ ||W||² + α' MMD`` by a majorise-minimise ridge.

    With a curvature L and ``κ = α' L / 2``, the majoriser ``MMD(F⁰) + <∇, F - F⁰> + L/2 ||F - F⁰||²``
    makes the step ``(1 + κ) ||T - W^T Φ^T||² + λ ||W||²``, ``T = (B + κ F⁰ - α' ∇ / 2) / (1 + κ)``:
    ``W = (Φ^T Φ + λ/(1+κ) I)^-1 Φ^T T^T``. The global bound on L (`RFFMMD.lipschitz`) is loose by
    orders of magnitude, and its κ froze F (the step moved F by 1/(1+κ) ≈ 1/500 of the way to B),
    so L is found by backtracking: start at a quarter of the last accepted L, double until the
    majoriser holds at the new F (checked on the exact RFF MMD), never above the global bound
    (which always holds). The objective therefore never increases.

    Parameters
    ----------
    Phi : ndarray (n, a)
    gram : ndarray (a, a)
        Φ^T Φ (float64).
    lam : float
    alpha : float
        α' = α r n (0: plain ridge).
    lipschitz : float
        The global bound of L_m.
    """

    def __init__(self, Phi, gram, lam, alpha, lipschitz):
        self.Phi, self.gram, self.lam, self.alpha = Phi, gram, float(lam), float(alpha)
        self.bound = float(lipschitz)
        self.L = self.bound * 1e-3
        self._plain = ridge_factor(gram, self.lam)
        self._factors: dict[float, tuple] = {}

    def _solve(self, rhs, kappa):
        if kappa == 0:
            fac = self._plain
        else:  # L moves by factors of 2, so a few κ recur: keep their factors (identical results)
            if kappa not in self._factors:
                if len(self._factors) >= 6:
                    self._factors.pop(next(iter(self._factors)))
                self._factors[kappa] = ridge_factor(self.gram, self.lam / (1.0 + kappa))
            fac = self._factors[kappa]
        W = linalg.cho_solve(fac, rhs, check_finite=False)
        return W, (self.Phi @ W.astype(np.float32)).T.astype(np.float64)

    def step(self, B, W0=None, F0=None, mmd=None, m=0, mu_o=None):
        """New (W (a, r), F (r, n), modality m's new embedding or None).

        With the MMD (``mmd`` given): from W⁰, F⁰ and the other modality's embedding ``mu_o``.
        """
        if mmd is None or self.alpha == 0:
            rhs = (self.Phi.T @ B.T.astype(np.float32)).astype(np.float64)
            return (*self._solve(rhs, 0.0), None)
        mu0 = mmd.embed(F0, m)
        grad, m0 = mmd.grad(F0, mu0, mu_o, m), float(np.sum((mu0 - mu_o) ** 2))
        base = (self.Phi.T @ (B - 0.5 * self.alpha * grad).T.astype(np.float32)).astype(np.float64)
        L = max(self.L / 2, self.bound * 1e-9)
        while True:
            kappa = self.alpha * L / 2
            W, F = self._solve((base + kappa * (self.gram @ W0)) / (1.0 + kappa), kappa)
            dF = F - F0
            mu = mmd.embed(F, m)
            bound = m0 + np.sum(grad * dF) + 0.5 * L * np.sum(dF * dF)
            if L >= self.bound or float(np.sum((mu - mu_o) ** 2)) <= bound + 1e-9 * max(m0, 1e-12):
                self.L = L
                return W, F, mu
            L = min(2 * L, self.bound)
