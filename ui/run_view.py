"""What the Train page shows about a run: live progress, mAP vs chance, curves, diagnostics, run list."""

from __future__ import annotations

from typing import Any

import streamlit as st

from cmh_core import plotting
from cmh_core.experiment import Run
from ui.chance import chance_level
from ui.runs import code_diagnostics
from ui.state import RunKey, apply, current_key, session_runs

__all__ = ["show_run", "runs_table", "train_from_form", "PICK_WIDGET"]

PICK_WIDGET = "current_pick"

DIRECTIONS = {"I→T": "i2t", "T→I": "t2i"}


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
    chance = chance_level(key.dataset, int(rep["n_bits"]))
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


def _pick(labels: dict[str, RunKey]) -> None:
    """Callback of the run picker: the picked run becomes current (`ui.state.follow`, "picked")."""
    key = labels.get(st.session_state.get(PICK_WIDGET))
    if key is not None:
        apply("picked", key)


def runs_table(dataset: str) -> None:
    """This session's runs of ``dataset`` (method, params, mAP, time) and a picker for the current one.

    The picker shows the current run on every draw (its widget value is set from the session
    before it is drawn) and changes it only when the user picks: it never resets a newer run.
    """
    from ui.registry import registry

    keys = [k for k in session_runs().runs if k.dataset == dataset]
    runs = [(k, r) for k in keys if (r := registry().get(k)) is not None]
    if not runs:
        return
    st.subheader("This session's runs")
    rows: list[dict[str, Any]] = [
        {
            "run": k.label(),
            "params": k.params,
            "mAP I→T": round(r.map_i2t, 4),
            "mAP T→I": round(r.map_t2i, 4),
            "fit s": round(r.fit_seconds, 2),
        }
        for k, r in runs
    ]
    st.dataframe(rows, hide_index=True)
    labels = {k.label() + ("" if k.params == "{}" else f" {k.params}"): k for k, _ in runs}
    current = current_key(dataset)
    if current in labels.values():
        st.session_state[PICK_WIDGET] = next(t for t, k in labels.items() if k == current)
    st.selectbox(
        "Current run (used by Search, Code Map and Failures)",
        list(labels),
        key=PICK_WIDGET,
        on_change=_pick,
        args=(labels,),
    )


def train_from_form(dataset: str, method: str, choice: dict[str, Any]) -> None:
    """Queue the form's choice as a background training of this session (`ui.training.submit`).

    It becomes the current run when done, on whichever page the session is then; a run the
    server has already trained becomes current at once. A training expected to be quick is
    waited for here, a few seconds at most (`ui.training.wait_briefly`). A refused setting is
    shown on the page.
    """
    from cmh_core.methods import METHODS
    from ui import training
    from ui.runs import expected_seconds

    try:
        key = RunKey.make(
            dataset, method, choice["n_bits"], choice["seed"], choice["params"], choice["unpaired"]
        )
    except ValueError as e:
        st.error(f"{METHODS[method].name} could not be trained: {e}")
        return
    job = training.submit(key)
    if job.active and expected_seconds(key) <= training.QUICK_S:
        training.wait_briefly(job, f"Training {key.label()}:")
    if not job.active:  # trained just now or served from the registry: current now, page redrawn
        training.collect()
        st.rerun()
