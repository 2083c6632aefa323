"""Helpers shared by the method test files (imported as ``from fit_helpers import ...``)."""

from __future__ import annotations

import numpy as np

from cmh_core.datasets import make_synthetic


def bits_changed(a, b) -> int:
    """Training-code bits (both modalities) that differ between two fitted models of one dataset."""
    return int(sum(np.unpackbits(a.train_codes_[m] ^ b.train_codes_[m]).sum() for m in ("image", "text")))


def small_paired(random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 synthetic pairs (24-d image, 16-d text, 6 labels): ``(X_img, X_txt, Y)`` for oracle checks."""
    d = make_synthetic(n=300, d_img=24, d_txt=16, n_labels=6, random_state=random_state, query_fraction=0.01)
    return d.image_features, d.text_features, d.labels
