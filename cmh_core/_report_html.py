"""HTML pieces of the one-file reports (`cmh_core.report`): page frame, tables, figures, gallery.

Every piece of text from the data goes through `html.escape` (`_e`); pictures are inline base64
WebP data URIs and plotly.js is inlined once, so a report makes no outside request.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cmh_core._vocab import DIRECTIONS as _DIRECTIONS

__all__ = ["chance_levels", "query_examples", "thumbnail_data_uri"]

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
