"""Training and metric figures: objective, loss terms, mAP bars, PR and P@k curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

from cmh_core.evaluation import chance_from_pr_curve
from cmh_core.plotting._style import (
    CHANCE_COLOUR,
    _chance_line,
    _empty_figure,
    _ticked_log_axis,
    group_colours,
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
