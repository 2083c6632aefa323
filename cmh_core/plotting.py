"""Pure Plotly figure builders for the app and the HTML reports (no streamlit here).

Every builder takes plain numbers (lists, arrays, the dicts of `cmh_core.evaluation.evaluate`)
and returns a `plotly.graph_objects.Figure`; the caller decides where to show it. Colours come
from one palette so a direction, a modality or a label keeps its colour on every page:

* `DIRECTION_COLOURS`: ``"I→T"`` / ``"T→I"`` (also keyed ``"i2t"`` / ``"t2i"``);
* `MODALITY_COLOURS`: ``"image"`` / ``"text"``;
* `RELEVANCE_COLOURS`: ``"relevant"`` / ``"not relevant"`` / ``"query"``;
* `group_colours(names)`: a stable colour per label or method, in first-seen order;
* `CHANCE_COLOUR` for every chance line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

__all__ = [
    "PALETTE",
    "DIRECTION_COLOURS",
    "MODALITY_COLOURS",
    "RELEVANCE_COLOURS",
    "CHANCE_COLOUR",
    "MODALITY_SYMBOLS",
    "group_colours",
    "chance_from_pr_curve",
    "objective_figure",
    "map_bar_figure",
    "pr_curve_figure",
    "precision_at_k_figure",
    "bit_balance_figure",
    "bit_correlation_figure",
    "code_map_figure",
    "bit_strip_figure",
    "add_own_items",
    "loss_terms_figure",
]

#: Categorical colours, colour-blind-safe ones first, then enough distinct others for 61 labels.
PALETTE: tuple[str, ...] = tuple(
    dict.fromkeys(qualitative.Safe + qualitative.D3 + qualitative.Dark24 + qualitative.Alphabet)
)
DIRECTION_COLOURS: dict[str, str] = {"I→T": "#1f77b4", "T→I": "#ff7f0e", "i2t": "#1f77b4", "t2i": "#ff7f0e"}
MODALITY_COLOURS: dict[str, str] = {"image": "#1f77b4", "text": "#ff7f0e"}
RELEVANCE_COLOURS: dict[str, str] = {"relevant": "#2ca02c", "not relevant": "#d62728", "query": "#111111"}
CHANCE_COLOUR: str = "#7f7f7f"
#: Marker symbols of the code map (Scattergl supports these).
MODALITY_SYMBOLS: dict[str, str] = {"image": "circle", "text": "diamond"}
_SPARE_SYMBOLS = ("square", "cross", "x", "triangle-up", "star", "circle-open", "diamond-open")
_DIFF_COLOUR = "#d62728"


def group_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per distinct name, in first-seen order; known directions/modalities keep theirs.

    Parameters
    ----------
    names : sequence of str
        Group names (labels, methods, ...); repeats allowed.

    Returns
    -------
    dict
        ``{name: CSS colour}``; the palette cycles when there are more names than colours.
    """
    fixed = {**DIRECTION_COLOURS, **MODALITY_COLOURS, **RELEVANCE_COLOURS}
    out: dict[str, str] = {}
    for name in names:
        if name not in out:
            out[name] = fixed.get(name, PALETTE[len(out) % len(PALETTE)])
    return out


def _empty_figure(note: str, title: str | None = None) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, height=300)
    return fig


def _chance_line(fig: go.Figure, chance: float | None, label: str = "chance") -> None:
    if chance is not None and math.isfinite(chance):
        fig.add_hline(
            y=chance,
            line={"dash": "dash", "color": CHANCE_COLOUR},
            annotation_text=f"{label} {chance:.3f}",
            annotation_position="bottom right",
        )


# ---------------------------------------------------------------------------------------------
# Training and metrics
# ---------------------------------------------------------------------------------------------


def objective_figure(history: Sequence[Sequence[float]], title: str = "Training objective") -> go.Figure:
    """Objective (or loss) per iteration, as `cmh_core.experiment.Run.history` records it.

    Parameters
    ----------
    history : sequence of [iteration, objective, elapsed_s]
        One row per callback call; rows whose objective is NaN (a method that reports
        progress without an objective) are left out.
    title : str

    Returns
    -------
    go.Figure
        One line trace (hover shows elapsed seconds); with no finite objective, an empty
        figure with a note saying so.
    """
    H = np.asarray(history, dtype=np.float64).reshape(-1, 3) if len(history) else np.empty((0, 3))
    H = H[np.isfinite(H[:, 1])]
    if len(H) == 0:
        return _empty_figure("This method reports no objective while it trains.", title)
    fig = go.Figure(
        go.Scatter(
            x=H[:, 0],
            y=H[:, 1],
            customdata=H[:, 2],
            mode="lines+markers" if len(H) <= 50 else "lines",
            name="objective",
            hovertemplate="iteration %{x}<br>objective %{y:.4g}<br>%{customdata:.2f} s<extra></extra>",
        )
    )
    xaxis: dict[str, Any] = {"title": "iteration"}
    if len(H) <= 20:  # few iterations: whole-number ticks, not 1.5, 2.5, ...
        xaxis["tickvals"] = H[:, 0].tolist()
    fig.update_layout(title=title, xaxis=xaxis, yaxis_title="objective", height=300)
    return fig


def map_bar_figure(maps: Mapping[str, float], chance: Mapping[str, float] | None = None) -> go.Figure:
    """mAP per direction as bars, each with the chance level (RandomCodes at the same length).

    Parameters
    ----------
    maps : mapping
        ``{"I→T": mAP, "T→I": mAP}`` (any names; "I→T"/"T→I" keep their palette colours).
    chance : mapping, optional
        Same keys, the chance mAP; keys missing here get no chance mark.

    Returns
    -------
    go.Figure
        A bar trace and, when ``chance`` is given, a ``"chance"`` marker trace (one dash per bar).
    """
    names = list(maps)
    colours = group_colours(names)
    fig = go.Figure(
        go.Bar(
            x=names,
            y=[float(maps[k]) for k in names],
            marker_color=[colours[k] for k in names],
            text=[f"{float(maps[k]):.3f}" for k in names],
            textposition="outside",
            name="mAP",
            hovertemplate="%{x}: mAP %{y:.3f}<extra></extra>",
        )
    )
    chance = chance or {}
    known = [k for k in names if k in chance]
    if known:
        fig.add_trace(
            go.Scatter(
                x=known,
                y=[float(chance[k]) for k in known],
                mode="markers",
                marker={
                    "symbol": "line-ew-open",
                    "size": 60,
                    "color": CHANCE_COLOUR,  # open symbols are stroked in the marker colour
                    "line": {"width": 3, "color": CHANCE_COLOUR},
                },
                name="chance (random codes)",
                hovertemplate="%{x}: chance %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(yaxis={"range": [0, 1.08], "title": "mAP"}, height=320, showlegend=bool(known))
    return fig


def chance_from_pr_curve(pr_curve: Mapping[str, Sequence[float]]) -> float:
    """Chance precision = mean fraction of relevant items, read off a by-radius PR curve.

    At the largest radius (``n_bits``) every item lies in every query's Hamming ball, so the
    curve's last precision is ``mean_i |relevant_i| / n_database``, the precision of a random
    ranking.

    Parameters
    ----------
    pr_curve : mapping
        ``report[direction]["pr_curve"]`` of `cmh_core.evaluation.evaluate` (radius 0..n_bits).

    Returns
    -------
    float
    """
    precision = pr_curve.get("precision", [])
    if len(precision) == 0:
        raise ValueError("pr_curve has no 'precision' values; pass report['i2t']['pr_curve'] from evaluate()")
    return float(precision[-1])


def _chance_value(curves: Mapping[str, Mapping[str, Any]], chance: float | None, by: str) -> float | None:
    if chance is not None or by != "radius":
        return chance
    values = [chance_from_pr_curve(c) for c in curves.values() if len(c.get("precision", []))]
    return float(np.mean(values)) if values else None


def pr_curve_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    by: Literal["radius", "rank"] = "radius",
    chance: float | None = None,
) -> go.Figure:
    """Precision-recall curves, one line per entry (directions or methods).

    Parameters
    ----------
    curves : mapping of name -> curve dict, exactly as `evaluate` reports them:
        ``by="radius"``: ``report[d]["pr_curve"]`` = ``{"radius", "precision", "recall",
        "nonempty"}`` (radius 0..n_bits, Hamming-ball lookups);
        ``by="rank"``: ``report[d]["precision_at_k"]`` = ``{"k", "precision", "recall"}``
        (top-k lists). E.g. ``{"I→T": report["i2t"]["pr_curve"], "T→I": report["t2i"]["pr_curve"]}``.
    by : {"radius", "rank"}
    chance : float, optional
        Precision of a random ranking (fraction of relevant items). By radius it defaults to
        the curves' own value at radius n_bits (`chance_from_pr_curve`); by rank the curves
        do not hold it, so pass ``chance_from_pr_curve(report["i2t"]["pr_curve"])``.

    Returns
    -------
    go.Figure
        One ``go.Scatter`` per curve (hover shows the radius or k) and a dashed chance line.
    """
    if by not in ("radius", "rank"):
        raise ValueError(f"by must be 'radius' or 'rank', got {by!r}")
    step = "radius" if by == "radius" else "k"
    colours = group_colours(list(curves))
    fig = go.Figure()
    for name, c in curves.items():
        if step not in c:
            raise ValueError(
                f"curve {name!r} has keys {sorted(c)}, not {step!r}; by={by!r} takes "
                f"report[d][{'pr_curve' if by == 'radius' else 'precision_at_k'}!r] from evaluate()"
            )
        fig.add_trace(
            go.Scatter(
                x=list(c["recall"]),
                y=list(c["precision"]),
                customdata=list(c[step]),
                mode="lines+markers",
                name=name,
                line={"color": colours[name]},
                hovertemplate=f"{step} %{{customdata}}<br>recall %{{x:.3f}}<br>precision %{{y:.3f}}"
                f"<extra>{name}</extra>",
            )
        )
    _chance_line(fig, _chance_value(curves, chance, by))
    fig.update_layout(
        title=f"Precision-recall by {'Hamming radius' if by == 'radius' else 'rank (top k)'}",
        xaxis={"title": "recall", "range": [0, 1.02]},
        yaxis={"title": "precision", "range": [0, 1.02]},
        height=360,
    )
    return fig


def _ticked_log_axis(title: str, ticks: Sequence[int]) -> dict[str, Any]:
    """A log x axis ticked at the measured values (plotly's own log ticks, 1 2 5 10 2 5, read badly)."""
    return {"title": title, "type": "log", "tickvals": list(ticks), "ticktext": [str(t) for t in ticks]}


def precision_at_k_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]], chance: float | None = None
) -> go.Figure:
    """Precision of the top k results against k (log axis), one line per entry.

    Parameters
    ----------
    curves : mapping of name -> ``report[d]["precision_at_k"]`` of `evaluate`
        (``{"k", "precision", "recall"}``), e.g. ``{"I→T": report["i2t"]["precision_at_k"], ...}``.
    chance : float, optional
        Fraction of relevant items (``chance_from_pr_curve(report["i2t"]["pr_curve"])``).

    Returns
    -------
    go.Figure
    """
    colours = group_colours(list(curves))
    fig = go.Figure()
    for name, c in curves.items():
        if "k" not in c:
            raise ValueError(f"curve {name!r} has keys {sorted(c)}; pass report[d]['precision_at_k']")
        fig.add_trace(
            go.Scatter(
                x=list(c["k"]),
                y=list(c["precision"]),
                mode="lines+markers",
                name=name,
                line={"color": colours[name]},
                hovertemplate="k %{x}<br>precision %{y:.3f}" + f"<extra>{name}</extra>",
            )
        )
    _chance_line(fig, chance)
    ks = sorted({int(k) for c in curves.values() for k in c["k"]})
    fig.update_layout(
        title="Precision of the top k",
        # ticks at the measured cut-offs: plotly's log ticks (1 2 5 10 2 5 ...) read badly
        xaxis=_ticked_log_axis("k (results returned)", ks),
        yaxis={"title": "precision@k", "range": [0, 1.02]},
        height=360,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Bits
# ---------------------------------------------------------------------------------------------


def bit_balance_figure(balance: Sequence[float]) -> go.Figure:
    """Fraction of ones per bit, with the ideal 0.5 marked; bars far from it are weak bits.

    Parameters
    ----------
    balance : sequence of float, shape (r,)
        `cmh_core.diagnostics.bit_diagnostics` ``["balance"]``.

    Returns
    -------
    go.Figure
        One bar trace (colour = distance from 0.5) and a dashed line at 0.5.
    """
    b = np.asarray(balance, dtype=np.float64).ravel()
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(b)),
            y=b,
            marker={"color": np.abs(b - 0.5), "colorscale": "OrRd", "cmin": 0, "cmax": 0.5},
            name="fraction of ones",
            hovertemplate="bit %{x}: %{y:.2f} ones<extra></extra>",
        )
    )
    fig.add_hline(
        y=0.5,
        line={"dash": "dash", "color": CHANCE_COLOUR},
        annotation_text="balanced (0.5)",
        annotation_position="top left",
    )
    fig.update_layout(
        title="Bit balance",
        xaxis_title="bit",
        yaxis={"title": "fraction of ones", "range": [0, 1]},
        height=280,
        bargap=0.1,
    )
    return fig


def bit_correlation_figure(corr) -> go.Figure:
    """Heatmap of the correlation between bits (-1 blue .. +1 red); off-diagonal 0 is ideal.

    Parameters
    ----------
    corr : array-like, shape (r, r)
        `cmh_core.diagnostics.bit_diagnostics` ``["correlation"]``.

    Returns
    -------
    go.Figure
        One ``go.Heatmap`` trace on a square, top-down grid.
    """
    C = np.asarray(corr, dtype=np.float64)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"corr must be a square (r, r) matrix, got shape {C.shape}")
    fig = go.Figure(
        go.Heatmap(
            z=C,
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
            hovertemplate="bits %{y} and %{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Bit correlation",
        xaxis={"title": "bit", "constrain": "domain"},
        yaxis={"title": "bit", "autorange": "reversed", "scaleanchor": "x"},
        height=420,
    )
    return fig


def bit_strip_figure(bits_a, bits_b, names: tuple[str, str] = ("query", "result")) -> go.Figure:
    """Two codes as two rows of cells (dark = 1), differing bits framed in red.

    Parameters
    ----------
    bits_a, bits_b : array-like, shape (r,)
        Unpacked codes in {0, 1} (`cmh_core.hamming.unpack_bits`).
    names : (str, str)
        Row labels.

    Returns
    -------
    go.Figure
        One ``go.Heatmap`` (rows ``names``) plus one red rectangle shape per differing bit;
        the title states the Hamming distance.
    """
    a = np.asarray(bits_a).astype(np.int8).ravel()
    b = np.asarray(bits_b).astype(np.int8).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"bits_a and bits_b must be non-empty codes of one length, got {a.size} and {b.size} bits"
        )
    r = a.size
    diff = np.flatnonzero(a != b)
    z = np.vstack([a, b])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(r),
            y=list(names),
            zmin=0,
            zmax=1,
            colorscale=[[0, "#f2f2f2"], [1, "#303030"]],
            showscale=False,
            xgap=1,
            ygap=3,
            text=z.astype(str) if r <= 64 else None,
            texttemplate="%{text}" if r <= 64 else None,
            hovertemplate="%{y} bit %{x}: %{z}<extra></extra>",
        )
    )
    for j in diff:  # one frame per differing bit, over both rows
        fig.add_shape(
            type="rect",
            x0=j - 0.5,
            x1=j + 0.5,
            y0=-0.5,
            y1=1.5,
            line={"color": _DIFF_COLOUR, "width": 2},
        )
    fig.update_layout(
        title=f"Hamming distance {len(diff)} of {r} bits (differing bits framed)",
        xaxis={"title": "bit", "showgrid": False},
        yaxis={"autorange": "reversed", "showgrid": False},
        height=190,
        margin={"t": 40, "b": 40},
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Code map
# ---------------------------------------------------------------------------------------------


def _symbol_map(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        if v not in out:
            spare = [s for s in _SPARE_SYMBOLS if s not in out.values()]
            out[v] = MODALITY_SYMBOLS.get(v, spare[0] if spare else "circle")
    return out


def _check_map_inputs(coords, ids, colour, symbol, hover) -> np.ndarray:
    P = np.asarray(coords, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 2:
        raise ValueError(f"coords must be (n, 2), got shape {P.shape}; use cmh_core.projection")
    for name, seq in (("ids", ids), ("colour", colour), ("symbol", symbol), ("hover", hover)):
        if len(seq) != len(P):
            raise ValueError(f"{name} has {len(seq)} entries but coords has {len(P)} points; give one each")
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique (Streamlit's selection returns them to name the points)")
    return P


def _pair_trace(P: np.ndarray, pair_lines: Sequence[tuple[int, int]]) -> go.Scattergl:
    pairs = np.asarray(pair_lines, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= len(P)):
        raise ValueError(f"pair_lines index out of range 0..{len(P) - 1}: {pairs.min()}..{pairs.max()}")
    xs = np.full((len(pairs), 3), np.nan)  # x_i, x_j, gap; one polyline for all pairs
    ys = np.full((len(pairs), 3), np.nan)
    xs[:, 0], xs[:, 1] = P[pairs[:, 0], 0], P[pairs[:, 1], 0]
    ys[:, 0], ys[:, 1] = P[pairs[:, 0], 1], P[pairs[:, 1], 1]
    return go.Scattergl(
        x=xs.ravel(),
        y=ys.ravel(),
        mode="lines",
        line={"color": "rgba(120,120,120,0.35)", "width": 1},
        hoverinfo="skip",
        name="image ↔ own caption",
    )


def code_map_figure(
    coords,
    ids: Sequence[str],
    colour: Sequence[str],
    symbol: Sequence[str],
    hover: Sequence[str],
    pair_lines: Sequence[tuple[int, int]] | None = None,
) -> go.Figure:
    """Scatter of projected codes, one WebGL trace per colour group, ready for lasso selection.

    Parameters
    ----------
    coords : array-like, shape (n, 2)
        `cmh_core.projection` output.
    ids : sequence of str, length n
        Unique point ids; set as trace ``ids`` so a Streamlit selection point carries
        ``p["id"]`` whatever trace it came from (``point_index`` is per trace).
    colour : sequence of str, length n
        Colour group of each point (label, modality or relevance); one trace per group,
        named after it (`group_colours`).
    symbol : sequence of str, length n
        Marker group (``"image"`` → circle, ``"text"`` → diamond, others get spare symbols).
    hover : sequence of str, length n
        Hover text (HTML allowed, e.g. ``"text #12<br>cat, dog"``).
    pair_lines : sequence of (i, j), optional
        Point index pairs to join (an image and its own caption), drawn as one extra
        ``mode="lines"`` trace without ids, under the points.

    Returns
    -------
    go.Figure
        Point traces carry ``ids`` and ``customdata`` = the point's index in ``coords``;
        ``dragmode="lasso"``; ``uirevision`` kept so zoom survives reruns.
    """
    P = _check_map_inputs(coords, ids, colour, symbol, hover)
    fig = go.Figure()
    if pair_lines:
        fig.add_trace(_pair_trace(P, pair_lines))
    colour_arr = np.asarray(colour, dtype=object)
    marker_of = _symbol_map(list(symbol))
    for group, c in group_colours(list(colour)).items():
        idx = np.flatnonzero(colour_arr == group)  # this group's rows of coords
        # Items with equal codes sit on one spot (an image and its caption often do): images are
        # drawn as larger open circles so the filled caption diamonds underneath stay visible.
        sym = [marker_of[symbol[i]] for i in idx]
        ring = [s == "circle" for s in sym]
        fig.add_trace(
            go.Scattergl(
                x=P[idx, 0],
                y=P[idx, 1],
                ids=[str(ids[i]) for i in idx],
                customdata=idx,
                mode="markers",
                name=str(group),
                marker={
                    "color": c,
                    "size": [12 if r else 7 for r in ring],
                    "opacity": 0.85,
                    "symbol": ["circle-open" if r else s for r, s in zip(ring, sym, strict=True)],
                    "line": {"width": 2, "color": c},
                },
                text=[hover[i] for i in idx],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_layout(
        dragmode="lasso",
        uirevision="code-map",
        xaxis={"showticklabels": False, "title": None, "zeroline": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False},
        legend={"itemsizing": "constant"},
        height=560,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Playground: your own items on the code map
# ---------------------------------------------------------------------------------------------

OWN_ITEM_COLOUR: str = "#7b2cbf"
OWN_ITEM_SYMBOLS: dict[str, str] = {"image": "star", "text": "star-diamond"}


def add_own_items(
    fig: go.Figure, coords, ids: Sequence[str], labels: Sequence[str], modalities: Sequence[str]
) -> go.Figure:
    """Add the items a user added (out-of-sample codes) to a `code_map_figure`: labelled stars.

    Parameters
    ----------
    fig : go.Figure
        A code map; one trace is appended (returned for chaining).
    coords : array-like, shape (n, 2)
        Their map positions (`cmh_core.playground.place_near`).
    ids : sequence of str, length n
        Point ids (e.g. ``"yours:0"``), distinct from the database's, so a selection names them.
    labels : sequence of str, length n
        Text written beside each star (the caption or file name).
    modalities : sequence of str, length n
        ``"image"`` (star) or ``"text"`` (star-diamond).

    Returns
    -------
    go.Figure
        The same figure; nothing is added when ``n == 0``.
    """
    P = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    if not (len(ids) == len(labels) == len(modalities) == len(P)):
        raise ValueError(
            f"coords ({len(P)}), ids ({len(ids)}), labels ({len(labels)}) and modalities "
            f"({len(modalities)}) must have one entry per added item"
        )
    if len(P) == 0:
        return fig
    short = [t if len(t) <= 24 else t[:23] + "…" for t in map(str, labels)]
    fig.add_trace(
        go.Scatter(  # SVG, not WebGL: a handful of points whose text labels must render crisply
            x=P[:, 0],
            y=P[:, 1],
            ids=[str(i) for i in ids],
            mode="markers+text",
            name="yours",
            text=short,
            textposition="top center",
            textfont={"color": OWN_ITEM_COLOUR},
            marker={
                "symbol": [OWN_ITEM_SYMBOLS.get(m, "star") for m in modalities],
                "size": 18,
                "color": OWN_ITEM_COLOUR,
                "line": {"width": 1.5, "color": "#111111"},
            },
            customdata=[f"your {m}: {t}" for m, t in zip(modalities, labels, strict=True)],
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Failures page: which labels fail most
# ---------------------------------------------------------------------------------------------

__all__ += ["label_ap_figure"]


def label_ap_figure(
    names: Sequence[str],
    mean_ap: Sequence[float],
    n_queries: Sequence[int],
    chance: Sequence[float] | None = None,
    overall: float | None = None,
    direction: str = "I→T",
) -> go.Figure:
    """Mean AP per label as horizontal bars, worst label on top (`cmh_core.failures.label_ap`).

    Parameters
    ----------
    names : sequence of str, length c'
        Label names, in the order to draw them from the top (worst first).
    mean_ap : sequence of float, length c'
        Mean AP of the queries carrying each label.
    n_queries : sequence of int, length c'
        How many queries carry each label (shown in the hover and the bar text).
    chance : sequence of float, optional
        Each label's chance level (a random ranking's expected AP), drawn as a grey tick.
    overall : float, optional
        The mean AP of all queries (the run's mAP in this direction), a dashed vertical line.
    direction : str
        "I→T" or "T→I": the bars' colour and the title.

    Returns
    -------
    go.Figure
        A bar trace ``"mean AP"`` and, when ``chance`` is given, a marker trace ``"chance"``;
        with no label, an empty figure with a note saying so.
    """
    names = [str(n) for n in names]
    if not (len(names) == len(mean_ap) == len(n_queries)) or (
        chance is not None and len(chance) != len(names)
    ):
        raise ValueError(
            f"names, mean_ap, n_queries (and chance) must have one entry per label, got lengths "
            f"{len(names)}, {len(mean_ap)}, {len(n_queries)}" + ("" if chance is None else f", {len(chance)}")
        )
    title = f"Mean AP per label ({direction}), worst on top"
    if not names:
        return _empty_figure("No label is carried by any query.", title)
    counts = [int(v) for v in n_queries]
    fig = go.Figure(
        go.Bar(
            x=[float(v) for v in mean_ap],
            y=names,
            orientation="h",
            marker_color=DIRECTION_COLOURS.get(direction, PALETTE[0]),
            customdata=counts,
            text=[f"{float(v):.2f} · {c}q" for v, c in zip(mean_ap, counts, strict=True)],
            textposition="outside",
            name="mean AP",
            hovertemplate="%{y}: mean AP %{x:.3f} over %{customdata} queries<extra></extra>",
        )
    )
    if chance is not None:
        fig.add_trace(
            go.Scatter(
                x=[float(v) for v in chance],
                y=names,
                mode="markers",
                marker={
                    "symbol": "line-ns-open",
                    "size": 14,
                    "color": CHANCE_COLOUR,
                    "line": {"width": 3, "color": CHANCE_COLOUR},
                },
                name="chance (random ranking)",
                hovertemplate="%{y}: chance %{x:.3f}<extra></extra>",
            )
        )
    if overall is not None and math.isfinite(overall):
        fig.add_vline(
            x=overall,
            line={"dash": "dash", "color": "#111111"},
            annotation_text=f"all queries {overall:.3f}",
            annotation_position="top",
        )
    fig.update_layout(
        title=title,
        height=max(320, 18 * len(names) + 120),
        xaxis={"range": [0, 1.12], "title": "mean AP"},
        yaxis={"autorange": "reversed", "type": "category"},
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        showlegend=chance is not None,
        legend={"orientation": "h", "y": -0.05 if len(names) > 20 else -0.15},
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Comparison (methods × code lengths × seeds, `cmh_core.comparison.Comparison`)
# ---------------------------------------------------------------------------------------------

__all__ += [
    "map_vs_bits_figure",
    "comparison_pr_figure",
]  # appended here, not above: other topics append their blocks too


def map_vs_bits_figure(
    summary: Sequence[Mapping[str, Any]],
    direction: Literal["i2t", "t2i"] = "i2t",
    chance: Mapping[int, float] | None = None,
) -> go.Figure:
    """mAP against code length, one line per method, error bars = std over seeds, and chance.

    Parameters
    ----------
    summary : sequence of dict
        `Comparison.summary()` rows: ``method, n_bits, n_seeds, map_<direction>_mean,
        map_<direction>_std``.
    direction : {"i2t", "t2i"}
    chance : mapping, optional
        ``{n_bits: mAP}`` of random codes (RandomCodes) in this direction; drawn as a dashed
        grey line over the code lengths it names.

    Returns
    -------
    go.Figure
        One ``go.Scatter`` per method (in first-seen order, ``error_y`` the std) and, with
        ``chance``, a ``"chance (random codes)"`` trace; x on a log-2 axis ticked at the lengths.
    """
    if direction not in ("i2t", "t2i"):
        raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
    if not summary:
        return _empty_figure("No runs to compare yet.", "mAP vs code length")
    mean, std = f"map_{direction}_mean", f"map_{direction}_std"
    methods = list(dict.fromkeys(str(r["method"]) for r in summary))
    colours = group_colours(methods)
    fig = go.Figure()
    for m in methods:
        rows = sorted((r for r in summary if r["method"] == m), key=lambda r: int(r["n_bits"]))
        fig.add_trace(
            go.Scatter(
                x=[int(r["n_bits"]) for r in rows],
                y=[float(r[mean]) for r in rows],
                error_y={"type": "data", "array": [float(r[std]) for r in rows], "visible": True},
                customdata=[int(r["n_seeds"]) for r in rows],
                mode="lines+markers",
                name=m,
                line={"color": colours[m]},
                hovertemplate="%{x} bits<br>mAP %{y:.3f}<br>%{customdata} seed(s)" + f"<extra>{m}</extra>",
            )
        )
    if chance:
        xs = sorted(int(b) for b in chance)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[float(chance[b]) for b in xs],
                mode="lines",
                name="chance (random codes)",
                line={"dash": "dash", "color": CHANCE_COLOUR},
                hovertemplate="%{x} bits<br>chance %{y:.3f}<extra></extra>",
            )
        )
    ticks = sorted({int(r["n_bits"]) for r in summary} | {int(b) for b in chance or {}})
    label = "image → text (I→T)" if direction == "i2t" else "text → image (T→I)"
    fig.update_layout(
        title=f"mAP vs code length, {label}",
        xaxis=_ticked_log_axis("code length (bits)", ticks),
        yaxis={"title": "mAP", "range": [0, 1.02]},
        height=360,
    )
    return fig


_BITS_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def comparison_pr_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    by: Literal["radius", "rank"] = "radius",
    chance: float | None = None,
) -> go.Figure:
    """`pr_curve_figure` of a comparison: colour = method (as in `map_vs_bits_figure`), dash = length.

    Parameters
    ----------
    curves : mapping
        `Comparison.curves()`: ``{"DCH · 32 bits": curve dict}``; the method is the part of
        the name before ``" · "``, the code length the rest.
    by, chance
        As in `pr_curve_figure`.

    Returns
    -------
    go.Figure
        One trace per curve; the same method keeps one colour, each code length one dash style.
    """
    fig = pr_curve_figure(curves, by=by, chance=chance)
    parts = [name.partition(" · ") for name in curves]
    colours = group_colours([p[0] for p in parts])
    lengths = list(dict.fromkeys(p[2] for p in parts))
    for trace, (method, _, length) in zip(fig.data, parts, strict=True):
        dash = _BITS_DASHES[lengths.index(length) % len(_BITS_DASHES)]
        trace.line = {"color": colours[method], "dash": dash}
    return fig


# ---------------------------------------------------------------------------------------------
# Loss terms of deep methods (DCMH, SDEH): one line per part of the objective
# ---------------------------------------------------------------------------------------------


def loss_terms_figure(
    history: Sequence[Sequence[float]],
    loss_terms: Sequence[Mapping[str, float]],
    title: str = "Loss terms",
) -> go.Figure:
    """Each reported part of the objective per epoch, with the total, as `Run` records them.

    Parameters
    ----------
    history : sequence of [iteration, objective, elapsed_s]
        One row per callback call (`cmh_core.experiment.Run.history`).
    loss_terms : sequence of dict
        ``{term: value}`` per callback call, aligned with ``history``
        (`cmh_core.experiment.Run.loss_terms`); a term missing from a call is a gap.
    title : str

    Returns
    -------
    go.Figure
        One line per term (first-seen order) plus a dashed "total" line of the objective, on a log
        axis when every value is positive; with no term reported, an empty figure with a note.

    Raises
    ------
    ValueError
        If ``history`` and ``loss_terms`` have different lengths.
    """
    if len(history) != len(loss_terms):
        raise ValueError(
            f"history has {len(history)} rows but loss_terms has {len(loss_terms)}; pass both from the "
            "same Run (one entry per callback call)"
        )
    names = list(dict.fromkeys(k for terms in loss_terms for k in terms))
    if not names:
        return _empty_figure("This method reports no loss terms while it trains.", title)
    H = np.asarray(history, dtype=np.float64).reshape(-1, 3)
    mode = "lines+markers" if len(H) <= 50 else "lines"
    colours = group_colours(names)
    fig = go.Figure()
    for name in names:
        y = [float(terms.get(name, np.nan)) for terms in loss_terms]
        fig.add_trace(
            go.Scatter(
                x=H[:, 0],
                y=y,
                mode=mode,
                name=name,
                line={"color": colours[name]},
                hovertemplate=f"epoch %{{x}}<br>{name} %{{y:.4g}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=H[:, 0],
            y=H[:, 1],
            mode="lines",
            name="total",
            line={"color": CHANCE_COLOUR, "dash": "dash"},
            hovertemplate="epoch %{x}<br>total %{y:.4g}<extra></extra>",
        )
    )
    values = np.array([v for terms in loss_terms for v in terms.values()] + list(H[:, 1]), np.float64)
    values = values[np.isfinite(values)]
    # terms often differ by orders of magnitude: a log axis when every value allows one
    log = bool(len(values)) and bool((values > 0).all())
    fig.update_layout(
        title=title,
        xaxis_title="epoch",
        yaxis={"title": "loss" + (" (log scale)" if log else ""), "type": "log" if log else "linear"},
        height=300,
    )
    return fig
