"""Command line: ``python -m cmh_core bench|train|datasets``.

``bench`` trains every chosen method at every code length and seed on one dataset and prints a
paper-style table: mean ± std of mAP for I→T and T→I, and training seconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["main", "format_table"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cmh_core", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="train and evaluate methods × code lengths × seeds; print a table")
    b.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a .npz/.mat/.h5 path")
    b.add_argument("--methods", nargs="+", default=["all"], help="method names, or 'all' (default)")
    b.add_argument("--bits", nargs="+", type=int, default=[16, 32, 64, 128], help="code lengths")
    b.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1); default 3")
    b.add_argument("--protocol", choices=["learned", "encoded"], default="learned")
    b.add_argument("--csv", type=Path, help="write one row per run to this CSV file")
    b.add_argument("--json", type=Path, help="write every run record (with curves) to this JSON file")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    t = sub.add_parser("train", help="train one method and save the model (.npz, no pickle)")
    t.add_argument("--dataset", default="tuxpaint")
    t.add_argument("--method", required=True)
    t.add_argument("--bits", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--protocol", choices=["learned", "encoded"], default="learned")
    t.add_argument("--out", type=Path, help="save the trained model here (.npz)")

    sub.add_parser("datasets", help="list the datasets that load by name")
    sub.add_parser("methods", help="list the registered methods")
    return p


def _method_names(requested: Sequence[str]) -> list[str]:
    from cmh_core.methods import METHODS

    if [m.lower() for m in requested] == ["all"]:
        return list(METHODS)
    return list(requested)


def format_table(rows: list[dict], bits: Sequence[int]) -> str:
    """Paper-style markdown tables from per-run rows.

    Parameters
    ----------
    rows : list of dict
        One per run, with keys ``method, n_bits, seed, map_i2t, map_t2i, fit_seconds``.
    bits : sequence of int
        Column order.

    Returns
    -------
    str
        Three tables (I→T mAP, T→I mAP, training seconds), each cell ``mean ± std`` over seeds.
    """
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    methods: list[str] = []
    for r in rows:
        groups[(r["method"], r["n_bits"])].append(r)
        if r["method"] not in methods:
            methods.append(r["method"])
    out = []
    for key, title, fmt in (
        ("map_i2t", "mAP, image → text (I→T)", "{:.3f} ± {:.3f}"),
        ("map_t2i", "mAP, text → image (T→I)", "{:.3f} ± {:.3f}"),
        ("fit_seconds", "training seconds", "{:.2f} ± {:.2f}"),
    ):
        head = ["method", *[f"{b} bits" for b in bits]]
        lines = [f"{title}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in methods:
            cells = []
            for b in bits:
                vals = [r[key] for r in groups.get((m, b), [])]
                cells.append(fmt.format(np.mean(vals), np.std(vals)) if vals else "n/a")
            lines.append("| " + " | ".join([m, *cells]) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cmh_core.datasets import load_dataset
    from cmh_core.experiment import run_experiment
    from cmh_core.methods import get_method

    ds = load_dataset(args.dataset)
    methods = _method_names(args.methods)
    for m in methods:  # fail on a bad name before hours of training, not after
        get_method(m)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    jobs = [(m, b, s) for m in methods for b in args.bits for s in range(args.seeds)]
    rows, records = [], []
    bar = tqdm(jobs, desc="bench", unit="run", disable=args.no_progress, file=sys.stderr)
    for m, b, s in bar:
        bar.set_postfix_str(f"{m} {b} bits seed {s}")
        run = run_experiment(ds, m, n_bits=b, seed=s, protocol=args.protocol)
        rows.append(
            {
                "dataset": ds.name,
                "method": run.method,
                "n_bits": b,
                "seed": s,
                "protocol": args.protocol,
                "map_i2t": run.map_i2t,
                "map_t2i": run.map_t2i,
                "fit_seconds": run.fit_seconds,
            }
        )
        records.append(run.to_dict())
    print(
        f"dataset {ds.name}: {len(ds.split.query)} queries, {len(ds.split.database)} database items, "
        f"protocol '{args.protocol}', {args.seeds} seed(s)\n"
    )
    print(format_table(rows, args.bits))
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"\nwrote {len(rows)} rows to {args.csv}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1), encoding="utf-8")
        print(f"wrote {len(records)} run records to {args.json}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from cmh_core.experiment import run_experiment

    run = run_experiment(args.dataset, args.method, n_bits=args.bits, seed=args.seed, protocol=args.protocol)
    print(
        f"{run.method} on {run.dataset}, {run.n_bits} bits, seed {run.seed}: "
        f"mAP I→T {run.map_i2t:.4f}, T→I {run.map_t2i:.4f}, trained in {run.fit_seconds:.2f} s"
    )
    if args.out:
        path = run.model.save(args.out)
        print(f"saved model to {path}")
    return 0


def _datasets() -> int:
    from cmh_core.datasets import list_datasets

    for d in list_datasets():
        print(f"{d['name']:<12} {d['description']}")
    return 0


def _methods() -> int:
    from cmh_core.methods import METHODS

    for name, cls in METHODS.items():
        paper = getattr(cls, "paper", {}) or {}
        print(f"{name:<12} {cls.fidelity:<28} {paper.get('title', '')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 with a one-line message on bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "bench":
            return _bench(args)
        if args.command == "train":
            return _train(args)
        if args.command == "datasets":
            return _datasets()
        return _methods()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
