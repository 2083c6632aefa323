"""Seconds to featurise one typed query on the e5 datasets: model load, raw row, expanded row.

The app's Search page calls `featurize_text` once per typed query; the goal is <= 0.2 s on the
2-core machine (docs/multilingual.md). Each of 12 queries in 8 languages is featurised
``--repeat`` times per dataset, raw (``expand=0``) and with the bundle's validated expansion;
the median and the maximum are printed, with the load average before the run.

    python benchmarks/bench_featurize_text.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets import featurize_text, load_dataset  # noqa: E402
from cmh_core.datasets.featurize import query_expansion_k  # noqa: E402

QUERIES = [
    "tortue", "Schildkröte", "亀", "a red bus", "une pomme rouge", "赤いバス", "perro que corre",
    "кошка", "小鸟在树上", "ein Pinguin auf dem Eis", "gato", "the penguin mascot of Linux",
]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name in ("tuxpaint", "openmoji"):
        ds = load_dataset(name, text_features="e5")
        t0 = time.perf_counter()
        featurize_text(ds, "warm-up", expand=0)  # first call loads the 4-bit model
        first = time.perf_counter() - t0
        k = query_expansion_k(ds)
        for label, kk in (("raw", 0), (f"expanded (k = {k})", k)):
            ts = []
            for _ in range(a.repeat):
                for q in QUERIES:
                    t0 = time.perf_counter()
                    featurize_text(ds, q, expand=kk)
                    ts.append(time.perf_counter() - t0)
            print(
                f"{name}:e5 {label}: median {np.median(ts):.4f} s, max {np.max(ts):.4f} s over "
                f"{len(ts)} queries (first call with model load {first:.2f} s)"
            )


if __name__ == "__main__":
    main()
