"""Size and build time of the one-file HTML report (issue 10: aim under 5 MB for one run).

For each code length, one run of ``--method`` on the bundled dataset is trained once, then its
report is built ``--repeat`` times (median seconds; the chance level is passed in, so only the
report itself is timed) and its size is split into plotly.js (inline once, fixed cost) and the
rest: tables, figure data and the gallery's thumbnails. Also the size of every other export.

    python benchmarks/bench_report.py                      # DCH at 16, 32, 64, 128 bits
    python benchmarks/bench_report.py --method CCA-ITQ --bits 32 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core import exports  # noqa: E402
from cmh_core.datasets import load_dataset  # noqa: E402
from cmh_core.experiment import run_experiment  # noqa: E402
from cmh_core.report import chance_levels, run_report_html  # noqa: E402

AIM_BYTES = 5_000_000


def _sizes(run, ds) -> dict[str, int]:
    codes = exports.run_codes(run, ds)
    return {
        "metrics.csv": len(exports.metrics_csv(run).encode()),
        "metrics.json": len(exports.metrics_json(run).encode()),
        "codes.npz": len(exports.codes_npz(run, ds, codes)),
        "model.npz": len(exports.model_bytes(run)),
        "faiss (text db)": len(exports.faiss_index_bytes(codes["text_database"])),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="tuxpaint")
    p.add_argument("--method", default="DCH")
    p.add_argument("--bits", nargs="+", type=int, default=[16, 32, 64, 128])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    from plotly.offline import get_plotlyjs

    js = len(get_plotlyjs().encode())
    ds = load_dataset(args.dataset)
    print(f"plotly.js inline: {js / 1e6:.3f} MB (fixed cost of every report)\n")
    print("| bits | report MB | of which not plotly.js, kB | build s (median) | under 5 MB |")
    print("|---|---|---|---|---|")
    for b in args.bits:
        run = run_experiment(ds, args.method, n_bits=b, seed=0)
        chance = chance_levels(ds, b)
        times, html = [], ""
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            html = run_report_html(run, ds, chance=chance)
            times.append(time.perf_counter() - t0)
        size = len(html.encode())
        print(f"| {b} | {size / 1e6:.3f} | {(size - js) / 1e3:.0f} | {statistics.median(times):.2f} | "
              f"{'yes' if size < AIM_BYTES else 'no'} |")  # fmt: skip
        if b == args.bits[-1]:
            sizes = ", ".join(f"{k} {v / 1e3:.1f} kB" for k, v in _sizes(run, ds).items())
            print(f"\nother exports at {b} bits: {sizes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
