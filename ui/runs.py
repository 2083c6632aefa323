"""Training runs and the artefacts derived from them, cached by primitive `RunKey` fields.

A run's model lives in this session's state (`ui.state`); the codes, chance level, diagnostics
and map coordinates it gives are deterministic functions of the key (same seed, same codes),
so they are cached by the key's primitives and every page can be opened first: a page that
finds no run retrains the URL's (or the default) choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import streamlit as st

from cmh_core.experiment import Run, run_experiment
from ui.data import get_dataset
from ui.state import DEFAULT_BITS, DEFAULT_METHOD, RunKey, add_run, current_run, url_get

__all__ = [
    "train",
    "ensure_run",
    "run_codes",
    "chance_maps",
    "code_diagnostics",
    "map_coords",
    "map_codes",
]

ProgressFn = Callable[[int, float, float], None]


def train(key: RunKey, callback: ProgressFn | None = None) -> Run:
    """Train and evaluate ``key`` on its dataset, store it as this session's current run.

    Raises
    ------
    ValueError
        From the library (bad hyper-parameter, code length too large, ...): pages show it.
    """
    ds = get_dataset(key.dataset)
    kw: dict[str, Any] = {"n_bits": key.n_bits, "seed": key.seed, "params": key.param_dict()}
    _region_tokens_ready(ds, key)
    if key.unpaired > 0:  # only branches with unpaired support accept the keyword
        kw["unpaired"] = key.unpaired
    run = run_experiment(ds, key.method, callback=callback, **kw)
    add_run(key, run)
    return run


def _region_tokens_ready(ds, key: RunKey) -> None:
    """Build a bundle's 7×7 feature-map cache under a progress bar before SDEH needs it.

        SDEH's local image branch reads region tokens from an on-disk cache that is computed once per
        bundled dataset (tens of seconds on 2 cores); without this the page would sit silent before
        the first epoch. Only ``local_tokens="auto"`` reads them: other methods, SDEH's default
    ``local_tokens="chunks"`` and datasets without images skip it.
    """
    from cmh_core.datasets import feature_maps
    from cmh_core.methods import SDEH

    params = key.param_dict()
    tokens = params.get("local_tokens", SDEH().local_tokens)  # default "chunks": no maps needed
    if key.method != "SDEH" or not params.get("local_branch", True) or tokens != "auto":
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


def url_key(dataset: str) -> RunKey:
    """The run the URL asks for (method, bits, seed), default DCH at 32 bits, seed 0."""
    return RunKey.make(
        dataset,
        url_get("method", DEFAULT_METHOD),
        url_get("bits", DEFAULT_BITS, int),
        url_get("seed", 0, int),
    )


def ensure_run(dataset: str) -> tuple[RunKey, Run]:
    """The current run for ``dataset``, training the URL's choice (or the default) if there is none.

    When it had to train, the page is told so (an ``st.info`` naming the run and its time).

    Returns
    -------
    key, run
    """
    found = current_run(dataset)
    if found is not None:
        return found[0], found[1]
    key = url_key(dataset)
    try:
        with st.spinner(f"No run yet in this session: training {key.label()}…"):
            run = train(key)
    except ValueError:  # a hand-edited URL with a bad method or code length: fall back
        key = RunKey.make(dataset, DEFAULT_METHOD, DEFAULT_BITS, 0)
        with st.spinner(f"Training the default method {key.label()}…"):
            run = train(key)
    st.info(
        f"No run in this session yet, so {key.label()} was trained ({run.fit_seconds:.1f} s). "
        "Train another method on the Train page."
    )
    return key, run


@st.cache_data(max_entries=32, show_spinner=False)
def run_codes(
    dataset: str, method: str, n_bits: int, seed: int, params: str, unpaired: float, _model
) -> dict:
    """Packed query / database codes of a run (`cmh_core.evaluation.retrieval_codes`, learned protocol).

    An unpaired run learned its training codes in `cmh_core.datasets.unpair`'s row orders (what
    `run_experiment` fitted and evaluated on), so those orders map them back to items here too.
    """
    from cmh_core.datasets import unpair
    from cmh_core.evaluation import retrieval_codes

    ds = get_dataset(dataset)
    index = unpair(ds, unpaired, random_state=seed) if unpaired else None
    return retrieval_codes(_model, ds, "learned", train_index=index)


def codes_for(key: RunKey, run: Run) -> dict[str, np.ndarray]:
    """`run_codes` for a key (``image_query``, ``text_query``, ``image_database``, ``text_database``)."""
    return run_codes(key.dataset, key.method, key.n_bits, key.seed, key.params, key.unpaired, run.model)


@st.cache_data(max_entries=16, show_spinner="Computing the chance level (RandomCodes)…")
def chance_maps(dataset: str, n_bits: int, seed: int = 0) -> dict[str, float]:
    """mAP of RandomCodes at the same code length: the chance line of the Train page."""
    run = run_experiment(get_dataset(dataset), "RandomCodes", n_bits=n_bits, seed=seed)
    return {"i2t": run.map_i2t, "t2i": run.map_t2i}


def map_codes(key: RunKey, run: Run) -> np.ndarray:
    """Database codes of both modalities stacked: rows 0..n_db-1 images, n_db..2n_db-1 texts."""
    c = codes_for(key, run)
    return np.concatenate([c["image_database"], c["text_database"]])


@st.cache_data(max_entries=32, show_spinner=False)
def _diagnostics(dataset, method, n_bits, seed, params, unpaired, code_length: int, _codes) -> dict:
    from cmh_core.diagnostics import bit_diagnostics

    return bit_diagnostics(_codes, code_length)


def code_diagnostics(key: RunKey, run: Run) -> dict[str, Any]:
    """Bit balance, correlation, distinct codes and collisions over the database codes (both modalities)."""
    k = key
    return _diagnostics(
        k.dataset, k.method, k.n_bits, k.seed, k.params, k.unpaired, run.model.code_length, map_codes(k, run)
    )


@st.cache_data(max_entries=32, show_spinner=False)
def _coords(
    dataset, method, n_bits, seed, params, unpaired, how: str, code_length: int, _codes
) -> np.ndarray:
    from cmh_core.projection import project_codes

    t0 = time.perf_counter()
    xy = project_codes(_codes, code_length, method=how, random_state=0)
    return np.asarray(xy, dtype=np.float32), time.perf_counter() - t0


def map_coords(key: RunKey, run: Run, how: str = "pca") -> tuple[np.ndarray, float]:
    """2-D coordinates of `map_codes` by ``how`` ("pca" or "umap"), cached per run, and seconds taken."""
    k = key
    return _coords(
        k.dataset,
        k.method,
        k.n_bits,
        k.seed,
        k.params,
        k.unpaired,
        how,
        run.model.code_length,
        map_codes(k, run),
    )


def umap_ready(key: RunKey) -> bool:
    """Whether this session asked for UMAP of this run (it is then served from the cache)."""
    return key in st.session_state.setdefault("cmh_umap_done", set())


def mark_umap(key: RunKey) -> None:
    """Remember that UMAP of this run was computed in this session."""
    st.session_state.setdefault("cmh_umap_done", set()).add(key)


@st.cache_data(max_entries=4, show_spinner="Learning example codes (DCH, 32 bits)…")
def demo_example(dataset: str, n_bits: int = DEFAULT_BITS) -> dict[str, Any]:
    """Home's figure: a query image, its own caption and an unrelated caption, coded by DCH.

    DCH is fitted on the training split (seed 0). Among the query items the one whose image code
    is nearest its own caption's code is shown (a case the method gets right, said on the page),
    beside the unrelated query caption (no shared label) farthest from it. Not a session run,
    so it may be shared. Returns ``a``, ``b`` (dataset indices) and ``image``, ``own``, ``other``
    packed codes ``(n_bytes,)``.
    """
    from cmh_core.hamming import hamming_distance
    from cmh_core.methods import get_method

    ds = get_dataset(dataset)
    tr, q = ds.split.train, np.asarray(ds.split.query)
    model = get_method(DEFAULT_METHOD, n_bits=n_bits, random_state=0)
    model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
    img = model.encode(ds.image_features[q], "image")  # (n_q, n_bytes)
    txt = model.encode(ds.text_features[q], "text")
    # D[i, j] = d_H(image of q_i, caption of q_j); signed, so the -1 below cannot wrap around
    D = hamming_distance(img, txt).astype(np.int64)
    a = int(np.argmin(np.diag(D)))
    unrelated = ~(ds.labels[q] & ds.labels[q[a]]).any(axis=1)
    b = int(np.argmax(np.where(unrelated, D[a], -1)))
    return {"a": int(q[a]), "b": int(q[b]), "image": img[a], "own": txt[a], "other": txt[b]}
