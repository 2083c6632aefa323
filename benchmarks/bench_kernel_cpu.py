"""CPU seconds of HPsEH and CSMH fits at n and 2n, one BLAS thread (issue 17's speed check, loaded machine).

`bench_train.py` measures wall time, the issue's figure (target: <= 15 s at n = 20,000 on 2 cores,
doubling ratio <= 2.2). On a shared machine whose load average is many times its core count, wall time
measures the queue, not the method. This script adds the process CPU time of single-threaded fits (no
busy-waiting BLAS threads to inflate it), which the queue does not change: a fit that needs at most
15 CPU seconds on one thread needs at most 15 s of wall time on an idle 2-core machine. Rounds
interleave n and 2n; each figure is the median over rounds, ratios are medians of per-round ratios.

    python benchmarks/bench_kernel_cpu.py --n 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core.datasets import make_synthetic  # noqa: E402
from cmh_core.methods import get_method  # noqa: E402


def _fit(name: str, data: tuple, bits: int) -> tuple[float, float]:
    m = get_method(name, n_bits=bits, random_state=0)
    w0, c0 = time.perf_counter(), time.process_time()
    m.fit(*data)
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["HPsEH", "CSMH"])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    # the synthetic data of bench_train.py: n rows are the first half of the 2n rows
    d = make_synthetic(n=2 * args.n, d_img=1280, d_txt=1000, n_labels=24, random_state=0, query_fraction=0.01)
    full = (d.image_features, d.text_features, d.labels)
    sets = [tuple(a[: args.n] for a in full), full]
    print(f"load average before: {os.getloadavg()}", flush=True)
    n1, n2 = f"{args.n:,}", f"{2 * args.n:,}"
    print(f"| method | CPU s, n = {n1} | CPU s, n = {n2} | CPU ratio | wall s, n = {n1} |")
    print("|---|---:|---:|---:|---:|")
    with threadpool_limits(1):
        for name in args.methods:
            res = np.array([[_fit(name, s, args.bits) for s in sets] for _ in range(args.repeat)])
            cpu, wall = res[..., 0], res[..., 1]
            ratio = cpu[:, 1] / cpu[:, 0]
            print(
                f"| {name} | {np.median(cpu[:, 0]):.2f} ({cpu[:, 0].min():.2f}-{cpu[:, 0].max():.2f}) | "
                f"{np.median(cpu[:, 1]):.2f} | "
                f"{np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f}) | "
                f"{np.median(wall[:, 0]):.2f} |",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
