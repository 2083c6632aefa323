"""SDEH's tables in docs/methods/sdeh.md (against DCMH; ablations), generated from measured runs.

Runs come from ``scripts/tune_on_validation.py SDEH --split test`` (one JSON line per fit: the
switch in ``key.params``, mAP and graded NDCG@50 per direction). Every switch row is compared
with the defaults row of the same dataset and code length over the same seeds:

* Δ = mean over seeds of (full - switched), on the mean of I→T and T→I; for a switch that turns
  an idea off, Δ > 0 means the idea helps.
* The verdict: "helps" when Δ > spread, "hurts" when Δ < -spread, else "within seed spread",
  where spread = the larger of the standard deviations over seeds (of that mean) of the defaults
  row (all its seeds) and of the switch row (when it has two seeds or more). A switch run with
  fewer seeds than the defaults says so in its seeds column.
* A cell (dataset × bits × switch) with no run is listed as not run, never filled in.

Usage::

    python scripts/sdeh_ablation_table.py runs.jsonl [more.jsonl ...]            # print the table
    python scripts/sdeh_ablation_table.py --write docs/methods/sdeh.md runs.jsonl  # between its markers
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

# name -> (params that switch it, does the switch turn the idea off?)
SWITCHES = {
    "local branch": ({"local_branch": False}, True),
    "L_sim (graded similarity)": ({"use_sim": False}, True),
    "L_sem (semantic decomposition)": ({"use_sem": False}, True),
    "L_dc (distribution consistency)": ({"use_dc": False}, True),
    "L_q (quantisation + balance)": ({"use_q": False}, True),
    "graded target (vs binary)": ({"similarity": "binary"}, True),
    "common codes B": ({"common_codes": False}, True),
    "region + word tokens (vs chunks)": ({"local_tokens": "auto"}, False),
}
METRICS = (("mAP", "mAP"), ("NDCG@50", "NDCG@50"))


def _load(paths: list[str], method: str = "SDEH") -> dict:
    """(dataset, bits, switch params as JSON) -> {seed: row}; the defaults have params ``{}``."""
    runs: dict = defaultdict(dict)
    for path in paths:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                row = json.loads(line)
                key = row["key"]
                if key["method"] != method or key["split"] != "test":
                    continue
                params = json.dumps(key["params"], sort_keys=True)
                runs[(key["dataset"], key["bits"], params)][key["seed"]] = row
    return runs


def _per_seed(rows: dict, metric: str, seeds: list[int]) -> np.ndarray:
    """Mean of I→T and T→I of ``metric`` for each seed: (n_seeds,)."""
    return np.array([(rows[s][f"i2t_{metric}"] + rows[s][f"t2i_{metric}"]) / 2 for s in seeds])


def _cell(rows: dict, metric: str, seeds: list[int]) -> str:
    """'0.712 ± 0.011 / 0.560 ± 0.008' (I→T / T→I, mean ± std over seeds; one seed: its value)."""
    parts = []
    for d in ("i2t", "t2i"):
        v = np.array([rows[s][f"{d}_{metric}"] for s in seeds])
        parts.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
    return " / ".join(parts)


def _verdict(full: np.ndarray, other: np.ndarray, full_all: np.ndarray, idea_off: bool) -> str:
    """Verdict on one metric: per-seed values on the common seeds, and the defaults on all seeds."""
    delta = (full - other).mean() if idea_off else (other - full).mean()
    spread = max(full_all.std(), other.std() if len(other) > 1 else 0.0)
    word = "helps" if delta > spread else "hurts" if delta < -spread else "within seed spread"
    return f"{word} (Δ {delta:+.3f}, spread {spread:.3f})"


def _dcmh_defaults() -> str:
    """The params JSON of a DCMH run at its defaults as the runs file spells it (n_epochs given)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cmh_core.methods import DCMH

    return json.dumps({"n_epochs": DCMH().n_epochs}, sort_keys=True)


def comparison(paths: list[str]) -> str:
    """SDEH at its defaults against DCMH at its defaults: mAP, NDCG@50 and training time, per cell."""
    sdeh, dcmh, dcmh_key = _load(paths), _load(paths, "DCMH"), _dcmh_defaults()
    out = [
        "| dataset, bits | method | seeds | mAP I→T / T→I | NDCG@50 I→T / T→I | fit: CPU s "
        "| fit: wall s (load average) |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset, bits in sorted({(k[0], k[1]) for k in sdeh if k[2] == "{}"}):
        for name, rows in (
            ("SDEH", sdeh[(dataset, bits, "{}")]),
            ("DCMH", {**dcmh.get((dataset, bits, "{}"), {}), **dcmh.get((dataset, bits, dcmh_key), {})}),
        ):
            if not rows:
                out.append(f"| {dataset}, {bits} | {name} | not run | | | | |")
                continue
            seeds = sorted(rows)
            cpu = np.array([rows[x]["cpu_s"] for x in seeds])
            wall = ", ".join(f"{rows[x]['fit_s']:.0f} ({rows[x]['load']:.0f})" for x in seeds)
            out.append(
                f"| {dataset}, {bits} | {name} | {', '.join(map(str, seeds))} | "
                f"{_cell(rows, 'mAP', seeds)} | "
                f"{_cell(rows, 'NDCG@50', seeds)} | {cpu.mean():.0f} ± {cpu.std():.0f} | {wall} |"
            )
    return "\n".join(out) + "\n"


# the cells the issue asks for; one with no run at all is listed as not run
GRID = [(dataset, bits) for dataset in ("tuxpaint", "openmoji") for bits in (32, 64)]


def _cost(rows: dict, seeds: list[int]) -> str:
    """'97 (28, 29, 52)': mean CPU seconds of the fits and the load average at the end of each."""
    cpu = np.mean([rows[x]["cpu_s"] for x in seeds])
    loads = ", ".join(f"{rows[x]['load']:.0f}" for x in seeds)
    return f"{cpu:.0f} ({loads})"


def table(paths: list[str]) -> str:
    """The markdown table (and the list of cells not run) for every dataset × bits measured."""
    runs = _load(paths)
    out, missing = [], []
    for dataset, bits in sorted({(k[0], k[1]) for k in runs} | set(GRID)):
        full = runs.get((dataset, bits, "{}"), {})
        if not full:
            missing.append(f"{dataset} {bits} bits: every row (the defaults did not run)")
            continue
        out += [
            f"\n**{dataset}, {bits} bits** (seeds {', '.join(map(str, sorted(full)))}; mean ± std; "
            "I→T / T→I; the idea's effect is full − switched on the mean of both directions; the "
            "fit's CPU seconds on one torch thread, mean over seeds, and the load average at the end "
            "of each fit)\n",
            "| idea (switch) | seeds run | mAP | NDCG@50 | mAP: the idea | NDCG@50: the idea "
            "| fit CPU s (load) |",
            "|---|---|---|---|---|---|---|",
        ]
        seeds = sorted(full)
        out.append(
            f"| all on (defaults) | {len(seeds)} | {_cell(full, 'mAP', seeds)} | "
            f"{_cell(full, 'NDCG@50', seeds)} | | | {_cost(full, seeds)} |"
        )
        for name, (params, idea_off) in SWITCHES.items():
            rows = runs.get((dataset, bits, json.dumps(params, sort_keys=True)), {})
            common = sorted(set(rows) & set(full))
            if not common:
                missing.append(f"{dataset} {bits} bits: {name}")
                continue
            verdicts = [
                _verdict(
                    _per_seed(full, m, common),
                    _per_seed(rows, m, common),
                    _per_seed(full, m, seeds),
                    idea_off,
                )
                for m, _ in METRICS
            ]
            out.append(
                f"| {name} ({', '.join(f'{k}={v}' for k, v in params.items())}) | "
                f"{len(common)} of {len(seeds)} (seed {', '.join(map(str, common))}) | "
                f"{_cell(rows, 'mAP', common)} | {_cell(rows, 'NDCG@50', common)} | "
                f"{verdicts[0]} | {verdicts[1]} | {_cost(rows, common)} |"
            )
    if missing:
        out += ["", "Not run (no measurement, nothing filled in): " + "; ".join(missing) + "."]
    return "\n".join(out) + "\n"


MARKS = {
    "ablation table": table,
    "comparison": comparison,
}


def _between(doc: str, name: str, text: str) -> str:
    """``doc`` with ``text`` between the markers ``<!-- name: start ... -->`` and ``<!-- name: end -->``."""
    start, end = f"<!-- {name}: start (scripts/sdeh_ablation_table.py) -->", f"<!-- {name}: end -->"
    head, rest = doc.split(start, 1)
    return f"{head}{start}\n{text}{end}{rest.split(end, 1)[1]}"


def main(argv: list[str]) -> None:
    """Print the tables, or with ``--write FILE`` put each between FILE's markers."""
    if argv[:1] == ["--write"]:
        path, runs = argv[1], argv[2:]
        with open(path) as f:
            doc = f.read()
        for name, make in MARKS.items():
            doc = _between(doc, name, make(runs))
        with open(path, "w") as f:
            f.write(doc)
    else:
        sys.stdout.write(comparison(argv) + table(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
