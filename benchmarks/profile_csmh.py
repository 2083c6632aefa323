"""Where CSMH's fit time goes as n grows: single-thread CPU seconds, MM tries and a cProfile summary.

The doubling ratio (n -> 2n) of `bench_kernel_cpu.py` says whether the fit is linear in n; this
script says why not when it is not. For each n it fits CSMH (64 bits, synthetic 1280-d / 1000-d
features, 24 labels, the data of `bench_train.py`) on one BLAS thread and prints the process CPU
seconds, how many ridge solves the backtracking majorise-minimise step made (one per try) and how
many a × a Cholesky factorisations it needed (one per new curvature), and the functions with the
largest own time. A size-dependent iteration count shows up in the counts, an O(n²) step in the
per-function times. Profiled times are inflated by cProfile and by the load; the CPU seconds and
the counts are what to compare across n.

    python benchmarks/profile_csmh.py 5000 10000 20000
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

import cmh_core.methods._mmd as mmd_module  # noqa: E402
from cmh_core.datasets import make_synthetic  # noqa: E402
from cmh_core.methods import get_method  # noqa: E402


def _counting(counts: dict) -> None:
    """Count `MMDRidge._solve` calls (MM tries) and `ridge_factor` calls (Cholesky factorisations)."""
    solve, factor = mmd_module.MMDRidge._solve, mmd_module.ridge_factor

    def counted_solve(self, rhs, kappa):
        counts["solves"] = counts.get("solves", 0) + 1
        return solve(self, rhs, kappa)

    def counted_factor(*args, **kwargs):
        counts["factorisations"] = counts.get("factorisations", 0) + 1
        return factor(*args, **kwargs)

    mmd_module.MMDRidge._solve, mmd_module.ridge_factor = counted_solve, counted_factor


def main(argv: list[str] | None = None) -> None:
    sizes = [int(x) for x in (argv if argv is not None else sys.argv[1:])] or [5000, 10000, 20000]
    d = make_synthetic(n=max(sizes), d_img=1280, d_txt=1000, n_labels=24, random_state=0, query_fraction=0.01)
    counts: dict = {}
    _counting(counts)
    print(f"load average before: {os.getloadavg()}", flush=True)
    previous = None
    with threadpool_limits(1):
        for n in sizes:
            data = (d.image_features[:n], d.text_features[:n], d.labels[:n])
            counts.clear()
            model = get_method("CSMH", n_bits=64, random_state=0)
            prof = cProfile.Profile()
            c0 = time.process_time()
            prof.enable()
            model.fit(*data)
            prof.disable()
            cpu = time.process_time() - c0
            ratio = f", ratio to the previous n {cpu / previous:.2f}" if previous else ""
            previous = cpu
            print(f"\nn = {n}: {cpu:.2f} CPU s{ratio}; {counts}; load average {os.getloadavg()[0]:.1f}")
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(10)
            print("\n".join(out.getvalue().splitlines()[6:18]), flush=True)


if __name__ == "__main__":
    main()
