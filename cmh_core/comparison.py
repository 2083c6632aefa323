"""A comparison = methods × code lengths × seeds on one dataset split, one `Run` per cell.

This is the one experiment grid of the project: ``python -m cmh_core bench``, the app's Compare
page and the comparison HTML report are all built from `run_comparison` and `Comparison`.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cmh_core._grid import one_thread
from cmh_core.datasets import CrossModalDataset, load_dataset
from cmh_core.experiment import Run, run_experiment
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint

__all__ = ["Comparison", "format_table", "plan_comparison", "run_comparison", "run_row"]

# (method, n_bits, seed) -> an earlier Run to reuse, or None to train
Lookup = Callable[[str, int, int], Run | None]
# (runs done, runs planned, the Run just finished, whether it was reused)
Progress = Callable[[int, int, Run, bool], None]
# (number of the cell about to run, runs planned, method, n_bits, seed)
Starting = Callable[[int, int, str, int, int], None]


def run_row(run: Run) -> dict[str, Any]:
    """One flat table/CSV row of a run; tie-expected mAP and NDCG@50 only when the report carries them."""
    row: dict[str, Any] = {
        "dataset": run.dataset,
        "method": run.method,
        "n_bits": run.n_bits,
        "seed": run.seed,
        "protocol": run.protocol,
        "map_i2t": run.map_i2t,
        "map_t2i": run.map_t2i,
    }
    for task in ("i2t", "t2i"):
        expected = run.report.get(task, {}).get("mAP_expected")
        if expected is not None:
            row[f"map_{task}_expected"] = float(expected)
    for task in ("i2t", "t2i"):  # graded NDCG@50 (docs/evaluation.md), where the report has it
        ndcg = run.report.get(task, {}).get("NDCG@50")
        if ndcg is not None:
            row[f"ndcg_{task}"] = float(ndcg)
    row["fit_seconds"] = run.fit_seconds
    return row


def _cell(vals: list[float], digits: int) -> str:
    """``mean ± std`` over seeds; the mean alone for one seed (a spread of one value means nothing)."""
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals):.{digits}f}"


def format_table(rows: list[dict], bits: Sequence[int]) -> str:
    """Paper-style markdown tables from per-run rows.

    Parameters
    ----------
    rows : list of dict
        One per run (`run_row`), with keys ``method, n_bits, seed, map_i2t, map_t2i,
        fit_seconds`` and, when the evaluation reports them, ``map_i2t_expected, map_t2i_expected``.
    bits : sequence of int
        Column order.

    Returns
    -------
    str
        Tables for I→T and T→I mAP (each followed by its tie-expected table when the rows carry
        one), graded NDCG@50 both ways (when the rows carry ``ndcg_i2t, ndcg_t2i``) and training
        seconds; each cell is ``mean ± std`` over seeds, the value alone for
        one seed.
    """
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    methods: list[str] = []
    for r in rows:
        groups[(r["method"], r["n_bits"])].append(r)
        if r["method"] not in methods:
            methods.append(r["method"])
    tables = [
        ("map_i2t", "mAP, image → text (I→T), ties broken by database order", 3),
        ("map_i2t_expected", "mAP, image → text (I→T), tie-expected", 3),
        ("map_t2i", "mAP, text → image (T→I), ties broken by database order", 3),
        ("map_t2i_expected", "mAP, text → image (T→I), tie-expected", 3),
        ("ndcg_i2t", "NDCG@50, image → text (I→T), graded by shared labels", 3),
        ("ndcg_t2i", "NDCG@50, text → image (T→I), graded by shared labels", 3),
        ("fit_seconds", "training seconds", 2),
    ]
    out = []
    for key, title, digits in tables:
        if not any(r.get(key) is not None for r in rows):
            continue
        head = ["method", *[f"{b} bits" for b in bits]]
        lines = [title, "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in methods:
            cells = [
                _cell([r[key] for r in groups.get((m, b), []) if r.get(key) is not None], digits)
                for b in bits
            ]
            lines.append("| " + " | ".join([m, *cells]) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def plan_comparison(
    ds: CrossModalDataset, methods: Sequence[str], bits: Sequence[int], unpaired: float = 0.0
) -> tuple[list[tuple[str, int]], list[str]]:
    """(method, bits) pairs to run, and a note for each pair the method refuses up front.

    A method refuses code lengths above its ``max_n_bits`` for this training set (e.g. sparse codes
    need K < n) and unpaired data unless it supports it; one refused pair must not end a comparison.
    Unknown method names raise ``ValueError`` here, before any training. Repeated methods
    (in any case) and code lengths are planned once.

    Returns
    -------
    combos : list of (str, int)
        Registered method name and code length of every runnable pair.
    skipped : list of str
        One human-readable reason per refused pair.
    """
    from cmh_core.methods import method_class

    if not 0.0 <= unpaired <= 1.0:
        raise ValueError(f"unpaired must be a fraction in [0, 1], got {unpaired}; use e.g. 1.0")
    tr = ds.split.train
    n_features = {"image": ds.image_features.shape[1], "text": ds.text_features.shape[1]}
    combos, skipped = [], []
    bits = list(dict.fromkeys(int(b) for b in bits))  # a repeated length would pose as extra seeds
    for cls in dict.fromkeys(method_class(m) for m in methods):  # "dch" and "DCH": one method
        if unpaired > 0 and not cls.supports_unpaired:
            skipped.append(f"{cls.name}: needs paired data (unpaired fraction {unpaired})")
            continue
        for b in bits:
            limit = cls(n_bits=b).max_n_bits(n_features, len(tr))
            if b > limit:
                skipped.append(
                    f"{cls.name} at {b} bits: the largest n_bits for {len(tr)} training items is {limit}"
                )
            else:
                combos.append((cls.name, int(b)))
    return combos, skipped


@dataclass
class Comparison:
    """Every run of a methods × bits × seeds grid on one dataset, plus what was not run.

    Attributes
    ----------
    dataset : str
        Dataset name.
    methods : list of str
        Registered method names, in the order asked.
    bits : list of int
        Code lengths, in the order asked.
    seeds : list of int
        Seeds (``random_state``) of every cell.
    protocol : str
        ``"learned"`` or ``"encoded"``.
    unpaired : float
        Fraction of unpaired training texts.
    runs : list of Run
        One per runnable (method, bits, seed), in grid order.
    skipped : list of str
        Why each refused (method, bits) pair was not run.
    reused : int
        How many runs came from the caller's `lookup` instead of training.
    """

    dataset: str
    methods: list[str]
    bits: list[int]
    seeds: list[int]
    protocol: str = "learned"
    unpaired: float = 0.0
    runs: list[Run] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reused: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """One `run_row` per run."""
        return [run_row(r) for r in self.runs]

    def summary(self) -> list[dict[str, Any]]:
        """One row per (method, bits): seed count, mean and std of mAP both ways and fit seconds.

        Keys: ``method, n_bits, n_seeds, map_i2t_mean, map_i2t_std, map_t2i_mean, map_t2i_std,
        fit_seconds_mean, fit_seconds_std`` and, when every run's report has NDCG@50,
        ``ndcg_i2t_mean, ndcg_i2t_std, ndcg_t2i_mean, ndcg_t2i_std`` (std is 0.0 for one seed,
        population std otherwise).
        """
        groups: dict[tuple[str, int], list[Run]] = defaultdict(list)
        for r in self.runs:
            groups[(r.method, r.n_bits)].append(r)
        out = []
        for (m, b), runs in groups.items():
            row: dict[str, Any] = {"method": m, "n_bits": b, "n_seeds": len(runs)}
            for key, vals in (
                ("map_i2t", [r.map_i2t for r in runs]),
                ("map_t2i", [r.map_t2i for r in runs]),
                ("fit_seconds", [r.fit_seconds for r in runs]),
                *((f"ndcg_{t}", [r.report.get(t, {}).get("NDCG@50") for r in runs]) for t in ("i2t", "t2i")),
            ):
                if any(v is None for v in vals):  # runs from reports without NDCG@50
                    continue
                row[f"{key}_mean"] = float(np.mean(vals))
                row[f"{key}_std"] = float(np.std(vals))
            out.append(row)
        return out

    def curves(
        self, direction: str = "i2t", by: str = "radius", seed: int | None = None
    ) -> dict[str, dict[str, list]]:
        """One PR curve per (method, bits), from one seed's run (curves are not averaged over seeds).

        Parameters
        ----------
        direction : {"i2t", "t2i"}
        by : {"radius", "rank"}
            ``"radius"``: the report's ``"pr_curve"`` (Hamming-ball lookups, radius 0..n_bits);
            ``"rank"``: its ``"precision_at_k"`` (top-k lists).
        seed : int, optional
            Whose run to use; default the first of ``seeds``. Pairs without a run of that seed
            are left out.

        Returns
        -------
        dict
            ``{"DCH · 32 bits": curve dict as `evaluate` reports it}``, in grid order; the
            input of `cmh_core.plotting.pr_curve_figure`.
        """
        if direction not in ("i2t", "t2i"):
            raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
        if by not in ("radius", "rank"):
            raise ValueError(f"by must be 'radius' or 'rank', got {by!r}")
        seed = self.seeds[0] if seed is None and self.seeds else seed
        name = "pr_curve" if by == "radius" else "precision_at_k"
        out = {}
        for r in self.runs:
            curve = r.report.get(direction, {}).get(name)
            if r.seed == seed and curve is not None:
                out[f"{r.method} · {r.n_bits} bits"] = curve
        return out

    def table(self) -> str:
        """`format_table` of the runs (markdown)."""
        return format_table(self.rows(), self.bits)

    def to_csv(self) -> str:
        """Per-run rows as CSV text (header from the union of the rows' keys)."""
        rows = self.rows()
        buf = io.StringIO()
        fields = list(dict.fromkeys(k for r in rows for k in r)) or ["method", "n_bits", "seed"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form; runs via `Run.to_dict` (models left out)."""
        return {
            "dataset": self.dataset,
            "methods": list(self.methods),
            "bits": list(self.bits),
            "seeds": list(self.seeds),
            "protocol": self.protocol,
            "unpaired": self.unpaired,
            "runs": [r.to_dict() for r in self.runs],
            "skipped": list(self.skipped),
            "reused": self.reused,
        }

    def to_json(self, **kw) -> str:
        """``json.dumps(self.to_dict())``; extra keywords go to `json.dumps`."""
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        """Rebuild a comparison written by `to_dict` (runs without models)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "runs"}
        return cls(**known, runs=[Run.from_dict(r) for r in d.get("runs", [])])


def _check_seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool) or not isinstance(seeds, int | Sequence):
        raise ValueError(f"seeds must be a count (int >= 1) or a list of ints, got {seeds!r}")
    out = list(range(seeds)) if isinstance(seeds, int) else list(dict.fromkeys(int(s) for s in seeds))
    if not out:
        raise ValueError(f"seeds must name at least one seed, got {seeds!r}; use e.g. seeds=1")
    return out


def run_comparison(
    dataset: str | CrossModalDataset,
    methods: Sequence[str],
    bits: Sequence[int],
    seeds: int | Sequence[int] = 1,
    *,
    protocol: str = "learned",
    unpaired: float = 0.0,
    params: dict[str, dict[str, Any]] | None = None,
    lookup: Lookup | None = None,
    progress: Progress | None = None,
    starting: Starting | None = None,
    n_jobs: int = 1,
    scheduler: str | None = None,
    cache: RunCache | str | Path | None = None,
) -> Comparison:
    """Train and evaluate every (method, bits, seed) of the grid with `run_experiment`.

    Parameters
    ----------
    dataset : str or CrossModalDataset
        A name or path for `load_dataset`, or a loaded dataset.
    methods : sequence of str
        Registered method names (case-insensitive); at least one.
    bits : sequence of int
        Code lengths; pairs a method refuses are listed in ``skipped``, not run.
    seeds : int or sequence of int
        A count (seeds ``0 .. seeds-1``) or the seeds themselves.
    protocol, unpaired
        As in `run_experiment`.
    params : dict, optional
        ``{method name: hyper-parameters}``; methods not named keep their defaults.
    lookup : callable, optional
        ``lookup(method, n_bits, seed)`` returns an earlier `Run` of the same settings (the
        app's session runs) to reuse instead of training, or None.
    progress : callable, optional
        ``progress(done, total, run, reused)`` after each cell; in parallel grids as each run's
        future finishes (``done`` counts finished runs, not grid positions).
    starting : callable, optional
        ``starting(i, total, method, n_bits, seed)`` before cell ``i`` (1-based) is looked up or
        trained (submitted, in parallel grids), so a caller can name the run it is waiting for.
    n_jobs : int
        1 (default): train in this process. More: train on ``n_jobs`` local processes (or on
        that many `LocalCluster` workers with ``scheduler="local"``). Every run, sequential or
        parallel, uses one BLAS/OpenMP thread, so the runs do not depend on ``n_jobs``.
    scheduler : None, "local" or str
        ``"local"`` starts a Dask `LocalCluster` for the grid; ``"tcp://host:8786"`` uses a
        running Dask cluster (its workers load the dataset by name or path, or get the object).
        Results are the runs the sequential grid gives, in grid order.
    cache : RunCache or path, optional
        A `cmh_core.runcache.RunCache` (or its folder): cells it holds for this dataset's
        fingerprint are reused, every trained cell is stored as soon as it finishes, so an
        interrupted grid resumes and caches of several machines merge (copy the folders).

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        Empty method or bit lists, no seeds, unknown methods, or nothing runnable.
    """
    if not methods:
        raise ValueError("a comparison needs at least one method; pick one or more methods")
    if not bits or any(isinstance(b, bool) or int(b) < 1 for b in bits):
        raise ValueError(f"bits must be a non-empty list of positive code lengths, got {list(bits)}")
    seed_list = _check_seeds(seeds)
    bits = list(dict.fromkeys(int(b) for b in bits))
    ds = load_dataset(dataset) if isinstance(dataset, str) else dataset
    combos, skipped = plan_comparison(ds, methods, bits, unpaired)
    if not combos:
        raise ValueError("nothing to run: " + "; ".join(skipped))
    by_name = {k.lower(): v for k, v in (params or {}).items()}
    cmp = Comparison(
        dataset=ds.name,
        methods=list(dict.fromkeys(m for m, _ in combos)),
        bits=[int(b) for b in bits],
        seeds=seed_list,
        protocol=protocol,
        unpaired=float(unpaired),
        skipped=skipped,
    )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of processes, got {n_jobs!r}; e.g. n_jobs=2")
    store = RunCache(cache) if isinstance(cache, str | Path) else cache
    fingerprint = dataset_fingerprint(ds) if store is not None else ""
    jobs = [(m, b, s) for m, b in combos for s in seed_list]
    runs: list[Run | None] = [None] * len(jobs)
    todo: list[tuple[int, str, int, int, Any]] = []
    done = 0

    def _finish(i: int, run: Run, reused: bool) -> None:
        nonlocal done
        runs[i], done = run, done + 1
        cmp.reused += int(reused)
        if store is not None and not reused:  # stored at once: a killed grid keeps what finished
            store.put(RunKey.make(ds.name, *jobs[i], by_name.get(jobs[i][0].lower()), unpaired, protocol),
                      fingerprint, run)  # fmt: skip
        if progress is not None:
            progress(done, len(jobs), run, reused)

    parallel = n_jobs > 1 or scheduler is not None
    for i, (m, b, s) in enumerate(jobs):
        if starting is not None:
            starting(i + 1, len(jobs), m, b, s)
        run = lookup(m, b, s) if lookup is not None else None
        if run is None and store is not None:
            key = RunKey.make(ds.name, m, b, s, by_name.get(m.lower()), unpaired, protocol)
            run = store.get(key, fingerprint)  # with its model when saved: the app shows it
        if run is not None:
            _finish(i, run, True)
        elif parallel:
            todo.append((i, m, b, s, by_name.get(m.lower())))
        else:
            with one_thread(m):  # as in parallel workers: the same runs whatever n_jobs is
                run = run_experiment(
                    ds,
                    m,
                    n_bits=b,
                    seed=s,
                    params=by_name.get(m.lower()),
                    protocol=protocol,
                    unpaired=unpaired,
                )
            _finish(i, run, False)
    if todo:
        from cmh_core._grid import run_cells

        ref = dataset if isinstance(dataset, str) else ds
        for i, run in run_cells(ref, todo, n_jobs=n_jobs, scheduler=scheduler, protocol=protocol,
                                unpaired=unpaired):  # fmt: skip
            _finish(i, run, False)
    cmp.runs = [r for r in runs if r is not None]
    return cmp
