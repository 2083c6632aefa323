"""numba kernels of `cmh_core.hamming.search`: a compiled popcount scan with an exact top-k.

Jitted with ``cache=True`` (compiled once per installation; see `cmh_core.evaluation._kernels`
for the cache folder). Imported on the first search, so ``import cmh_core`` stays light.
"""

from __future__ import annotations

import numba
import numpy as np

# popcnt: LLVM's ctpop; importing the module also sets numba's cache folder where the package is read-only
from cmh_core.evaluation._kernels import popcnt


@numba.njit(cache=True, nogil=True)
def _distances(q, T, n, dist, mins, sub, V):  # pragma: no cover - runs compiled by numba
    """``dist[j] = d_H(q, code j)`` for the ``n`` codes of a block stored column-major, ``T[t, j]``
    the t-th word of code j (contiguous rows: plain vectorised loops, no gathers), and
    ``mins[b]`` the minimum over codes ``b sub .. (b + 1) sub``; returns the block's minimum.
    Indices start at 0 so that numba adds no negative-index wrap-around (which would keep LLVM
    from vectorising)."""
    w = T.shape[0]
    if w == 1:
        q0, T0 = q[0], T[0]
        for j in range(n):
            dist[j] = np.int32(popcnt(q0 ^ T0[j]))
    elif w == 2:
        q0, q1, T0, T1 = q[0], q[1], T[0], T[1]
        for j in range(n):
            dist[j] = np.int32(popcnt(q0 ^ T0[j])) + np.int32(popcnt(q1 ^ T1[j]))
    else:
        q0, T0 = q[0], T[0]
        for j in range(n):
            dist[j] = np.int32(popcnt(q0 ^ T0[j]))
        for t in range(1, w):
            qt, Tt = q[t], T[t]
            for j in range(n):
                dist[j] += np.int32(popcnt(qt ^ Tt[j]))
    m = np.int32(V)
    for b in range((n + sub - 1) // sub):
        seg = dist[b * sub : min(b * sub + sub, n)]
        mb = np.int32(V)
        for j in range(seg.shape[0]):
            mb = min(mb, seg[j])
        mins[b] = mb
        m = min(m, mb)
    return m


@numba.njit(cache=True, nogil=True)
def _keep_first(buf_d, buf_i, c, k, cnt, tmp_d, tmp_i):  # pragma: no cover - runs compiled by numba
    """Keep the first ``min(k, c)`` of ``buf[:c]`` in (distance, index) order, sorted; returns how many.

    A stable counting sort by distance: ``buf`` holds its kept items sorted, then newer items in
    index order, all with larger indices, so within one distance buffer order is index order.
    """
    cnt[:] = 0
    for t in range(c):
        cnt[buf_d[t] + 1] += 1
    for v in range(1, cnt.shape[0]):
        cnt[v] += cnt[v - 1]
    for t in range(c):
        d = buf_d[t]
        p = cnt[d]
        cnt[d] = p + 1
        if p < k:
            tmp_d[p] = d
            tmp_i[p] = buf_i[t]
    kept = min(k, c)
    buf_d[:kept] = tmp_d[:kept]
    buf_i[:kept] = tmp_i[:kept]
    return kept


@numba.njit(cache=True, nogil=True)
def top_k(Q, D, w, k, V, out_d, out_i, block, group, cap):  # pragma: no cover - runs compiled by numba
    """Exact top-k by (Hamming distance, database index) for every query, one thread.

    Q : (n_q * w,) and D : (n_db * w,) flat words (code ``j`` is ``D[j w : (j + 1) w]``);
    V : largest possible distance + 1. Writes ``out_d``, ``out_i`` (n_q, k), rows filled from the left.

    Queries go in groups of ``group`` over cache-sized blocks of ``block`` codes, so a block is read
    from memory once per group rather than once per query (one query alone is bound by memory
    bandwidth, not by popcount). Per query and block, a vectorised popcount loop writes the
    distances and returns their minimum; the block is skipped when even that minimum cannot enter;
    otherwise each item strictly nearer than the current k-th distance ``thr`` is appended to the
    query's candidate buffer. An item at exactly ``thr`` can never enter: k earlier items (smaller
    indices) are already at most as far. A full buffer is cut back to its first k by a stable
    counting sort, which lowers ``thr``. O(n_db) per query: no sort, no heap.
    """
    n_q = Q.shape[0] // w
    n_db = D.shape[0] // w
    sub = 64  # distances per minimum: a block of d >= thr is skipped 64 codes at a time
    buf_d = np.empty((group, cap), np.int32)
    buf_i = np.empty((group, cap), np.int64)
    tmp_d = np.empty(k, np.int32)
    tmp_i = np.empty(k, np.int64)
    cnt = np.empty(V + 1, np.int64)
    dist = np.empty(block, np.int32)
    mins = np.empty((block + sub - 1) // sub, np.int32)
    T = np.empty((w, block), D.dtype)  # the block's words column-major, once per group of queries
    thr = np.empty(group, np.int32)
    fill = np.empty(group, np.int64)
    for g0 in range(0, n_q, group):
        g1 = min(g0 + group, n_q)
        thr[:] = V  # accept d < thr: everything until k items are kept
        fill[:] = 0
        for s in range(0, n_db, block):
            n = min(block, n_db - s)
            Db = D[s * w : (s + n) * w]
            if w == 1:
                Tb = Db.reshape((1, n))
            else:
                Tb = T
                for t in range(w):
                    Tt = T[t]
                    for j in range(n):
                        Tt[j] = Db[j * w + t]
            for i in range(g0, g1):
                gi = i - g0
                t_i = thr[gi]
                if _distances(Q[i * w : (i + 1) * w], Tb, n, dist, mins, sub, V) >= t_i:
                    continue
                c = fill[gi]
                bd, bi = buf_d[gi], buf_i[gi]
                for b in range((n + sub - 1) // sub):  # this block's runs of 64 (the last may be short)
                    if mins[b] >= t_i:
                        continue
                    seg = dist[b * sub : min(b * sub + sub, n)]
                    for j in range(seg.shape[0]):
                        d = seg[j]
                        if d < t_i:
                            if c == cap:
                                c = _keep_first(bd, bi, c, k, cnt, tmp_d, tmp_i)
                                t_i = bd[k - 1]
                                if d >= t_i:
                                    continue
                            bd[c] = d
                            bi[c] = s + b * sub + j
                            c += 1
                fill[gi] = c
                thr[gi] = t_i
        for i in range(g0, g1):
            gi = i - g0
            c = _keep_first(buf_d[gi], buf_i[gi], fill[gi], k, cnt, tmp_d, tmp_i)
            out_d[i, :c] = buf_d[gi, :c]
            out_i[i, :c] = buf_i[gi, :c]


def search_codes(q: np.ndarray, db: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`cmh_core.hamming.search` on checked packed codes ``q`` (n_q, n_bytes), ``db`` (n_db, n_bytes),
    ``n_db >= 1``: ``(D, I)`` of shape (n_q, k), int32 / int64, padded as FAISS when k > n_db."""
    n_q, nb = q.shape
    n_db = db.shape[0]
    if nb != 4 and nb % 8:  # one uint32 per code, else uint64 words: pad to whole words
        q, db = (np.pad(x, ((0, 0), (0, -nb % 8))) for x in (q, db))
    dtype = np.uint32 if nb == 4 else np.uint64
    Qw, Dw = q.view(dtype), db.view(dtype)  # (n, w), C-contiguous
    w = Qw.shape[1]
    kk = min(k, n_db)
    cap = min(2 * kk + 32, n_db)  # candidate buffer: cut back to kk whenever it fills
    group = max(1, min(32, n_q, (1 << 22) // cap))  # queries sharing a block; bounds the buffers
    block = 2048 if 8 * w * Dw.itemsize <= 32 else max(256, 32768 // (w * Dw.itemsize))
    D = np.full((n_q, k), np.iinfo(np.int32).max, dtype=np.int32)
    I = np.full((n_q, k), -1, dtype=np.int64)
    top_k(Qw.ravel(), Dw.ravel(), w, kk, 8 * w * Dw.itemsize + 1, D, I, block, group, cap)
    return D, I
