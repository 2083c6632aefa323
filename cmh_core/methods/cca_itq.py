"""CCA-ITQ: canonical correlation analysis followed by iterative quantisation.

Unsupervised baseline. Regularised CCA finds r pairs of directions in which the two modalities
correlate most; both training modalities are projected onto them and stacked, and ITQ learns one
r×r rotation that makes taking signs lose as little as possible. Code = sgn((x - mean_m) W_m R).

Choices (docs/methods/cca_itq.md): ridge ``0.1 * trace(C_mm) / d_m`` on each covariance (the bundled
set has d > n; 1e-4 measured far worse), CCA via the SVD of the whitened cross-covariance, 50 ITQ
iterations from a seeded random rotation.

References
----------
Y. Gong, S. Lazebnik, A. Gordo, F. Perronnin. "Iterative Quantization: A Procrustean Approach to
Learning Binary Codes for Large-Scale Image Retrieval." IEEE TPAMI 35(12):2916-2929, 2013.
DOI 10.1109/TPAMI.2012.193
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np

from cmh_core.methods._base import LinearHasher
from cmh_core.methods._constraints import MAX_ITER, Interval
from cmh_core.methods._linalg import centered_grams, itq_rotation, linear_project, whitened_cross_svd

__all__ = ["CCAITQ"]


class CCAITQ(LinearHasher):
    """CCA + ITQ (Gong & Lazebnik, TPAMI 2013), unsupervised.

    Parameters
    ----------
    n_bits : int, default=32
        Code length r; at most min(d_img, d_txt).
    alpha : float, default=0.1
        Relative ridge: ``eps_m = alpha * trace(C_mm) / d_m`` added to each covariance.
    n_iter : int, default=50
        ITQ iterations.
    random_state : int, Generator or None, default=None
        Seeds the initial ITQ rotation.

    Attributes
    ----------
    means_ : dict of ndarray (d_m,)
        Training feature means per modality.
    projections_ : dict of ndarray (d_m, r)
        ``W_m R``: CCA directions followed by the ITQ rotation.
    correlations_ : ndarray (r,)
        Regularised canonical correlations of the kept directions.
    """

    name = "CCA-ITQ"
    fidelity = "classic baseline"
    paper = {
        "title": "Iterative Quantization: A Procrustean Approach to Learning Binary Codes "
        "for Large-Scale Image Retrieval",
        "authors": "Yunchao Gong, Svetlana Lazebnik, Albert Gordo, Florent Perronnin",
        "venue": "IEEE TPAMI 35(12)",
        "year": 2013,
        "doi": "10.1109/TPAMI.2012.193",
        "idea": "CCA finds a shared subspace; ITQ rotates it so that taking signs loses little",
    }
    _parameter_constraints: ClassVar[dict] = {
        **LinearHasher._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],  # bound: docs/security.md
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {
        **LinearHasher._fitted_attributes,
        "correlations_": "array(r)",
    }

    def __init__(
        self,
        *,
        n_bits: int = 32,
        alpha: float = 0.1,
        n_iter: int = 50,
        random_state: int | np.random.Generator | None = None,
    ):
        self.n_bits = n_bits
        self.alpha = alpha
        self.n_iter = n_iter
        self.random_state = random_state

    def max_n_bits(self, n_features: dict[str, int], n_samples: int) -> int:
        """min(d_img, d_txt): CCA has no more pairs of directions than the smaller feature size.

        Also capped by the base class's memory estimate.
        """
        return min(min(n_features.values()), super().max_n_bits(n_features, n_samples))

    def _fit(self, X_img, X_txt, Y, Y_txt, rng, callback):
        r = int(self.n_bits)
        # Step 1: centred features and covariances (training statistics)
        mu1, mu2, C11, C22, C12 = centered_grams(X_img, X_txt)  # C: (d1, d1), (d2, d2), (d1, d2)
        # Step 2: regularised CCA via the whitened cross-covariance SVD
        W1, W2, s = whitened_cross_svd(C11, C22, C12, r, float(self.alpha))  # W_m: (d_m, r)
        W1, W2 = W1.astype(np.float32), W2.astype(np.float32)
        # Step 3: one ITQ rotation for both projected modalities, stacked
        V = np.vstack([linear_project(X_img, mu1, W1), linear_project(X_txt, mu2, W2)])  # V: (2n, r)
        R = itq_rotation(V, int(self.n_iter), rng, callback).astype(np.float32)  # R: (r, r)
        self.means_ = {"image": mu1, "text": mu2}
        self.projections_ = {"image": W1 @ R, "text": W2 @ R}
        self.correlations_ = s.astype(np.float64)
        return None  # training codes = encoded training rows
