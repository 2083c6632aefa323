"""Training runs and the artefacts derived from them, cached by `RunKey`.

A run lives in the server's registry (`ui.registry`): trained once, it is found by every session,
a link and a reload. The codes, diagnostics and map coordinates a run gives are
deterministic functions of its key (same seed, same codes), so they are cached by the key
(Streamlit hashes the frozen dataclass) and every page can be opened first: a page that finds no
current run opens the default run (DCH, 32 bits, seed 0), from the registry when it is there.
The chance level depends on the dataset and code length only: `ui.chance` keeps it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import streamlit as st

from cmh_core.experiment import Run
from ui.data import get_dataset
from ui.registry import registry
from ui.state import ASK, DEFAULT_BITS, DEFAULT_METHOD, UMAP_DONE, RunKey, apply, current_key, notice

__all__ = [
    "ensure_run",
    "current_run",
    "expected_seconds",
    "codes_for",
    "code_diagnostics",
    "map_coords",
    "map_codes",
    "umap_layout",
    "demo_example",
    "missing_example_reason",
]

# Training seconds until this server has timed the method itself: the deep methods are the slow ones
# (README: DCMH 48.9 s per fit on tuxpaint at 32 bits; SDEH first builds its feature maps); the
# shallow ones are assumed quick (README: RandomCodes 0.04 s, DCH 1.2 s; the others were not timed on
# tuxpaint). A link to an untrained run above ASK_ABOVE_S asks before training.
PRIOR_SECONDS = {"DCMH": 49.0, "SDEH": 60.0}
OTHER_PRIOR_S = 3.0
ASK_ABOVE_S = 10.0


def expected_seconds(key: RunKey) -> float:
    """Training time of ``key``: this server's median for the method (else `PRIOR_SECONDS`), scaled
    by the iteration count the key asks for against the method's default."""
    from cmh_core.methods import method_class

    base = registry().median_fit_seconds(key.dataset, key.method)
    if base is None:
        base = PRIOR_SECONDS.get(key.method, OTHER_PRIOR_S)
    defaults = method_class(key.method)().get_params(deep=False)
    for name in ("n_iter", "n_epochs"):
        if name in key.param_dict() and defaults.get(name):
            base *= max(float(key.param_dict()[name]) / float(defaults[name]), 0.0)
    return base


def current_run(dataset: str) -> tuple[RunKey, Run] | None:
    """The current ``(key, run)`` of ``dataset``, or None (also when the registry lost it)."""
    key = current_key(dataset)
    if key is None:
        return None
    run = registry().get(key)
    if run is None:  # evicted from the bounded cache since: say so, the page opens another
        notice(f"{key.label()} is no longer on the server (the run cache is bounded); train it again.")
        return None
    return key, run


def ensure_run(dataset: str) -> tuple[RunKey, Run]:
    """The current run of ``dataset``; else the default run (DCH, 32 bits, seed 0), trained if needed.

    A link waiting for the user's yes (a long training) stops the page here instead.
    """
    found = current_run(dataset)
    if found is not None:
        return found
    if st.session_state.get(ASK):
        st.stop()  # the question is on the page (ui.frame); nothing to show before the answer
    key = RunKey.make(dataset, DEFAULT_METHOD, DEFAULT_BITS, 0)
    run = registry().get(key)
    if run is None:
        from ui.training import wait_here

        try:
            run = wait_here(key, f"No run yet in this session: training {key.label()}…")
        except ValueError as e:
            st.error(f"The default run {key.label()} could not be trained: {e}")
            st.stop()
        st.info(
            f"No run in this session yet, so {key.label()} was trained ({run.fit_seconds:.1f} s). "
            "Train another method on the Train page."
        )
        return key, run
    apply("link", key)
    st.info(
        f"No run in this session yet, so {key.label()} was opened (trained earlier on this server). "
        "Train another method on the Train page."
    )
    return key, run


@st.cache_data(max_entries=32, show_spinner=False)
def _codes(key: RunKey, _model) -> dict:
    """Packed query / database codes of a run and its map codes (`cmh_core.layouts.run_map_codes`)."""
    from cmh_core.layouts import run_map_codes

    return run_map_codes(get_dataset(key.dataset), key, _model)


def codes_for(key: RunKey, run: Run) -> dict[str, np.ndarray]:
    """Codes of a run: ``image_query``, ``text_query``, ``image_database``, ``text_database``."""
    return _codes(key, run.model)


def map_codes(key: RunKey, run: Run) -> np.ndarray:
    """Database codes of both modalities stacked: rows 0..n_db-1 images, n_db..2n_db-1 texts."""
    return codes_for(key, run)["map"]


@st.cache_data(max_entries=32, show_spinner=False)
def _diagnostics(key: RunKey, code_length: int, _codes) -> dict:
    from cmh_core.diagnostics import bit_diagnostics

    return bit_diagnostics(_codes, code_length)


def code_diagnostics(key: RunKey, run: Run) -> dict[str, Any]:
    """Bit balance, correlation, distinct codes and collisions over the database codes (both modalities)."""
    return _diagnostics(key, run.model.code_length, map_codes(key, run))


@st.cache_data(max_entries=32, show_spinner=False)
def _coords(key: RunKey, how: str, code_length: int, _codes) -> tuple[np.ndarray, float]:
    from cmh_core.projection import project_codes

    t0 = time.perf_counter()
    xy = project_codes(_codes, code_length, method=how, random_state=0)
    return np.asarray(xy, dtype=np.float32), time.perf_counter() - t0


def map_coords(key: RunKey, run: Run, how: str = "pca") -> tuple[np.ndarray, float]:
    """2-D coordinates of `map_codes` by ``how`` ("pca" or "umap"), cached per run, and seconds taken."""
    return _coords(key, how, run.model.code_length, map_codes(key, run))


def umap_layout(key: RunKey, run: Run):
    """The background UMAP of this run (`cmh_core.layouts.Layout`): asked for here when the server has
    none yet (a run opened from a link or the cache; a trained run's was queued when it finished)."""
    from ui.sessions import token

    lay = registry().layouts.get(key)
    if lay is None or lay.state in ("cancelled", "skipped"):  # a failed one is not retried every rerun
        lay = registry().layouts.submit(
            key, map_codes(key, run), run.model.code_length, token(st.session_state)
        )
    return lay


def umap_ready(key: RunKey) -> bool:
    """Whether this session has seen the UMAP of this run (its Projection choice then appears)."""
    return key in st.session_state.setdefault(UMAP_DONE, set())


def mark_umap(key: RunKey) -> None:
    """Remember that this session has seen the UMAP of this run."""
    st.session_state.setdefault(UMAP_DONE, set()).add(key)


@st.cache_data(max_entries=8, show_spinner=False)
def _shipped_example(dataset: str) -> dict[str, Any] | None:
    """The example `scripts/build_home_examples.py` wrote for ``dataset`` (None: none shipped)."""
    from cmh_core.demo import load_example

    return load_example(get_dataset(dataset), dataset)


def demo_example(dataset: str) -> dict[str, Any] | None:
    """Home's figure (`cmh_core.demo`): a query image, its own caption and an unrelated one, coded.

    Never trains (a fresh start and a dataset switch stay quick): the example shipped for the
    dataset (``assets/home/``), else one picked from the default run (DCH, 32 bits, seed 0) when
    this server has it, else None (`missing_example_reason` says why).
    """
    from cmh_core.demo import EXAMPLE_BITS, EXAMPLE_METHOD, EXAMPLE_SEED, example_from_model

    try:
        ex = _shipped_example(dataset)
        if ex is not None:
            return ex
    except ValueError:  # a stale or damaged file: fall back to a trained run (the reason is shown)
        pass
    key = RunKey.make(dataset, EXAMPLE_METHOD, EXAMPLE_BITS, EXAMPLE_SEED)
    run = registry().get(key)
    if run is None or run.model is None:
        return None
    return {**example_from_model(get_dataset(dataset), run.model), "method": key.method, "n_bits": key.n_bits}


def missing_example_reason(dataset: str) -> str:
    """Why `demo_example` found nothing: no file built for ``dataset``, or the file's problem."""
    try:
        _shipped_example(dataset)
    except ValueError as e:
        return str(e)
    return f"none was built for {dataset!r} and DCH at 32 bits is not trained on it yet"
