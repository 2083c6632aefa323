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

import base64
import html
import io
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cmh_core.comparison import Comparison
from cmh_core.experiment import Run

__all__ = [
    "chance_levels",
    "query_examples",
    "thumbnail_data_uri",
    "run_report_html",
    "comparison_report_html",
    "write_report",
]

_DIRECTIONS = {"i2t": "image → text (I→T)", "t2i": "text → image (T→I)"}
_SHORT = {"i2t": "I→T", "t2i": "T→I"}
_CONFIG = {"displaylogo": False, "responsive": True}  # no "made with plotly" link out of the file
# Two fixed figure columns: plotly sizes a chart when its script runs, before later cells exist, so
# a grid whose column count depends on the number of cells would draw the first chart too wide.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:0 24px 48px;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-top:1em}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.8em}
table{border-collapse:collapse;margin:8px 0 16px;font-size:.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666;font-size:.9em}.figs{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
@media (max-width:900px){.figs{grid-template-columns:minmax(0,1fr)}}
.fig{border:1px solid #eee;border-radius:6px;padding:4px;min-height:200px}
.gal{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;font-size:.9em}
.card .q{display:flex;gap:8px;align-items:center;margin-bottom:6px}
.card img{border-radius:4px;background:#fff;width:56px;height:56px;object-fit:contain}
.card .q img{width:80px;height:80px}.card ol{margin:0;padding-left:1.4em}
.res-img{display:flex;flex-wrap:wrap;gap:4px}.res-img figure{margin:0;text-align:center;font-size:.8em}
.rel{color:#1b7a1b}.irr{color:#b22222}.cap{font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


# ------------------------------------------------------------------------------------ data helpers
def chance_levels(dataset, n_bits: int, seed: int = 0) -> dict[str, float]:
    """mAP of `RandomCodes` at ``n_bits`` on the dataset: ``{"i2t": ..., "t2i": ...}`` (the chance line)."""
    from cmh_core.experiment import run_experiment

    run = run_experiment(dataset, "RandomCodes", n_bits=int(n_bits), seed=seed)
    return {"i2t": run.map_i2t, "t2i": run.map_t2i}


def thumbnail_data_uri(dataset, i: int, size: int = 80, quality: int = 60) -> str:
    """Item ``i``'s picture as a small WebP ``data:`` URI (longest side ``size`` px)."""
    from PIL import Image

    im = dataset.thumbnail(int(i)).convert("RGB")
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="WEBP", quality=quality, method=6)
    return "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def query_examples(
    codes: Mapping[str, np.ndarray], dataset, direction: str = "i2t", n: int = 4, top: int = 5
) -> dict[str, list[dict[str, Any]]]:
    """The ``n`` best and ``n`` worst queries of a direction by AP, each with its top results.

    AP is `cmh_core.evaluation.average_precision` over the whole database with ties in database
    order, the definition of the report's mAP (their mean is ``report[direction]["mAP"]``).

    Parameters
    ----------
    codes : mapping
        `cmh_core.exports.run_codes` / `retrieval_codes` output.
    dataset : CrossModalDataset
    direction : {"i2t", "t2i"}
    n, top : int
        Queries per group, results per query.

    Returns
    -------
    dict
        ``{"best": [...], "worst": [...], "ap": ndarray (n_query,)}``; each query is
        ``{"index" (dataset row), "ap", "n_relevant", "results": [{"index", "distance",
        "relevant"}, ...]}``, best first / worst first.
    """
    from cmh_core.evaluation import average_precision, relevance_from_labels
    from cmh_core.hamming import hamming_distance

    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
    src, dst = ("image", "text") if direction == "i2t" else ("text", "image")
    q, db = np.asarray(dataset.split.query), np.asarray(dataset.split.database)
    D = hamming_distance(codes[f"{src}_query"], codes[f"{dst}_database"])  # (n_q, n_db)
    R = relevance_from_labels(dataset.labels[q], dataset.labels[db])  # (n_q, n_db) bool
    ap = average_precision(D, R)  # (n_q,)

    def describe(j: int) -> dict[str, Any]:
        ranked = np.argsort(D[j], kind="stable")[:top]  # ties by database index, as hamming.search
        results = [{"index": int(db[r]), "distance": int(D[j, r]), "relevant": bool(R[j, r])} for r in ranked]
        return {"index": int(q[j]), "ap": float(ap[j]), "n_relevant": int(R[j].sum()), "results": results}

    up = np.argsort(ap, kind="stable")  # worst first
    best = np.argsort(-ap, kind="stable")[:n]
    return {"best": [describe(j) for j in best], "worst": [describe(j) for j in up[:n]], "ap": ap}


# ------------------------------------------------------------------------------------ HTML pieces
def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:.4f}</td>'
        if isinstance(v, int) and not isinstance(v, bool):
            return f'<td class="num">{v}</td>'
        return f"<td>{_e(v)}</td>"

    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""  # key-value tables need no header
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _figures(figs: Sequence[Any], first_id: int = 0) -> str:
    """Figures as divs; plotly.js itself is in the page head once, so none carries a copy."""
    import plotly.graph_objects as go
    import plotly.io as pio

    # the layout half of plotly's default template: the same look, without ~4 kB of per-trace
    # defaults repeated in every figure (the traces here set their own colours)
    template = go.layout.Template(layout=pio.templates["plotly"].layout)
    for fig in figs:
        fig.layout.template = template
    divs = [
        fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig{first_id + i}", config=_CONFIG)
        for i, fig in enumerate(figs)
    ]
    return '<div class="figs">' + "".join(f'<div class="fig">{d}</div>' for d in divs) + "</div>"


def _page(title: str, sections: Sequence[str]) -> str:
    from plotly.offline import get_plotlyjs

    import cmh_core

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<h1>{_e(title)}</h1><p class="muted">Written by cmh_core {_e(cmh_core.__version__)} on '
        f"{stamp}. Self-contained: the figures are interactive (hover, zoom, click a legend entry) "
        "and every image is inside this file, so it opens offline.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )


def _dataset_section(dataset, protocol: str, unpaired: float) -> str:
    meta = dataset.metadata or {}
    src = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    sizes = dataset.split.sizes()
    rows = [
        ("name", dataset.name),
        ("title", meta.get("title", "")),
        ("items", dataset.n_items),
        ("split", f"{sizes['query']} query, {sizes['database']} database, {sizes['train']} train"),
        ("features", f"{dataset.image_features.shape[1]}-d image, {dataset.text_features.shape[1]}-d text"),
        ("labels", f"{dataset.labels.shape[1]} (an item may carry several)"),
        ("relevance", "a database item is relevant to a query when they share a label"),
        ("database codes", f"{protocol} ('learned': training codes; 'encoded': hash functions)"),
        ("unpaired training texts", f"{unpaired:g}"),
    ]
    if src:
        rows.append(("source", " ".join(str(src[k]) for k in ("package", "version") if k in src)))
        rows.append(("licence", src.get("licence", "")))
    desc = f"<p>{_e(meta['description'])}</p>" if meta.get("description") else ""
    return "<h2>Dataset</h2>" + desc + _table(["", ""], [r for r in rows if r[1] != ""])


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


def _labels(dataset, i: int) -> str:
    return ", ".join(dataset.label_names[c] for c in np.flatnonzero(dataset.labels[i]))


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _mark(relevant: bool) -> str:
    return '<span class="rel">✓</span>' if relevant else '<span class="irr">✗</span>'


def _card(dataset, ex: Mapping[str, Any], direction: str, thumb) -> str:
    i = ex["index"]
    if direction == "i2t":  # an image query: its picture; results are captions
        query = f'<img src="{thumb(i)}" alt="{_e(dataset.texts[i])}" title="{_e(dataset.texts[i])}">'
        items = "".join(
            f'<li title="{_e(_labels(dataset, r["index"]))}">{_mark(r["relevant"])} d={r["distance"]} '
            f"{_e(_short(dataset.texts[r['index']]))}</li>"
            for r in ex["results"]
        )
        results = f"<ol>{items}</ol>"
    else:  # a caption query; results are pictures
        query = f'<span class="cap" title="{_e(dataset.texts[i])}">“{_e(_short(dataset.texts[i]))}”</span>'
        figs = "".join(
            f'<figure><img src="{thumb(r["index"])}" alt="{_e(dataset.texts[r["index"]])}" '
            f'title="{_e(_labels(dataset, r["index"]))}"><figcaption>{_mark(r["relevant"])} '
            f"d={r['distance']}</figcaption></figure>"
            for r in ex["results"]
        )
        results = f'<div class="res-img">{figs}</div>'
    head = (
        f'<div class="q">{query}<div>AP {ex["ap"]:.3f} · {ex["n_relevant"]} relevant<br>'
        f'<span class="muted">{_e(_labels(dataset, i))}</span></div></div>'
    )
    return f'<div class="card">{head}{results}</div>'


def _gallery_section(
    codes: Mapping[str, np.ndarray], dataset, n: int = 4, top: int = 5, title: str = ""
) -> str:
    cache: dict[int, str] = {}

    def thumb(i: int) -> str:  # each picture encoded once, however often it is shown
        if i not in cache:
            cache[i] = thumbnail_data_uri(dataset, i)
        return cache[i]

    parts = [
        f'<h2>Best and worst queries{_e(title)}</h2><p class="muted">Average precision (AP) of each query '
        f"over the whole database, ties in database order; its top {top} results with their Hamming "
        "distance d, ✓ relevant (shares a label with the query), ✗ not.</p>"
    ]
    for direction, title in _DIRECTIONS.items():
        ex = query_examples(codes, dataset, direction, n=n, top=top)
        for group in ("best", "worst"):
            cards = "".join(_card(dataset, e, direction, thumb) for e in ex[group])
            parts.append(f'<h3>{_e(title)}: {group} {len(ex[group])}</h3><div class="gal">{cards}</div>')
    return "".join(parts)


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

    summary = [
        [
            r["method"], r["n_bits"], r["n_seeds"],
            ms(r["map_i2t_mean"], r["map_i2t_std"], r["n_seeds"]),
            ms(r["map_t2i_mean"], r["map_t2i_std"], r["n_seeds"]),
            ms(r["fit_seconds_mean"], r["fit_seconds_std"], r["n_seeds"], 2),
        ]
        for r in cmp.summary()
    ]  # fmt: skip
    head = ["method", "bits", "seeds", "mAP I→T", "mAP T→I", "training s"]
    runs = [
        [r.method, r.n_bits, r.seed, r.map_i2t, r.report["i2t"].get("mAP_expected", "n/a"), r.map_t2i,
         r.report["t2i"].get("mAP_expected", "n/a"), float(r.fit_seconds)]
        for r in cmp.runs
    ]  # fmt: skip
    run_head = ["method", "bits", "seed", "mAP I→T", "I→T tie-exp.", "mAP T→I", "T→I tie-exp.", "fit s"]
    skipped = "".join(f"<li>{_e(s)}</li>" for s in cmp.skipped)
    return (
        '<h2>Results</h2><p class="muted">Mean ± std over seeds (population std; the value alone for one '
        "seed); mAP with ties in database order.</p>"
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


def comparison_report_html(
    comparison: Comparison,
    dataset,
    *,
    chance: Mapping[int, Mapping[str, float]] | None = None,
    gallery: int = 3,
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
        Best and worst queries per direction shown for the best run (highest mean mAP of the
        runs that carry a model; 0: no gallery).

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
    with_model = [r for r in comparison.runs if r.model is not None]
    if gallery > 0 and with_model:
        from cmh_core.exports import run_codes

        best = max(with_model, key=lambda r: r.map_i2t + r.map_t2i)
        where = f" of the best run, {best.method} · {best.n_bits} bits · seed {best.seed}"
        sections.append(_gallery_section(run_codes(best, dataset), dataset, n=gallery, title=where))
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
