"""The code map: a 2-D projection of image and text codes, and your own items on it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cmh_core.plotting._style import (
    _SPARE_SYMBOLS,
    MODALITY_SYMBOLS,
    group_colours,
)

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


def _points(P: np.ndarray, ids: Sequence[str], idx: np.ndarray, group: str) -> dict:
    """A point trace's rows ``idx`` of coords ``P``: ids (what a selection returns) and customdata."""
    return {
        "x": P[idx, 0],
        "y": P[idx, 1],
        "ids": [str(ids[i]) for i in idx],
        "customdata": idx,
        "mode": "markers",
        "name": str(group),
    }


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


def _map_layout(fig: go.Figure) -> go.Figure:
    """Box zoom by default, so that a click selects a marker (Streamlit makes a click select only
    outside lasso and box mode, docs/app.md); view kept across reruns (``uirevision``); no tick labels."""
    fig.update_layout(
        dragmode="zoom",
        uirevision="code-map",
        xaxis={"showticklabels": False, "title": None, "zeroline": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False},
        legend={"itemsizing": "constant"},
        height=560,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def code_map_figure(
    coords,
    ids: Sequence[str],
    colour: Sequence[str],
    symbol: Sequence[str],
    hover: Sequence[str],
    pair_lines: Sequence[tuple[int, int]] | None = None,
) -> go.Figure:
    """Scatter of projected codes, one WebGL trace per colour group: click, lasso or box selection.

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
        ``dragmode="zoom"``; ``uirevision`` kept so zoom survives reruns.
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
                **_points(P, ids, idx, group),
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
    return _map_layout(fig)


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
    position = _label_positions(fig, P)
    fig.add_trace(
        go.Scatter(  # SVG, not WebGL: a handful of points whose text labels must render crisply
            x=P[:, 0],
            y=P[:, 1],
            ids=[str(i) for i in ids],
            mode="markers+text",
            name="yours",
            text=short,
            textposition=position,
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


def _label_positions(fig: go.Figure, P: np.ndarray) -> list[str]:
    """Where each star's label goes so that it stays inside the plot: away from the nearest edge.

    A centred label of a star in the outer third of the map would run past the figure's side (a
    24-character label is ~130 px, a third of the map at 800 px), so it is written towards the middle;
    a star in the top tenth gets its label underneath. Edges are those of every point in `fig` and `P`.
    """
    xs = [np.asarray(t.x, dtype=np.float64) for t in fig.data if getattr(t, "x", None) is not None]
    ys = [np.asarray(t.y, dtype=np.float64) for t in fig.data if getattr(t, "y", None) is not None]
    x = np.concatenate([*xs, P[:, 0]])
    y = np.concatenate([*ys, P[:, 1]])
    x0, x1 = float(np.nanmin(x)), float(np.nanmax(x))
    y0, y1 = float(np.nanmin(y)), float(np.nanmax(y))
    out = []
    for px, py in P:
        fx = (px - x0) / (x1 - x0) if x1 > x0 else 0.5
        fy = (py - y0) / (y1 - y0) if y1 > y0 else 0.5
        side = "right" if fx < 1 / 3 else "left" if fx > 2 / 3 else "center"
        out.append(f"{'bottom' if fy > 0.9 else 'top'} {side}")
    return out


# ---------------------------------------------------------------------------------------------
# Buckets of identical codes (`cmh_core.buckets`): one marker per distinct code and modality
# ---------------------------------------------------------------------------------------------

#: Captions listed in a bucket's hover before "+N more".
HOVER_MEMBERS = 8


def bucket_hover(count: int, modality: str, majority: str, purity: float, captions: Sequence[str]) -> str:
    """Hover text of a bucket: size, majority label with purity, up to `HOVER_MEMBERS` captions, "+N".

    Captions are HTML-escaped: they are user or dataset text, never markup.
    """
    import html

    head = f"<b>{count} {modality} code{'s' if count != 1 else ''}</b> · {html.escape(majority)} {purity:.0%}"
    shown = [html.escape(c[:60] + ("…" if len(c) > 60 else "")) for c in captions[:HOVER_MEMBERS]]
    more = [f"+{len(captions) - HOVER_MEMBERS} more"] if len(captions) > HOVER_MEMBERS else []
    return "<br>".join([head, *shown, *more])


def bucket_map_figure(
    coords,
    ids: Sequence[str],
    count: Sequence[int],
    modality: Sequence[str],
    majority: Sequence[str],
    hover: Sequence[str],
    star: int | None = None,
    hoverinfo: str = "text",
) -> go.Figure:
    """One marker per distinct code and modality, area ∝ its item count, coloured by majority label.

    Parameters
    ----------
    coords : array-like, shape (m, 2)
        Position of each bucket (its code's projection).
    ids : sequence of str, length m
        Unique bucket ids, set as trace ``ids`` (a Streamlit selection returns ``p["id"]``).
    count : sequence of int, length m
        Items per bucket (marker area grows with it).
    modality : sequence of str, length m
        ``"image"`` (circle) or ``"text"`` (diamond).
    majority : sequence of str, length m
        Majority label of each bucket: one trace per label, named after it.
    hover : sequence of str, length m
        Hover text (`bucket_hover`).
    star : int, optional
        Bucket holding the current query's code, drawn as a black star on top.
    hoverinfo : {"text", "none"}, default "text"
        ``"none"`` hides plotly's label but still emits hover events (the app's thumbnail panel,
        ``ui/bucket_tips.py``, draws its own).

    Returns
    -------
    go.Figure
    """
    P = _check_map_inputs(coords, ids, majority, modality, hover)
    if len(count) != len(P):
        raise ValueError(f"count has {len(count)} entries but coords has {len(P)} points; give one each")
    n = np.asarray(count, dtype=np.float64)
    size = 6.0 + 30.0 * np.sqrt(n / max(float(n.max(initial=1.0)), 1.0))  # area ∝ count, 6..36 px
    fig = go.Figure()
    maj = np.asarray(majority, dtype=object)
    marker_of = _symbol_map(list(modality))
    for group, c in group_colours(list(majority)).items():
        idx = np.flatnonzero(maj == group)
        fig.add_trace(
            go.Scatter(
                **_points(P, ids, idx, group),
                marker={
                    "color": c,
                    "size": size[idx],
                    "opacity": 0.75,
                    "symbol": [marker_of[modality[i]] for i in idx],
                    "line": {"width": 1, "color": "white"},
                },
                hovertext=[hover[i] for i in idx],
                hoverinfo=hoverinfo,
            )
        )
    if star is not None:
        fig.add_trace(
            go.Scatter(
                x=[P[star, 0]],
                y=[P[star, 1]],
                mode="markers",
                name="current query",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": "#111111",
                    "line": {"width": 1, "color": "white"},
                },
                hoverinfo="skip",
            )
        )
    return _map_layout(fig)
