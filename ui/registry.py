"""The server-wide run registry: every finished run, on disk, found by its `RunKey`.

One `Registry` per server process and cache folder (``st.cache_resource``), shared by every
session, with the server's background trainings (`cmh_core.jobs.TrainingJobs`, ``.jobs``):
a link, a reload or another session asking for settings already trained gets the run at
once. The runs are `cmh_core.runcache.RunCache` entries (``$CMH_CACHE_DIR/runs``: model ``.npz``
+ run JSON, written atomically, least recently used evicted past the size bound), so they also
survive a server restart. A few recently used runs stay loaded in memory, so a page's rerun does
not read the disk again. ``.layouts`` (`cmh_core.layouts.LayoutJobs`) computes each trained run's
UMAP in the background, for the sessions that asked for the training (docs/app-engine.md).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import streamlit as st

from cmh_core.experiment import Run
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint, default_cache_dir
from ui.data import get_dataset

__all__ = ["Registry", "registry"]

#: ``CMH_BACKGROUND_UMAP=0`` switches the background UMAP of trained runs off (the map stays PCA).
UMAP_ENV = "CMH_BACKGROUND_UMAP"
IN_MEMORY = 24  # loaded runs kept in memory (a shallow run is well under 1 MB)


class Registry:
    """`RunCache` of one folder plus a small in-memory LRU of loaded runs; thread-safe.

    Parameters
    ----------
    root : str
        The cache folder (`cmh_core.runcache.default_cache_dir` by default).
    """

    def __init__(self, root: str):
        from cmh_core.jobs import TrainingJobs
        from cmh_core.layouts import LayoutJobs

        self.cache = RunCache(root)
        self._memory: OrderedDict[tuple[RunKey, str], Run] = OrderedDict()
        self._lock = threading.Lock()
        # the server's background trainings: one at a time (each uses every core), the rest queue
        self.jobs = TrainingJobs(self.cache, get_dataset, max_workers=1, on_done=self._after_training)
        off = os.environ.get(UMAP_ENV, "1") == "0"  # the test suite: no real UMAP in the background
        self.layouts = LayoutJobs(off=f"background UMAP is off ({UMAP_ENV}=0)" if off else None)

    def _after_training(self, job, ds) -> None:
        """A training finished: queue its UMAP for the sessions that asked (in the training worker)."""
        from cmh_core.layouts import run_map_codes

        codes = run_map_codes(ds, job.key, job.run.model)["map"]
        for owner in job.owners:
            self.layouts.submit(job.key, codes, job.run.model.code_length, owner)

    def fingerprint(self, dataset: str) -> str:
        """The dataset's fingerprint (`cmh_core.runcache.dataset_fingerprint`, memoised)."""
        return dataset_fingerprint(get_dataset(dataset))

    def get(self, key: RunKey) -> Run | None:
        """The run of ``key`` with its model, from memory or disk; None when never trained here."""
        slot = (key, self.fingerprint(key.dataset))
        with self._lock:
            if slot in self._memory:
                self._memory.move_to_end(slot)
                return self._memory[slot]
        run = self.cache.get(*slot)
        if run is not None and run.model is not None:
            self._remember(slot, run)
            return run
        return None

    def has(self, key: RunKey) -> bool:
        """Whether ``key`` is trained (in memory or on disk), without loading it."""
        slot = (key, self.fingerprint(key.dataset))
        with self._lock:
            if slot in self._memory:
                return True
        return slot in self.cache

    def put(self, key: RunKey, run: Run, *, on_disk: bool = True) -> None:
        """Store a finished run (atomically on disk, unless a job did already) and keep it loaded."""
        slot = (key, self.fingerprint(key.dataset))
        if on_disk:
            self.cache.put(*slot, run)
        self._remember(slot, run)

    def median_fit_seconds(self, dataset: str, method: str) -> float | None:
        """Median training seconds of ``method`` on ``dataset`` among the runs loaded here, or None."""
        with self._lock:
            secs = sorted(
                r.fit_seconds
                for (k, _), r in self._memory.items()
                if (k.dataset, k.method) == (dataset, method)
            )
        return secs[len(secs) // 2] if secs else None

    def _remember(self, slot: tuple[RunKey, str], run: Run) -> None:
        with self._lock:
            self._memory[slot] = run
            self._memory.move_to_end(slot)
            while len(self._memory) > IN_MEMORY:
                self._memory.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _registry(root: str) -> Registry:
    return Registry(root)


def registry() -> Registry:
    """The server's registry for the cache folder in use (``$CMH_CACHE_DIR/runs``)."""
    return _registry(str(default_cache_dir()))
