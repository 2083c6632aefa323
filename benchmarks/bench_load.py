"""Load time of the bundled datasets: `load_dataset(name)` from a fresh process, and one thumbnail.

Each figure is the median (with min-max) over ``--repeats`` fresh Python processes, so the OS file
cache is warm but nothing is cached in the interpreter: the cost a user pays when the app or a
script first loads the bundle. ``import`` is timed apart from the load; the first thumbnail is
timed after the load (thumbnails are opened on demand). The load's CPU seconds (``process_time``)
are printed beside its wall time: on a machine shared with other jobs they are the steadier figure.

    python benchmarks/bench_load.py [--datasets tuxpaint openmoji] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from cmh_core.datasets import load_dataset
t1, c1 = time.perf_counter(), time.process_time()
ds = load_dataset(sys.argv[1])
t2, c2 = time.perf_counter(), time.process_time()
ds.thumbnail(0)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "thumbnail": t3 - t2, "load_cpu": c2 - c1,
                  "n": ds.n_items, "d_txt": int(ds.text_features.shape[1])}))
"""


def measure(name: str, repeats: int) -> dict[str, np.ndarray]:
    """Seconds of ``repeats`` fresh processes (after one warm-up that fills the file cache)."""
    runs = []
    for _ in range(repeats + 1):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, name], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        runs.append(json.loads(out))
    runs = runs[1:]
    return {k: np.array([r[k] for r in runs]) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["tuxpaint", "openmoji"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load1:.2f}")
    cols = ["dataset", "items", "text dim", "bundle MB", "import s", "load s (median, min-max)"]
    cols += ["load CPU s", "thumbnail ms"]
    print("| " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        t = measure(name, args.repeats)
        folder = ROOT / "assets" / "datasets" / name
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
        load, imp, thumb = t["load"], np.median(t["import"]), 1e3 * np.median(t["thumbnail"])
        spread = f"{np.median(load):.3f} ({load.min():.3f}-{load.max():.3f})"
        n, d_txt = int(t["n"][0]), int(t["d_txt"][0])
        cpu = np.median(t["load_cpu"])
        print(f"| {name} | {n} | {d_txt} | {size:.1f} | {imp:.2f} | {spread} | {cpu:.3f} | {thumb:.1f} |")


if __name__ == "__main__":
    main()
