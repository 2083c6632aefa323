"""Binary codes: bit packing, exact Hamming distances, top-k and radius search, FAISS export.

Codes travel through the library packed, as in FAISS: a ``uint8`` array of shape
``(n, ceil(n_bits / 8))``, bit ``b`` of a code stored in byte ``b // 8`` at position
``7 - b % 8`` (big-endian within a byte, the `numpy.packbits` default), unused padding bits
of the last byte zero. Two codes of the same length then differ in exactly as many bits as
their packed bytes do, so every function here works on whole bytes and never needs
``n_bits``.

`search` returns ``(D, I)`` like ``faiss.IndexBinaryFlat.search``, with one extra promise:
ties are broken by database index, so the result is the first ``k`` rows of the database
ordered by ``(distance, index)``. `to_faiss` / `write_faiss_index` hand the codes to FAISS
(or any engine that reads FAISS binary indexes) for serving. FAISS is imported lazily, inside
the functions that use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = [
    "pack_bits",
    "unpack_bits",
    "hamming_distance",
    "search",
    "radius_search",
    "to_faiss",
    "write_faiss_index",
    "MISSING_DISTANCE",
]

#: ``search`` pads up to this many columns when ``k`` exceeds the database; beyond, k is clipped.
_MAX_PADDED_K = 1024
#: Distance reported for the padding slots when ``k`` exceeds the database size (as FAISS).
MISSING_DISTANCE: int = int(np.iinfo(np.int32).max)

_CHUNK_ELEMS = 1 << 18  # (rows x database) uint64 elements per scratch block: 2 MiB, cache-sized


# ---------------------------------------------------------------------------------------------
# Packing
# ---------------------------------------------------------------------------------------------


def pack_bits(bits) -> np.ndarray:
    """Pack binary codes into bytes, big-endian within each byte.

    Parameters
    ----------
    bits : array-like, shape (n, n_bits) or (n_bits,)
        Bits as bool, {0, 1}, {-1, +1} or any real values (e.g. projections before the
        sign): a value ``> 0`` becomes bit 1, anything else (0, -1, negative) bit 0.

    Returns
    -------
    codes : ndarray of uint8, shape (n, ceil(n_bits / 8)) or (ceil(n_bits / 8),)
        ``codes[i, j]`` holds bits ``8j .. 8j+7`` of item ``i``, the first in the most
        significant position; the padding bits of the last byte are 0.

    Raises
    ------
    ValueError
        If the input is not 1-D or 2-D, has no bit columns, is not numeric, or holds NaN.

    Examples
    --------
    >>> pack_bits([[1, 0, 1, 1, 0, 0, 0, 0, 1]])
    array([[176, 128]], dtype=uint8)
    >>> pack_bits([[-1, 1, -1]])  # {-1, +1}: -1 -> 0
    array([[64]], dtype=uint8)
    """
    arr = np.asarray(bits)
    if arr.ndim not in (1, 2):
        raise ValueError(f"bits must be 1-D (n_bits,) or 2-D (n, n_bits), got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"bits has no bit columns (shape {arr.shape}); a code needs at least 1 bit")
    if arr.dtype == bool:
        positive = arr
    elif np.issubdtype(arr.dtype, np.number):
        if np.issubdtype(arr.dtype, np.inexact) and np.isnan(arr).any():
            raise ValueError("bits contains NaN; a NaN has no sign, so it cannot become a bit")
        positive = arr > 0
    else:
        raise ValueError(f"bits must be bool or numeric, got dtype {arr.dtype}")
    return np.packbits(positive, axis=-1)


def unpack_bits(codes, n_bits: int) -> np.ndarray:
    """Unpack codes made by `pack_bits` back into one {0, 1} byte per bit.

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes) or (n_bytes,)
    n_bits : int
        Code length; must satisfy ``ceil(n_bits / 8) == n_bytes``. The padding bits are dropped.

    Returns
    -------
    bits : ndarray of uint8, shape (n, n_bits) or (n_bits,), values in {0, 1}
    """
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise ValueError(
            f"codes must be packed uint8 from pack_bits, got {codes.dtype} (shape {codes.shape})"
        )
    if codes.ndim not in (1, 2):
        raise ValueError(f"codes must be 1-D or 2-D (n, n_bytes), got shape {codes.shape}")
    n_bits = int(n_bits)
    if n_bits < 1 or -(-n_bits // 8) != codes.shape[-1]:
        raise ValueError(
            f"n_bits={n_bits} does not fit codes with {codes.shape[-1]} bytes per code "
            f"(shape {codes.shape}); "
            f"n_bits must be in {8 * codes.shape[-1] - 7}..{8 * codes.shape[-1]}"
        )
    return np.unpackbits(codes, axis=-1, count=n_bits)


# ---------------------------------------------------------------------------------------------
# Checks and layout helpers
# ---------------------------------------------------------------------------------------------


def check_codes(codes, name: str) -> np.ndarray:
    """Return ``codes`` as a C-contiguous 2-D uint8 array, or raise a ValueError naming it."""
    arr = np.asarray(codes)
    if arr.dtype != np.uint8:
        raise ValueError(
            f"{name} must be packed uint8 codes from pack_bits, got {arr.dtype} with shape {arr.shape}; "
            "pack {0,1} or sign bits with cmh_core.hamming.pack_bits"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n, n_bytes), got shape {arr.shape}; reshape a single code with "
            "code.reshape(1, -1)"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has 0 bytes per code (shape {arr.shape}); codes need at least 1 byte")
    return np.ascontiguousarray(arr)


def _check_pair(queries, database, q_name: str = "queries", db_name: str = "database"):
    q = check_codes(queries, q_name)
    db = check_codes(database, db_name)
    if q.shape[1] != db.shape[1]:
        raise ValueError(
            f"{q_name} have {q.shape[1]} bytes per code (shape {q.shape}) but {db_name} has "
            f"{db.shape[1]} (shape {db.shape}); encode both with the same code length"
        )
    return q, db


def _words(codes: np.ndarray) -> np.ndarray:
    """View packed codes ``(n, n_bytes)`` as ``(n, w)`` uint64 words, zero-padding to 8-byte rows."""
    n, nb = codes.shape
    w = -(-nb // 8)
    if nb != 8 * w:
        padded = np.zeros((n, 8 * w), dtype=np.uint8)
        padded[:, :nb] = codes
        codes = padded
    return codes.view(np.uint64)


def _distance_dtype(n_bytes: int) -> np.dtype:
    return np.dtype(np.uint16) if 8 * n_bytes <= np.iinfo(np.uint16).max else np.dtype(np.int32)


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------


def hamming_distance(A, B) -> np.ndarray:
    """Exact Hamming distances between two sets of packed codes.

    ``D[i, j] = popcount(A[i] XOR B[j])``: the number of bit positions in which code ``i``
    of ``A`` and code ``j`` of ``B`` differ, an integer in ``0 .. n_bits``.

    Computed as XOR + `numpy.bitwise_count` on 64-bit words (rows zero-padded to a multiple
    of 8 bytes, which adds no differing bit), with ``B`` laid out column-major (one
    contiguous array per word) and ``A`` processed in row blocks so the scratch memory stays
    at a few MiB whatever the sizes.

    Parameters
    ----------
    A : ndarray of uint8, shape (n_a, n_bytes)
    B : ndarray of uint8, shape (n_b, n_bytes)
        Packed codes of the same length (`pack_bits`); either may have 0 rows.

    Returns
    -------
    D : ndarray of uint16, shape (n_a, n_b)
        uint16 holds every distance of codes up to 65,535 bits (int32 beyond). Mind the
        unsigned type when subtracting distances: cast first.

    Raises
    ------
    ValueError
        If an input is not a 2-D uint8 array or the two byte counts differ.
    """
    A, B = _check_pair(A, B, "A", "B")
    n_a, n_b = A.shape[0], B.shape[0]
    out = np.zeros((n_a, n_b), dtype=_distance_dtype(A.shape[1]))
    if n_a == 0 or n_b == 0:
        return out
    wa = _words(A)  # (n_a, w)
    wb = np.ascontiguousarray(_words(B).T)  # (w, n_b): column-major, one row per 64-bit word
    n_words = wa.shape[1]
    rows = max(1, _CHUNK_ELEMS // n_b)
    buf = np.empty((min(rows, n_a), n_b), dtype=np.uint64)
    cnt = np.empty((min(rows, n_a), n_b), dtype=np.uint8)
    for s in range(0, n_a, rows):
        e = min(s + rows, n_a)
        x, c, o = buf[: e - s], cnt[: e - s], out[s:e]
        for w in range(n_words):  # D += popcount(A_w XOR B_w), one word at a time
            np.bitwise_xor(wa[s:e, w, None], wb[w][None, :], out=x)
            if w == 0:
                np.bitwise_count(x, out=o)
            else:
                np.add(o, np.bitwise_count(x, out=c), out=o)
    return out


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _faiss_or_none():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is a runtime dependency
        return None
    return faiss


def _search_faiss(faiss, q: np.ndarray, db: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    # FAISS's heap scan, called on the arrays themselves (`faiss.knn_hamming`: no index, no copy
    # of the database). It walks the database in index order and lets an item in only when it is
    # strictly nearer than the heap's worst, so among items at the k-th distance it keeps the
    # earliest ones: its *set* is the first k of the (distance, index) order (tests/test_hamming.py
    # checks this on heavily tied codes against a sorting oracle, so a FAISS change that broke it
    # would fail there). Its output order within a tie group is the heap's; one lexsort per row
    # of k items restores index order. Faster than FAISS's counting scan, which keeps (n_bits + 1) k
    # ids per query.
    D, I = faiss.knn_hamming(np.ascontiguousarray(q), np.ascontiguousarray(db), k, variant="hc")
    I = I.astype(np.int64, copy=False)
    D = np.where(I < 0, MISSING_DISTANCE, D).astype(np.int32, copy=False)
    order = np.lexsort((np.where(I < 0, np.iinfo(np.int64).max, I), D), axis=-1)
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)


def _search_numba(q: np.ndarray, db: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    # A compiled popcount scan with a counting top-k, one thread (cmh_core/_search_kernel.py);
    # None where numba is missing (it ships with umap-learn, a runtime dependency).
    try:
        from cmh_core._search_kernel import search_codes
    except ImportError:  # pragma: no cover
        return None
    return search_codes(q, db, k)


def _search_numpy(q: np.ndarray, db: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_q, n_db = q.shape[0], db.shape[0]
    kk = min(k, n_db)
    D = np.full((n_q, k), MISSING_DISTANCE, dtype=np.int32)
    I = np.full((n_q, k), -1, dtype=np.int64)
    rows = max(1, (1 << 22) // n_db)
    for s in range(0, n_q, rows):
        e = min(s + rows, n_q)
        dist = hamming_distance(q[s:e], db)  # (rows, n_db) uint16
        order = np.argsort(dist, axis=1, kind="stable")[:, :kk]  # radix sort: ties by index
        I[s:e, :kk] = order
        D[s:e, :kk] = np.take_along_axis(dist, order, axis=1)
    return D, I


def search(
    queries, database, k: int, *, backend: Literal["auto", "numba", "faiss", "numpy"] = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k Hamming search, ties broken by database index.

    For each query ``i``, rank the database by ``(d_H(q_i, db_j), j)`` and return the first
    ``k``: ``D[i, t]`` and ``I[i, t]`` are the distance and database row of rank ``t``, so
    ``D`` is non-decreasing along each row and equal distances appear by increasing index.

    Parameters
    ----------
    queries : ndarray of uint8, shape (n_q, n_bytes)
    database : ndarray of uint8, shape (n_db, n_bytes)
        Packed codes of the same length; the database may be empty.
    k : int
        Number of neighbours, ``k >= 1``. When ``k > n_db`` the last ``k - n_db`` slots are
        padding, as in FAISS: ``I = -1`` and ``D = MISSING_DISTANCE`` (``2**31 - 1``); the
        padding is clipped so that the result holds at most ``max(n_db, 1024)`` columns (a
        ``k = 10**9`` would otherwise allocate gigabytes of padding).
    backend : {"auto", "numba", "faiss", "numpy"}
        ``"numba"`` (one thread) computes distances with a compiled vectorised popcount over
        cache-sized blocks shared by groups of queries, skips blocks that cannot enter and keeps
        candidates nearer than the current k-th distance, cut back by a stable counting sort: no
        sort, no heap (see docs/performance.md for its speed against FAISS);
        ``"faiss"`` scans with ``faiss.IndexBinaryFlat``'s heap scan (whose kept set is the
        first k in ``(distance, index)`` order) and re-sorts each tie group by index; FAISS's
        thread count applies;
        ``"numpy"`` computes `hamming_distance` blocks and a stable radix sort.
        ``"auto"`` uses numba, else FAISS, else NumPy, whichever is installed first. All give
        the same result.

    Returns
    -------
    D : ndarray of int32, shape (n_q, k)
    I : ndarray of int64, shape (n_q, k)

    Raises
    ------
    ValueError
        For non-uint8 or non-2-D codes, different code lengths, or ``k < 1``.
    """
    q, db = _check_pair(queries, database)
    k = min(_check_k(k), max(db.shape[0], _MAX_PADDED_K))  # clip the padding, never real neighbours
    if backend not in ("auto", "numba", "faiss", "numpy"):
        raise ValueError(f"backend must be 'auto', 'numba', 'faiss' or 'numpy', got {backend!r}")
    n_q, n_db = q.shape[0], db.shape[0]
    if n_q == 0 or n_db == 0:
        return np.full((n_q, k), MISSING_DISTANCE, dtype=np.int32), np.full((n_q, k), -1, dtype=np.int64)
    if backend in ("auto", "numba"):
        found = _search_numba(q, db, k)
        if found is not None:
            return found
        if backend == "numba":  # pragma: no cover
            raise ValueError("backend='numba' needs numba; pip install numba or use backend='numpy'")
    faiss = None if backend == "numpy" else _faiss_or_none()
    if backend == "faiss" and faiss is None:  # pragma: no cover
        raise ValueError("backend='faiss' needs faiss-cpu; pip install faiss-cpu or use backend='numpy'")
    if faiss is not None:
        return _search_faiss(faiss, q, db, k)
    return _search_numpy(q, db, k)


def radius_search(queries, database, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All database codes within Hamming distance ``r`` (inclusive) of each query.

    Results are in FAISS ``range_search`` layout: the neighbours of query ``i`` are
    ``I[lims[i]:lims[i + 1]]`` at distances ``D[lims[i]:lims[i + 1]]``, ordered by
    ``(distance, index)``. Unlike FAISS's binary ``range_search`` (strict ``d < radius``),
    the ball here is closed, ``d <= r``, as in the hashing literature's "radius 2 lookup".

    Parameters
    ----------
    queries : ndarray of uint8, shape (n_q, n_bytes)
    database : ndarray of uint8, shape (n_db, n_bytes)
    r : int
        Radius, ``r >= 0``.

    Returns
    -------
    lims : ndarray of int64, shape (n_q + 1,)
    D : ndarray of int32, shape (lims[-1],)
    I : ndarray of int64, shape (lims[-1],)
    """
    q, db = _check_pair(queries, database)
    if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 0:
        raise ValueError(f"r must be a non-negative integer, got {r!r}")
    n_q, n_db = q.shape[0], db.shape[0]
    counts = np.zeros(n_q, dtype=np.int64)
    Ds, Is = [], []
    rows = max(1, (1 << 22) // max(n_db, 1))
    for s in range(0, n_q if n_db else 0, rows):
        e = min(s + rows, n_q)
        dist = hamming_distance(q[s:e], db)
        qi, j = np.nonzero(dist <= r)  # row-major: by query, then by index
        d = dist[qi, j]
        order = np.lexsort((d, qi))  # stable: within (query, distance) keeps index order
        Ds.append(d[order].astype(np.int32))
        Is.append(j[order].astype(np.int64))
        counts[s:e] = np.bincount(qi, minlength=e - s)
    lims = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(counts, out=lims[1:])
    D = np.concatenate(Ds) if Ds else np.zeros(0, dtype=np.int32)
    I = np.concatenate(Is) if Is else np.zeros(0, dtype=np.int64)
    return lims, D, I


# ---------------------------------------------------------------------------------------------
# FAISS export
# ---------------------------------------------------------------------------------------------


def to_faiss(codes):
    """Build a ``faiss.IndexBinaryFlat`` holding ``codes`` (row ``i`` gets id ``i``).

    The index dimension is ``8 * n_bytes``: a code length that is not a multiple of 8 is
    stored with its zero padding bits, which changes no distance.

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes)

    Returns
    -------
    faiss.IndexBinaryFlat
        ``index.search(queries, k)`` returns the same distances as `search` (FAISS's own
        order within a tie group).
    """
    import faiss

    codes = check_codes(codes, "codes")
    index = faiss.IndexBinaryFlat(8 * codes.shape[1])
    if codes.shape[0]:
        index.add(codes)
    return index


def write_faiss_index(codes, path: str | os.PathLike) -> Path:
    """Write ``codes`` as a FAISS binary flat index file (``faiss.read_index_binary`` reads it).

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes)
    path : str or PathLike
        Destination file; its folder must exist.

    Returns
    -------
    Path
        The written file.
    """
    import faiss

    from cmh_core._io import atomic_path

    path = Path(path)
    if not path.parent.is_dir():  # faiss would raise a RuntimeError with a C++ trace
        raise ValueError(
            f"cannot write the FAISS index {str(path)!r}: folder {str(path.parent)!r} does not exist; "
            "create it first"
        )
    index = to_faiss(codes)
    with atomic_path(path) as tmp:  # temporary file renamed into place: no half index on a full disk
        faiss.write_index_binary(index, str(tmp))
    return path
