"""The bit playground and out-of-sample items: pure functions behind the Search page's teaching tools.

A query's packed code ``q`` (`cmh_core.hamming` layout: bit ``j`` in byte ``j // 8`` at position
``7 - j % 8``) is edited bit by bit and the database re-ranked without retraining. Flipping bit ``j``
of ``q`` changes ``d_H(q, b)`` by exactly one for every database code ``b``: +1 where ``b`` agreed
with ``q`` on bit ``j``, -1 where it disagreed. The Hamming ball ``{b : d_H(q, b) <= r}`` is what a
hash-table lookup of radius ``r`` returns.

Items a user adds (an uploaded picture, a typed caption) are coded by the run's hash function and
ranked with the database (`rank_with_extra`); `place_near` puts them on the code map beside the
database codes nearest them. Nothing here imports streamlit; the pages call these through ``ui/``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cmh_core.hamming import check_codes, hamming_distance, radius_search

__all__ = [
    "flip_bits",
    "flipped_distances",
    "hamming_ball",
    "rank_with_extra",
    "place_near",
]


def _check_code(code, name: str = "code") -> np.ndarray:
    """One packed code as a 1-D uint8 array ``(n_bytes,)``, or a ValueError naming its shape."""
    arr = np.asarray(code)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype != np.uint8 or arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be one packed code, uint8 of shape (n_bytes,) or (1, n_bytes), got "
            f"{arr.dtype} with shape {np.shape(code)}; take a row of model.encode(...)"
        )
    return arr


def _check_bit_list(bits: Sequence[int], n_bits: int, n_bytes: int) -> np.ndarray:
    n_bits = int(n_bits)
    if not 8 * n_bytes - 7 <= n_bits <= 8 * n_bytes:
        raise ValueError(
            f"n_bits={n_bits} does not fit a code of {n_bytes} bytes; use {8 * n_bytes - 7}..{8 * n_bytes}"
        )
    idx = np.asarray(list(bits), dtype=np.int64).reshape(-1)
    bad = idx[(idx < 0) | (idx >= n_bits)]
    if bad.size:
        raise ValueError(f"bit {int(bad[0])} is outside the code; bits are numbered 0..{n_bits - 1}")
    return idx


def flip_bits(code, bits: Sequence[int], n_bits: int) -> np.ndarray:
    """Copy of a packed code with the given bits inverted.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,) or (1, n_bytes)
        Packed code (`cmh_core.hamming.pack_bits` layout), left unchanged.
    bits : sequence of int
        Bit numbers ``j`` in ``0 .. n_bits - 1`` to invert. A bit named twice is inverted twice,
        i.e. left as it was (XOR semantics: ``flip_bits(flip_bits(q, S), S) == q``).
    n_bits : int
        Code length r; the padding bits of the last byte are never touched.

    Returns
    -------
    ndarray of uint8, same shape as ``code``
        ``q XOR m`` with ``m`` the packed mask of ``bits``.

    Raises
    ------
    ValueError
        If ``code`` is not one packed code or a bit is outside ``0 .. n_bits - 1``.
    """
    q = _check_code(code)
    idx = _check_bit_list(bits, n_bits, q.size)
    mask = np.zeros(q.size, dtype=np.uint8)  # m: the packed flip mask
    # bit j lives in byte j // 8 at position 7 - j % 8 (big-endian within a byte)
    np.bitwise_xor.at(mask, idx // 8, (1 << (7 - idx % 8)).astype(np.uint8))
    return (q ^ mask).reshape(np.shape(code))


def flipped_distances(code, db_codes, bits: Sequence[int], n_bits: int) -> np.ndarray:
    """Hamming distances from the query with ``bits`` flipped to every database code.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,) or (1, n_bytes)
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
    bits : sequence of int
        Bits to flip (`flip_bits`).
    n_bits : int

    Returns
    -------
    ndarray of int64, shape (n_db,)
        ``d_H(flip(q), b_i)``; with one bit ``j`` flipped, ``d_H(q, b_i) + 1`` where ``b_i`` agreed
        with ``q`` on bit ``j`` and ``d_H(q, b_i) - 1`` where it did not.
    """
    q = flip_bits(code, bits, n_bits).reshape(1, -1)
    return hamming_distance(q, check_codes(db_codes, "db_codes"))[0].astype(np.int64)


def hamming_ball(code, db_codes, radius: int = 2) -> dict[int, np.ndarray]:
    """Database rows inside the closed Hamming ball of each radius ``0 .. radius`` around a code.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,) or (1, n_bytes)
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
    radius : int
        Largest radius, ``>= 0``.

    Returns
    -------
    dict of int -> ndarray of int64
        ``ball[r]``: rows ``i`` with ``d_H(q, b_i) <= r``, ordered by ``(distance, row)`` (the
        ranking's order), so ``ball[r]`` starts with ``ball[r - 1]``.

    Raises
    ------
    ValueError
        For a malformed code or a negative radius.
    """
    q = _check_code(code).reshape(1, -1)
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}; the playground uses 2")
    _, D, I = radius_search(q, check_codes(db_codes, "db_codes"), int(radius))
    return {r: I[D <= r] for r in range(int(radius) + 1)}


def rank_with_extra(code, db_codes, extra_codes) -> tuple[np.ndarray, np.ndarray]:
    """Rank a database extended by extra codes (items a user added) by Hamming distance.

    Rows ``0 .. n_db - 1`` are the database, ``n_db ..`` the extra codes; ties are broken by row,
    so at equal distance the database comes first and the extra items follow in the order they
    were added (the Search page's rule: ``(distance, index)``, as `cmh_core.hamming.search`). The
    database's own order is the same as without the extra codes, so its AP does not change.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,) or (1, n_bytes)
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
    extra_codes : ndarray of uint8, shape (n_extra, n_bytes)
        May have 0 rows.

    Returns
    -------
    order : ndarray of int64, shape (n_db + n_extra,)
        Rows by rank.
    distance : ndarray of int64, shape (n_db + n_extra,)
        Their distances, non-decreasing.
    """
    q = _check_code(code).reshape(1, -1)
    db = check_codes(db_codes, "db_codes")
    extra = np.asarray(extra_codes, dtype=np.uint8).reshape(-1, db.shape[1])
    d = hamming_distance(q, np.concatenate([db, extra]))[0].astype(np.int64)  # (n_db + n_extra,)
    order = np.argsort(d, kind="stable")
    return order, d[order]


def place_near(codes, ref_codes, ref_xy, k: int = 5) -> np.ndarray:
    """2-D positions for new codes on a map of reference codes: beside their nearest references.

    A map (PCA, UMAP) is computed once for the database; a new code gets the mean position of the
    reference codes nearest it in Hamming distance: all references at distance 0 when there are
    any (a copy of a database item sits on it), else its ``k`` nearest (ties by row).

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes)
        New codes; may have 0 rows.
    ref_codes : ndarray of uint8, shape (n_ref, n_bytes)
        Codes that were projected, ``n_ref >= 1``.
    ref_xy : array-like, shape (n_ref, 2)
        Their map positions.
    k : int
        Neighbours averaged when no reference equals the code.

    Returns
    -------
    ndarray of float32, shape (n, 2)
    """
    ref = check_codes(ref_codes, "ref_codes")
    new = np.asarray(codes, dtype=np.uint8).reshape(-1, ref.shape[1])
    P = np.asarray(ref_xy, dtype=np.float64)
    if P.shape != (len(ref), 2) or len(ref) == 0:
        raise ValueError(
            f"ref_xy must be (n_ref={len(ref)}, 2) positions of ref_codes (n_ref >= 1), got shape {P.shape}"
        )
    if int(k) < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    D = hamming_distance(new, ref)  # (n, n_ref)
    out = np.zeros((len(new), 2), dtype=np.float32)
    for i, d in enumerate(D):
        near = np.flatnonzero(d == 0)
        if near.size == 0:
            near = np.argsort(d, kind="stable")[: int(k)]
        out[i] = P[near].mean(axis=0)
    return out
