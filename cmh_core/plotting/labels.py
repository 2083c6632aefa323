"""Per-label figures (the Failures page: which labels fail most)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from cmh_core.plotting._style import (
    CHANCE_COLOUR,
    DIRECTION_COLOURS,
    PALETTE,
    _empty_figure,
)

# ---------------------------------------------------------------------------------------------
# Failures page: which labels fail most
# ---------------------------------------------------------------------------------------------


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
