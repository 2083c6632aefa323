"""What the Train page shows about a run: live progress, mAP vs chance, curves, diagnostics, run list."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from cmh_core import plotting
from cmh_core.experiment import Run
from ui.runs import chance_maps, code_diagnostics
from ui.state import RunKey, current_run, session_runs, set_current

__all__ = ["live_progress", "show_run", "runs_table"]

DIRECTIONS = {"I→T": "i2t", "T→I": "t2i"}


def live_progress(total: int | None):
    """A progress bar and a live curve; returns the ``callback(it, obj, elapsed, terms)`` feeding them.

    The curve is the objective, or one line per loss term (with the total) for methods that report
    the parts of their objective (deep methods). Both sit in one placeholder, ``callback.holder``;
    empty it once training is done.
    """
    holder = st.empty()
    box = holder.container()
    bar = box.progress(0.0, text="Training…")
    slot = box.empty()
    history: list[list[float]] = []
    loss_terms: list[dict[str, float]] = []
    last = [0.0]

    def callback(it: int, obj: float, elapsed: float, terms: dict[str, float] | None = None) -> None:
        history.append([it, obj, elapsed])
        loss_terms.append(dict(terms or {}))
        frac = min(it / total, 1.0) if total else 0.5
        bar.progress(frac, text=f"Iteration {it}{f' of {total}' if total else ''} · {elapsed:.1f} s")
        if time.perf_counter() - last[0] > 0.25 or (total and it >= total):  # redraw at most 4×/s
            last[0] = time.perf_counter()
            slot.plotly_chart(_curve(history, loss_terms), key=f"live_{len(history)}")

    callback.holder = holder
    return callback


def _curve(history: list, loss_terms: list):
    """Loss terms when the method reported any, else the objective."""
    if any(loss_terms):
        return plotting.loss_terms_figure(history, loss_terms)
    return plotting.objective_figure(history)


def _metrics(run: Run) -> None:
    c = st.columns(5)
    c[0].metric("mAP I→T", f"{run.map_i2t:.3f}")
    c[1].metric("mAP T→I", f"{run.map_t2i:.3f}")
    c[2].metric("Code length", f"{run.report['n_bits']} bits")
    c[3].metric("Training time", f"{run.fit_seconds:.2f} s")
    c[4].metric("Evaluation time", f"{run.eval_seconds:.2f} s")
    ndcg = [run.report.get(d, {}).get("NDCG@50") for d in ("i2t", "t2i")]
    if None not in ndcg:  # graded by shared labels: sees what mAP's yes/no relevance cannot
        st.caption(f"NDCG@50, graded by shared labels: I→T {ndcg[0]:.3f} · T→I {ndcg[1]:.3f}")


def show_run(key: RunKey, run: Run) -> None:
    """mAP against chance, PR curves, precision@k, the objective curve and bit diagnostics."""
    st.subheader(f"Current run: {key.label()}")
    _metrics(run)
    rep = run.report
    chance = chance_maps(key.dataset, int(rep["n_bits"]))
    maps = {name: rep[d]["mAP"] for name, d in DIRECTIONS.items()}
    left, right = st.columns(2)
    left.plotly_chart(
        plotting.map_bar_figure(maps, {n: chance[d] for n, d in DIRECTIONS.items()}), key="fig_map"
    )
    # deep methods report each loss term per epoch (Run.loss_terms): one line per term
    terms = getattr(run, "loss_terms", None) or []
    curve = _curve(run.history, terms) if len(terms) == len(run.history) else None
    right.plotly_chart(curve or plotting.objective_figure(run.history), key="fig_objective")
    left, mid, right = st.columns(3)
    radius = {n: rep[d]["pr_curve"] for n, d in DIRECTIONS.items()}
    ranks = {n: rep[d]["precision_at_k"] for n, d in DIRECTIONS.items() if "precision_at_k" in rep[d]}
    left.plotly_chart(plotting.pr_curve_figure(radius, by="radius"), key="fig_pr_radius")
    # a random ranking's precision (mean fraction of relevant items), the same for all three charts
    base = plotting.chance_from_pr_curve(rep["i2t"]["pr_curve"])
    mid.plotly_chart(plotting.pr_curve_figure(ranks, by="rank", chance=base), key="fig_pr_rank")
    right.plotly_chart(plotting.precision_at_k_figure(ranks, chance=base), key="fig_pk")
    _diagnostics(key, run)


def _diagnostics(key: RunKey, run: Run) -> None:
    st.subheader("Bit diagnostics (database codes, both modalities)")
    d = code_diagnostics(key, run)
    c = st.columns(4)
    c[0].metric("Items", d["n_items"])
    c[1].metric("Distinct codes", d["n_distinct"])
    c[2].metric("Items sharing a code", d["n_collisions"])
    c[3].metric("Largest bucket", d["largest_bucket"])
    left, right = st.columns(2)
    left.plotly_chart(plotting.bit_balance_figure(d["balance"]), key="fig_balance")
    right.plotly_chart(plotting.bit_correlation_figure(d["correlation"]), key="fig_corr")


def runs_table(dataset: str) -> None:
    """This session's runs (method, params, mAP, time) and a picker for the current one."""
    runs = [r for r in session_runs() if r["key"].dataset == dataset]
    if not runs:
        return
    st.subheader("This session's runs")
    rows: list[dict[str, Any]] = [
        {
            "run": r["key"].label(),
            "params": r["key"].params,
            "mAP I→T": round(r["run"].map_i2t, 4),
            "mAP T→I": round(r["run"].map_t2i, 4),
            "fit s": round(r["run"].fit_seconds, 2),
        }
        for r in runs
    ]
    st.dataframe(rows, hide_index=True)
    found = current_run(dataset)
    labels = [r["key"].label() + ("" if r["key"].params == "{}" else f" {r['key'].params}") for r in runs]
    index = next((j for j, r in enumerate(runs) if found and r["key"] == found[0]), len(runs) - 1)
    pick = st.selectbox(
        "Current run (used by Search and Code Map)",
        range(len(runs)),
        index=index,
        format_func=labels.__getitem__,
        key="current_pick",
    )
    if found is None or runs[pick]["key"] != found[0]:
        set_current(runs[pick]["key"])
        st.rerun()
