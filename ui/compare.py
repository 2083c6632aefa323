"""The Compare page's glue: the grid form, session reuse, the progress bar and the result views.

The grid itself is `cmh_core.comparison.run_comparison` (the one used by ``python -m cmh_core
bench``). Runs it trains go to the server's registry (`ui.registry`), and their keys to the
session's comparison store (a `ui.state.RunStore`, not the 10-run list, which a 2 × 4 × 5 grid
would flush); runs the registry holds are reused, not retrained, so a Compare link opened in a new
browser shows its results at once. The comparison itself is kept as `Comparison.to_dict()`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import streamlit as st

from cmh_core import plotting
from cmh_core._deltas import baseline_deltas
from cmh_core.comparison import Comparison, Lookup, run_comparison
from cmh_core.experiment import Run
from cmh_core.methods import METHODS
from cmh_core.runcache import RunCache
from ui.chance import chance_level
from ui.data import get_dataset
from ui.exports import comparison_downloads
from ui.glossary import relevance_control
from ui.registry import registry
from ui.state import (
    COMPARE_LINKED,
    COMPARE_MADE_CURRENT,
    COMPARE_RUNS,
    COMPARISON,
    MAX_COMPARE_RUNS,
    RunKey,
    RunStore,
    apply,
)
from ui.url import BIT_CHOICES

__all__ = [
    "compare_form",
    "make_lookup",
    "remember",
    "run_grid",
    "linked_comparison",
    "last_comparison",
    "summary_rows",
    "show_comparison",
]

MAX_SEEDS = 5
PROTOCOLS = ("learned", "encoded")
PROTOCOL_HELP = (
    "learned: database items of the training split keep the codes the method learned for them "
    "(the default, as the JSPSH and AMSH reference codes do); encoded: every database item is "
    "coded by the learned hash functions."
)
DIRECTIONS = {"I→T": "i2t", "T→I": "t2i"}
DEFAULT_METHODS = ("DCH", "CCA-ITQ")


def _seed_form() -> None:
    """Start the form's widgets from the session (a link's values are put there by `ui.view`)."""
    s = st.session_state
    s.setdefault("compare_methods", list(DEFAULT_METHODS))
    s.setdefault("compare_bits", [16, 32])
    s.setdefault("compare_seeds", 1)
    s.setdefault("compare_protocol", PROTOCOLS[0])
    s.setdefault("compare_unpaired", 0.0)


def compare_form() -> dict[str, Any] | None:
    """Methods, code lengths, seeds, protocol and pairing in one form; the choice once it is submitted.

    The widgets start from the session: a link's ``cmp_methods``, ``cmp_bits``, ``cmp_seeds``,
    ``cmp_protocol`` and ``cmp_unpaired`` (checked by `ui.url.parse`), else DCH + CCA-ITQ at 16
    and 32 bits, one seed, learned, paired.

    Returns
    -------
    dict or None
        ``{"methods": [str], "bits": [int], "seeds": int, "protocol": str, "unpaired": float}``
        once "Run comparison" is pressed, else None.
    """
    _seed_form()
    relevance_control("compare_relevance")  # applies at once, outside the form: ui.relevance.leaf_table
    unpaired_methods = ", ".join(n for n, cls in METHODS.items() if cls.supports_unpaired) or "none"
    with st.form("compare_form"):
        left, right = st.columns(2)
        chosen = left.multiselect("Methods", list(METHODS), key="compare_methods")
        lengths = right.multiselect("Code lengths (bits)", BIT_CHOICES, key="compare_bits")
        left, right = st.columns(2)
        n_seeds = left.number_input(
            "Seeds per cell",
            min_value=0,
            max_value=MAX_SEEDS,
            step=1,
            key="compare_seeds",
            help="Each (method, code length) is trained with seeds 0 … n-1; the table shows mean ± std.",
        )
        proto = right.selectbox("Protocol", PROTOCOLS, key="compare_protocol", help=PROTOCOL_HELP)
        frac = st.slider(
            "Unpaired training captions (fraction shuffled away from their images; 0 = paired)",
            0.0,
            1.0,
            step=0.05,
            key="compare_unpaired",
            help=f"Above 0 only methods that support unpaired data run ({unpaired_methods}); "
            "the others are listed as refused.",
        )
        if not st.form_submit_button("Run comparison", type="primary"):
            return None
    choice = {"methods": list(chosen), "bits": [int(b) for b in lengths], "seeds": int(n_seeds)}
    choice["protocol"], choice["unpaired"] = str(proto), float(frac)
    return choice


def _key(dataset: str, method: str, n_bits: int, seed: int, protocol: str, unpaired: float) -> RunKey:
    return RunKey.make(dataset, method, n_bits, seed, unpaired=unpaired, protocol=protocol)


def make_lookup(dataset: str, protocol: str, unpaired: float = 0.0) -> Lookup:
    """``lookup(method, n_bits, seed)`` for `run_comparison`: the registry's run (default params) or None."""

    def lookup(method: str, n_bits: int, seed: int) -> Run | None:
        return registry().get(_key(dataset, method, n_bits, seed, protocol, unpaired))

    return lookup


def _keep(dataset: str, run: Run, protocol: str, unpaired: float, reused: bool) -> None:
    """Register a trained run and list its key in the session's comparison store (capped)."""
    key = _key(dataset, run.method, run.n_bits, run.seed, protocol, unpaired)
    if not reused:
        registry().put(key, run)
    store = st.session_state.get(COMPARE_RUNS) or RunStore(MAX_COMPARE_RUNS)
    st.session_state[COMPARE_RUNS] = store.add(key)[0]


def remember(dataset: str, cmp: Comparison) -> None:
    """List the comparison's runs in the session's comparison store (they are in the registry)."""
    for run in cmp.runs:
        _keep(dataset, run, cmp.protocol, cmp.unpaired, reused=True)


def _step_text(done: int, total: int, run: Run, reused: bool) -> str:
    how = "reused (trained before on this server)" if reused else f"trained in {run.fit_seconds:.1f} s"
    return f"Run {done} of {total}: {run.method} · {run.n_bits} bits · seed {run.seed} · {how}"


def _start_text(last: str, i: int, total: int, method: str, n_bits: int, seed: int) -> str:
    """The bar while run ``i`` trains: the previous run's step, then the one being waited for."""
    now = f"run {i} of {total}: {method} · {n_bits} bits · seed {seed}…"
    return f"{last}; now {now}" if last else f"Now {now}"


def run_grid(dataset: str, choice: dict[str, Any]) -> Comparison | None:
    """Run the chosen grid with a progress bar (one step per run); None after showing an error.

    The result is kept in session state as `Comparison.to_dict()` and its runs in the store.
    """
    bar = st.progress(0.0, text="Starting the comparison…")
    last = [""]  # what the bar said after the previous run

    def starting(i: int, total: int, method: str, n_bits: int, seed: int) -> None:
        bar.progress((i - 1) / total, text=_start_text(last[0], i, total, method, n_bits, seed))

    def progress(done: int, total: int, run: Run, reused: bool) -> None:
        _keep(
            dataset, run, choice["protocol"], choice.get("unpaired", 0.0), reused
        )  # kept if a later run fails
        last[0] = _step_text(done, total, run, reused)
        bar.progress(done / total, text=last[0])

    try:
        cmp = run_comparison(
            get_dataset(dataset),
            choice["methods"],
            choice["bits"],
            choice["seeds"],
            protocol=choice["protocol"],
            unpaired=choice.get("unpaired", 0.0),
            lookup=make_lookup(dataset, choice["protocol"], choice.get("unpaired", 0.0)),
            progress=progress,
            starting=starting,
            n_jobs=int(os.environ.get("CMH_COMPARE_JOBS", min(2, os.cpu_count() or 1))),  # local processes
            cache=None if os.environ.get("CMH_COMPARE_CACHE") == "0" else RunCache(),  # the shared run cache
        )
    except ValueError as e:
        bar.empty()
        st.error(f"The comparison could not run: {e}")
        return None
    except Exception as e:  # a bug, not bad input: no traceback on the page (the server logs it)
        bar.empty()
        logging.getLogger(__name__).exception("comparison %s failed", choice)
        st.error(f"The comparison failed ({type(e).__name__}: {e}); try fewer methods or the defaults")
        return None
    bar.progress(
        1.0, text=f"Done: {len(cmp.runs)} runs, {cmp.reused} of them reused (trained before on this server)"
    )
    remember(dataset, cmp)
    st.session_state[COMPARISON] = cmp.to_dict()
    return cmp


def _form_choice() -> dict[str, Any]:
    s = st.session_state
    return {
        "methods": list(s["compare_methods"]), "bits": [int(b) for b in s["compare_bits"]],
        "seeds": int(s["compare_seeds"]), "protocol": str(s["compare_protocol"]),
        "unpaired": float(s["compare_unpaired"]),
    }  # fmt: skip


def linked_comparison(dataset: str) -> None:
    """A link's comparison (``cmp_show=1``): shown from the registry when it holds every run.

    A grid that would train is not started by a link: the page says how many runs it lacks and
    leaves the button to the user.
    """
    if not st.session_state.pop(COMPARE_LINKED, False) or last_comparison(dataset) is not None:
        return
    choice = _form_choice()
    lookup = make_lookup(dataset, choice["protocol"], choice["unpaired"])
    cells = [(m, b, s) for m in choice["methods"] for b in choice["bits"] for s in range(choice["seeds"])]
    missing = [c for c in cells if lookup(*c) is None]
    if not cells:
        return
    if missing:
        st.info(
            f"This link's comparison needs {len(missing)} of its {len(cells)} runs that this server has "
            "not trained yet: press **Run comparison** to train them."
        )
        return
    run_grid(dataset, choice)


def last_comparison(dataset: str) -> Comparison | None:
    """The session's last comparison on ``dataset`` (runs without models), or None."""
    d = st.session_state.get(COMPARISON)
    if not d:
        return None
    cmp = Comparison.from_dict(d)
    return cmp if cmp.dataset == get_dataset(dataset).name else None


def _mean_std(mean: float, std: float, n: int, digits: int) -> str:
    """``mean ± std``; the value alone for one seed (its spread would read as a measured 0)."""
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _delta_text(d: dict[str, Any] | None) -> str:
    """``+0.042 vs DCH``; an empty cell where the row has no baseline to compare with."""
    return "" if d is None else f"{d['delta']:+.3f} vs {d['baseline']}"


def summary_rows(cmp: Comparison) -> list[dict[str, Any]]:
    """The result table: one row per (method, bits) with the seed count and mean ± std (population std).

    ``Δ mAP I→T`` / ``Δ mAP T→I``: the row's mean mAP minus that of the best baseline at the same
    code length (the best *other* baseline for a baseline's row), and which baseline that is
    (`cmh_core._deltas.baseline_deltas`); empty for RandomCodes, the chance level.
    """
    summary = cmp.summary()
    deltas = {d: baseline_deltas(summary, d) for d in DIRECTIONS.values()}
    return [
        {
            "method": s["method"],
            "bits": s["n_bits"],
            "seeds": s["n_seeds"],
            "mAP I→T": _mean_std(s["map_i2t_mean"], s["map_i2t_std"], s["n_seeds"], 3),
            "mAP T→I": _mean_std(s["map_t2i_mean"], s["map_t2i_std"], s["n_seeds"], 3),
            "Δ mAP I→T vs best baseline": _delta_text(deltas["i2t"][j]),
            "Δ mAP T→I vs best baseline": _delta_text(deltas["t2i"][j]),
            **{  # graded NDCG@50 (shared-label gains), when the runs' reports carry it
                f"NDCG@50 {d}": _mean_std(s[f"ndcg_{k}_mean"], s[f"ndcg_{k}_std"], s["n_seeds"], 3)
                for k, d in (("i2t", "I→T"), ("t2i", "T→I"))
                if f"ndcg_{k}_mean" in s
            },
            "training s": _mean_std(s["fit_seconds_mean"], s["fit_seconds_std"], s["n_seeds"], 2),
        }
        for j, s in enumerate(summary)
    ]


def _charts(dataset: str, cmp: Comparison) -> None:
    summary = cmp.summary()
    run_bits = sorted({s["n_bits"] for s in summary})
    chance = {b: chance_level(dataset, b) for b in run_bits}
    cols = st.columns(2)
    for col, d in zip(cols, DIRECTIONS.values(), strict=True):
        fig = plotting.map_vs_bits_figure(summary, d, {b: c[d] for b, c in chance.items()})
        col.plotly_chart(fig, key=f"compare_map_{d}")
    st.caption(
        "Error bars: standard deviation over seeds (none with one seed). Dashed: random codes "
        "(RandomCodes, seed 0) at each length, the chance level."
    )
    left, right = st.columns([1, 2])  # the curve choice needs the wider half at 800 px
    name = left.segmented_control("PR curves for", list(DIRECTIONS), default="I→T", key="compare_pr_dir")
    by = right.segmented_control(
        "Curve", ["Hamming radius", "rank (top k)"], default="Hamming radius", key="compare_pr_by"
    )
    d = DIRECTIONS[name or "I→T"]
    kind = "rank" if by == "rank (top k)" else "radius"
    st.plotly_chart(plotting.comparison_pr_figure(cmp.curves(d, kind), by=kind), key="compare_pr")
    st.caption(
        f"One curve per method and code length, from the runs with seed {cmp.seeds[0]} (not averaged)."
    )


def _make_current(found: dict[str, RunKey]) -> None:
    key = found.get(st.session_state.get("compare_open"))
    if key is not None:
        apply("compared", key)
        st.session_state[COMPARE_MADE_CURRENT] = key


def _open_run(dataset: str, cmp: Comparison) -> None:
    """Make one run of the comparison the session's current run (for Search, Code Map, Failures)."""
    if cmp.protocol != "learned":  # the other pages show the learned protocol only
        return
    found = {
        k.label(): k
        for r in cmp.runs
        if registry().has(k := _key(dataset, r.method, r.n_bits, r.seed, cmp.protocol, cmp.unpaired))
    }
    if not found:  # runs evicted from the registry: the table stays, the models are gone
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.selectbox("Open a run on Search and Code Map", list(found), key="compare_open")
    right.button("Make it the current run", key="compare_open_button", on_click=_make_current, args=(found,))
    made = st.session_state.pop(COMPARE_MADE_CURRENT, None)
    if made is not None:
        st.success(f"{made.label()} is now the current run: open Search or Code Map.")


def show_comparison(dataset: str, cmp: Comparison) -> None:
    """Table, mAP-vs-bits charts with chance, overlaid PR curves, refused pairs and downloads."""
    n_new = len(cmp.runs) - cmp.reused
    st.subheader(f"{len(cmp.runs)} runs on {cmp.dataset} ({cmp.protocol} protocol)")
    st.caption(
        f"{n_new} trained, {cmp.reused} reused (trained before on this server); "
        f"seeds {', '.join(map(str, cmp.seeds))}. "
        "The grid is the one `python -m cmh_core bench` runs."
    )
    if cmp.skipped:
        st.warning(
            "Not run (the method refuses these settings):\n" + "\n".join(f"- {s}" for s in cmp.skipped)
        )
    st.dataframe(summary_rows(cmp), hide_index=True, key="compare_table")
    st.caption(
        "Δ mAP: the method's mean mAP minus the best baseline's at the same code length, and which "
        "baseline that is (a baseline is compared with the best *other* one, so the leader shows its "
        "lead). Baselines: the classic methods (CCA-ITQ, SCM, CMFH, DCH, DCMH); RandomCodes is chance."
    )
    _charts(dataset, cmp)
    reg = registry()  # taken now: the report is built at the click, on Streamlit's download thread

    def trained(method: str, n_bits: int, seed: int) -> Run | None:  # the runs with their models
        return reg.get(_key(dataset, method, n_bits, seed, cmp.protocol, cmp.unpaired))

    comparison_downloads(cmp, get_dataset(dataset), key="compare", lookup=trained)
    _open_run(dataset, cmp)
