"""DCMH training time and peak memory: tuxpaint with the defaults, and large synthetic data.

Each configuration runs in its own process, so its peak resident set size (``ru_maxrss``) is its
own. Printed: wall and CPU seconds of ``fit`` (on a shared machine CPU seconds are the honest
figure: with one thread they are what an idle core needs), the peak RSS of the whole process and
the growth over the RSS measured just before ``fit`` (data and torch already loaded). The memory
bank is n×r, so the growth should scale with n, never with n² (one n×n float32 matrix at
n = 20,000 is 1.5 GiB). Time per epoch grows like n² r: every item is scored against all n.

    python benchmarks/bench_dcmh.py                          # tuxpaint defaults + synthetic 5k / 20k
    python benchmarks/bench_dcmh.py --threads 1 --epochs 2   # the synthetic runs, 2 epochs each
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, no install


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_one(config: dict) -> dict:
    """Fit DCMH once as ``config`` says; seconds, seconds per epoch and memory in MiB."""
    import torch

    from cmh_core.datasets import load_dataset, make_synthetic
    from cmh_core.methods import get_method

    torch.set_num_threads(config["threads"])
    if config["data"] == "tuxpaint":
        ds = load_dataset("tuxpaint")
    else:
        n = int(config["data"])
        ds = make_synthetic(n=n, d_img=1280, d_txt=1000, n_labels=24, random_state=0, query_fraction=0.01)
    tr = ds.split.train
    X1, X2, Y = ds.image_features[tr], ds.text_features[tr], ds.labels[tr]
    params = {"n_bits": config["bits"], "random_state": 0, "device": "cpu"}
    if config.get("epochs"):
        params["n_epochs"] = config["epochs"]
    m = get_method("DCMH", **params)
    before = _current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    m.fit(X1, X2, Y)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _rss_mb()
    return {
        **config,
        "n_train": int(len(tr)),
        "epochs": int(m.n_epochs),
        "fit_s": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "s_per_epoch": round(seconds / m.n_epochs, 3),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the synthetic runs (default 2)")
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000], help="synthetic n")
    p.add_argument("--skip-tuxpaint", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one JSON config, print JSON
    a = p.parse_args(argv)
    if a.one:
        print(json.dumps(run_one(json.loads(a.one))))
        return 0
    configs = [] if a.skip_tuxpaint else [{"data": "tuxpaint", "bits": 32, "threads": a.threads}]
    configs += [{"data": str(n), "bits": 64, "threads": a.threads, "epochs": a.epochs} for n in a.sizes]
    print("data       n_train  bits  epochs  fit s   CPU s   s/epoch  peak RSS MiB  growth MiB")
    for c in configs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", json.dumps(c)], capture_output=True, text=True, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['data']:<10} {r['n_train']:>7}  {r['bits']:>4}  {r['epochs']:>6}  "
            f"{r['fit_s']:>6.1f}  {r['cpu_s']:>6.1f}  "
            f"{r['s_per_epoch']:>7.3f}  {r['peak_rss_mb']:>12.0f}  {r['rss_growth_mb']:>10.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
