"""One-file HTML reports of a run or a comparison, to hand to someone without the app.

The file holds everything it shows: plotly.js once (inline, in the page head), every figure as
an interactive plotly chart, and the gallery's thumbnails as base64 WebP data URIs. It makes no
outside request (no CDN, no web fonts, no links to load), so it opens offline. Every piece of
text from the data (captions, labels, names) goes through `html.escape`.

* `run_report_html(run, dataset)`: method and parameters, dataset card, metric tables, mAP
  against chance, PR curves by radius and by rank, precision@k, the loss curve, bit balance and
  correlation, and the best and worst queries of each direction with their top results.
* `comparison_report_html(comparison, dataset)`: the grid, mean ± std tables, mAP against
  code length with error bars, PR curves of the methods overlaid, and the best run's gallery.
* `write_report(obj, dataset, path)`: either of them to a ``.html`` file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cmh_core._deltas import baseline_deltas
from cmh_core._report_html import (
    _dataset_section,
    _e,
    _figures,
    _gallery_section,
    _page,
    _table,
    chance_levels,
    query_examples,
    thumbnail_data_uri,
)
from cmh_core._vocab import DIRECTION_SHORT as _SHORT
from cmh_core._vocab import DIRECTIONS as _DIRECTIONS
from cmh_core.comparison import Comparison, Lookup
from cmh_core.experiment import Run

__all__ = [
    "chance_levels",
    "query_examples",
    "thumbnail_data_uri",
    "run_report_html",
    "comparison_report_html",
    "write_report",
]


def _method_section(method: str, params: Mapping[str, Any]) -> str:
    from cmh_core.methods import method_class

    try:
        cls = method_class(method)
    except ValueError:  # a record of a method this install does not register: show the name only
        cls = None
    paper = dict(getattr(cls, "paper", None) or {})
    rows = [("method", method), ("fidelity", getattr(cls, "fidelity", "unknown"))]
    rows += [(k, paper[k]) for k in ("title", "authors", "venue", "year", "idea") if paper.get(k)]
    if paper.get("doi"):
        rows.append(("doi", f"doi:{paper['doi']}"))  # as text: the report links nowhere outside
    head = "<h2>Method</h2>" + _table(["", ""], rows)
    prm = [(k, str(v)) for k, v in sorted(params.items())]  # as given, not rounded
    return head + "<h3>Parameters</h3>" + _table(["parameter", "value"], prm)


def _metric_name(key: str) -> str:
    """``precision_within_radius2_micro`` -> a phrase a reader without the code understands."""
    m = re.fullmatch(r"precision_within_radius(\d+)(_micro)?", key)
    if m:
        how = "pooled over queries" if m.group(2) else "mean over queries, an empty ball counts 0"
        return f"precision within Hamming radius {m.group(1)} ({how})"
    return key


def _metrics_section(run: Run, chance: Mapping[str, float] | None) -> str:
    rep = run.report
    both = [rep.get(d, {}) for d in _DIRECTIONS]
    rows: list[list[Any]] = [
        ["mAP (ties in database order)", *[r.get("mAP") for r in both]],
        ["mAP (tie-expected)", *[r.get("mAP_expected") for r in both]],
    ]
    if chance:
        rows.append(["chance mAP (random codes, same length)", chance["i2t"], chance["t2i"]])
    scalar = [k for k in both[0] if k.startswith(("mAP@", "NDCG@", "precision_within_radius"))]
    rows += [[_metric_name(k), *[r.get(k) for r in both]] for k in scalar]
    pk = [r.get("precision_at_k", {}) for r in both]
    for j, k in enumerate(pk[0].get("k", [])):
        rows.append([f"precision@{k}", *[c["precision"][j] for c in pk]])
    rows = [[m, *("n/a" if v is None else float(v) for v in vals)] for m, *vals in rows]
    times = _table(
        ["", "seconds"], [["training (fit)", float(run.fit_seconds)], ["evaluation", float(run.eval_seconds)]]
    )
    note = (
        f'<p class="muted">{rep.get("n_query", "?")} queries against {rep.get("n_database", "?")} '
        f"database items, {rep.get('n_bits', run.n_bits)}-bit codes, Hamming distance.</p>"
    )
    return "<h2>Results</h2>" + note + _table(["metric", "I→T", "T→I"], rows) + times


def _run_figures(run: Run, codes: Mapping[str, np.ndarray] | None, chance: Mapping[str, float] | None):
    from cmh_core import plotting

    rep = run.report
    maps = {_SHORT[d]: rep[d]["mAP"] for d in _DIRECTIONS}
    figs = [plotting.map_bar_figure(maps, {_SHORT[d]: chance[d] for d in _DIRECTIONS} if chance else None)]
    figs[0].update_layout(title="mAP against chance")
    figs.append(plotting.objective_figure(run.history, title="Training objective (loss curve)"))
    if any(run.loss_terms):  # deep methods report each loss term per epoch
        figs.append(plotting.loss_terms_figure(run.history, run.loss_terms))
    radius = {_SHORT[d]: rep[d]["pr_curve"] for d in _DIRECTIONS}
    figs.append(plotting.pr_curve_figure(radius, by="radius"))
    ranks = {_SHORT[d]: rep[d]["precision_at_k"] for d in _DIRECTIONS if "precision_at_k" in rep[d]}
    if ranks:
        base = plotting.chance_from_pr_curve(rep["i2t"]["pr_curve"])
        figs.append(plotting.pr_curve_figure(ranks, by="rank", chance=base))
        figs.append(plotting.precision_at_k_figure(ranks, chance=base))
    if codes is not None:
        from cmh_core.diagnostics import bit_diagnostics

        db = np.concatenate([codes["image_database"], codes["text_database"]])  # both modalities
        d = bit_diagnostics(db, int(rep.get("n_bits", run.n_bits)))
        figs.append(plotting.bit_balance_figure(d["balance"]))
        corr = plotting.bit_correlation_figure(d["correlation"])
        # two decimals, as the hover shows them: r^2 numbers cost ~5 bytes each instead of 8+ (base64)
        corr.data[0].z = np.round(d["correlation"], 2).tolist()
        figs.append(corr)
    return figs


def run_report_html(run: Run, dataset, *, chance: Mapping[str, float] | None = None, gallery: int = 4) -> str:
    """One self-contained HTML page about a run.

    Parameters
    ----------
    run : Run
        A `run_experiment` record; without its model (read back from JSON) the bit diagnostics
        and the gallery are left out, with a note.
    dataset : CrossModalDataset
        The dataset the run was trained and evaluated on.
    chance : mapping, optional
        ``{"i2t": mAP, "t2i": mAP}`` of random codes at the run's length; computed with
        `chance_levels` when not given.
    gallery : int
        Best and worst queries shown per direction (0: no gallery).

    Returns
    -------
    str
        The HTML document (plotly.js inline once; no outside resource).
    """
    from cmh_core.exports import run_codes

    if run.dataset != dataset.name:
        raise ValueError(
            f"the run was trained on {run.dataset!r} but the dataset given is {dataset.name!r}; "
            "pass the run's own dataset"
        )
    chance = chance_levels(dataset, run.n_bits) if chance is None else chance
    codes = run_codes(run, dataset) if run.model is not None else None
    sections = [
        _method_section(run.method, run.params),
        _dataset_section(dataset, run.protocol, run.unpaired),
        _metrics_section(run, chance),
        "<h2>Figures</h2>" + _figures(_run_figures(run, codes, chance)),
    ]
    if codes is None:
        sections.append('<p class="muted">No gallery: this run record carries no fitted model.</p>')
    elif gallery > 0:
        sections.append(_gallery_section(codes, dataset, n=gallery))
    title = f"{run.method} · {run.n_bits} bits · seed {run.seed} on {run.dataset}"
    return _page(title, sections)


# ------------------------------------------------------------------------------------- comparison
def _comparison_tables(cmp: Comparison) -> str:
    def ms(mean: float, std: float, n: int, digits: int = 3) -> str:
        return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"

    def delta(d: dict[str, Any] | None) -> str:
        return "" if d is None else f"{d['delta']:+.3f} vs {d['baseline']}"

    rows = cmp.summary()
    deltas = [baseline_deltas(rows, d) for d in _DIRECTIONS]
    summary = [
        [
            r["method"], r["n_bits"], r["n_seeds"],
            ms(r["map_i2t_mean"], r["map_i2t_std"], r["n_seeds"]),
            ms(r["map_t2i_mean"], r["map_t2i_std"], r["n_seeds"]),
            delta(deltas[0][j]), delta(deltas[1][j]),
            ms(r["fit_seconds_mean"], r["fit_seconds_std"], r["n_seeds"], 2),
        ]
        for j, r in enumerate(rows)
    ]  # fmt: skip
    head = ["method", "bits", "seeds", "mAP I→T", "mAP T→I", "Δ I→T vs best baseline",
            "Δ T→I vs best baseline", "training s"]  # fmt: skip
    runs = [
        [r.method, r.n_bits, r.seed, r.map_i2t, r.report["i2t"].get("mAP_expected", "n/a"), r.map_t2i,
         r.report["t2i"].get("mAP_expected", "n/a"), float(r.fit_seconds)]
        for r in cmp.runs
    ]  # fmt: skip
    run_head = ["method", "bits", "seed", "mAP I→T", "I→T tie-exp.", "mAP T→I", "T→I tie-exp.", "fit s"]
    skipped = "".join(f"<li>{_e(s)}</li>" for s in cmp.skipped)
    return (
        '<h2>Results</h2><p class="muted">Mean ± std over seeds (population std; the value alone for one '
        "seed); mAP with ties in database order. Δ: the mean mAP minus that of the best classic baseline "
        "at the same code length (a baseline against the best other one; none for RandomCodes, the "
        "chance level).</p>"
        + _table(head, summary)
        + "<h3>Every run</h3>"
        + _table(run_head, runs)
        + (f"<h3>Not run</h3><ul>{skipped}</ul>" if skipped else "")
    )


def _grid_section(cmp: Comparison) -> str:
    rows = [
        ("methods", ", ".join(cmp.methods)),
        ("code lengths", ", ".join(str(b) for b in cmp.bits)),
        ("seeds", ", ".join(str(s) for s in cmp.seeds)),
        ("runs", f"{len(cmp.runs)} ({cmp.reused} reused from earlier runs)"),
    ]
    return "<h2>Comparison</h2>" + _table(["", ""], rows)


def _mean_curve(runs: Sequence[Run], direction: str, key: str) -> dict[str, list[float]] | None:
    """Point-wise mean over seeds of one curve of the report (same x values for one dataset and length)."""
    curves = [r.report[direction][key] for r in runs if key in r.report.get(direction, {})]
    if not curves:
        return None
    x = "k" if key == "precision_at_k" else "radius"
    out = {x: list(curves[0][x])}
    for part in ("precision", "recall"):
        out[part] = np.mean([c[part] for c in curves], axis=0).tolist()
    return out


def _comparison_figures(cmp: Comparison, chance: Mapping[int, Mapping[str, float]] | None):
    from cmh_core import plotting

    summary = cmp.summary()
    figs = [
        plotting.map_vs_bits_figure(summary, d, {b: c[d] for b, c in chance.items()} if chance else None)
        for d in _DIRECTIONS
    ]
    by_method = [{r.n_bits for r in cmp.runs if r.method == m} for m in cmp.methods]
    common = set.intersection(*by_method) if by_method else set()
    # PR curves at the longest code every method ran at (a method may refuse the longest one)
    bits = max(common) if common else max(r.n_bits for r in cmp.runs)
    for d in _DIRECTIONS:
        for key, by in (("precision_at_k", "rank"), ("pr_curve", "radius")):
            curves = {}
            for m in cmp.methods:
                c = _mean_curve([r for r in cmp.runs if r.method == m and r.n_bits == bits], d, key)
                if c is not None:
                    curves[m] = c
            if curves:
                base = plotting.chance_from_pr_curve(cmp.runs[0].report[d]["pr_curve"])
                fig = plotting.pr_curve_figure(curves, by=by, chance=base)
                fig.update_layout(title=f"{_SHORT[d]} precision-recall by {by}, {bits} bits (seed mean)")
                figs.append(fig)
    return figs


def _best_with_model(runs: Sequence[Run], lookup: Lookup | None) -> Run | None:
    """The run with the highest mAP I→T + T→I whose model is at hand (its own or the lookup's)."""
    for run in sorted(runs, key=lambda r: r.map_i2t + r.map_t2i, reverse=True):
        if run.model is not None:
            return run
        found = lookup(run.method, run.n_bits, run.seed) if lookup is not None else None
        if found is not None and found.model is not None:
            return found
    return None


def comparison_report_html(
    comparison: Comparison,
    dataset,
    *,
    chance: Mapping[int, Mapping[str, float]] | None = None,
    gallery: int = 3,
    lookup: Lookup | None = None,
) -> str:
    """One self-contained HTML page about a methods × bits × seeds comparison.

    Parameters
    ----------
    comparison : Comparison
        `cmh_core.comparison.run_comparison` output (at least one run).
    dataset : CrossModalDataset
        Its dataset.
    chance : mapping, optional
        ``{n_bits: {"i2t": mAP, "t2i": mAP}}`` of random codes; computed with `chance_levels`
        for every code length of the runs when not given.
    gallery : int
        Best and worst queries per direction shown for the best run (highest mAP I→T + T→I of
        the runs whose model is at hand; 0: no gallery).
    lookup : callable, optional
        ``lookup(method, n_bits, seed) -> Run or None`` with its fitted model, for runs that
        carry none (a comparison kept as `Comparison.to_dict`, as the app keeps it); the app
        passes its run registry. Without a model anywhere the report says there is no gallery.

    Returns
    -------
    str
    """
    if not comparison.runs:
        raise ValueError("the comparison has no runs; run_comparison it first (at least one method and bits)")
    if comparison.dataset != dataset.name:
        raise ValueError(
            f"the comparison ran on {comparison.dataset!r} but the dataset given is {dataset.name!r}; "
            "pass its own dataset"
        )
    bits = sorted({r.n_bits for r in comparison.runs})
    chance = {b: chance_levels(dataset, b) for b in bits} if chance is None else chance
    sections = [
        _grid_section(comparison),
        _dataset_section(dataset, comparison.protocol, comparison.unpaired),
        _comparison_tables(comparison),
        "<h2>Figures</h2>" + _figures(_comparison_figures(comparison, chance)),
    ]
    best = _best_with_model(comparison.runs, lookup) if gallery > 0 else None
    if best is not None:
        from cmh_core.exports import run_codes

        where = f" of the best run, {best.method} · {best.n_bits} bits · seed {best.seed}"
        sections.append(_gallery_section(run_codes(best, dataset), dataset, n=gallery, title=where))
    elif gallery > 0:
        sections.append(
            '<p class="muted">No query gallery: none of these run records carries its fitted model '
            "(a comparison read back from JSON); build the report from `run_comparison` output or "
            "pass a lookup of the trained runs.</p>"
        )
    title = f"Comparison of {', '.join(comparison.methods)} on {comparison.dataset}"
    return _page(title, sections)


def write_report(obj: Run | Comparison, dataset, path: str | Path, **kw: Any) -> Path:
    """Write `run_report_html` or `comparison_report_html` of ``obj`` to a ``.html`` file.

    Parameters
    ----------
    obj : Run or Comparison
    dataset : CrossModalDataset
    path : str or PathLike
        ``.html`` / ``.htm`` file in an existing folder.
    **kw
        Passed to the report function (``chance``, ``gallery``).

    Returns
    -------
    Path
        The file written (UTF-8).
    """
    from cmh_core.datasets.files import check_output_path

    path = check_output_path(path, (".html", ".htm"), "the HTML report")
    if isinstance(obj, Comparison):
        text = comparison_report_html(obj, dataset, **kw)
    elif isinstance(obj, Run):
        text = run_report_html(obj, dataset, **kw)
    else:
        raise ValueError(f"write_report takes a Run or a Comparison, got {type(obj).__name__}")
    from cmh_core._io import atomic_write_text

    # atomic (no 0-byte or half file on a failure); a lone surrogate in a caption becomes '?'
    return atomic_write_text(path, text)
