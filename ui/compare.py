"""The Compare page's glue: the grid form, session reuse, the progress bar and the result views.

The grid itself is `cmh_core.comparison.run_comparison` (the one used by ``python -m cmh_core
bench``). Runs it trains go to this module's own bounded store in session state, keyed by
primitives (dataset, method, bits, seed, protocol, unpaired), not to the session's 10-run list
(a 2 × 4 × 5 grid would flush it); runs already in either are reused, not retrained. The
comparison result itself is kept as `Comparison.to_dict()` (plain JSON), so it survives reruns
and page switches.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from cmh_core import plotting
from cmh_core.comparison import Comparison, Lookup, run_comparison
from cmh_core.experiment import Run
from cmh_core.methods import METHODS
from ui.data import get_dataset
from ui.exports import comparison_downloads
from ui.runs import chance_maps
from ui.state import RunKey, add_run, session_runs, url_get, url_set
from ui.widgets import BIT_CHOICES

__all__ = [
    "MAX_STORED",
    "compare_form",
    "make_lookup",
    "remember",
    "run_grid",
    "last_comparison",
    "summary_rows",
    "show_comparison",
]

STORE_KEY = "cmh_compare_runs"  # {(dataset, method, n_bits, seed, protocol, unpaired): Run}, oldest first
RESULT_KEY = "cmh_comparison"  # Comparison.to_dict() of the last comparison
MAX_STORED = 64  # runs kept for reuse (~15 kB of report + a few projection matrices each)
MAX_SEEDS = 5
PROTOCOLS = ("learned", "encoded")
PROTOCOL_HELP = (
    "learned: database items of the training split keep the codes the method learned for them "
    "(the default, as the JSPSH and AMSH reference codes do); encoded: every database item is "
    "coded by the learned hash functions."
)
DIRECTIONS = {"I→T": "i2t", "T→I": "t2i"}
DEFAULT_METHODS = ("DCH", "CCA-ITQ")


def _url_list(name: str, default: list, cast) -> list:
    """A comma-separated URL choice (``?cmp_bits=16,32``); ``default`` when absent or malformed."""
    raw = url_get(name, None)
    if not raw:
        return default
    try:
        return [cast(x) for x in raw.split(",") if x]
    except ValueError:
        return default


def _url_choice() -> dict[str, Any]:
    """Form defaults: the URL's choice, else DCH + CCA-ITQ, 16 and 32 bits, one seed, learned, paired."""
    protocol = url_get("cmp_protocol", "learned")
    return {
        "methods": [m for m in _url_list("cmp_methods", list(DEFAULT_METHODS), str) if m in METHODS],
        "bits": [b for b in _url_list("cmp_bits", [16, 32], int) if b in BIT_CHOICES],
        "seeds": min(max(url_get("cmp_seeds", 1, int), 0), MAX_SEEDS),
        "protocol": protocol if protocol in PROTOCOLS else PROTOCOLS[0],
        "unpaired": min(max(url_get("cmp_unpaired", 0.0, float), 0.0), 1.0),
    }


def _url_save(choice: dict[str, Any]) -> None:
    url_set(
        cmp_methods=",".join(choice["methods"]) or None,
        cmp_bits=",".join(map(str, choice["bits"])) or None,
        cmp_seeds=choice["seeds"],
        cmp_protocol=choice["protocol"],
        cmp_unpaired=choice["unpaired"] or None,
    )


def compare_form() -> dict[str, Any] | None:
    """Methods, code lengths, seeds, protocol and pairing in one form; the choice once it is submitted.

    Defaults come from the URL (``cmp_methods``, ``cmp_bits``, ``cmp_seeds``, ``cmp_protocol``,
    ``cmp_unpaired``); a submitted choice is written back there.

    Returns
    -------
    dict or None
        ``{"methods": [str], "bits": [int], "seeds": int, "protocol": str, "unpaired": float}``
        once "Run comparison" is pressed, else None.
    """
    d = _url_choice()
    unpaired_methods = ", ".join(n for n, cls in METHODS.items() if cls.supports_unpaired) or "none"
    with st.form("compare_form"):
        left, right = st.columns(2)
        chosen = left.multiselect("Methods", list(METHODS), default=d["methods"], key="compare_methods")
        lengths = right.multiselect("Code lengths (bits)", BIT_CHOICES, default=d["bits"], key="compare_bits")
        left, right = st.columns(2)
        n_seeds = left.number_input(
            "Seeds per cell",
            min_value=0,
            max_value=MAX_SEEDS,
            value=d["seeds"],
            step=1,
            key="compare_seeds",
            help="Each (method, code length) is trained with seeds 0 … n-1; the table shows mean ± std.",
        )
        proto = right.selectbox(
            "Protocol", PROTOCOLS, PROTOCOLS.index(d["protocol"]), key="compare_protocol", help=PROTOCOL_HELP
        )
        frac = st.slider(
            "Unpaired training captions (fraction shuffled away from their images; 0 = paired)",
            0.0,
            1.0,
            d["unpaired"],
            0.05,
            key="compare_unpaired",
            help=f"Above 0 only methods that support unpaired data run ({unpaired_methods}); "
            "the others are listed as refused.",
        )
        if not st.form_submit_button("Run comparison", type="primary"):
            return None
    choice = {"methods": list(chosen), "bits": [int(b) for b in lengths], "seeds": int(n_seeds)}
    choice["protocol"], choice["unpaired"] = str(proto), float(frac)
    _url_save(choice)
    return choice


def _store() -> dict[tuple, Run]:
    return st.session_state.setdefault(STORE_KEY, {})


def _primitives(dataset: str, method: str, n_bits: int, seed: int, protocol: str, unpaired: float) -> tuple:
    return (dataset, method, int(n_bits), int(seed), protocol, float(unpaired))


def make_lookup(dataset: str, protocol: str, unpaired: float = 0.0) -> Lookup:
    """``lookup(method, n_bits, seed)`` for `run_comparison`: an earlier run of this session, or None.

    Looks in the session's run list (runs of the Train page with default hyper-parameters and
    the same protocol and pairing) and in the Compare page's own store.
    """

    def lookup(method: str, n_bits: int, seed: int) -> Run | None:
        for r in reversed(session_runs()):
            k, run = r["key"], r["run"]
            same = (k.dataset, k.method, k.n_bits, k.seed, k.params, k.unpaired) == (
                dataset,
                method,
                n_bits,
                seed,
                "{}",
                float(unpaired),
            )
            if same and isinstance(run, Run) and run.protocol == protocol:
                return run
        return _store().get(_primitives(dataset, method, n_bits, seed, protocol, unpaired))

    return lookup


def _keep(dataset: str, run: Run, protocol: str, unpaired: float) -> None:
    """Store one run (most recent last), dropping the oldest beyond `MAX_STORED`."""
    store = _store()
    key = _primitives(dataset, run.method, run.n_bits, run.seed, protocol, unpaired)
    store.pop(key, None)
    store[key] = run
    while len(store) > MAX_STORED:
        store.pop(next(iter(store)))


def remember(dataset: str, cmp: Comparison) -> None:
    """Put the comparison's runs in the store (most recent last), dropping the oldest beyond `MAX_STORED`."""
    for run in cmp.runs:
        _keep(dataset, run, cmp.protocol, cmp.unpaired)


def _step_text(done: int, total: int, run: Run, reused: bool) -> str:
    how = "reused from this session" if reused else f"trained in {run.fit_seconds:.1f} s"
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
        _keep(dataset, run, choice["protocol"], choice.get("unpaired", 0.0))  # kept even if a later run fails
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
    bar.progress(1.0, text=f"Done: {len(cmp.runs)} runs, {cmp.reused} of them reused from this session")
    remember(dataset, cmp)
    st.session_state[RESULT_KEY] = cmp.to_dict()
    return cmp


def last_comparison(dataset: str) -> Comparison | None:
    """The session's last comparison on ``dataset`` (runs without models), or None."""
    d = st.session_state.get(RESULT_KEY)
    if not d:
        return None
    cmp = Comparison.from_dict(d)
    return cmp if cmp.dataset == get_dataset(dataset).name else None


def _mean_std(mean: float, std: float, n: int, digits: int) -> str:
    """``mean ± std``; the value alone for one seed (its spread would read as a measured 0)."""
    return f"{mean:.{digits}f}" if n == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_rows(cmp: Comparison) -> list[dict[str, Any]]:
    """The result table: one row per (method, bits) with the seed count and mean ± std (population std)."""
    return [
        {
            "method": s["method"],
            "bits": s["n_bits"],
            "seeds": s["n_seeds"],
            "mAP I→T": _mean_std(s["map_i2t_mean"], s["map_i2t_std"], s["n_seeds"], 3),
            "mAP T→I": _mean_std(s["map_t2i_mean"], s["map_t2i_std"], s["n_seeds"], 3),
            **{  # graded NDCG@50 (shared-label gains), when the runs' reports carry it
                f"NDCG@50 {d}": _mean_std(s[f"ndcg_{k}_mean"], s[f"ndcg_{k}_std"], s["n_seeds"], 3)
                for k, d in (("i2t", "I→T"), ("t2i", "T→I"))
                if f"ndcg_{k}_mean" in s
            },
            "training s": _mean_std(s["fit_seconds_mean"], s["fit_seconds_std"], s["n_seeds"], 2),
        }
        for s in cmp.summary()
    ]


def _charts(dataset: str, cmp: Comparison) -> None:
    summary = cmp.summary()
    run_bits = sorted({s["n_bits"] for s in summary})
    chance = {b: chance_maps(dataset, b) for b in run_bits}
    cols = st.columns(2)
    for col, d in zip(cols, DIRECTIONS.values(), strict=True):
        fig = plotting.map_vs_bits_figure(summary, d, {b: c[d] for b, c in chance.items()})
        col.plotly_chart(fig, key=f"compare_map_{d}")
    st.caption(
        "Error bars: standard deviation over seeds (none with one seed). Dashed: random codes "
        "(RandomCodes, seed 0) at each length, the chance level."
    )
    left, right = st.columns(2)
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


def _open_run(dataset: str, cmp: Comparison) -> None:
    """Make one run of the comparison the session's current run (for Search and Code Map)."""
    if cmp.protocol != "learned":  # the other pages show the learned protocol only
        return
    store = _store()
    found = {
        f"{r.method} · {r.n_bits} bits · seed {r.seed}": (r.method, r.n_bits, r.seed, run)
        for r in cmp.runs  # records without models: the models are in the store
        if (run := store.get(_primitives(dataset, r.method, r.n_bits, r.seed, cmp.protocol, cmp.unpaired)))
    }
    if not found:  # runs dropped from the store: the table stays, the models are gone
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    pick = left.selectbox("Open a run on Search and Code Map", list(found), key="compare_open")
    if right.button("Make it the current run", key="compare_open_button"):
        m, b, s, run = found[pick]
        notice = add_run(RunKey.make(dataset, m, b, s, unpaired=cmp.unpaired), run)
        st.success(f"{pick} is now the current run: open Search or Code Map.")
        if notice:
            st.warning(notice)


def show_comparison(dataset: str, cmp: Comparison) -> None:
    """Table, mAP-vs-bits charts with chance, overlaid PR curves, refused pairs and downloads."""
    n_new = len(cmp.runs) - cmp.reused
    st.subheader(f"{len(cmp.runs)} runs on {cmp.dataset} ({cmp.protocol} protocol)")
    st.caption(
        f"{n_new} trained, {cmp.reused} reused from this session; seeds {', '.join(map(str, cmp.seeds))}. "
        "The grid is the one `python -m cmh_core bench` runs."
    )
    if cmp.skipped:
        st.warning(
            "Not run (the method refuses these settings):\n" + "\n".join(f"- {s}" for s in cmp.skipped)
        )
    st.dataframe(summary_rows(cmp), hide_index=True, key="compare_table")
    _charts(dataset, cmp)
    comparison_downloads(cmp, get_dataset(dataset), key="compare")
    _open_run(dataset, cmp)
