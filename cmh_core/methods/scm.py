"""SCM: Semantic Correlation Maximization, sequential (default) and orthogonal variants.

Supervised baseline. Labels define the pairwise target ``S = 2 Ŷ Ŷ^T - 1 1^T`` (label cosine
similarity mapped to [-1, 1]); SCM finds projections W_1, W_2 maximising
``tr(W_1^T X_1^T S X_2 W_2)`` under the CCA-style constraints ``W_m^T (X_m^T X_m + eps_m I) W_m = I``.
The n×n matrix S is never formed:

    X_1^T S X_2 = 2 (X_1^T Ŷ)(Ŷ^T X_2) - (X_1^T 1)(1^T X_2)

which costs O(n d c). Code = sgn(x W_m). Two variants, as in the paper:

* ``variant="orth"`` (SCM-orth): all r pairs at once, a whitened SVD exactly as in CCA-ITQ. The cross
  matrix has rank at most c + 1, so bits beyond the number of labels come from near-zero singular
  directions, and mAP falls as bits grow.
* ``variant="seq"`` (SCM-seq, the default): bit by bit, each bit fitted to the residual
  ``R_t = R_{t-1} - sgn(X_1 w_1) sgn(X_2 w_2)^T`` of ``R_0 = r S`` (`cmh_core.methods._scm_seq`),
  still linear in n.

The default was chosen on the validation split carved from train (scripts/tune_on_validation.py;
docs/methods/scm_validation_runs.jsonl): on both bundles, TF-IDF and e5 text, 16/32/64 bits, seq beat
orth in every cell in both directions, e.g. tuxpaint 32 bits I→T 0.609 vs 0.244, T→I 0.559 vs
0.304 (docs/methods/scm.md).

Choices (docs/methods/scm.md): features centred with training means, ``eps_m = 0.1 * trace/d``
as for CCA-ITQ for both variants, no ITQ rotation.

References
----------
D. Zhang, W.-J. Li. "Large-Scale Supervised Multimodal Hashing with Semantic Correlation
Maximization." AAAI 2014, pp. 2177-2183. DOI 10.1609/aaai.v28i1.8995
"""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np

from cmh_core.methods._base import LinearHasher
from cmh_core.methods._constraints import Interval, StrOptions
from cmh_core.methods._linalg import centered_grams, gram, whitened_cross_svd
from cmh_core.methods._scm_seq import scm_sequential

__all__ = ["SCM", "semantic_cross_matrix"]


def semantic_cross_matrix(
    X1: np.ndarray,
    X2: np.ndarray,
    Y: np.ndarray,
    mu1: np.ndarray | None = None,
    mu2: np.ndarray | None = None,
) -> np.ndarray:
    """``X1c^T S X2c`` with ``S = 2 Ŷ Ŷ^T - 1 1^T`` and ``X_mc = X_m - mu_m``, without forming S.

    ``X1c^T S X2c = 2 (X1c^T Ŷ)(Ŷ^T X2c) - (X1c^T 1)(1^T X2c)``, and ``X_mc^T Ŷ = X_m^T Ŷ - mu_m (1^T Ŷ)``,
    so no centred copy of X is made either.

    Parameters
    ----------
    X1 : ndarray (n, d1), X2 : ndarray (n, d2)
    Y : ndarray of {0, 1}, shape (n, c)
    mu1, mu2 : ndarray (d_m,), optional
        Means to subtract (default: none).

    Returns
    -------
    ndarray of float64, shape (d1, d2)
    """
    n = X1.shape[0]
    mu1 = np.zeros(X1.shape[1]) if mu1 is None else mu1.astype(np.float64)
    mu2 = np.zeros(X2.shape[1]) if mu2 is None else mu2.astype(np.float64)
    Yh = Y.astype(np.float32)
    Yh /= np.maximum(np.linalg.norm(Yh, axis=1, keepdims=True), 1e-7)  # Ŷ: rows L2-normalised
    ysum = Yh.sum(axis=0, dtype=np.float64)  # 1^T Ŷ: (c,)
    A1 = gram(X1, Yh) - np.outer(mu1, ysum)  # X1c^T Ŷ: (d1, c)
    A2 = gram(X2, Yh) - np.outer(mu2, ysum)  # X2c^T Ŷ: (d2, c)
    s1 = X1.sum(axis=0, dtype=np.float64) - n * mu1  # X1c^T 1: (d1,), ~0 when mu1 is the mean
    s2 = X2.sum(axis=0, dtype=np.float64) - n * mu2  # X2c^T 1: (d2,)
    return 2.0 * A1 @ A2.T - np.outer(s1, s2)  # X1c^T S X2c


class SCM(LinearHasher):
    """SCM (Zhang & Li, AAAI 2014), supervised, closed form per bit.

    Parameters
    ----------
    n_bits : int, default=32
        Code length r; at most min(d_img, d_txt).
    alpha : float, default=0.1
        Relative ridge ``eps_m = alpha * trace(X_m^T X_m) / d_m``.
    variant : {"seq", "orth"}, default="seq"
        SCM-seq (bit by bit on the residual target; chosen on the validation split,
        docs/methods/scm.md) or SCM-orth (all bits from one SVD).
    random_state : int, Generator or None, default=None
        Unused (both variants are deterministic); kept for a uniform interface.

    Attributes
    ----------
    means_ : dict of ndarray (d_m,)
    projections_ : dict of ndarray (d_m, r)
        W_m.
    correlations_ : ndarray (r,)
        orth: singular values of the whitened semantic cross matrix for the kept directions; seq:
        each bit's top singular value of the whitened residual cross matrix.
    n_sequential_bits_ : int
        seq: bits learned sequentially (r unless a residual step raised the objective and the
        remaining bits fell back to CCA directions, as in the reference code); orth: 0.
    """

    name = "SCM"
    deterministic = True
    fidelity = "classic baseline"
    paper = {
        "title": "Large-Scale Supervised Multimodal Hashing with Semantic Correlation Maximization",
        "authors": "Dongqing Zhang, Wu-Jun Li",
        "venue": "AAAI",
        "year": 2014,
        "doi": "10.1609/aaai.v28i1.8995",
        "idea": "maximise the label-similarity-weighted correlation of the two modalities' projections",
    }
    _parameter_constraints: ClassVar[dict] = {
        **LinearHasher._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "variant": [StrOptions({"orth", "seq"})],
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {
        **LinearHasher._fitted_attributes,
        "correlations_": "array(r)",
        "n_sequential_bits_": "int",
    }

    def __init__(
        self,
        *,
        n_bits: int = 32,
        alpha: float = 0.1,
        variant: str = "seq",
        random_state: int | np.random.Generator | None = None,
    ):
        self.n_bits = n_bits
        self.alpha = alpha
        self.variant = variant
        self.random_state = random_state

    def max_n_bits(self, n_features: dict[str, int], n_samples: int) -> int:
        """min(d_img, d_txt): the eigenproblem has no more pairs of directions than the smaller feature size.

        Also capped by the base class's memory estimate.
        """
        return min(min(n_features.values()), super().max_n_bits(n_features, n_samples))

    def _stages(self) -> list[tuple]:  # seq reports one step per learned bit, orth one solve
        if self.variant == "seq":
            return [("training", int(self.n_bits), "bit")]
        return super()._stages()

    def _fit(self, X_img, X_txt, Y, Y_txt, rng, callback):
        r = int(self.n_bits)
        # Step 1: centred features, covariances and the semantic cross matrix X1^T S X2
        mu1, mu2, C11, C22, _ = centered_grams(X_img, X_txt, cross=False)  # C_mm = X_mc^T X_mc: (d_m, d_m)
        self.means_ = {"image": mu1, "text": mu2}
        if self.variant == "seq":  # bit by bit on the residual target R_t (docs/methods/scm.md)
            W1, W2, s, n_seq = scm_sequential(
                X_img, X_txt, Y, mu1, mu2, C11, C22, r, float(self.alpha), callback
            )
            self.projections_ = {"image": W1.astype(np.float32), "text": W2.astype(np.float32)}
            self.correlations_, self.n_sequential_bits_ = s, int(n_seq)
            return None
        C12 = semantic_cross_matrix(X_img, X_txt, Y, mu1, mu2)  # X1c^T S X2c: (d1, d2)
        # Step 2: generalised eigenproblem as a whitened SVD
        # rank(X1c^T S X2c) <= c (X_mc^T 1 = 0): beyond c bits the full SVD is needed anyway
        W1, W2, s = whitened_cross_svd(C11, C22, C12, r, float(self.alpha), max_rank=Y.shape[1])
        self.projections_ = {"image": W1.astype(np.float32), "text": W2.astype(np.float32)}
        self.correlations_, self.n_sequential_bits_ = s.astype(np.float64), 0
        callback(1, float(s.sum()))  # objective tr(W1^T X1^T S X2 W2)
        return None
