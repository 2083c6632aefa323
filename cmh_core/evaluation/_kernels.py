"""numba kernels of the evaluation, jitted with ``cache=True``: compiled once per installation.

Imported only when a kernel is first needed (numba's import and compilation stay out of
``import cmh_core``). The machine code is cached next to this file; where that folder is not
writable (a system-wide install), numba's cache goes to ``~/.cache/cmh-explorer/numba`` instead,
so a fresh server does not spend its first evaluation compiling.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numba
import numpy as np
from numba.extending import intrinsic


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


if not os.environ.get("NUMBA_CACHE_DIR") and not _writable(Path(__file__).parent / "__pycache__"):
    numba.config.CACHE_DIR = str(Path.home() / ".cache" / "cmh-explorer" / "numba")


@intrinsic
def popcnt(typingctx, x):
    """Set bits of an unsigned integer, as LLVM's ``ctpop``: one ``popcnt`` instruction, or
    ``vpopcntq`` / ``vpopcntd`` when the loop vectorises on a CPU with AVX-512 VPOPCNTDQ."""
    sig = x(x)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [args[0].type])
        return builder.call(fn, [args[0]])

    return sig, codegen


@numba.njit(inline="always", cache=True)
def _popcount64(x):  # pragma: no cover - runs compiled by numba
    """Set bits of a uint64 (SWAR: pairs, nibbles, bytes, then one multiply to sum the bytes)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(cache=True, nogil=True)
def fused(Qw, Dw, Ql, Dl, kap, V, tab, ap, top, n_out, m_out, sg_out, gh_out, Lb, Gb):
    """`_rank_rows_kernel` with ``L = popcount(q XOR d)`` (Hamming distance, eq. of the protocol)
    and ``G = popcount(labels_q AND labels_d)`` (shared labels) computed inline per item."""
    n_q, nw, nl = Qw.shape[0], Qw.shape[1], Ql.shape[1]
    n_db, kt = Dw.shape[1], top.shape[1]  # Dw, Dl: (words, n_db)
    want_sg, want_gh = sg_out.shape[1] > 0, gh_out.shape[1] > 0  # mAP alone needs neither
    hist = np.empty(2 * V, np.int64)  # hist[2 v + r]: one increment per item, not two
    start = np.empty(V + 1, np.int64)
    rstart = np.empty(V + 1, np.int64)
    inv = 1.0 / np.arange(1.0, n_db + 1.0)  # 1 / rank: a multiply per item, not a divide
    for i in range(n_q):
        hist[:] = 0
        Lb[:] = 0
        Gb[:] = 0
        for w in range(nw):  # popcount loops apart from the histogram, so they vectorise
            q = Qw[i, w]
            for j in range(n_db):
                Lb[j] += _popcount64(q ^ Dw[w, j])
        for w in range(nl):
            q = Ql[i, w]
            for j in range(n_db):
                Gb[j] += _popcount64(q & Dl[w, j])
        for j in range(n_db):
            d = Lb[j]
            g = Gb[j]
            hist[2 * d + np.int64(g > 0)] += 1
            if want_sg:
                sg_out[i, d] += tab[g]
            if want_gh:
                gh_out[i, g] += 1
        start[0] = 0
        rstart[0] = 0
        for v in range(V):
            n_out[i, v] = hist[2 * v] + hist[2 * v + 1]
            m_out[i, v] = hist[2 * v + 1]
            start[v + 1] = start[v] + n_out[i, v]
            rstart[v + 1] = rstart[v] + m_out[i, v]
        s = 0.0
        n_rel = 0
        for j in range(n_db):
            v = Lb[j]
            g = Gb[j]
            r = np.int64(g > 0)
            pos = start[v]
            start[v] = pos + 1
            t = rstart[v]
            rstart[v] = t + r
            w8 = r * np.int64(pos < kap)
            s += w8 * (t + 1.0) * inv[pos]
            n_rel += w8
            if pos < kt:
                top[i, pos] = g
        ap[i] = s / n_rel if n_rel > 0 else 0.0


@numba.njit(cache=True, nogil=True)
def _keys(q, l, T, L, n, key, tmp):  # pragma: no cover - runs compiled by numba
    """``key[j] = 2 d_H(q, code j) + [labels share one]`` for the ``n`` items of a block.

    ``T`` (code words, n) and ``L`` (label words, n) are column-major, so every loop runs over
    contiguous rows from index 0 and vectorises (a vectorised ``popcnt``; see `popcnt`).
    """
    w, wl = T.shape[0], L.shape[0]
    if w == 1 and wl == 1:
        q0, l0, T0, L0 = q[0], l[0], T[0], L[0]
        for j in range(n):
            key[j] = np.uint16(np.int32(2) * np.int32(popcnt(q0 ^ T0[j])) + np.int32((l0 & L0[j]) != 0))
        return
    for j in range(n):
        tmp[j] = np.int32(0)
    for t in range(w):
        qt, Tt = q[t], T[t]
        for j in range(n):
            tmp[j] += np.int32(popcnt(qt ^ Tt[j]))
    for j in range(n):
        tmp[j] *= 2
    for t in range(wl):
        lt, Lt = l[t], L[t]
        for j in range(n):
            tmp[j] |= np.int32((lt & Lt[j]) != 0)
    for j in range(n):
        key[j] = np.uint16(tmp[j])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _ratio_sum(ranks, c, inv):  # pragma: no cover - runs compiled by numba
    """Σ t / pos over the first ``c`` packed counters ``(t - 1) << 32 | (pos - 1)``: AP's sum.
    ``fastmath`` lets LLVM reorder the additions into vector lanes (a last-digit change only)."""
    s = 0.0
    for t in range(c):
        x = ranks[t]
        s += ((x >> 32) + 1.0) * inv[x & 0xFFFFFFFF]
    return s


@numba.njit(cache=True, nogil=True)
def fused_ap(Qw, Dw, Ql, Dl, V, ap, n_out, m_out, group):  # pragma: no cover - runs compiled by numba
    """Stable AP@all straight from codes and labels: two passes over the database per query.

    Qw (n_q, w) / Dw (w, n_db): code words; Ql (n_q, wl) / Dl (wl, n_db): label words (database
    column-major). Pass 1, for a group of queries over cache-sized blocks (the block is read once
    per group): ``key = 2 d + r`` (d the Hamming distance, r = 1 when a label is shared) and its
    histogram, so ``n_out[i, v]`` / ``m_out[i, v]`` count items / relevant items at distance v.
    Pass 2, per query in index order: one packed counter per distance, ``(relevant ranked before
    << 32) | items ranked before``, starts at the prefix sums and hands each item its stable rank
    ``pos`` and relevant rank ``t``: the (distance, index) order without sorting. A relevant item
    keeps its counter (stored branch-free at the next free slot); `_ratio_sum` then adds its
    ``t / pos`` (AP's sum, eq. of `mean_average_precision`) outside the scan, so neither a
    floating-point chain nor a mispredicted branch paces it.
    """
    n_q, n_db = Qw.shape[0], Dw.shape[1]
    block = 4096
    keys = np.empty((group, n_db), np.uint16)
    hist = np.zeros((group, 2 * V), np.int64)
    tmp = np.empty(block, np.int32)
    cnt = np.empty(V, np.int64)
    ranks = np.empty(n_db + 1, np.int64)  # packed counters of the relevant items, in index order
    inv = 1.0 / np.arange(1.0, n_db + 1.0)  # 1 / rank: a multiply per item, not a divide
    one = np.int64(1)
    for g0 in range(0, n_q, group):
        g1 = min(g0 + group, n_q)
        hist[:] = 0
        for s in range(0, n_db, block):
            n = min(block, n_db - s)
            T, L = Dw[:, s : s + n], Dl[:, s : s + n]
            for i in range(g0, g1):
                kb = keys[i - g0, s : s + n]
                _keys(Qw[i], Ql[i], T, L, n, kb, tmp)
                h = hist[i - g0]
                for j in range(n):
                    h[kb[j]] += 1
        for i in range(g0, g1):
            h, kb = hist[i - g0], keys[i - g0]
            a, rr = np.int64(0), np.int64(0)
            for v in range(V):
                n_out[i, v] = h[2 * v] + h[2 * v + 1]
                m_out[i, v] = h[2 * v + 1]
                cnt[v] = (rr << 32) | a
                a += n_out[i, v]
                rr += m_out[i, v]
            c = 0
            for j in range(n_db):  # branch-free: relevance is a coin flip per item
                kv = np.int64(kb[j])
                v = kv >> 1
                r = kv & one
                c0 = cnt[v]
                cnt[v] = c0 + ((r << 32) | one)
                ranks[c] = c0  # kept (c advances) only for a relevant item
                c += r
            ap[i] = _ratio_sum(ranks, c, inv) / c if c > 0 else 0.0
