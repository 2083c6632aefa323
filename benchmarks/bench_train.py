"""Training time and memory of every registered method on large synthetic data.

Target (issue): training each baseline on synthetic n = 20,000 (1280-d image, 1,000-d text,
24 labels, 64 bits) takes <= 10 s on 2 cores; doubling n costs <= 2.2x; no n×n array.

For each method: wall-clock ``fit`` time at n and 2n (best of ``--repeat``), their ratio, and the
CPU seconds (all threads; less sensitive to other load on a shared machine), and the
peak memory that ``fit`` allocates through numpy (tracemalloc, inputs excluded; an n×n float32
array at n = 20,000 alone would be 1.6 GB). Prints a markdown table.

    python benchmarks/bench_train.py                 # all methods, n = 20,000 and 40,000
    python benchmarks/bench_train.py --methods DCH --n 5000 --repeat 3
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core.datasets import make_synthetic  # noqa: E402
from cmh_core.methods import METHODS, get_method  # noqa: E402

TARGET_S, TARGET_RATIO = 10.0, 2.2
# n_bits per method where --bits does not apply: JSPSH's n_bits is r active bits of K = 20 r (issue 9)
BITS_OVERRIDE = {"JSPSH": 16}


def _fit_time(name: str, data: tuple, n_bits: int, repeat: int) -> tuple[float, float]:
    """Best wall-clock and CPU seconds (all threads) of ``fit`` over ``repeat`` runs."""
    best, cpu = np.inf, np.inf
    for _ in range(repeat):
        m = get_method(name, n_bits=n_bits, random_state=0)
        t0, c0 = time.perf_counter(), time.process_time()
        m.fit(*data)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return float(best), float(cpu)


def _fit_peak_mb(name: str, data: tuple, n_bits: int) -> float:
    m = get_method(name, n_bits=n_bits, random_state=0)
    tracemalloc.start()
    try:
        m.fit(*data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="BLAS threads (the target is for 2 cores)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = p.parse_args(argv)

    ds = make_synthetic(
        n=2 * args.n, d_img=1280, d_txt=1000, n_labels=24, random_state=0, query_fraction=0.01
    )
    full = (ds.image_features, ds.text_features, ds.labels)
    half = tuple(a[: args.n] for a in full)
    in_mb = sum(a.nbytes for a in full) / 2**20
    nn_mb = args.n**2 * 4 / 2**20
    rows = []
    with threadpool_limits(args.threads):
        for name in args.methods:
            bits = BITS_OVERRIDE.get(name, args.bits)
            (t1, c1), (t2, c2) = (_fit_time(name, d, bits, args.repeat) for d in (half, full))
            mem = (
                (np.nan, np.nan)
                if args.no_memory
                else tuple(_fit_peak_mb(name, d, bits) for d in (half, full))
            )
            ok = t1 <= TARGET_S and t2 / t1 <= TARGET_RATIO and not (mem[1] >= nn_mb)
            label = name if bits == args.bits else f"{name} (n_bits={bits})"
            rows.append(
                f"| {label} | {t1:.2f} | {t2:.2f} | {t2 / t1:.2f} | {c1:.2f} | {c2:.2f} | {c2 / c1:.2f} | "
                f"{mem[0]:.0f} | {mem[1]:.0f} | "
                f"{'yes' if ok else '**no**'} |"
            )
            print(rows[-1], flush=True)
    n2 = 2 * args.n
    table = "\n".join(
        [
            f"Synthetic 1280-d image / 1000-d text, 24 labels, {args.bits} bits, "
            f"{args.threads} BLAS threads, best of {args.repeat}; inputs at n = {n2:,}: {in_mb:.0f} MiB; "
            f"one n×n float32 at n = {args.n:,}: {nn_mb:.0f} MiB.",
            "",
            f"| method | fit s, n = {args.n:,} | fit s, n = {n2:,} | ratio | CPU s, n = {args.n:,} | "
            f"CPU s, n = {n2:,} | CPU ratio | peak MiB, n = {args.n:,} | peak MiB, n = {n2:,} | "
            f"meets target (≤ {TARGET_S:.0f} s, ratio ≤ {TARGET_RATIO}) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print()
    print(table)
    return table


if __name__ == "__main__":
    main()
