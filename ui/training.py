"""Training from the pages: in-page training with a progress bar, and the question a linked run asks.

Every finished run goes to the registry (`ui.registry`) and becomes this session's current run
through `ui.state.apply` (event "trained").
"""

from __future__ import annotations

import streamlit as st

from cmh_core.experiment import Run, run_experiment
from ui.data import get_dataset
from ui.registry import registry
from ui.state import ASK, RunKey, apply

__all__ = ["train_here", "linked_run_question"]


def train_here(key: RunKey, text: str, callback=None) -> Run:
    """Train ``key`` now under a progress bar (or ``callback``), register it, make it current.

    Raises
    ------
    ValueError
        From the library (bad hyper-parameter, code length too large, ...): pages show it.
    """
    bar = None
    if callback is None:
        bar = st.progress(0.0, text=text)

        def callback(it: int, obj: float, elapsed: float) -> None:
            bar.progress(0.5, text=f"{text} iteration {it} · {elapsed:.1f} s")

    ds = get_dataset(key.dataset)
    _region_tokens_ready(ds, key)
    run = run_experiment(
        ds, key.method, n_bits=key.n_bits, seed=key.seed, params=key.param_dict(),
        protocol=key.protocol, callback=callback, unpaired=key.unpaired,
    )  # fmt: skip
    registry().put(key, run)
    apply("trained", key)
    if bar is not None:
        bar.empty()
    return run


def _region_tokens_ready(ds, key: RunKey) -> None:
    """Build a bundle's 7×7 feature-map cache under a progress bar before SDEH needs it.

    SDEH's local image branch reads region tokens from an on-disk cache that is computed once per
    bundled dataset (tens of seconds on 2 cores); without this the page would sit silent before
    the first epoch. Other methods, ``local_tokens="chunks"`` and datasets without images skip it.
    """
    from cmh_core.datasets import feature_maps

    params = key.param_dict()
    if key.method != "SDEH" or not params.get("local_branch", True) or params.get("local_tokens") == "chunks":
        return
    if ds._thumbnail_loader is None or feature_maps.feature_map_path(ds).exists():
        return
    bar = st.progress(0.0, text="Computing the image feature maps once (cached on disk for later runs)…")

    def step(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Image feature maps: {done} of {total} images")

    try:
        feature_maps.load_feature_maps(ds, progress=step)
    except ValueError:  # no EfficientNet-Lite0 features: SDEH falls back to vector chunks itself
        pass
    bar.empty()


def _answer(yes: bool) -> None:
    ask = st.session_state.get(ASK)
    if ask is None:
        return
    if yes:
        st.session_state[ASK] = {**ask, "auto": True}
    else:
        del st.session_state[ASK]


def linked_run_question() -> None:
    """A link named a run this server has not trained: train it (quick) or ask first (slow)."""
    ask = st.session_state.get(ASK)
    if not ask:
        return
    from ui.runs import expected_seconds

    key: RunKey = ask["key"]
    secs = expected_seconds(key)
    if ask["auto"]:
        del st.session_state[ASK]
        try:
            run = train_here(key, f"The link asks for {key.label()}, not trained here yet: training it…")
        except ValueError as e:
            st.error(f"The link's run {key.label()} could not be trained: {e}")
            return
        st.info(f"The link's run {key.label()} was trained ({run.fit_seconds:.1f} s); it is the current run.")
        return
    with st.container(border=True):
        st.markdown(
            f"This link asks for **{key.label()}**{'' if key.params == '{}' else f' {key.params}'}, "
            f"which this server has not trained yet. Training it takes about **{secs:.0f} s** "
            "on this machine."
        )
        left, right = st.columns(2)
        left.button("Train it", type="primary", key="ask_yes", on_click=_answer, args=(True,))
        right.button("Not now", key="ask_no", on_click=_answer, args=(False,))
