"""Bit diagnostics: balance, correlation, and two codes side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from cmh_core.plotting._style import (
    _DIFF_COLOUR,
    CHANCE_COLOUR,
)

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
