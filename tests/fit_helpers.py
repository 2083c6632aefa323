"""Helpers shared by the method test files (imported as ``from fit_helpers import ...``)."""

from __future__ import annotations

import tracemalloc

import numpy as np

from cmh_core.datasets import make_synthetic


def bits_changed(a, b) -> int:
    """Training-code bits (both modalities) that differ between two fitted models of one dataset."""
    return int(sum(np.unpackbits(a.train_codes_[m] ^ b.train_codes_[m]).sum() for m in ("image", "text")))


def small_paired(random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 synthetic pairs (24-d image, 16-d text, 6 labels): ``(X_img, X_txt, Y)`` for oracle checks."""
    d = make_synthetic(n=300, d_img=24, d_txt=16, n_labels=6, random_state=random_state, query_fraction=0.01)
    return d.image_features, d.text_features, d.labels


def assert_fit_memory_linear(make_model, sizes: tuple[int, int] = (6000, 12000)) -> list[int]:
    """Fit ``make_model()`` on synthetic sets of ``sizes``; assert no n×n array (peak traced memory).

    The larger fit's peak stays below a quarter of an n×n float32 array, and doubling n less than
    2.5× the peak (an n×n array would quadruple it). Returns the two peaks in bytes.
    """
    peaks = []
    for n in sizes:
        d = make_synthetic(n=n, d_img=40, d_txt=24, n_labels=6, random_state=1, query_fraction=0.01)
        tracemalloc.start()
        try:
            make_model().fit(d.image_features, d.text_features, d.labels)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    n = sizes[1]
    assert peaks[1] < n * n * 4 / 4, f"peak {peaks[1] / 1e6:.1f} MB suggests an n×n array"
    assert peaks[1] / peaks[0] < 2.5, peaks  # an n×n array would quadruple
    return peaks
