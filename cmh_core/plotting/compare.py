"""Comparison figures (methods × code lengths × seeds, `cmh_core.comparison.Comparison`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import plotly.graph_objects as go

from cmh_core.plotting._style import (
    CHANCE_COLOUR,
    _empty_figure,
    _ticked_log_axis,
    group_colours,
)
from cmh_core.plotting.curves import pr_curve_figure

# ---------------------------------------------------------------------------------------------
# Comparison (methods × code lengths × seeds, `cmh_core.comparison.Comparison`)
# ---------------------------------------------------------------------------------------------


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
        The legend is horizontal, under the plot (the figure grows a row per three entries).
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
        height=360 + 22 * ((len(methods) + (1 if chance else 0) - 1) // 3),  # the legend's extra rows
        **_LEGEND_BELOW,
    )
    return fig


# The legend in rows under the x axis, not beside the plot: at half a page wide a side legend of
# several methods took about a third of the width from the plot.
_LEGEND_BELOW: dict[str, Any] = {
    "legend": {"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "left", "x": 0},
    "margin": {"b": 40},
}

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
    fig.update_layout(height=360 + 22 * ((len(fig.data) - 1) // 4), **_LEGEND_BELOW)
    return fig
