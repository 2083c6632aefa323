"""Warm the server in the background, so the first training and the first search do not pay for it.

`start` runs once per server process, from the first page drawn (`ui.frame.page_frame`), in a
daemon thread. The page does not wait for it: Home needs none of this (docs/performance.md,
"Warm start and background work"). The thread waits until that page is drawn (`page_drawn`, at
the end of Home and below the Train page's form) or `FIRST_DRAW_S` seconds, then, in order, it

1. limits BLAS (OpenBLAS) to ``CMH_BLAS_THREADS`` threads, 1 by default (`limit_blas_threads`;
   `ui.training.submit` does it too, so no training starts before it). The server shares its
   cores with the page threads, the background UMAP and, on a laptop, the browser. On the 2-core
   machine OpenBLAS's two-thread Cholesky of DCH's 1791 x 1791 Gram matrix took 5 s against 0.17 s
   on one thread (docs/performance.md). ``CMH_BLAS_THREADS=0`` leaves OpenBLAS as it is;
2. imports the methods (scikit-learn);
3. computes the chance level of the session's dataset at the default code length. This is the
   same RandomCodes evaluation the Train page shows (`ui.chance.chance_level`). It is the first
   evaluation in the process, so it also loads the numba kernels of the evaluation;
4. imports the modules the Train, Search and Code Map pages use (pandas and pyarrow last: only
   the run list's `st.dataframe` needs them).

umap-learn is not imported here: its import holds the GIL for seconds, and a user who presses
Train at once would wait for it. The background UMAP (`cmh_core.layouts`, a lower-priority
thread) imports it after the first training instead.

Every step's wall-clock seconds are kept in `steps`.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time

__all__ = [
    "BLAS_ENV",
    "WARMUP_ENV",
    "PAGE_MODULES",
    "limit_blas_threads",
    "page_drawn",
    "run",
    "start",
    "steps",
    "done",
]

_log = logging.getLogger(__name__)

#: ``CMH_WARMUP=0`` switches the warm-up off (the test suite: AppTest runs pages in its own process).
WARMUP_ENV = "CMH_WARMUP"
#: Environment variable: BLAS threads of the server (default 1; 0 leaves OpenBLAS's own choice).
BLAS_ENV = "CMH_BLAS_THREADS"
#: What the pages after Home import: the methods (scikit-learn) first, as the Train page needs them.
PAGE_MODULES = (
    "cmh_core.methods",
    "cmh_core.jobs",
    "ui.widgets",
    "ui.run_view",
    "ui.exports",
    "ui.search",
    "ui.codemap",
    "pandas",  # st.dataframe (the Train page's run list) converts through pandas and pyarrow
    "pyarrow",
)

steps: dict[str, float] = {}  # step -> wall-clock seconds, in the order run
done = threading.Event()  # set when every step has run (or failed)
FIRST_DRAW_S = 3.0  # seconds the warm-up waits for the first page to be drawn
_drawn = threading.Event()
_started = False
_lock = threading.Lock()
_limits = None  # the threadpoolctl limiter, kept alive for the life of the process
_UNSET = object()
_blas: object = _UNSET  # what limit_blas_threads set (an int or None), once


def limit_blas_threads(n: int | None = None) -> int | None:
    """Limit the BLAS libraries numpy and scipy load to ``n`` threads (``$CMH_BLAS_THREADS``, 1).

    Once per process: later calls change nothing and return the limit set first.

    Returns
    -------
    int or None
        The limit set, or None when ``n`` (or the variable) is 0: OpenBLAS keeps its own choice.

    Raises
    ------
    ValueError
        ``$CMH_BLAS_THREADS`` is not a whole number >= 0.
    """
    global _blas
    with _lock:
        if _blas is not _UNSET:
            return _blas
        _blas = _limit(n)
        return _blas


def _limit(n: int | None) -> int | None:
    global _limits
    if n is None:
        raw = os.environ.get(BLAS_ENV, "1").strip() or "1"
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"{BLAS_ENV} must be a whole number >= 0, got {raw!r}") from None
    if n < 0:
        raise ValueError(f"{BLAS_ENV} must be a whole number >= 0, got {n}")
    if n == 0:
        return None
    import numpy  # noqa: F401 - load both OpenBLAS copies (numpy's and scipy's) before limiting
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    _limits = threadpool_limits(limits=n, user_api="blas")
    return n


def _step(name: str, fn) -> None:
    t0 = time.perf_counter()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a failed warm-up step costs speed, never the page
        _log.warning("warm-up step %r failed: %s", name, e)
    steps[name] = time.perf_counter() - t0


def page_drawn() -> None:
    """A page script reached its end: the warm-up may begin (it would slow that first draw)."""
    _drawn.set()


def run(dataset: str, n_bits: int, modules: tuple[str, ...] = PAGE_MODULES) -> dict[str, float]:
    """The warm-up's steps, in this thread (`start` runs them in the background). Returns `steps`."""
    from ui.chance import chance_level

    _step("BLAS threads", limit_blas_threads)
    for name in modules[:1]:  # the methods: what a training and the chance level need first
        _step(f"import {name}", lambda name=name: importlib.import_module(name))
    _step(f"chance level {dataset} {n_bits} bits", lambda: chance_level(dataset, n_bits))
    for name in modules[1:]:
        _step(f"import {name}", lambda name=name: importlib.import_module(name))
    return steps


def _warm(dataset: str, n_bits: int) -> None:
    # The first page's own run comes first: both threads share the GIL and 2 cores, and the
    # warm-up needs ~3 s of CPU. A page that stops early never calls page_drawn: then wait at most
    # FIRST_DRAW_S.
    _drawn.wait(FIRST_DRAW_S)
    try:
        run(dataset, n_bits)
    finally:
        done.set()


def start(dataset: str, n_bits: int) -> bool:
    """Start the warm-up thread unless this process has one already.

    Parameters
    ----------
    dataset : str
        The dataset whose chance level is computed (the session's).
    n_bits : int
        The code length the Train page offers first.

    Returns
    -------
    bool
        True if this call started it; False when one was started before or ``CMH_WARMUP=0``.
    """
    global _started
    with _lock:
        if _started or os.environ.get(WARMUP_ENV, "1") == "0":
            return False
        _started = True
    threading.Thread(target=_warm, args=(dataset, int(n_bits)), name="cmh-warmup", daemon=True).start()
    return True
