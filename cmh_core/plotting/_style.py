"""One palette and the small figure helpers every plotting module shares."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.colors import qualitative

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


def _ticked_log_axis(title: str, ticks: Sequence[int]) -> dict[str, Any]:
    """A log x axis ticked at the measured values (plotly's own log ticks, 1 2 5 10 2 5, read badly)."""
    return {"title": title, "type": "log", "tickvals": list(ticks), "ticktext": [str(t) for t in ticks]}
