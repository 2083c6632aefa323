"""Score hyper-parameter grids on the validation split carved from train (never the query set).

Every tuned default of a method is chosen with this script: it fits on the training rows left after
`cmh_core.datasets.validation_split` and scores the held-out validation rows as queries against
them (learned protocol), so the dataset's query set is never seen. One JSON line per run is
appended to ``--out`` (runs already there are skipped, so an interrupted grid resumes).

Deep methods take ``--curve``: the stopping rule. Validation mean mAP (I→T and T→I) is scored
every ``EVERY`` epochs from the network as it stands (queries sgn(h_m); database B = sgn(h_v + h_t),
or sgn(h_m) without common codes); the run stops when ``--patience`` successive checks gain less
than ``--min-delta`` over the best so far, or at ``n_epochs`` (the epoch budget). The row records
the whole curve and ``best_epoch``, the n_epochs the rule picks.

Example::

    python scripts/tune_on_validation.py DCH --grid mu=1e-4,1e-3,1e-2 --seeds 0 1 2 --out dch.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing it
    sys.path.insert(0, str(REPO))


def _value(text: str):
    """'1e-3' -> 0.001, '64' -> 64, 'true' -> True, anything else stays a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class _Stop(Exception):
    """Raised inside training when the stopping rule fires."""


def _check(model, net, ds) -> tuple[float, float]:
    """Validation mAP (I→T, T→I) of the network as it stands inside ``model``'s training."""
    import numpy as np

    from cmh_core.evaluation import mean_average_precision, relevance_from_labels
    from cmh_core.hamming import hamming_distance
    from cmh_core.methods._torch import flatten_state

    model.network_weights_ = flatten_state(net)
    model._net = (model.network_weights_, net)  # _project runs this very network
    q, db = ds.split.query, ds.split.train
    X = {"image": ds.image_features, "text": ds.text_features}
    hq = {m: model._project(X[m][q], m) for m in X}
    hdb = {m: model._project(X[m][db], m) for m in X}
    if getattr(model, "common_codes", True):  # DCMH and SDEH: B = sgn(h_v + h_t) is the database
        shared = hdb["image"] + hdb["text"]
        hdb = {"image": shared, "text": shared}
    R = relevance_from_labels(ds.labels[q], ds.labels[db])
    out = []
    for a, b in (("image", "text"), ("text", "image")):
        D = hamming_distance(np.packbits(hq[a] >= 0, axis=1), np.packbits(hdb[b] >= 0, axis=1))
        out.append(float(mean_average_precision(D, R)))
    net.train()
    return out[0], out[1]


def _monitor(model, ds, every: int, patience: int, min_delta: float, curve: list) -> None:
    """Wrap ``model``'s network builder and epoch report so that training checks the stopping rule."""
    build, report, live = model._build_network, model._report_epoch, {}

    def build_kept(*args, **kwargs):
        live["net"] = build(*args, **kwargs)
        return live["net"]

    def report_and_check(progress, epoch, terms):
        report(progress, epoch, terms)
        if epoch % every:
            return
        i2t, t2i = _check(model, live["net"], ds)
        curve.append([epoch, round(i2t, 4), round(t2i, 4)])
        scores = [(c[1] + c[2]) / 2 for c in curve]
        best = max(range(len(scores)), key=scores.__getitem__)
        if len(scores) - 1 - best >= patience and all(
            s < scores[best] + min_delta for s in scores[best + 1 :]
        ):
            raise _Stop

    model._build_network, model._report_epoch = build_kept, report_and_check


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the grid (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("--grid", action="append", default=[], help="name=v1,v2,... (repeatable: product)")
    ap.add_argument("--fixed", action="append", default=[], help="name=value, the same in every run")
    ap.add_argument("--dataset", default="tuxpaint")
    ap.add_argument("--bits", type=int, nargs="+", default=[32])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument(
        "--split",
        choices=("validation", "test"),
        default="validation",
        help="'test' scores the real query set: for the final report only, never for tuning",
    )
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--curve", type=int, default=0, metavar="EVERY", help="stopping rule: check every EVERY epochs"
    )
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--min-delta", type=float, default=0.005)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)  # shared 2-core machine: one thread per process
    from cmh_core.datasets import load_dataset, validation_dataset
    from cmh_core.evaluation import evaluate
    from cmh_core.methods import get_method

    ds = load_dataset(args.dataset)
    if args.split == "validation":
        ds = validation_dataset(ds)
    tr = ds.split.train
    fixed = dict(kv.split("=", 1) for kv in args.fixed)
    fixed = {k: _value(v) for k, v in fixed.items()}
    names = [g.split("=", 1)[0] for g in args.grid]
    values = [[_value(v) for v in g.split("=", 1)[1].split(",")] for g in args.grid]
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {
            json.dumps(json.loads(line)["key"], sort_keys=True)
            for line in out.read_text().splitlines()
            if line
        }
    for combo in itertools.product(*values):
        for bits, seed in itertools.product(args.bits, args.seeds):
            params = {**fixed, **dict(zip(names, combo, strict=True))}
            key = {
                "method": args.method,
                "dataset": args.dataset,
                "split": args.split,
                "bits": bits,
                "seed": seed,
                "params": params,
            }
            if json.dumps(key, sort_keys=True) in done:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            model = get_method(args.method, n_bits=bits, random_state=seed, **params)
            curve: list = []
            if args.curve:
                key["curve"] = [args.curve, args.patience, args.min_delta]
                _monitor(model, ds, args.curve, args.patience, args.min_delta, curve)
            try:
                model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
            except _Stop:
                pass
            fit_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            # wall and CPU seconds of the fit (one torch thread: CPU time is the time on an idle core)
            row = {"key": key, "fit_s": round(fit_s, 2), "cpu_s": round(cpu_s, 2), "load": os.getloadavg()[0]}
            if args.curve:
                scores = [(c[1] + c[2]) / 2 for c in curve]
                best = curve[max(range(len(scores)), key=scores.__getitem__)]
                row.update(curve=curve, best_epoch=best[0], i2t_mAP=best[1], t2i_mAP=best[2])
            else:
                rep = evaluate(model, ds)
                row.update(
                    {f"{d}_{m}": round(rep[d][m], 4) for d in ("i2t", "t2i") for m in ("mAP", "NDCG@50")}
                )
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
