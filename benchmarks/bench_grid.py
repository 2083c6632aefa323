"""Wall-clock speed-up of a grid on local processes (``cmh bench --jobs 2``) over the sequential grid.

The grid is 8 runs (2 methods × 2 code lengths × 2 seeds) on a bundled dataset. Sequential runs
use the machine's default BLAS threads; ``--jobs N`` runs use N processes of one BLAS thread
each (what `run_comparison(n_jobs=N)` does). Rounds are interleaved (sequential, parallel,
sequential, ...) so load bursts hit both; the ratio is the median of per-round ratios, with the
min-max spread. Both sides must give identical mAP, which is checked.

    nice -n 5 python benchmarks/bench_grid.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core.comparison import run_comparison  # noqa: E402


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="tuxpaint")
    p.add_argument("--methods", nargs="+", default=["DCH", "CCA-ITQ"])
    p.add_argument("--bits", type=int, nargs="+", default=[32, 64])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    load0 = os.getloadavg()
    seq, par = [], []
    for _ in range(args.rounds):
        for n_jobs, out in ((1, seq), (args.jobs, par)):
            t0 = time.perf_counter()
            cmp = run_comparison(args.dataset, args.methods, args.bits, args.seeds, n_jobs=n_jobs)
            out.append(time.perf_counter() - t0)
            maps = [(r.map_i2t, r.map_t2i) for r in cmp.runs]
            if n_jobs == 1:
                ref = maps
            elif maps != ref:
                raise SystemExit("the parallel grid gave other mAP than the sequential one")
    r = np.array(seq) / np.array(par)
    load1 = os.getloadavg()
    table = "\n".join([
        f"Grid of {len(cmp.runs)} runs ({', '.join(args.methods)} × {args.bits} bits × {args.seeds} seeds) "
        f"on {args.dataset}, {args.rounds} interleaved rounds; {os.cpu_count()} cores; load average "
        f"{load0[0]:.1f} at the start, {load1[0]:.1f} at the end (1-minute).",
        "",
        f"| sequential s | --jobs {args.jobs} s | speed-up |",
        "|---:|---:|---:|",
        f"| {np.median(seq):.1f} ({min(seq):.1f}-{max(seq):.1f}) | {np.median(par):.1f} "
        f"({min(par):.1f}-{max(par):.1f}) | {np.median(r):.2f}× ({r.min():.2f}-{r.max():.2f}) |",
        "",
        "Identical mAP on both sides (checked).",
    ])  # fmt: skip
    print(table)
    return table


if __name__ == "__main__":
    main()
