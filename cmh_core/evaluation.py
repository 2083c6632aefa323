"""Retrieval metrics for binary codes and the cross-modal evaluation protocol.

Every metric takes a distance matrix ``D`` of shape (n_query, n_database), usually the
integer Hamming distances of `cmh_core.hamming.hamming_distance`, and a relevance matrix of
the same shape (`relevance_from_labels`: a query and an item are relevant when their label
vectors share at least one label). The conventions, stated once for all functions:

* **Ranking.** Each query ranks the whole database by ascending distance. With
  ``ties="stable"`` (default) equal distances are ordered by database index, the order of
  `cmh_core.hamming.search`. With ``ties="expected"`` a metric is the expectation over all
  orders within each group of equal distance, each equally likely (McSherry & Najork, "Computing
  information retrieval performance measures efficiently in the presence of tied scores",
  ECIR 2008), computed exactly from per-distance counts.
* **Queries without a relevant item** score 0 (AP, recall, NDCG) and still count in the mean:
  a method is not rewarded for queries it cannot answer.
* **Distances** may be any real numbers; only their order and their ties matter. Integer
  distances in 0..65535 (Hamming distances) take the fast counting paths directly; other
  values are first replaced by their dense rank over the whole matrix.

`evaluate` runs the protocol of ``design/evaluation.md`` for a fitted model on a
`CrossModalDataset`: I→T (image queries, text database) and T→I, returning plain JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from cmh_core.hamming import _check_codes, hamming_distance

__all__ = [
    "relevance_from_labels",
    "graded_relevance",
    "mean_average_precision",
    "average_precision",
    "precision_at_k",
    "recall_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "ndcg_at_k",
    "retrieval_codes",
    "evaluate",
    "per_query_ap",
]

Ties = Literal["stable", "expected"]
_CHUNK = 1 << 18  # query rows x database items handled per block (a few MiB of scratch)
_DEFAULT_KS = (1, 5, 10, 20, 50, 100, 200, 500, 1000)


# ---------------------------------------------------------------------------------------------
# Relevance
# ---------------------------------------------------------------------------------------------


def _check_label_pair(Yq, Ydb) -> tuple[np.ndarray, np.ndarray]:
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
    return (Yq != 0).astype(np.float32), (Ydb != 0).astype(np.float32)


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
    Yq, Ydb = _check_label_pair(Yq, Ydb)
    G = np.empty((len(Yq), len(Ydb)), dtype=np.int32)
    for s, e in _row_blocks(len(Yq), len(Ydb)):  # float32 counts are exact below 2**24
        np.rint(Yq[s:e] @ Ydb.T, out=G[s:e], casting="unsafe")
    return G


def relevance_from_labels(Yq, Ydb) -> np.ndarray:
    """Binary relevance: a query and an item are relevant when they share at least one label.

    ``R[i, j] = (Σ_c Yq[i, c] · Ydb[j, c]) > 0``.

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
    Yq, Ydb = _check_label_pair(Yq, Ydb)
    R = np.empty((len(Yq), len(Ydb)), dtype=bool)
    for s, e in _row_blocks(len(Yq), len(Ydb)):  # bounded float32 scratch
        np.greater(Yq[s:e] @ Ydb.T, 0.5, out=R[s:e])
    return R


# ---------------------------------------------------------------------------------------------
# Input checks and the two primitives: sorted relevance (stable) and per-distance counts
# ---------------------------------------------------------------------------------------------


def _as_levels(D: np.ndarray, integer: bool = False) -> tuple[np.ndarray, int]:
    """Integer distance levels ``L`` in 0..V-1, preserving order and ties; returns ``(L, V)``.

    Integer distances in 0..65535 are kept as they are (no copy; blocks are narrowed to
    uint8/uint16 when processed); other values become dense ranks, unless ``integer``
    (radius-based metrics), which raises instead.
    """
    if D.size == 0:
        return np.zeros(D.shape, dtype=np.uint8), 1
    if D.dtype == bool:
        return D.astype(np.uint8), 2
    if not np.issubdtype(D.dtype, np.number) or np.issubdtype(D.dtype, np.complexfloating):
        raise ValueError(f"distances must be real numbers, got dtype {D.dtype}")
    if np.issubdtype(D.dtype, np.inexact) and not np.isfinite(D).all():
        raise ValueError("distances contain NaN or Inf; every query-item pair needs a finite distance")
    lo = 0 if np.issubdtype(D.dtype, np.unsignedinteger) else D.min()
    hi = D.max()
    integral = np.issubdtype(D.dtype, np.integer) or bool(np.all(D == np.rint(D)))
    if lo >= 0 and hi <= 65535 and integral:
        return (D if np.issubdtype(D.dtype, np.integer) else D.astype(np.uint16)), int(hi) + 1
    if integer:
        raise ValueError(
            f"radius-based metrics need integer distances in 0..65535 (Hamming distances), got "
            f"dtype {D.dtype} with values in [{lo}, {hi}]"
        )
    values, inverse = np.unique(D, return_inverse=True)
    if len(values) > 65536:
        raise ValueError(
            f"distances take {len(values)} distinct values; the metrics need at most 65,536 "
            "(Hamming distances of codes up to 65,535 bits); round or rank them first"
        )
    return inverse.reshape(D.shape).astype(np.uint8 if len(values) <= 256 else np.uint16), len(values)


def _check_inputs(
    distances, relevance, *, name: str = "relevance", graded: bool = False, integer: bool = False
):
    """Validate a (distances, relevance) pair; return contiguous (levels, relevance) and V."""
    D, R = np.asarray(distances), np.asarray(relevance)
    if D.ndim != 2:
        raise ValueError(f"distances must be 2-D (n_query, n_database), got shape {D.shape}")
    if R.shape != D.shape:
        raise ValueError(
            f"{name} has shape {R.shape} but distances has shape {D.shape}; both must be "
            "(n_query, n_database), e.g. relevance_from_labels(labels[query], labels[database])"
        )
    if D.shape[0] == 0:
        raise ValueError(f"distances has no query rows (shape {D.shape}); pass at least one query")
    if not (np.issubdtype(R.dtype, np.number) or R.dtype == bool):
        raise ValueError(f"{name} must be bool or numeric, got dtype {R.dtype}")
    if graded:
        if np.issubdtype(R.dtype, np.inexact) and not np.isfinite(R).all():
            raise ValueError(f"{name} contains NaN or Inf")
        if R.size and R.min() < 0:
            raise ValueError(f"{name} must be non-negative (graded relevance), found {R.min()}")
        R = np.ascontiguousarray(R if R.dtype != bool else R.astype(np.uint8))
    else:
        R = np.ascontiguousarray(R if R.dtype == bool else R != 0)
    L, V = _as_levels(D, integer)
    return np.ascontiguousarray(L), R, V


def _check_ties(ties: str) -> None:
    if ties not in ("stable", "expected"):
        raise ValueError(f"ties must be 'stable' or 'expected', got {ties!r}")


def _check_cutoff(k, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _row_blocks(n_q: int, n_db: int) -> Iterator[tuple[int, int]]:
    rows = max(1, _CHUNK // max(n_db, 1))
    for s in range(0, n_q, rows):
        yield s, min(s + rows, n_q)


def _sorted_take(L: np.ndarray, X: np.ndarray, kk: int, V: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(s, e, Xs)``: ``Xs[i, t] = X[s+i, π_i(t)]`` for the first ``kk`` ranks, where
    ``π_i`` orders the database by ``(distance, index)`` (a stable radix argsort on levels
    narrowed to uint8 / uint16, no float sort)."""
    n_db = L.shape[1]
    narrow = np.uint8 if V <= 256 else np.uint16
    for s, e in _row_blocks(L.shape[0], n_db):
        order = np.argsort(L[s:e].astype(narrow, copy=False), axis=1, kind="stable")
        order = order[:, :kk] if kk < n_db else order
        order += (np.arange(e - s) * n_db)[:, None]  # flat indices into X[s:e]
        yield s, e, X[s:e].ravel().take(order)


def _counts(L: np.ndarray, R: np.ndarray, s: int, e: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-distance counts for query rows s..e: n[i, v] items and m[i, v] relevant items at v."""
    c = e - s
    idx = L[s:e].astype(np.intp) + (np.arange(c) * V)[:, None]
    n = np.bincount(idx.ravel(), minlength=c * V).reshape(c, V)
    m = np.bincount(idx[R[s:e]], minlength=c * V).reshape(c, V)
    return n, m


def _harmonic(n: int) -> np.ndarray:
    """``H[i] = Σ_{t=1}^{i} 1/t`` for i = 0..n."""
    H = np.zeros(n + 1)
    np.cumsum(1.0 / np.arange(1, n + 1), out=H[1:])
    return H


def _group_sum(n, m, A, Rl, H):
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


def _log_comb(a, b):
    from scipy.special import gammaln

    return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)


# ---------------------------------------------------------------------------------------------
# Average precision
# ---------------------------------------------------------------------------------------------


def _counting_ap_kernel():
    """The compiled counting-rank AP kernel, or None where numba cannot be imported.

    numba comes with umap-learn (a runtime dependency); it is imported here, on the first
    mAP call, so that ``import cmh_core`` stays cheap. The kernel is compiled once per
    process (``cache=True`` keeps the machine code between processes where the package
    folder is writable).
    """
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba ships with umap-learn
            _KERNEL = False
            return None
        _KERNEL = numba.njit(cache=True, nogil=True)(_ap_counting_rows)
    return _KERNEL or None


_KERNEL = None


def _ap_counting_rows(L, R, kk, V, out):  # pragma: no cover - runs compiled by numba
    """AP@kk per row without sorting: a stable rank is a counting-sort position.

    For each query the histogram of distances gives ``start[v]`` = items at distance < v; the
    item walk in index order then hands each item at distance v the next free rank of its
    group, which is exactly the (distance, index) order. Relevant items get their rank among
    relevant items the same way. ``AP = (1/N) Σ_t t / rank_t`` over relevant items ranked < kk.
    Two passes over each row, O(n_db + V) time, no n_db log n_db sort.
    """
    n_q, n_db = L.shape
    start = np.empty(V + 1, np.int64)  # items ranked before each distance group
    rstart = np.empty(V + 1, np.int64)  # relevant items ranked before each group
    for i in range(n_q):
        start[:] = 0
        rstart[:] = 0
        for j in range(n_db):
            v = L[i, j] + 1
            start[v] += 1
            rstart[v] += R[i, j]
        for v in range(V):
            start[v + 1] += start[v]
            rstart[v + 1] += rstart[v]
        s = 0.0
        n_rel = 0
        for j in range(n_db):
            # branch-free on purpose: relevance is a coin flip per item, so an `if` mispredicts
            v = L[i, j]
            r = np.int64(R[i, j])
            pos = start[v]  # 0-based rank of item j
            start[v] = pos + 1
            t = rstart[v]  # 0-based rank among relevant items (meaningful when r = 1)
            rstart[v] = t + r
            w = r * np.int64(pos < kk)
            s += w * (t + 1.0) / (pos + 1.0)
            n_rel += w
        out[i] = s / n_rel if n_rel > 0 else 0.0


def _ap_stable(L: np.ndarray, R: np.ndarray, kk: int, V: int) -> np.ndarray:
    """Per-query AP@kk, ties by index: a compiled counting-rank pass per query (numba), else
    one stable radix argsort per query; never a float sort.

    With ``rank_t`` the rank of the t-th relevant item, ``P@rank_t = t / rank_t``, so
    ``AP = (1/N) Σ_{t=1}^{N} t / rank_t`` (a dot product of 1/rank with 1..N).
    """
    n_q, n_db = L.shape
    ap = np.zeros(n_q)
    kernel = _counting_ap_kernel()
    if kernel is not None:
        kernel(L, R, kk, V, ap)
        return ap
    ts = np.arange(1, kk + 1, dtype=np.float64)  # t = 1, 2, ...
    inv_rank = 1.0 / ts  # 1/rank for 0-based positions
    narrow = np.uint8 if V <= 256 else np.uint16
    rs = np.empty(kk, dtype=bool)  # relevance in ranked order, one query at a time
    for s, e in _row_blocks(n_q, n_db):
        order = np.argsort(L[s:e].astype(narrow, copy=False), axis=1, kind="stable")[:, :kk]
        for i in range(e - s):
            np.take(R[s + i], order[i], out=rs)
            pos = rs.nonzero()[0]  # 0-based ranks of the relevant items
            if pos.size:
                # einsum, not np.dot: BLAS threading costs more than the sum on short rows
                ap[s + i] = np.einsum("i,i->", inv_rank.take(pos), ts[: pos.size]) / pos.size
    return ap


def _ap_expected(L: np.ndarray, R: np.ndarray, k: int | None, V: int) -> np.ndarray:
    n_q, n_db = L.shape
    H = _harmonic(n_db)
    ap = np.zeros(n_q)
    for s, e in _row_blocks(n_q, n_db * 4 + V * 64):
        n, m = _counts(L, R, s, e, V)
        A = np.cumsum(n, axis=1) - n  # items ranked before each group
        Rl = np.cumsum(m, axis=1) - m  # relevant items ranked before each group
        G = _group_sum(n, m, A, Rl, H)  # (c, V)
        if k is None or k >= n_db:
            total = m.sum(axis=1)
            ap[s:e] = np.divide(G.sum(axis=1), total, out=np.zeros(e - s), where=total > 0)
        else:
            ap[s:e] = _ap_expected_cut(n, m, A, G, k, H)
    return ap


def _ap_expected_cut(n, m, A, G, k: int, H) -> np.ndarray:
    """Expected AP@k for one block of queries from its per-distance counts.

    Groups entirely within the top k contribute their expected sums ``S`` and their relevant
    counts ``N`` deterministically; the group cut by rank k (at most one, n_b items, m_b
    relevant, s_b of its positions inside the top k) contributes X ~ Hypergeom(n_b, m_b, s_b)
    relevant items, placed uniformly among those s_b positions. Hence, exactly,

        E[AP@k] = Σ_x P(X = x) (S + g(s_b, x)) / (N + x),   a term with N + x = 0 being 0,

    with g the expected in-group sum (`_group_sum` with n = s_b, m = x).
    """
    s_in = np.clip(k - A, 0, n)  # positions of each group inside the top k
    full = s_in == n
    S = np.where(full, G, 0.0).sum(axis=1)
    N = np.where(full, m, 0).sum(axis=1)
    ap = np.divide(S, N, out=np.zeros(len(S)), where=N > 0)
    cut = (s_in > 0) & ~full
    rows = np.flatnonzero(cut.any(axis=1))
    if len(rows) == 0:
        return ap
    b = np.argmax(cut[rows], axis=1)
    nb, mb, sb, Ab = (X[rows, b].astype(np.float64)[:, None] for X in (n, m, s_in, A))
    x = np.arange(int(np.minimum(mb, sb).max()) + 1, dtype=np.float64)[None, :]
    ok = (x <= mb) & (x <= sb) & (sb - x <= nb - mb)
    with np.errstate(invalid="ignore"):
        logp = _log_comb(mb, x) + _log_comb(nb - mb, sb - x) - _log_comb(nb, sb)
    pmf = np.where(ok, np.exp(np.where(ok, logp, 0.0)), 0.0)
    Nr, Sr = N[rows, None].astype(np.float64), S[rows, None]
    g = _group_sum(np.broadcast_to(sb, pmf.shape), np.broadcast_to(x, pmf.shape), Ab, Nr, H)
    denom = Nr + x
    term = np.divide(Sr + g, denom, out=np.zeros(pmf.shape), where=denom > 0)
    ap[rows] = (pmf * term).sum(axis=1)
    return ap


def average_precision(distances, relevance, k: int | None = None, ties: Ties = "stable") -> np.ndarray:
    """Per-query average precision; see `mean_average_precision` for the definition.

    Returns
    -------
    ap : ndarray of float64, shape (n_query,)
        ``ap[i]`` in [0, 1]; 0 for a query with no relevant item in the ranking considered.
    """
    _check_ties(ties)
    L, R, V = _check_inputs(distances, relevance)
    n_db = L.shape[1]
    if k is not None:
        k = _check_cutoff(k)
    if n_db == 0:
        return np.zeros(L.shape[0])
    if ties == "expected":
        return _ap_expected(L, R, k, V)
    return _ap_stable(L, R, n_db if k is None else min(k, n_db), V)


def mean_average_precision(
    distances,
    relevance,
    k: int | None = None,
    ties: Ties = "stable",
    return_per_query: bool = False,
):
    """Mean average precision (mAP, or mAP@k) of a ranking by distance.

    For query i, rank the database by ascending distance (ties: see below) and let
    ``rel(t)`` be 1 when the item at rank t is relevant. With the ranking cut at
    ``K = min(k, n_database)`` (the whole database when ``k`` is None)::

        P@t   = (1/t) Σ_{u<=t} rel(u)
        AP_i  = (1/N_i) Σ_{t=1}^{K} P@t · rel(t),   N_i = Σ_{t=1}^{K} rel(t)
        mAP   = (1/n_query) Σ_i AP_i

    ``N_i`` counts the relevant items *within the top K* (the convention of the JSPSH and
    HashNet evaluation code; for k=None it is all relevant items). A query with ``N_i = 0``
    has ``AP_i = 0`` and still counts in the mean; an empty database gives 0 for every query.

    Parameters
    ----------
    distances : array-like, shape (n_query, n_database)
        Usually integer Hamming distances; any real values work (only order and ties matter).
    relevance : array-like of bool, shape (n_query, n_database)
        Non-zero entries are relevant (`relevance_from_labels`).
    k : int, optional
        Cut-off; ``k >= n_database`` equals mAP over the whole ranking.
    ties : {"stable", "expected"}
        ``"stable"``: equal distances ranked by database index (as `cmh_core.hamming.search`);
        computed with one stable radix argsort per query, no float sort. ``"expected"``: the
        exact expected AP when the items of each equal-distance group come in uniformly random
        order (McSherry & Najork 2008), from per-distance counts ``n_v`` (items) and ``m_v``
        (relevant): a group after ``A`` items (``Rl`` relevant) adds, with ``c = (m-1)/(n-1)``,
        ``(m/n)[(Rl + 1 - c(A+1)) (H_{A+n} - H_A) + c n]`` (H: harmonic numbers). With a
        cut-off, the group straddling rank k contributes a hypergeometric number X of relevant
        items to both the sum and the denominator ``N_i``, and the result is the exact
        expectation of the ratio, ``Σ_x P(X=x) (S + g(x)) / (N + x)``.
    return_per_query : bool
        Also return the per-query AP vector.

    Returns
    -------
    mAP : float
    ap : ndarray of float64, shape (n_query,)
        Only when ``return_per_query``.

    Raises
    ------
    ValueError
        If the shapes differ (the message names both), there is no query, ``k < 1``, or
        ``ties`` is unknown.
    """
    ap = average_precision(distances, relevance, k=k, ties=ties)
    mean = float(ap.mean())
    return (mean, ap) if return_per_query else mean


# ---------------------------------------------------------------------------------------------
# Precision / recall at cut-offs and radii
# ---------------------------------------------------------------------------------------------


def _as_ks(ks) -> tuple[np.ndarray, bool]:
    scalar = np.ndim(ks) == 0
    arr = np.atleast_1d(np.asarray(ks))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
        raise ValueError(f"ks must be positive integers (a cut-off or a list of cut-offs), got {ks!r}")
    return arr.astype(np.int64), scalar


def _hits_at(L: np.ndarray, R: np.ndarray, V: int, ks: np.ndarray, ties: str) -> np.ndarray:
    """Number of relevant items in the top k, shape (n_query, len(ks)); expected under ties."""
    n_q, n_db = L.shape
    hits = np.zeros((n_q, len(ks)))
    kc = np.minimum(ks, n_db)
    if n_db == 0:
        return hits
    if ties == "stable":
        for s, e, rs in _sorted_take(L, R, int(kc.max()), V):
            cum = np.cumsum(rs, axis=1, dtype=np.int64)
            hits[s:e] = cum[:, kc - 1]
        return hits
    for s, e in _row_blocks(n_q, n_db * 4 + V * 64):
        n, m = _counts(L, R, s, e, V)
        A = np.cumsum(n, axis=1) - n
        for j, k in enumerate(kc):  # E[hits@k] = Σ_groups m · (in-top-k share of the group)
            share = np.divide(np.clip(k - A, 0, n), n, out=np.zeros(n.shape), where=n > 0)
            hits[s:e, j] = (m * share).sum(axis=1)
    return hits


def precision_at_k(distances, relevance, ks, ties: Ties = "stable"):
    """Mean precision of the top k, for one or several cut-offs.

    ``P@k = (1/n_query) Σ_i hits_i(k) / k`` with ``hits_i(k)`` the relevant items among the
    first k of query i's ranking (ties as in `mean_average_precision`; ``"expected"`` gives
    ``E[hits]``, which is exact since precision is linear in hits). When ``k > n_database``
    the missing ranks count as non-relevant, so precision keeps dividing by k.

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    ks : int or sequence of int
        Cut-offs ``>= 1`` (e.g. ``range(1, 1001)`` for a top-N precision curve).
    ties : {"stable", "expected"}

    Returns
    -------
    float, or ndarray of float64 with shape (len(ks),) when ``ks`` is a sequence
    """
    _check_ties(ties)
    L, R, V = _check_inputs(distances, relevance)
    kv, scalar = _as_ks(ks)
    p = (_hits_at(L, R, V, kv, ties) / kv).mean(axis=0)
    return float(p[0]) if scalar else p


def recall_at_k(distances, relevance, ks, ties: Ties = "stable"):
    """Mean recall of the top k, for one or several cut-offs.

    ``R@k = (1/n_query) Σ_i hits_i(k) / N_i`` with ``N_i`` the relevant items in the whole
    database; a query with ``N_i = 0`` scores 0 and still counts.

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    ks : int or sequence of int
    ties : {"stable", "expected"}

    Returns
    -------
    float, or ndarray of float64 with shape (len(ks),) when ``ks`` is a sequence
    """
    _check_ties(ties)
    L, R, V = _check_inputs(distances, relevance)
    kv, scalar = _as_ks(ks)
    total = np.count_nonzero(R, axis=1)[:, None]
    r = np.divide(_hits_at(L, R, V, kv, ties), total, out=np.zeros((L.shape[0], len(kv))), where=total > 0)
    r = r.mean(axis=0)
    return float(r[0]) if scalar else r


def _radius_counts(L: np.ndarray, R: np.ndarray, V: int, max_radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative counts within each radius 0..max_radius: items ``Nr`` and relevant ``Mr``."""
    n_q, n_db = L.shape
    V = max(V, max_radius + 1)
    Nr = np.zeros((n_q, max_radius + 1), dtype=np.int64)
    Mr = np.zeros((n_q, max_radius + 1), dtype=np.int64)
    for s, e in _row_blocks(n_q, n_db * 4 + V * 64):
        n, m = _counts(L, R, s, e, V)
        Nr[s:e] = np.cumsum(n, axis=1)[:, : max_radius + 1]
        Mr[s:e] = np.cumsum(m, axis=1)[:, : max_radius + 1]
    return Nr, Mr


def precision_recall_curve(
    distances,
    relevance,
    by: Literal["radius", "rank"] = "radius",
    *,
    max_radius: int | None = None,
    ks: Sequence[int] | None = None,
    ties: Ties = "stable",
) -> dict[str, np.ndarray]:
    """Precision-recall curve of Hamming-ball lookups (by radius) or of top-k lists (by rank).

    ``by="radius"``: for r = 0..max_radius, query i retrieves the ``N_i(r)`` items with
    ``d <= r``, ``M_i(r)`` of them relevant, out of ``N_i`` relevant in all::

        precision(r) = mean over queries with N_i(r) > 0 of M_i(r) / N_i(r)
        recall(r)    = mean over all queries of M_i(r) / N_i          (0 when N_i = 0)

    Queries whose ball is empty are left out of the precision mean (their precision is
    undefined, and counting them as 0 would bend every curve towards 0 at small radii);
    ``"nonempty"`` reports the fraction of queries that do retrieve something. Note the
    difference from `precision_within_radius` (macro), which counts an empty lookup as 0.
    Ties play no role in a ball lookup.

    ``by="rank"``: at each cut-off k, ``precision = precision_at_k`` and
    ``recall = recall_at_k`` (ties as there).

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    by : {"radius", "rank"}
    max_radius : int, optional
        Last radius (by radius); default the largest distance present. Pass the code length
        to get the full 0..n_bits curve.
    ks : sequence of int, optional
        Cut-offs (by rank); default about 50 cut-offs spaced geometrically from 1 to n_database.
    ties : {"stable", "expected"}
        Tie handling of the rank curve.

    Returns
    -------
    dict
        by radius: ``{"radius", "precision", "recall", "nonempty"}``;
        by rank: ``{"k", "precision", "recall"}``; each an ndarray of the same length.
    """
    _check_ties(ties)
    L, R, V = _check_inputs(distances, relevance, integer=by == "radius")
    n_q, n_db = L.shape
    if by == "rank":
        if ks is None:
            ks = np.unique(np.geomspace(1, max(n_db, 1), num=50).round().astype(np.int64))
        kv, _ = _as_ks(ks)
        hits = _hits_at(L, R, V, kv, ties)
        total = np.count_nonzero(R, axis=1)[:, None]
        rec = np.divide(hits, total, out=np.zeros(hits.shape), where=total > 0)
        return {"k": kv, "precision": (hits / kv).mean(axis=0), "recall": rec.mean(axis=0)}
    if by != "radius":
        raise ValueError(f"by must be 'radius' or 'rank', got {by!r}")
    if max_radius is None:
        max_radius = V - 1
    elif isinstance(max_radius, bool) or not isinstance(max_radius, int | np.integer) or max_radius < 0:
        raise ValueError(f"max_radius must be a non-negative integer, got {max_radius!r}")
    Nr, Mr = _radius_counts(L, R, V, int(max_radius))
    total = np.count_nonzero(R, axis=1)[:, None]
    nonempty = Nr > 0
    prec_i = np.divide(Mr, Nr, out=np.zeros(Nr.shape), where=nonempty)
    n_nonempty = nonempty.sum(axis=0)
    precision = np.divide(prec_i.sum(axis=0), n_nonempty, out=np.zeros(len(n_nonempty)), where=n_nonempty > 0)
    recall = np.divide(Mr, total, out=np.zeros(Mr.shape), where=total > 0).mean(axis=0)
    return {
        "radius": np.arange(int(max_radius) + 1),
        "precision": precision,
        "recall": recall,
        "nonempty": n_nonempty / n_q,
    }


def precision_within_radius(
    distances, relevance, radius: int = 2, average: Literal["macro", "micro"] = "macro"
) -> float:
    """Precision of Hamming-ball lookups ``d <= radius`` (hash lookup precision, "P@r=2").

    With ``N_i`` items retrieved by query i and ``M_i`` of them relevant::

        macro = (1/n_query) Σ_i M_i / N_i      (an empty lookup, N_i = 0, counts as 0)
        micro = Σ_i M_i / Σ_i N_i              (0 when nothing at all is retrieved)

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    radius : int
        Ball radius, ``>= 0`` (inclusive).
    average : {"macro", "micro"}

    Returns
    -------
    float
    """
    L, R, _ = _check_inputs(distances, relevance, integer=True)
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    inside = L <= radius
    N = np.count_nonzero(inside, axis=1)
    M = np.count_nonzero(inside & R, axis=1)
    if average == "micro":
        return float(M.sum() / N.sum()) if N.sum() else 0.0
    return float(np.divide(M, N, out=np.zeros(len(N)), where=N > 0).mean())


def ndcg_at_k(distances, gains, k: int, return_per_query: bool = False):
    """Mean normalised discounted cumulative gain of the top k (ties by database index).

    With graded relevance ``g`` (`graded_relevance`: number of shared labels) and the ranking
    of `mean_average_precision` (``ties="stable"``), cut at ``K = min(k, n_database)``::

        DCG_i@k  = Σ_{t=1}^{K} (2^{g_i(t)} - 1) / log2(t + 1)
        NDCG_i@k = DCG_i@k / IDCG_i@k,

    IDCG being the DCG of the ideal ranking (gains sorted in decreasing order). A query with
    no positive gain (IDCG = 0) scores 0 and still counts.

    Parameters
    ----------
    distances : array-like, shape (n_query, n_database)
    gains : array-like, shape (n_query, n_database)
        Non-negative graded relevance.
    k : int
    return_per_query : bool

    Returns
    -------
    float, or (float, ndarray of shape (n_query,)) when ``return_per_query``
    """
    L, G, V = _check_inputs(distances, gains, name="gains", graded=True)
    k = _check_cutoff(k)
    n_q, n_db = L.shape
    kk = min(k, n_db)
    nd = np.zeros(n_q)
    if kk > 0:
        disc = 1.0 / np.log2(np.arange(2, kk + 2))
        for s, e, gs in _sorted_take(L, G, kk, V):
            dcg = np.expm1(gs * np.log(2.0)) @ disc
            top = -np.partition(-G[s:e], kk - 1, axis=1)[:, :kk]  # the kk largest gains
            ideal = -np.sort(-top, axis=1)
            idcg = np.expm1(ideal * np.log(2.0)) @ disc
            nd[s:e] = np.divide(dcg, idcg, out=np.zeros(e - s), where=idcg > 0)
    mean = float(nd.mean())
    return (mean, nd) if return_per_query else mean


# ---------------------------------------------------------------------------------------------
# The protocol: codes for a model on a dataset, and the report
# ---------------------------------------------------------------------------------------------


def _n_bytes(model) -> int:
    n_bits = int(model.code_length)
    if n_bits < 1:
        raise ValueError(f"model.code_length must be a positive integer, got {model.code_length!r}")
    return -(-n_bits // 8)


def _encode(model, X: np.ndarray, modality: str, n_bytes: int) -> np.ndarray:
    codes = _check_codes(model.encode(X, modality=modality), f"model.encode(..., modality={modality!r})")
    if codes.shape != (X.shape[0], n_bytes):
        raise ValueError(
            f"model.encode(..., modality={modality!r}) returned shape {codes.shape}, expected "
            f"({X.shape[0]}, {n_bytes}) for {X.shape[0]} items at code_length={model.code_length}"
        )
    return codes


def _database_codes(model, dataset, modality: str, protocol: str, n_bytes: int) -> np.ndarray:
    feats = dataset.image_features if modality == "image" else dataset.text_features
    db = np.asarray(dataset.split.database)
    if protocol == "encoded":
        return _encode(model, feats[db], modality, n_bytes)
    learned_all = getattr(model, "train_codes_", None)
    if learned_all is None or modality not in learned_all:
        raise ValueError(
            f"protocol='learned' needs model.train_codes_[{modality!r}] (the codes learned for the "
            "training items); fit the model first, or evaluate with protocol='encoded'"
        )
    train = np.asarray(dataset.split.train)
    learned = _check_codes(learned_all[modality], f"model.train_codes_[{modality!r}]")
    if learned.shape != (len(train), n_bytes):
        raise ValueError(
            f"model.train_codes_[{modality!r}] has shape {learned.shape} but the split has {len(train)} "
            f"training items at {n_bytes} bytes per code; fit on dataset rows split.train, in that order"
        )
    codes = np.empty((len(db), n_bytes), dtype=np.uint8)
    sorter = np.argsort(train, kind="stable")
    pos = np.minimum(np.searchsorted(train, db, sorter=sorter), max(len(train) - 1, 0))
    in_train = (train[sorter[pos]] == db) if len(train) else np.zeros(len(db), dtype=bool)
    codes[in_train] = learned[sorter[pos[in_train]]]
    if not in_train.all():
        codes[~in_train] = _encode(model, feats[db[~in_train]], modality, n_bytes)
    return codes


def retrieval_codes(
    model, dataset, protocol: Literal["learned", "encoded"] = "learned"
) -> dict[str, np.ndarray]:
    """Packed codes of the query and database items under an evaluation protocol.

    Queries are always encoded by the hash functions. Database items are encoded too under
    ``"encoded"``; under ``"learned"`` the items of ``split.train`` (a subset of the database)
    take the codes the method learned for them, ``model.train_codes_[modality][t]`` for
    ``split.train[t]``, and only the others are encoded.

    Returns
    -------
    dict
        ``"image_query"``, ``"text_query"`` of shape (n_query, n_bytes) and
        ``"image_database"``, ``"text_database"`` of shape (n_database, n_bytes), uint8.
    """
    if protocol not in ("learned", "encoded"):
        raise ValueError(f"protocol must be 'learned' or 'encoded', got {protocol!r}")
    n_bytes = _n_bytes(model)
    q = np.asarray(dataset.split.query)
    return {
        "image_query": _encode(model, dataset.image_features[q], "image", n_bytes),
        "text_query": _encode(model, dataset.text_features[q], "text", n_bytes),
        "image_database": _database_codes(model, dataset, "image", protocol, n_bytes),
        "text_database": _database_codes(model, dataset, "text", protocol, n_bytes),
    }


def _direction(codes: dict[str, np.ndarray], direction: str) -> tuple[np.ndarray, np.ndarray]:
    if direction == "i2t":
        return codes["image_query"], codes["text_database"]
    if direction == "t2i":
        return codes["text_query"], codes["image_database"]
    raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")


def _direction_report(
    D: np.ndarray,
    R: np.ndarray,
    G: np.ndarray,
    *,
    n_bits: int,
    map_at: Iterable[int],
    precision_ks: Iterable[int],
    radius: int,
    ties: str,
    return_per_query: bool,
) -> dict[str, Any]:
    n_db = D.shape[1]
    m, ap = mean_average_precision(D, R, ties=ties, return_per_query=True)
    out: dict[str, Any] = {"mAP": m}
    for k in map_at:
        out[f"mAP@{k}"] = mean_average_precision(D, R, k=k, ties=ties)
        out[f"NDCG@{k}"] = ndcg_at_k(D, G, k)
    ks = [int(k) for k in precision_ks if k <= n_db]
    if ks:
        pr = precision_recall_curve(D, R, by="rank", ks=ks, ties=ties)  # = precision_at_k, recall_at_k
        out["precision_at_k"] = {
            "k": ks,
            "precision": pr["precision"].tolist(),
            "recall": pr["recall"].tolist(),
        }
    curve = precision_recall_curve(D, R, by="radius", max_radius=n_bits)
    out["pr_curve"] = {key: np.asarray(v).tolist() for key, v in curve.items()}
    out[f"precision_within_radius{radius}"] = precision_within_radius(D, R, radius, "macro")
    out[f"precision_within_radius{radius}_micro"] = precision_within_radius(D, R, radius, "micro")
    if return_per_query:
        out["per_query_ap"] = ap.tolist()
    return out


def evaluate(
    model,
    dataset,
    protocol: Literal["learned", "encoded"] = "learned",
    *,
    map_at: Sequence[int] = (50,),
    precision_ks: Sequence[int] = _DEFAULT_KS,
    radius: int = 2,
    ties: Ties = "stable",
    return_per_query: bool = False,
) -> dict[str, Any]:
    """Evaluate a fitted cross-modal hasher on a dataset's query/database split.

    I→T: image queries (``split.query``) against the text codes of ``split.database``;
    T→I: text queries against the image codes. Codes come from `retrieval_codes` under
    ``protocol``; relevance from shared labels (`relevance_from_labels`), graded relevance
    (shared-label counts) for NDCG; distances are Hamming distances.

    Parameters
    ----------
    model : fitted hasher
        Needs ``encode(X, modality=...)`` returning packed codes, ``code_length`` and, for
        ``protocol="learned"``, ``train_codes_`` ({"image", "text"} codes of ``split.train``).
    dataset : CrossModalDataset
    protocol : {"learned", "encoded"}
    map_at : sequence of int
        Cut-offs k reported as ``"mAP@k"`` and ``"NDCG@k"``.
    precision_ks : sequence of int
        Cut-offs of the ``"precision_at_k"`` curve (those above n_database are dropped).
    radius : int
        Radius of the ``"precision_within_radius{radius}"`` entries (macro and ``_micro``).
    ties : {"stable", "expected"}
    return_per_query : bool
        Add ``"per_query_ap"`` (one AP per query, in ``split.query`` order) to each direction.

    Returns
    -------
    dict
        Plain JSON (``json.dumps`` works)::

            {"protocol", "n_bits", "ties", "n_query", "n_database",
             "i2t": {"mAP", "mAP@50", "NDCG@50", "precision_at_k": {"k", "precision", "recall"},
                     "pr_curve": {"radius", "precision", "recall", "nonempty"},
                     "precision_within_radius2", "precision_within_radius2_micro"[, "per_query_ap"]},
             "t2i": {...}, "mean_mAP"}
    """
    codes = retrieval_codes(model, dataset, protocol)
    _check_ties(ties)
    n_bits = int(model.code_length)
    Yq = dataset.labels[np.asarray(dataset.split.query)]
    Ydb = dataset.labels[np.asarray(dataset.split.database)]
    G = graded_relevance(Yq, Ydb)
    R = G > 0
    report: dict[str, Any] = {
        "protocol": protocol,
        "n_bits": n_bits,
        "ties": ties,
        "n_query": int(len(Yq)),
        "n_database": int(len(Ydb)),
    }
    for direction in ("i2t", "t2i"):
        D = hamming_distance(*_direction(codes, direction))
        report[direction] = _direction_report(
            D,
            R,
            G,
            n_bits=n_bits,
            map_at=map_at,
            precision_ks=precision_ks,
            radius=radius,
            ties=ties,
            return_per_query=return_per_query,
        )
    report["mean_mAP"] = (report["i2t"]["mAP"] + report["t2i"]["mAP"]) / 2
    return report


def per_query_ap(
    model,
    dataset,
    direction: Literal["i2t", "t2i"] = "i2t",
    protocol: Literal["learned", "encoded"] = "learned",
    k: int | None = None,
    ties: Ties = "stable",
) -> np.ndarray:
    """Average precision of every query of ``split.query`` in one direction (Failures page).

    Same protocol and AP definition as `evaluate` / `mean_average_precision`.

    Returns
    -------
    ap : ndarray of float64, shape (n_query,)
    """
    codes = retrieval_codes(model, dataset, protocol)
    Q, DB = _direction(codes, direction)
    R = relevance_from_labels(
        dataset.labels[np.asarray(dataset.split.query)], dataset.labels[np.asarray(dataset.split.database)]
    )
    return average_precision(hamming_distance(Q, DB), R, k=k, ties=ties)
