"""Top-k Hamming search throughput: `cmh_core.hamming.search` against FAISS `IndexBinaryFlat`.

1,000,000 random database codes at 32, 64 and 128 bits, single thread, k = 10 (and 100):
FAISS's default heap scan on a prebuilt index is the baseline; `search` is timed end to end
with the default backend (numba: a compiled popcount scan over cache-sized blocks shared by groups
of 32 queries, with a counting top-k that keeps the (distance, index) order) and with
``backend="numpy"``. Each figure is the median of ``--repeats`` rounds in which the two sides of
the ratio run back to back (interleaved, so a busy neighbour slows both alike); the ratio is the
median of the per-round ratios, printed with its min-max spread.

Physical limits, measured on the machine: the read bandwidth on the database array itself (a
vectorised OR-reduction over its bytes, so from whichever cache level holds it) and the popcount
ceiling (the kernel's distance loop alone on one L1-resident block, M codes/s). A scan that reads
the database once per query, as FAISS's does, cannot beat the read bandwidth divided by the code
size; `search` reads it once per group of queries, so its limit is the popcount ceiling, and the
table gives its rate as a fraction of it.

    python benchmarks/bench_hamming.py [--n-db 1000000] [--n-query 200] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single thread, and no spinning BLAS threads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fa, fb, repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of ``repeats`` rounds of (fa, fb) run back to back, after one warm-up of each."""
    fa(), fb()
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(timed(fa))
        tb.append(timed(fb))
    return np.array(ta), np.array(tb)


def read_gbs(a: np.ndarray, repeats: int = 5) -> float:
    """Read bandwidth on the array itself, where it sits (cache or memory): bytes per second of a
    vectorised OR-reduction over its bytes (best of runs)."""
    flat = a.reshape(-1)
    return flat.nbytes / min(timed(lambda: np.bitwise_or.reduce(flat)) for _ in range(repeats)) / 1e9


def popcount_ceiling(n_bytes: int, reps: int = 2000) -> float:
    """M codes/s of `search`'s distance loop alone on one L1-resident block of 2,048 codes."""
    import numba

    from cmh_core._search_kernel import _distances

    @numba.njit
    def loop(Q, T, dist, mins, reps):
        m = 0
        for r in range(reps):
            m += _distances(Q[r % Q.shape[0]], T, T.shape[1], dist, mins, 64, 8 * n_bytes + 1)
        return m

    dtype = np.uint32 if n_bytes == 4 else np.uint64
    rng = np.random.default_rng(1)
    T = np.ascontiguousarray(rng.integers(0, 256, (2048, n_bytes), dtype=np.uint8).view(dtype).T)
    Q = rng.integers(0, 256, (64, n_bytes), dtype=np.uint8).view(dtype)
    dist, mins = np.empty(2048, np.int32), np.empty(32, np.int32)
    loop(Q, T, dist, mins, 2)
    return 2048 * reps / 1e6 / min(timed(lambda: loop(Q, T, dist, mins, reps)) for _ in range(5))


def main() -> None:
    import faiss

    from cmh_core.hamming import search

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-db", type=int, default=1_000_000)
    parser.add_argument("--n-query", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds per figure")
    parser.add_argument("--numpy-queries", type=int, default=20, help="queries for the slower numpy backend")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)

    print(f"# Hamming top-k search, {args.n_db:,} codes, {args.n_query} queries, 1 thread")
    print(
        f"# faiss {faiss.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}"
    )
    ceiling = {n_bits: popcount_ceiling(n_bits // 8) for n_bits in (32, 64, 128)}
    print("# popcount ceiling " + ", ".join(f"{b} bits {c:,.0f} M codes/s" for b, c in ceiling.items()))
    print()
    print(
        "| bits | k | FAISS heap (M codes/s) | `search` (M codes/s) | ratio, median (min-max) | "
        "read GB/s (one-pass limit, M codes/s) | `search` / popcount ceiling | "
        "`search` numpy (M codes/s) | same result |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    slower = []
    for n_bits in (32, 64, 128):
        db = rng.integers(0, 256, (args.n_db, n_bits // 8), dtype=np.uint8)
        q = rng.integers(0, 256, (args.n_query, n_bits // 8), dtype=np.uint8)
        index = faiss.IndexBinaryFlat(n_bits)
        index.add(db)
        bandwidth = read_gbs(db.view(np.uint64) if n_bits % 64 == 0 else db.view(np.uint32))
        for k in (10, 100):
            scanned = args.n_db * args.n_query / 1e6
            t_faiss, t_ours = interleaved(
                lambda q=q, k=k, index=index: index.search(q, k),
                lambda q=q, db=db, k=k: search(q, db, k),
                args.repeats,
            )
            ratio = t_faiss / t_ours  # per round: both sides under the same load
            qn = q[: args.numpy_queries]
            t_np = np.median(
                [timed(lambda qn=qn, db=db, k=k: search(qn, db, k, backend="numpy")) for _ in range(3)]
            )
            Df, _ = index.search(q, k)
            D, I = search(q, db, k)
            Dn, In = search(qn, db, k, backend="numpy")
            same = bool((D == Df).all() and (Dn == D[: len(qn)]).all() and (In == I[: len(qn)]).all())
            rate = scanned / np.median(t_ours)
            print(
                f"| {n_bits} | {k} | {scanned / np.median(t_faiss):,.0f} | {rate:,.0f} | "
                f"{np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f}) | "
                f"{bandwidth:.0f} ({bandwidth * 1e3 / (n_bits / 8):,.0f}) | {rate / ceiling[n_bits]:.0%} | "
                f"{args.n_db * len(qn) / 1e6 / t_np:,.0f} | {'yes' if same else 'NO'} |"
            )
            if np.median(ratio) < 1:
                slower.append(f"{n_bits} bits, k = {k}")
    if slower:
        print(f"\n`search` is slower than FAISS's heap scan at {'; '.join(slower)} (median ratio < 1).")


if __name__ == "__main__":
    main()
