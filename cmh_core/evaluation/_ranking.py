"""Relevance from labels and the ranking primitives every metric is built from.

Two views of one ranking by ascending distance: the *stable* order (ties by database index)
and the *per-distance counts* ``n[i, v]`` (items of query i at level v) and ``m[i, v]``
(relevant ones), from which every tie-expected metric is exact.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = [
    "CHUNK",
    "check_label_pair",
    "label_overlap",
    "graded_relevance",
    "relevance_from_labels",
    "row_blocks",
    "narrow_levels",
    "sorted_take",
    "counts",
    "harmonic",
    "group_sum",
    "log_comb",
    "expected_hits",
    "expected_dcg",
    "ideal_dcg",
    "ideal_dcg_from_hist",
]

CHUNK = 1 << 18  # query rows x database items handled per block (a few MiB of scratch)


def check_label_pair(Yq, Ydb, as_bool: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate query / database label matrices; return them as float32 0/1 (bool if ``as_bool``)."""
    Yq, Ydb = np.asarray(Yq), np.asarray(Ydb)
    if Yq.ndim != 2 or Ydb.ndim != 2:
        raise ValueError(
            f"label matrices must be 2-D multi-hot (n_items, n_labels), got query labels {Yq.shape} "
            f"and database labels {Ydb.shape}; one-hot encode class indices first"
        )
    if Yq.shape[1] != Ydb.shape[1]:
        raise ValueError(
            f"query labels have {Yq.shape[1]} columns (shape {Yq.shape}) but database labels have "
            f"{Ydb.shape[1]} (shape {Ydb.shape}); both must use the same label set"
        )
    for name, Y in (("query labels", Yq), ("database labels", Ydb)):
        if not (np.issubdtype(Y.dtype, np.number) or Y.dtype == bool):
            raise ValueError(f"{name} must be numeric 0/1, got dtype {Y.dtype}")
    if as_bool:  # packing labels into bits needs no float32 copy
        return Yq != 0, Ydb != 0
    return (Yq != 0).astype(np.float32), (Ydb != 0).astype(np.float32)


def label_overlap(Yq, Ydb, binary: bool = False) -> np.ndarray:
    """Shared-label counts ``G[i, j] = Σ_c Yq[i, c] Ydb[j, c]`` (int32), or ``G > 0`` (bool).

    The one implementation behind `graded_relevance` and `relevance_from_labels`; computed in
    row blocks so the float32 product (exact below 2**24 labels) needs little scratch.
    """
    Yq, Ydb = check_label_pair(Yq, Ydb)
    G = np.empty((len(Yq), len(Ydb)), dtype=bool if binary else np.int32)
    for s, e in row_blocks(len(Yq), len(Ydb)):
        P = Yq[s:e] @ Ydb.T
        if binary:
            np.greater(P, 0.5, out=G[s:e])
        else:
            np.rint(P, out=G[s:e], casting="unsafe")
    return G


def graded_relevance(Yq, Ydb) -> np.ndarray:
    """Number of labels each query shares with each database item.

    ``G[i, j] = |labels(q_i) ∩ labels(x_j)| = Σ_c Yq[i, c] · Ydb[j, c]``.

    Parameters
    ----------
    Yq : array-like, shape (n_query, c)
    Ydb : array-like, shape (n_database, c)
        Multi-hot labels (any non-zero entry counts as 1).

    Returns
    -------
    G : ndarray of int32, shape (n_query, n_database)

    Raises
    ------
    ValueError
        If either matrix is not 2-D or their label counts ``c`` differ.
    """
    return label_overlap(Yq, Ydb)


def relevance_from_labels(Yq, Ydb) -> np.ndarray:
    """Binary relevance: a query and an item are relevant when they share at least one label.

    ``R[i, j] = (Σ_c Yq[i, c] · Ydb[j, c]) > 0`` (`graded_relevance` > 0).

    Parameters
    ----------
    Yq : array-like, shape (n_query, c)
    Ydb : array-like, shape (n_database, c)

    Returns
    -------
    R : ndarray of bool, shape (n_query, n_database)

    Raises
    ------
    ValueError
        If either matrix is not 2-D or their label counts ``c`` differ.
    """
    return label_overlap(Yq, Ydb, binary=True)


def row_blocks(n_q: int, n_db: int, chunk: int | None = None) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` query-row blocks of about ``chunk`` (default `CHUNK`) elements each."""
    rows = max(1, (CHUNK if chunk is None else chunk) // max(n_db, 1))
    for s in range(0, n_q, rows):
        yield s, min(s + rows, n_q)


def narrow_levels(L: np.ndarray, V: int) -> np.ndarray:
    """Levels in the narrowest unsigned type, so `numpy.argsort(kind="stable")` is a radix sort."""
    dtype = np.uint8 if V <= 256 else np.uint16 if V <= 65536 else np.uint32
    return L.astype(dtype, copy=False)


def sorted_take(L: np.ndarray, X: np.ndarray, kk: int, V: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(s, e, Xs)``: ``Xs[i, t] = X[s+i, π_i(t)]`` for the first ``kk`` ranks, where
    ``π_i`` orders the database by ``(distance, index)`` (a stable radix argsort, no float sort)."""
    n_db = L.shape[1]
    for s, e in row_blocks(L.shape[0], n_db):
        order = np.argsort(narrow_levels(L[s:e], V), axis=1, kind="stable")
        order = order[:, :kk] if kk < n_db else order
        order += (np.arange(e - s) * n_db)[:, None]  # flat indices into X[s:e]
        yield s, e, X[s:e].ravel().take(order)


def counts(L: np.ndarray, R: np.ndarray, V: int, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-level counts of a block of rows: ``n[i, v]`` items at level v and ``m[i, v]`` relevant
    ones (or, with ``weights`` of L's shape, the sum of the relevant items' weights)."""
    c = L.shape[0]
    idx = L.astype(np.intp) + (np.arange(c) * V)[:, None]
    n = np.bincount(idx.ravel(), minlength=c * V).reshape(c, V)
    if weights is None:
        m = np.bincount(idx[R], minlength=c * V).reshape(c, V)
    else:
        m = np.bincount(idx.ravel(), weights=weights.ravel(), minlength=c * V).reshape(c, V)
    return n, m


def harmonic(n: int) -> np.ndarray:
    """``H[i] = Σ_{t=1}^{i} 1/t`` for i = 0..n."""
    H = np.zeros(n + 1)
    np.cumsum(1.0 / np.arange(1, n + 1), out=H[1:])
    return H


def group_sum(n, m, A, Rl, H) -> np.ndarray:
    """Expected Σ of P@rank over the relevant items of one tie group, all orders equally likely.

    A group of ``n`` items, ``m`` of them relevant, follows ``A`` items of which ``Rl`` are
    relevant. A relevant item sits at group position p (uniform on 1..n) with, in expectation,
    (p-1)(m-1)/(n-1) other relevant items before it, so with c = (m-1)/(n-1) (0 if n = 1)

        E = (m/n) Σ_{p=1}^{n} (Rl + 1 + (p-1) c) / (A + p)
          = (m/n) [ (Rl + 1 - c (A + 1)) (H_{A+n} - H_A) + c n ].
    """
    n, m, A, Rl = (np.asarray(a, dtype=np.float64) for a in (n, m, A, Rl))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n > 1, (m - 1) / (n - 1), 0.0)
        Hs = H[(A + n).astype(np.intp)] - H[A.astype(np.intp)]
        val = (m / n) * ((Rl + 1 - c * (A + 1)) * Hs + c * n)
    return np.where((n > 0) & (m > 0), val, 0.0)


def log_comb(a, b):
    """``log C(a, b)`` elementwise (real arguments)."""
    from scipy.special import gammaln

    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


def expected_hits(n: np.ndarray, m: np.ndarray, kc: np.ndarray) -> np.ndarray:
    """``E[hits@k]`` per row and cut-off: Σ over groups of m · (share of the group in the top k).

    n, m : (rows, V) per-level counts; kc : (n_k,) cut-offs ``<= n_database``. Returns (rows, n_k).
    """
    A = np.cumsum(n, axis=1) - n  # items ranked before each group
    hits = np.empty((n.shape[0], len(kc)))
    for j, k in enumerate(kc):
        share = np.divide(np.clip(k - A, 0, n), n, out=np.zeros(n.shape), where=n > 0)
        hits[:, j] = (m * share).sum(axis=1)
    return hits


def expected_dcg(n: np.ndarray, sg: np.ndarray, kk: int) -> np.ndarray:
    """Tie-expected DCG@kk per row from per-level item counts ``n`` and gain sums ``sg``.

    In a uniformly random order of a tie group every position holds the group's mean gain in
    expectation, so the group adds ``(sg/n) Σ_{t in its ranks, t < kk} 1/log2(t + 2)``.
    """
    C = np.zeros(kk + 1)
    np.cumsum(1.0 / np.log2(np.arange(2, kk + 2)), out=C[1:])  # C[t] = Σ_{u<t} disc[u]
    A = np.cumsum(n, axis=1) - n
    lo, hi = np.minimum(A, kk), np.minimum(A + n, kk)
    mean_gain = np.divide(sg, n, out=np.zeros(sg.shape), where=n > 0)
    return (mean_gain * (C[hi] - C[lo])).sum(axis=1)


def ideal_dcg(gains: np.ndarray, kk: int, tab: np.ndarray | None = None) -> np.ndarray:
    """DCG@kk of the ideal ranking, per row: the kk largest gains in decreasing order.

    gains : (rows, n_database) non-negative transformed gains ``2^g - 1``, or raw integer
    gains ``g`` with ``tab[g] = 2^g - 1`` (the transform is increasing, so it commutes with
    the selection).
    """
    n_db = gains.shape[1]
    top = np.partition(gains, n_db - kk, axis=1)[:, n_db - kk :] if kk < n_db else gains
    top = np.sort(top, axis=1)[:, ::-1][:, :kk]  # no negation: safe for unsigned and bool
    if tab is not None:
        top = tab[top]
    return top @ (1.0 / np.log2(np.arange(2, kk + 2)))


def ideal_dcg_from_hist(gh: np.ndarray, kk: int, tab: np.ndarray) -> np.ndarray:
    """Ideal DCG@kk per row from the histogram ``gh[i, g]`` of integer gains (``tab[g] = 2^g - 1``).

    With ``ge[g]`` the items of gain ``>= g``, the ideal ranking's gain at rank t is
    ``Σ_{g>=1} [ge[g] > t]``.
    """
    ge = np.cumsum(gh[:, ::-1], axis=1)[:, ::-1]  # (rows, gmax + 1)
    gain_at = (ge[:, 1:, None] > np.arange(kk)[None, None, :]).sum(axis=1)  # (rows, kk)
    return tab[gain_at] @ (1.0 / np.log2(np.arange(2, kk + 2)))
