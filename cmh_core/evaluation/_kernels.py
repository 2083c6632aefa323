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


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


if not os.environ.get("NUMBA_CACHE_DIR") and not _writable(Path(__file__).parent / "__pycache__"):
    numba.config.CACHE_DIR = str(Path.home() / ".cache" / "cmh-explorer" / "numba")


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
