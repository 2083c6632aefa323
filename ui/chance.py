"""The chance level of the Train page (RandomCodes' mAP), computed once per server process.

The pages and the warm-up (`ui.warmup`, which computes the default one before a page asks) share
it: this dict is the only cache of chance levels. Any thread may call `chance_level`.
"""

from __future__ import annotations

import contextlib
import threading

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui.data import get_dataset

__all__ = ["chance_level"]

_CHANCE: dict[tuple[str, int, int], dict[str, float]] = {}  # (dataset, n_bits, seed) -> mAPs
_LOCK = threading.Lock()
_KEEP = 64  # chance levels kept (oldest forgotten first)
_SPINNER = "Computing the chance level (RandomCodes)…"


def chance_level(dataset: str, n_bits: int, seed: int = 0) -> dict[str, float]:
    """mAP of RandomCodes at ``n_bits`` on ``dataset``: ``{"i2t": float, "t2i": float}``.

    The lock means a page that asks while the warm-up computes the same level waits for that
    result and does not compute it a second time. A page waiting or computing shows a spinner;
    the warm-up's thread has no page and shows none.
    """
    from cmh_core.experiment import run_experiment

    slot = (str(dataset), int(n_bits), int(seed))
    page = get_script_run_ctx(suppress_warning=True) is not None  # the warm-up's thread has none
    with st.spinner(_SPINNER) if page and slot not in _CHANCE else contextlib.nullcontext(), _LOCK:
        if slot not in _CHANCE:
            run = run_experiment(get_dataset(dataset), "RandomCodes", n_bits=int(n_bits), seed=int(seed))
            _CHANCE[slot] = {"i2t": run.map_i2t, "t2i": run.map_t2i}
            while len(_CHANCE) > _KEEP:
                del _CHANCE[next(iter(_CHANCE))]
        return dict(_CHANCE[slot])  # a copy: callers may change theirs
