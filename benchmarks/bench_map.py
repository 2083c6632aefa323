"""mAP speed, like with like: codes + labels -> mAP@all, `cmh_core` against the DCMH evaluation loop.

The reference is the field's most copied mAP loop as DCMH writes it: per query, relevance from
the label dot product (> 0), the Hamming row from {-1, +1} codes as ``0.5 (r - b Bᵀ)``, a default
``np.argsort`` and the AP sum. Ours is the same whole computation, `mean_average_precision_codes`
(equal to `mean_average_precision(hamming_distance(..), relevance_from_labels(..))`: a compiled
kernel over packed codes and packed labels, two passes over the database per query, no sort), and
`evaluate` (the full report, both
directions, every metric) at the MIRFlickr size (18,015) and the NUS-WIDE size (186,000). Codes and
labels are random (speed does not depend on quality). Every figure is the median of several runs,
the two sides of a ratio interleaved, with the min-max spread printed; one thread, except
`evaluate(n_jobs=2)` (two threads, as the project's 2-core target says).

Physical limits, measured per size: the read bandwidth on the database's code and label words (as
the kernel reads them, 16 B per item at 64 bits and 24 labels), hence the time to stream them once
per query; and the kernel's first pass alone on one L1-resident block (the vectorised popcounts of
codes and labels: its compute floor); and one counter increment per item on L1-resident keys (the
floor of each of its two counting passes). The mAP kernel's ns per (query, item) is printed beside.

    python benchmarks/bench_map.py [--n-query 2000] [--bits 64] [--repeats 5] [--ref-queries 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single thread, and no spinning BLAS threads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install


def dcmh_map(Bq_pm: np.ndarray, Bd_pm: np.ndarray, Yq: np.ndarray, Yd: np.ndarray) -> float:
    """The DCMH evaluation loop: per query, label dot product > 0, Hamming row from {-1, +1}
    codes as ``0.5 (r - <b, B>)``, default (unstable) argsort, AP over the relevant ranks."""
    n_bits = Bq_pm.shape[1]
    aps = []
    for i in range(Bq_pm.shape[0]):
        gnd = (Yq[i] @ Yd.T > 0).astype(np.float32)
        tsum = int(gnd.sum())
        if tsum == 0:
            aps.append(0.0)
            continue
        hamm = 0.5 * (n_bits - Bd_pm @ Bq_pm[i])
        gnd = gnd[np.argsort(hamm)]
        count = np.linspace(1, tsum, tsum)
        tindex = np.flatnonzero(gnd == 1) + 1.0
        aps.append(float(np.mean(count / tindex)))
    return float(np.mean(aps))


def ours_map(Bq, Bd, Yq, Yd) -> float:
    """The same whole computation with cmh_core (stable ties): codes + labels -> mAP."""
    from cmh_core.evaluation import mean_average_precision_codes

    return mean_average_precision_codes(Bq, Bd, Yq, Yd)


class _Codes:
    """A 'model' whose encode looks the codes up by the row index stored as the only feature."""

    def __init__(self, codes: np.ndarray, n_bits: int):
        self.codes, self.code_length = codes, n_bits

    def encode(self, X, modality="image"):
        return self.codes[X[:, 0].astype(np.int64)]


def _evaluate_case(Bq, Bd, Yq, Yd, n_bits):
    """evaluate() on a dataset whose queries are Bq and database Bd (both modalities alike)."""
    from cmh_core.datasets import CrossModalDataset, Split
    from cmh_core.evaluation import evaluate

    n_q, n_db = len(Bq), len(Bd)
    idx = np.arange(n_q + n_db, dtype=np.float32)[:, None]
    ds = CrossModalDataset(
        name="bench",
        image_features=idx,
        text_features=idx,
        labels=np.vstack([Yq, Yd]).astype(np.uint8),
        label_names=[f"c{j}" for j in range(Yq.shape[1])],
        texts=[""] * (n_q + n_db),
        split=Split(query=np.arange(n_q), database=(db := np.arange(n_q, n_q + n_db)), train=db),
    )
    model = _Codes(np.vstack([Bq, Bd]), n_bits)
    return lambda: evaluate(model, ds, protocol="encoded", n_jobs=2)["i2t"]["mAP"]


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def spread(ts: list[float]) -> str:
    return f"{np.median(ts):.3f} ({min(ts):.3f}-{max(ts):.3f})"


def peak_mib(fn) -> float:
    """Peak traced allocation (numpy reports its buffers to tracemalloc) of one call, MiB."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def data(rng, n_q: int, n_db: int, n_bits: int, n_labels: int = 24):
    from cmh_core.hamming import unpack_bits

    Yq = rng.random((n_q, n_labels)) < 0.05
    Yq[np.arange(n_q), rng.integers(0, n_labels, n_q)] = True
    Yd = rng.random((n_db, n_labels)) < 0.05
    Yd[np.arange(n_db), rng.integers(0, n_labels, n_db)] = True
    Bq = rng.integers(0, 256, (n_q, n_bits // 8), dtype=np.uint8)
    Bd = rng.integers(0, 256, (n_db, n_bits // 8), dtype=np.uint8)
    pm = [unpack_bits(B, n_bits).astype(np.float32) * 2 - 1 for B in (Bq, Bd)]
    return Bq, Bd, Yq, Yd, pm[0], pm[1], Yq.astype(np.float32), Yd.astype(np.float32)


def read_gbs(*arrays: np.ndarray, repeats: int = 5) -> float:
    """Read bandwidth on the arrays themselves, where they sit (cache or memory): bytes per second
    of vectorised OR-reductions over their 64-bit words (best of runs)."""
    nbytes = sum(a.nbytes for a in arrays)
    t = min(timed(lambda: [np.bitwise_or.reduce(a.reshape(-1)) for a in arrays])[0] for _ in range(repeats))
    return nbytes / t / 1e9


def pass1_floor_ns(reps: int = 4000) -> float:
    """ns per item of the mAP kernel's first pass (code XOR and label AND popcounts, keys) on one
    L1-resident block of 4,096 items, 64-bit codes and one label word."""
    import numba

    from cmh_core.evaluation._kernels import _keys

    @numba.njit
    def loop(Q, T, L, key, tmp, reps):
        for r in range(reps):
            _keys(Q[r % Q.shape[0]], Q[r % Q.shape[0]], T, L, T.shape[1], key, tmp)

    rng = np.random.default_rng(1)
    T, L = (rng.integers(0, 2**63, (1, 4096), dtype=np.uint64) for _ in "TL")
    Q = rng.integers(0, 2**63, (64, 1), dtype=np.uint64)
    key, tmp = np.empty(4096, np.uint16), np.empty(4096, np.int32)
    loop(Q, T, L, key, tmp, 2)
    return min(timed(lambda: loop(Q, T, L, key, tmp, reps))[0] for _ in range(5)) / reps / 4096 * 1e9


def scatter_floor_ns(n_bits: int, reps: int = 2000) -> float:
    """ns per item of one counter increment ``h[key] += 1`` over 4,096 L1-resident keys distributed
    as the kernel's (2 d + r, d ~ Binomial(n_bits, 1/2)): a dependent load-add-store per item, which
    each of the kernel's two counting passes (histogram, then ranks) does once per item."""
    import numba

    @numba.njit
    def loop(keys, h, reps):
        for _ in range(reps):
            for j in range(keys.shape[0]):
                h[keys[j]] += 1

    rng = np.random.default_rng(2)
    keys = (2 * rng.binomial(n_bits, 0.5, 4096) + (rng.random(4096) < 0.2)).astype(np.uint16)
    h = np.zeros(2 * n_bits + 2, np.int64)
    loop(keys, h, 2)
    return min(timed(lambda: loop(keys, h, reps))[0] for _ in range(5)) / reps / 4096 * 1e9


def run_size(rng, args, n_db: int, ref_queries: int) -> None:
    Bq, Bd, Yq, Yd, Bq_pm, Bd_pm, Yqf, Ydf = data(rng, args.n_query, n_db, args.bits)
    rq = slice(0, ref_queries)
    ev = _evaluate_case(Bq, Bd, Yq, Yd, args.bits)
    ours_map(Bq[:5], Bd, Yq[:5], Yd)  # numba compilation outside the timings
    cases = {  # name: (function, number of queries it handles)
        f"DCMH loop, {ref_queries:,} queries": (
            lambda: dcmh_map(Bq_pm[rq], Bd_pm, Yqf[rq], Ydf),
            ref_queries,
        ),
        f"cmh_core mAP, {ref_queries:,} queries": (lambda: ours_map(Bq[rq], Bd, Yq[rq], Yd), ref_queries),
        f"evaluate(n_jobs=2), full report, both directions, {args.n_query:,} queries": (ev, args.n_query),
    }
    if ref_queries != args.n_query:
        cases[f"cmh_core mAP, {args.n_query:,} queries"] = (lambda: ours_map(Bq, Bd, Yq, Yd), args.n_query)
    times: dict[str, list[float]] = {name: [] for name in cases}
    value = {}
    for _ in range(args.repeats):  # interleaved: a busy neighbour slows every case alike
        for name, (fn, _) in cases.items():
            t, value[name] = timed(fn)
            times[name].append(t)
    names = list(cases)
    print(f"\n## {args.n_query:,} queries x {n_db:,} database items, {args.bits} bits\n")
    print("| computation | seconds, median (min-max) | mAP | speed-up vs DCMH loop |")
    print("|---|---:|---:|---:|")
    ratios = np.array(times[names[0]]) / np.array(times[names[1]])  # pairwise, same round
    ref_per_query = np.median(times[names[0]]) / ref_queries
    for name in names:
        per = ref_per_query / (np.median(times[name]) / cases[name][1])  # per-query throughput ratio
        print(f"| {name} | {spread(times[name])} | {value[name]:.4f} | {per:.1f}x |")
    print(
        f"\nPaired ratio DCMH / cmh_core on the same {ref_queries:,} queries: median "
        f"{np.median(ratios):.1f}x (min {ratios.min():.1f}x, max {ratios.max():.1f}x). The DCMH "
        "value differs in the last digits: its default argsort orders ties arbitrarily."
    )
    from cmh_core.evaluation._average_precision import as_words

    ns = np.median(times[names[1]]) / ref_queries / n_db * 1e9
    words = [as_words(Bd), as_words(np.packbits(Yd, axis=1))]  # what the kernel streams
    item_bytes = sum(w.shape[1] * 8 for w in words)
    bandwidth = read_gbs(*words)
    print(
        f"cmh_core mAP: {ns:.2f} ns per (query, item); read bandwidth on the database words "
        f"{bandwidth:.1f} GB/s, so streaming {item_bytes} B per item once: {item_bytes / bandwidth:.2f} "
        f"ns; pass 1 alone in L1: {args.pass1:.2f} ns; one counter increment per item in L1: "
        f"{args.scatter:.2f} ns (the two counting passes do one each)"
    )
    print(f"evaluate() peak traced memory: {peak_mib(ev):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-query", type=int, default=2000)
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--ref-queries", type=int, default=2000, help="queries of the DCMH loop at 18,015")
    parser.add_argument("--ref-queries-large", type=int, default=200, help="... at 186,000 (slow loop)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[18015, 186000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"# mAP speed, numpy {np.__version__}, one thread, {args.repeats} interleaved rounds")
    args.pass1, args.scatter = pass1_floor_ns(), scatter_floor_ns(args.bits)
    for n_db in args.sizes:
        run_size(rng, args, n_db, args.ref_queries if n_db < 100_000 else args.ref_queries_large)


if __name__ == "__main__":
    main()
