"""Bit diagnostics against a plain numpy/Python oracle (cmh_core.diagnostics)."""

from collections import Counter

import numpy as np
import pytest

from cmh_core.diagnostics import bit_diagnostics
from cmh_core.hamming import pack_bits


def _oracle(B: np.ndarray) -> dict:
    counts = Counter(map(tuple, B.tolist()))
    r = B.shape[1]
    C = np.zeros((r, r))
    for a in range(r):
        for b in range(r):
            x, y = B[:, a].astype(float), B[:, b].astype(float)
            if x.std() > 0 and y.std() > 0:
                C[a, b] = np.corrcoef(x, y)[0, 1]
    return {
        "balance": B.mean(axis=0),
        "correlation": C,
        "n_distinct": len(counts),
        "n_collisions": sum(c for c in counts.values() if c > 1),
        "largest_bucket": max(counts.values()),
    }


@pytest.mark.parametrize("n, r, seed", [(300, 12, 0), (80, 7, 1), (500, 9, 2)])
def test_matches_oracle_on_random_codes(n, r, seed):
    # few bits so that collisions really happen
    B = np.random.default_rng(seed).integers(0, 2, (n, r)).astype(np.uint8)
    got = bit_diagnostics(pack_bits(B), r)
    want = _oracle(B)
    np.testing.assert_allclose(got["balance"], want["balance"])
    np.testing.assert_allclose(got["correlation"], want["correlation"], atol=1e-12)
    for key in ("n_distinct", "n_collisions", "largest_bucket"):
        assert got[key] == want[key], key
    assert got["n_items"] == n and got["n_bits"] == r


def test_constant_bits_correlate_zero_not_nan():
    B = np.random.default_rng(3).integers(0, 2, (40, 6)).astype(np.uint8)
    B[:, 2] = 1
    B[:, 4] = 0
    C = bit_diagnostics(pack_bits(B), 6)["correlation"]
    assert np.isfinite(C).all()
    assert np.all(C[2] == 0) and np.all(C[:, 4] == 0)
    assert C[0, 0] == pytest.approx(1.0)


def test_all_items_share_one_code():
    codes = pack_bits(np.tile([1, 0, 1, 1, 0, 0, 1, 0, 1, 1], (9, 1)))
    d = bit_diagnostics(codes, 10)
    assert (d["n_distinct"], d["n_collisions"], d["largest_bucket"]) == (1, 9, 9)


def test_stray_padding_bits_do_not_split_codes():
    codes = pack_bits(np.ones((2, 4)))
    codes[1, 0] |= 0b0000_0001  # a padding bit set by a sloppy writer
    assert bit_diagnostics(codes, 4)["n_distinct"] == 1


@pytest.mark.parametrize(
    "codes, n_bits, match",
    [
        (np.zeros(4, np.uint8), 8, "2-D"),
        (np.zeros((0, 1), np.uint8), 8, "no rows"),
        (np.zeros((3, 1), np.uint8), 16, "n_bits=16"),
        (np.zeros((3, 1), np.int64), 8, "uint8"),
    ],
)
def test_bad_input(codes, n_bits, match):
    with pytest.raises(ValueError, match=match):
        bit_diagnostics(codes, n_bits)
