"""Background map layouts: a run's UMAP computed after its training, one at a time, bounded.

UMAP with the Hamming metric is the Code Map's best picture but costs seconds to minutes (a numba
compilation the first time in a process). `LayoutJobs` computes it in one daemon thread so no page
waits for it: the app submits a run's map codes when its training finishes (the
`cmh_core.jobs.TrainingJobs` ``on_done`` hook) and when Code Map shows a run without a layout; the
page draws PCA at once and swaps UMAP in when `LayoutJobs.get` says ``"done"``.

Bounds (docs/app-engine.md, "Background layouts"):

* one layout at a time (each uses every core numba gives it), the rest wait in a FIFO queue of at
  most ``max_queued``; a request past that is ``"skipped"`` (Code Map asks again when shown);
* ``max_points`` codes at most (a larger map stays PCA, ``"skipped"`` with the reason);
* ``keep`` finished layouts in memory (least recently used forgotten; asked again, recomputed);
* every layout lists the sessions that want it (``owners``); `LayoutJobs.drop` removes one, and
  with none left a queued layout is cancelled at once and a running one is discarded when it ends
  (a UMAP fit cannot be interrupted, so its thread finishes, but nothing is kept).

The layout function is injectable (tests pass a stub gated by an event, so no test waits on UMAP
with a wall-clock timeout). Streamlit-free.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from cmh_core._workqueue import WorkQueue

__all__ = ["Layout", "LayoutJobs", "MAX_POINTS", "umap_layout", "run_map_codes"]

_log = logging.getLogger(__name__)

#: Codes above which no UMAP is computed (the map stays PCA): ~1 min of UMAP on 2 idle cores.
MAX_POINTS = 20_000
_ACTIVE = ("queued", "running")


def umap_layout(codes: np.ndarray, n_bits: int) -> np.ndarray:
    """UMAP (Hamming metric, ``random_state=0``) of packed codes ``(n, n_bytes)``: coords ``(n, 2)``."""
    from cmh_core.projection import project_codes

    return np.asarray(project_codes(codes, n_bits, method="umap", random_state=0), dtype=np.float32)


def run_map_codes(ds, key, model) -> dict[str, np.ndarray]:
    """Packed query and database codes of a run (learned protocol), as the Code Map uses them.

    `cmh_core.exports.protocol_codes` with the protocol fixed to ``"learned"`` (an unpaired run's
    training rows are rebuilt from ``key.unpaired`` and ``key.seed``).

    Returns
    -------
    dict
        `cmh_core.evaluation.retrieval_codes`'s four arrays, plus ``"map"``: the database codes of
        both modalities stacked, shape ``(2 n_database, n_bytes)`` (images first, then captions).
    """
    from cmh_core.exports import protocol_codes

    c = protocol_codes(model, ds, "learned", key.unpaired, key.seed)
    return {**c, "map": np.concatenate([c["image_database"], c["text_database"]])}


@dataclass
class Layout:
    """One requested layout.

    Attributes
    ----------
    key : hashable
        The run's key (`cmh_core.runcache.RunKey` in the app).
    n_points : int
    state : {"queued", "running", "done", "failed", "cancelled", "skipped"}
    coords : ndarray of float32, shape (n_points, 2), or None
        Set when ``"done"``.
    seconds : float or None
        Compute time of a finished layout.
    error : str or None
        Why it failed, was skipped or cancelled.
    owners : list of str
        Sessions that want it.
    """

    key: Hashable
    n_points: int
    n_bits: int
    state: str = "queued"
    coords: np.ndarray | None = None
    seconds: float | None = None
    error: str | None = None
    owners: list[str] = field(default_factory=list)
    codes: np.ndarray | None = field(default=None, repr=False)  # dropped once computed

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in _ACTIVE


class LayoutJobs(WorkQueue[Layout]):
    """The process's background layouts: one worker thread, a bounded FIFO, a bounded result store.

    Parameters
    ----------
    layout : callable, optional
        ``layout(codes, n_bits) -> (n, 2)`` coordinates; default `umap_layout`.
    max_points : int, default `MAX_POINTS`
    max_queued : int, default 16
    keep : int, default 32
        Finished layouts kept in memory.
    off : str, optional
        Why background layouts are switched off (every request is then ``"skipped"`` with it).
    nice : int, default 10
        Added to the worker thread's nice value (Linux: per thread), so page reruns and trainings
        get the cores first; threads the layout starts (numba's) inherit it.
    """

    def __init__(
        self,
        layout: Callable[[np.ndarray, int], np.ndarray] | None = None,
        max_points: int = MAX_POINTS,
        max_queued: int = 16,
        keep: int = 32,
        off: str | None = None,
        nice: int = 10,
    ):
        for name, v in (("max_points", max_points), ("max_queued", max_queued), ("keep", keep)):
            if int(v) < 1:
                raise ValueError(f"{name} must be at least 1, got {v!r}")
        self.layout = layout or umap_layout
        self.max_points, self.max_queued, self.keep = int(max_points), int(max_queued), int(keep)
        self.off, self.nice = off, int(nice)
        self.computed = 0  # layouts actually started (tests count them)
        super().__init__(["cmh-layout"])  # the lock and the FIFO
        self._layouts: collections.OrderedDict[Hashable, Layout] = collections.OrderedDict()
        self._start()

    # ------------------------------------------------------------------ public API
    def submit(self, key: Hashable, codes: np.ndarray, n_bits: int, owner: str) -> Layout:
        """Ask for the layout of ``key``'s packed ``codes`` ``(n, n_bytes)``; the known one if asked before.

        Returns
        -------
        Layout
            The existing layout (``owner`` added) unless it was cancelled or failed; else a new one,
            ``"queued"``, or ``"skipped"`` (too many codes, queue full, shutting down) with the reason.
        """
        owner = str(owner)
        with self._lock:
            old = self._layouts.get(key)
            if old is not None and old.state in ("queued", "running", "done"):
                if owner not in old.owners:
                    old.owners.append(owner)
                self._layouts.move_to_end(key)
                return old
            n = int(len(codes))
            lay = Layout(key, n, int(n_bits), owners=[owner])
            if self._closed or self.off:
                lay.state, lay.error = "skipped", self.off or "the server is shutting down"
            elif n > self.max_points:
                lay.state = "skipped"
                lay.error = (
                    f"{n} codes is over the {self.max_points} a background UMAP takes; the map stays PCA"
                )
            elif len(self._queue) >= self.max_queued:
                lay.state, lay.error = (
                    "skipped",
                    f"{self.max_queued} layouts are already waiting; ask again later",
                )
            else:
                lay.codes = np.array(codes, dtype=np.uint8, copy=True)
                self._queue.append(key)
                self._lock.notify_all()
            self._layouts[key] = lay
            self._layouts.move_to_end(key)
            self._trim()
            return lay

    def get(self, key: Hashable) -> Layout | None:
        """The layout of ``key`` (any state), or None when never asked for (or forgotten)."""
        with self._lock:
            return self._layouts.get(key)

    def drop(self, key: Hashable, owner: str) -> bool:
        """``owner`` no longer wants ``key``'s layout; with no owner left it is cancelled and forgotten.

        Returns
        -------
        bool
            True if the layout was cancelled or forgotten, False if others still want it or it is unknown.
        """
        with self._lock:
            lay = self._layouts.get(key)
            if lay is None:
                return False
            if str(owner) in lay.owners:
                lay.owners.remove(str(owner))
            if lay.owners:
                return False
            if lay.state == "queued":
                self._queue.remove(key)
            if lay.active:  # a running fit ends on its own; `_work` then discards its result
                lay.state, lay.error, lay.codes = "cancelled", "no session shows this run any more", None
            del self._layouts[key]
            self._lock.notify_all()
            return True

    def shutdown(self, wait: bool = True, timeout: float | None = 30.0) -> None:
        """Cancel every queued layout and stop the worker (a running fit is discarded when it ends)."""
        with self._lock:
            self._closed = True
            for key in self._queue:
                lay = self._layouts[key]
                lay.state, lay.error, lay.codes = "cancelled", "the server is shutting down", None
            self._queue.clear()
            self._lock.notify_all()
        self._join(wait, timeout)

    # ------------------------------------------------------------------ internals
    def _trim(self) -> None:
        done = [k for k, v in self._layouts.items() if not v.active]
        for k in done[: max(len(done) - self.keep, 0)]:
            del self._layouts[k]

    def _lower_priority(self) -> None:
        """Raise this thread's nice value by `nice` (best effort: not on every platform)."""
        import os

        try:
            tid = threading.get_native_id()
            now = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(now + self.nice, 19))
        except (AttributeError, OSError) as e:  # no per-thread priority here: run at the same one
            _log.info("background layouts keep the server's priority: %s", e)

    def _item(self, key: Hashable) -> Layout | None:
        return self._layouts.get(key)

    def _before_work(self) -> None:
        if self.nice > 0:
            self._lower_priority()

    def _serve(self, key: Hashable) -> Callable[[], None]:
        lay = self._layouts[key]  # `WorkQueue._work` holds the lock here
        lay.state = "running"
        codes, lay.codes = lay.codes, None
        self.computed += 1
        return lambda: self._compute(lay, codes)

    def _compute(self, lay: Layout, codes: np.ndarray) -> None:
        t0 = time.perf_counter()
        try:
            xy = np.asarray(self.layout(codes, lay.n_bits), dtype=np.float32)
            if xy.shape != (lay.n_points, 2):
                raise ValueError(f"the layout gave shape {xy.shape}, expected ({lay.n_points}, 2)")
            state, error = "done", None
        except Exception as e:  # noqa: BLE001 - the worker must survive any failure of one layout
            _log.warning("layout of %s failed: %s", lay.key, e)
            xy, state, error = None, "failed", f"{type(e).__name__}: {e}"
        with self._lock:
            if lay.state == "running":  # else dropped meanwhile: nothing is kept
                lay.coords, lay.seconds, lay.error = xy, time.perf_counter() - t0, error
                lay.state = state  # last: a reader that sees "done" sees the coordinates too
            self._trim()
            self._lock.notify_all()
