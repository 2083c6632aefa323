"""The Compare page under the "shares its most specific label" rule: the grid's runs scored again.

A comparison's runs were evaluated with the default rule, "shares any label" (their reports).
When the page's "Relevant means" switch says "leaf", `leaf_table` scores the same models again
with `cmh_core.evaluation.evaluate(..., relevance="leaf")` (the run's protocol, and its unpaired
training rows, `cmh_core.datasets.unpair`, as the training used) and shows mean ± std per
(method, code length) beside the fraction of relevant items, the chance precision. Rules:
docs/evaluation.md, "Relevance".
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import streamlit as st

from cmh_core.comparison import Comparison
from cmh_core.datasets import unpair
from cmh_core.evaluation import evaluate
from ui.data import get_dataset
from ui.registry import registry
from ui.state import RunKey

__all__ = ["leaf_rows", "leaf_table"]


@st.cache_data(max_entries=256, show_spinner=False)
def _leaf_report(key: RunKey, relevance: str, _model) -> dict[str, Any]:
    ds = get_dataset(key.dataset)
    index = unpair(ds, key.unpaired, random_state=key.seed) if key.unpaired else None
    rep = evaluate(_model, ds, key.protocol, precision_ks=(), relevance=relevance, train_index=index)
    return {d: (rep[d]["mAP"], rep[d]["pr_curve"]["precision"][-1]) for d in ("i2t", "t2i")}


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.3f}" if len(values) == 1 else f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def leaf_rows(dataset: str, cmp: Comparison, relevance: str = "leaf") -> tuple[list[dict[str, Any]], int]:
    """Rows ``method, bits, seeds, mAP I→T, mAP T→I, chance I→T, chance T→I`` under ``relevance``.

    Returns the rows (grid order) and the number of runs whose model the registry no longer holds
    (left out: they cannot be scored again).
    """
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    missing = 0
    for r in cmp.runs:
        key = RunKey.make(dataset, r.method, r.n_bits, r.seed, unpaired=cmp.unpaired, protocol=cmp.protocol)
        run = registry().get(key)
        if run is None or run.model is None:
            missing += 1
            continue
        cells[(r.method, r.n_bits)].append(_leaf_report(key, relevance, run.model))
    rows = []
    for (method, bits), reps in cells.items():
        row: dict[str, Any] = {"method": method, "bits": bits, "seeds": len(reps)}
        for d, name in (("i2t", "I→T"), ("t2i", "T→I")):
            row[f"mAP {name}"] = _cell([rep[d][0] for rep in reps])
        for d, name in (("i2t", "I→T"), ("t2i", "T→I")):
            row[f"chance {name}"] = f"{reps[0][d][1]:.3f}"  # the fraction relevant: the same for every run
        rows.append(row)
    return rows, missing


def leaf_table(dataset: str, cmp: Comparison, relevance: str) -> None:
    """The comparison's mAP when relevant means sharing the most specific label (nothing for "any")."""
    if relevance == "any":
        return
    st.subheader("mAP when relevant = shares its most specific label")
    with st.spinner("Scoring the runs with the most-specific-label rule…"):
        rows, missing = leaf_rows(dataset, cmp, relevance)
    st.dataframe(rows, hide_index=True, key="compare_leaf_table")
    st.caption(
        "The same models and codes, scored again: a result counts as relevant only when it carries the "
        "query's most specific label (the rarest of its labels). Chance: the fraction of the database "
        "that is relevant, what a random ranking's precision would be."
        + (f" {missing} run(s) left out: their models are no longer on this server." if missing else "")
    )
