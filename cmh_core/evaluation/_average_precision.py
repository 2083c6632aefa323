"""Average precision: one counting-sort pass per query (compiled with numba), numpy fallbacks,
and the exact tie-expected AP from per-distance counts."""

from __future__ import annotations

import numpy as np

from cmh_core.evaluation._checks import check_cutoff, check_inputs, check_ties
from cmh_core.evaluation._ranking import (
    check_label_pair,
    group_sum,
    harmonic,
    log_comb,
    narrow_levels,
    row_blocks,
)
from cmh_core.hamming import check_codes

__all__ = [
    "average_precision",
    "mean_average_precision",
    "mean_average_precision_codes",
    "rank_rows",
    "rank_codes",
    "as_words",
    "ap_expected",
    "ap_from_top",
]

_KERNEL = None  # the compiled kernel once built; False where numba is missing


def _counting_kernel():
    """The compiled counting-rank kernel, or None where numba cannot be imported.

    numba comes with umap-learn (a runtime dependency); it is imported on the first call so
    ``import cmh_core`` stays cheap, and compiled once per process (``cache=True`` keeps the
    machine code between processes where the package folder is writable).
    """
    global _KERNEL
    if _KERNEL is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba ships with umap-learn
            _KERNEL = False
            return None
        _KERNEL = numba.njit(cache=True, nogil=True)(_rank_rows_kernel)
    return _KERNEL or None


def _rank_rows_kernel(L, G, kap, V, tab, ap, top, n_out, m_out, sg_out):  # pragma: no cover - numba
    """One stable ranking per row without sorting: a stable rank is a counting-sort position.

    Pass 1 builds the histograms ``n[v]`` (items at level v), ``m[v]`` (relevant items,
    ``g > 0``) and ``sg[v]`` (sum of ``tab[g]``); their prefix sums give each group's first
    rank. Pass 2 walks items in index order and hands each the next free rank of its group,
    which is exactly the (distance, index) order: it adds ``t / rank`` to AP@kap for the t-th
    relevant item and writes the gain of every rank ``< top.shape[1]`` into ``top``.
    O(n_db + V) per row.
    """
    n_q, n_db = L.shape
    kt = top.shape[1]
    want_sg = sg_out.shape[1] > 0  # AP alone skips the gain sums
    start = np.empty(V + 1, np.int64)  # items ranked before each level
    rstart = np.empty(V + 1, np.int64)  # relevant items ranked before each level
    for i in range(n_q):
        start[:] = 0
        rstart[:] = 0
        for j in range(n_db):
            v = L[i, j]
            g = G[i, j]
            start[v + 1] += 1
            rstart[v + 1] += np.int64(g > 0)
            if want_sg:
                sg_out[i, v] += tab[g]
        for v in range(V):
            n_out[i, v] = start[v + 1]
            m_out[i, v] = rstart[v + 1]
            start[v + 1] += start[v]
            rstart[v + 1] += rstart[v]
        s = 0.0
        n_rel = 0
        for j in range(n_db):
            # branch-free on purpose: relevance is a coin flip per item, an `if` mispredicts
            v = L[i, j]
            g = G[i, j]
            r = np.int64(g > 0)
            pos = start[v]  # 0-based rank of item j
            start[v] = pos + 1
            t = rstart[v]  # 0-based rank among relevant items (meaningful when r = 1)
            rstart[v] = t + r
            w = r * np.int64(pos < kap)
            s += w * (t + 1.0) / (pos + 1.0)
            n_rel += w
            if pos < kt:
                top[i, pos] = g
        ap[i] = s / n_rel if n_rel > 0 else 0.0


def _rank_rows_numpy(L, G, kap, V, tab, kt):
    """The same outputs as the kernel from one stable radix argsort per block of rows."""
    n_q, n_db = L.shape
    order = np.argsort(narrow_levels(L, V), axis=1, kind="stable")
    ranked = np.take_along_axis(G, order, axis=1)  # gains in rank order
    rel = ranked[:, :kap] > 0
    cum = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    n_rel = cum[:, -1] if rel.shape[1] else np.zeros(n_q)
    s = (np.where(rel, cum, 0) / ranks).sum(axis=1)  # Σ_t t / rank_t
    ap = np.divide(s, n_rel, out=np.zeros(n_q), where=n_rel > 0)
    idx = L.astype(np.intp) + (np.arange(n_q) * V)[:, None]
    n = np.bincount(idx.ravel(), minlength=n_q * V).reshape(n_q, V)
    m = np.bincount(idx.ravel(), weights=(G > 0).ravel(), minlength=n_q * V).reshape(n_q, V)
    sg = np.bincount(idx.ravel(), weights=tab[G].ravel(), minlength=n_q * V).reshape(n_q, V)
    return ap, ranked[:, :kt], n.astype(np.int64), m.astype(np.int64), sg


def rank_rows(L: np.ndarray, G: np.ndarray, kap: int, V: int, kt: int = 0, tab=None, gains: bool = True):
    """Rank every row once (stable ties) and return what every metric needs.

    Parameters
    ----------
    L : ndarray of unsigned int, shape (rows, n_db)
        Distance levels in 0..V-1.
    G : ndarray of non-negative int, shape (rows, n_db)
        Graded relevance (relevant when > 0); a bool relevance works as 0/1.
    kap : int
        Cut-off of the stable AP (``n_db`` for AP@all).
    V : int
    kt : int
        Number of top ranks whose gains are returned.
    tab : ndarray of float64, optional
        ``tab[g]`` is the gain summed into ``sg``; default ``2^g - 1`` (NDCG).
    gains : bool
        Compute ``sg``; when False it has shape (rows, 0) (AP needs no gain sums).

    Returns
    -------
    ap : (rows,) stable AP@kap; top : (rows, kt) gains in stable rank order;
    n, m : (rows, V) int64 items / relevant items per level; sg : (rows, V) summed ``tab[g]``.
    """
    G = G.view(np.uint8) if G.dtype == bool else G
    if tab is None:
        tab = np.expm1(np.arange(int(G.max(initial=0)) + 1) * np.log(2.0))
    rows = L.shape[0]
    kernel = _counting_kernel()
    if kernel is None:
        ap, top, n, m, sg = _rank_rows_numpy(L, G, kap, V, tab, kt)
        return ap, top, n, m, (sg if gains else sg[:, :0])
    ap = np.zeros(rows)
    top = np.zeros((rows, kt), dtype=G.dtype)
    n, m = np.zeros((rows, V), np.int64), np.zeros((rows, V), np.int64)
    sg = np.zeros((rows, V if gains else 0))
    kernel(np.ascontiguousarray(L), np.ascontiguousarray(G), kap, V, tab, ap, top, n, m, sg)
    return ap, top, n, m, sg


def ap_expected(n: np.ndarray, m: np.ndarray, k: int | None, H: np.ndarray) -> np.ndarray:
    """Exact tie-expected AP (AP@k) per row from per-level counts (McSherry & Najork 2008).

    n, m : (rows, V) items / relevant items per level; H : harmonic numbers up to n_database.
    """
    n_db = int(n[0].sum()) if len(n) else 0
    A = np.cumsum(n, axis=1) - n  # items ranked before each group
    Rl = np.cumsum(m, axis=1) - m  # relevant items ranked before each group
    S = group_sum(n, m, A, Rl, H)  # (rows, V)
    if k is None or k >= n_db:
        total = m.sum(axis=1)
        return np.divide(S.sum(axis=1), total, out=np.zeros(len(n)), where=total > 0)
    return _ap_expected_cut(n, m, A, S, k, H)


def _ap_expected_cut(n, m, A, G, k: int, H) -> np.ndarray:
    """Expected AP@k for one block of queries from its per-distance counts.

    Groups entirely within the top k contribute their expected sums ``S`` and their relevant
    counts ``N`` deterministically; the group cut by rank k (at most one, n_b items, m_b
    relevant, s_b of its positions inside the top k) contributes X ~ Hypergeom(n_b, m_b, s_b)
    relevant items, placed uniformly among those s_b positions. Hence, exactly,

        E[AP@k] = Σ_x P(X = x) (S + g(s_b, x)) / (N + x),   a term with N + x = 0 being 0,

    with g the expected in-group sum (`group_sum` with n = s_b, m = x).
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
        logp = log_comb(mb, x) + log_comb(nb - mb, sb - x) - log_comb(nb, sb)
    pmf = np.where(ok, np.exp(np.where(ok, logp, 0.0)), 0.0)
    Nr, Sr = N[rows, None].astype(np.float64), S[rows, None]
    g = group_sum(np.broadcast_to(sb, pmf.shape), np.broadcast_to(x, pmf.shape), Ab, Nr, H)
    denom = Nr + x
    term = np.divide(Sr + g, denom, out=np.zeros(pmf.shape), where=denom > 0)
    ap[rows] = (pmf * term).sum(axis=1)
    return ap


def ap_from_top(top: np.ndarray, k: int) -> np.ndarray:
    """Stable AP@k per row from the relevance (or gains, relevant when > 0) of the ranked top.

    top : (rows, >= min(k, n_db)) in rank order. ``AP@k = (1/N) Σ_{t<=K} P@t rel(t)``.
    """
    rel = top[:, :k] > 0
    cum = np.cumsum(rel, axis=1)
    s = (np.where(rel, cum, 0) / np.arange(1, rel.shape[1] + 1)).sum(axis=1)
    n_rel = cum[:, -1] if rel.shape[1] else np.zeros(len(top))
    return np.divide(s, n_rel, out=np.zeros(len(top)), where=n_rel > 0)


def average_precision(distances, relevance, k: int | None = None, ties: str = "stable") -> np.ndarray:
    """Per-query average precision; see `mean_average_precision` for the definition.

    Returns
    -------
    ap : ndarray of float64, shape (n_query,)
        ``ap[i]`` in [0, 1]; 0 for a query with no relevant item in the ranking considered.
    """
    check_ties(ties)
    L, R, V = check_inputs(distances, relevance)
    n_q, n_db = L.shape
    if k is not None:
        k = check_cutoff(k)
    ap = np.zeros(n_q)
    if n_db == 0:
        return ap
    H = harmonic(n_db) if ties == "expected" else None
    for s, e in row_blocks(n_q, n_db * 4 + V * 64):  # bounded (rows, V) count arrays
        a, _, n, m, _ = rank_rows(L[s:e], R[s:e], n_db if k is None else min(k, n_db), V, 0, _BINARY, False)
        ap[s:e] = a if ties == "stable" else ap_expected(n, m, k, H)
    return ap


_BINARY = np.array([0.0, 1.0])  # tab for 0/1 relevance: sg counts relevant items (unused here)


def mean_average_precision(
    distances,
    relevance,
    k: int | None = None,
    ties: str = "stable",
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
        Usually integer Hamming distances; any real values work (only order and ties matter:
        other values are ranked densely per row).
    relevance : array-like of bool, shape (n_query, n_database)
        Non-zero entries are relevant (`relevance_from_labels`).
    k : int, optional
        Cut-off; ``k >= n_database`` equals mAP over the whole ranking.
    ties : {"stable", "expected"}
        ``"stable"``: equal distances ranked by database index (as `cmh_core.hamming.search`),
        computed by a counting-sort pass per query (no sort). ``"expected"``: the exact
        expected AP when the items of each equal-distance group come in uniformly random order
        (McSherry & Najork 2008), from per-distance counts ``n_v`` (items) and ``m_v``
        (relevant): a group after ``A`` items (``Rl`` relevant) adds, with ``c = (m-1)/(n-1)``,
        ``(m/n)[(Rl + 1 - c(A+1)) (H_{A+n} - H_A) + c n]`` (H: harmonic numbers). With a
        cut-off, the group straddling rank k contributes a hypergeometric number X of relevant
        items to both the sum and ``N_i``: ``E = Σ_x P(X=x) (S + g(x)) / (N + x)``.
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
# Fused: codes and labels in, one ranking per query out (no n_query x n_database matrix)
# ---------------------------------------------------------------------------------------------

_FUSED = None  # compiled fused kernel once built; False where numba is missing


def _fused_kernel():
    """The compiled fused kernel (`cmh_core.evaluation._kernels`), or None where numba is missing.

    Compiled once per installation: the kernel module is jitted with ``cache=True``, so later
    processes load the machine code instead of spending ~10 s compiling on the first evaluation.
    """
    global _FUSED
    if _FUSED is None:
        if _counting_kernel() is None:
            _FUSED = False
            return None
        from cmh_core.evaluation._kernels import fused

        _FUSED = fused
    return _FUSED or None


def as_words(b: np.ndarray) -> np.ndarray:
    """Bytes ``(n, n_bytes)`` (packed codes or packed labels) as ``(n, w)`` uint64, zero-padded."""
    n, nb = b.shape
    w = max(1, -(-nb // 8))
    out = np.zeros((n, 8 * w), dtype=np.uint8)
    out[:, :nb] = b
    return out.view(np.uint64)


def rank_codes(Qw, Dw, Ql, Dl, kap: int, V: int, kt: int, n_labels: int, gains: bool = True):
    """`rank_rows` straight from codes and labels (as `as_words`), for a block of queries.

    Returns ``(ap, top, n, m, sg, gh)``: as `rank_rows`, plus ``gh`` (rows, n_labels + 1), the
    histogram of shared-label counts of each query (what its ideal DCG needs); with
    ``gains=False`` both ``sg`` and ``gh`` are left empty (mAP needs neither). Without numba,
    the same from `cmh_core.hamming.hamming_distance` and `label_overlap` matrices.
    """
    rows, n_db = Qw.shape[0], Dw.shape[0]
    tab = np.expm1(np.arange(n_labels + 1) * np.log(2.0))  # 2^g - 1
    gh = np.zeros((rows, n_labels + 1), np.int64)
    kernel = _fused_kernel()
    if kernel is None:
        from cmh_core.evaluation._ranking import label_overlap
        from cmh_core.hamming import hamming_distance

        L = hamming_distance(Qw.view(np.uint8), Dw.view(np.uint8))
        Ybits = [np.unpackbits(x.view(np.uint8), axis=1)[:, :n_labels] for x in (Ql, Dl)]
        G = label_overlap(*Ybits)
        for i in range(rows):
            gh[i] = np.bincount(G[i], minlength=n_labels + 1)
        return (*rank_rows(L, G, kap, V, kt, tab), gh)
    ap = np.zeros(rows)
    top = np.zeros((rows, kt), np.int64)
    n, m = np.zeros((rows, V), np.int64), np.zeros((rows, V), np.int64)
    sg = np.zeros((rows, V))
    Lb, Gb = np.empty(n_db, np.int64), np.empty(n_db, np.int64)
    if not gains:
        sg, gh = sg[:, :0], gh[:, :0]
    # database words column-major (w, n_db): each popcount loop streams one contiguous row
    kernel(
        Qw,
        np.ascontiguousarray(Dw.T),
        Ql,
        np.ascontiguousarray(Dl.T),
        kap,
        V,
        tab,
        ap,
        top,
        n,
        m,
        sg,
        gh,
        Lb,
        Gb,
    )
    return ap, top, n, m, sg, gh


def mean_average_precision_codes(
    query_codes, database_codes, query_labels, database_labels, ties: str = "stable"
) -> float:
    """mAP@all straight from packed codes and multi-hot labels, without distance matrices.

    Equals ``mean_average_precision(hamming_distance(Bq, Bd), relevance_from_labels(Yq, Yd),
    ties=ties)``, computed in one fused pass per query (Hamming distance, shared labels and
    the counting-sort ranking together), so memory stays O(n_database) whatever n_query.

    Parameters
    ----------
    query_codes : ndarray of uint8, shape (n_query, n_bytes)
    database_codes : ndarray of uint8, shape (n_database, n_bytes)
    query_labels : array-like, shape (n_query, c)
    database_labels : array-like, shape (n_database, c)
    ties : {"stable", "expected"}

    Returns
    -------
    float
    """
    check_ties(ties)
    Bq, Bd = check_codes(query_codes, "query_codes"), check_codes(database_codes, "database_codes")
    Yq, Yd = check_label_pair(query_labels, database_labels, as_bool=True)
    if Bq.shape[1] != Bd.shape[1] or len(Bq) != len(Yq) or len(Bd) != len(Yd):
        raise ValueError(
            f"codes {Bq.shape} / {Bd.shape} and labels {Yq.shape} / {Yd.shape} disagree; each code "
            "needs one label row and both code sets the same number of bytes"
        )
    if len(Bq) == 0:
        raise ValueError("query_codes has no rows; pass at least one query")
    n_db, V = len(Bd), 8 * Bq.shape[1] + 1
    Qw, Dw = as_words(Bq), as_words(Bd)
    Ql, Dl = (as_words(np.packbits(Y, axis=1)) for Y in (Yq, Yd))
    H = harmonic(n_db) if ties == "expected" else None
    ap = np.zeros(len(Bq))
    if _fused_kernel() is not None and 2 * V <= np.iinfo(np.uint16).max:  # keys 2 d + r fit uint16
        from cmh_core.evaluation._kernels import fused_ap

        n, m = np.zeros((len(Bq), V), np.int64), np.zeros((len(Bq), V), np.int64)
        group = max(1, min(8, (1 << 19) // max(n_db, 1)))  # queries sharing a block: keys <= 1 MiB
        fused_ap(Qw, np.ascontiguousarray(Dw.T), Ql, np.ascontiguousarray(Dl.T), V, ap, n, m, group)
        return float((ap if ties == "stable" else ap_expected(n, m, None, H)).mean())
    for s, e in row_blocks(len(Bq), 1, chunk=256):
        a, _, n, m, _, _ = rank_codes(Qw[s:e], Dw, Ql[s:e], Dl, n_db, V, 0, Yq.shape[1], False)
        ap[s:e] = a if ties == "stable" else ap_expected(n, m, None, H)
    return float(ap.mean())
