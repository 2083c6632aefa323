"""Bit diagnostics of a set of binary codes: balance, decorrelation and collisions.

Good hashing codes are *balanced* (each bit is 1 for about half the items) and *uncorrelated*
(bits carry different information), the two constraints most methods impose on ``B``
(e.g. ``B^T 1 = 0`` and ``B^T B = n I`` in the {-1, +1} form). Collisions, items that share
their whole code with another item, show how much of the code space is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cmh_core.hamming import unpack_bits

__all__ = ["bit_diagnostics"]


def _bit_correlation(B: np.ndarray) -> np.ndarray:
    """Pearson correlation between the columns of ``B``; a constant bit correlates 0 with all.

    ``C[a, b] = cov(B_a, B_b) / (std(B_a) std(B_b))``; ``np.corrcoef`` would give NaN for a
    constant bit, which a heatmap cannot show and a mean cannot skip.
    """
    X = B.astype(np.float64)
    X -= X.mean(axis=0)  # centred bits: (n, r)
    std = np.sqrt((X * X).mean(axis=0))  # (r,)
    live = std > 0
    X[:, live] /= std[live]
    X[:, ~live] = 0.0
    C = (X.T @ X) / len(X)  # (r, r)
    np.clip(C, -1.0, 1.0, out=C)  # rounding may step just outside [-1, 1]
    return C


def bit_diagnostics(codes_packed, n_bits: int) -> dict[str, Any]:
    """Balance, correlation and collision statistics of packed codes.

    Parameters
    ----------
    codes_packed : ndarray of uint8, shape (n, ceil(n_bits / 8))
        Codes in the `cmh_core.hamming.pack_bits` layout; ``n >= 1``.
    n_bits : int
        Code length r.

    Returns
    -------
    dict
        ``n_items`` (int), ``n_bits`` (int),
        ``balance``: ndarray (r,), fraction of items whose bit is 1 (0.5 is ideal);
        ``correlation``: ndarray (r, r), Pearson correlation between bits (0 for a constant
        bit, whose diagonal entry is 0 too);
        ``n_distinct``: number of different codes;
        ``n_collisions``: number of items whose code is shared with at least one other item;
        ``largest_bucket``: most items sharing one code.

    Raises
    ------
    ValueError
        If the codes are not 2-D packed uint8 matching ``n_bits``, or there are none.
    """
    codes = np.asarray(codes_packed)
    if codes.ndim != 2:
        raise ValueError(f"codes_packed must be 2-D (n_items, n_bytes), got shape {codes.shape}")
    B = unpack_bits(codes, n_bits)  # B: (n, r) in {0, 1}
    if len(B) == 0:
        raise ValueError("codes_packed has no rows; diagnostics need at least one code")
    # repack so stray padding bits cannot split one code into two
    _, counts = np.unique(np.packbits(B, axis=1), axis=0, return_counts=True)
    return {
        "n_items": int(len(B)),
        "n_bits": int(n_bits),
        "balance": B.mean(axis=0, dtype=np.float64),
        "correlation": _bit_correlation(B),
        "n_distinct": int(len(counts)),
        "n_collisions": int(counts[counts > 1].sum()),
        "largest_bucket": int(counts.max()),
    }
