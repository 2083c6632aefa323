"""Background training: a bounded FIFO of fits owned by the process, served from the run cache.

`TrainingJobs` is what lets a training outlive the page that asked for it. One instance per
process (one Streamlit server) holds

* ``max_workers`` daemon threads that train one job each (numpy, scipy and torch release the
  GIL while they compute, so the server stays responsive); further jobs wait in a FIFO queue;
* a `cmh_core.runcache.RunCache`: a run found there is served at once, without training, and a
  finished run is stored there (model ``.npz`` + run JSON, atomically) *before* its job turns
  ``"done"``, so a reload, a link, another session or a restarted server gets it from disk;
* one job per `RunKey` at a time: a second request for a key that is queued or training gets
  the same `Job` (its ``owners`` lists every session that asked).

A job reports `cmh_core.methods._progress.Progress` (stage, iteration, set-up phase) as the
method does; `TrainingJobs.cancel` makes the next report raise `Cancelled` inside the fit, which
ends the job ``"cancelled"`` with nothing cached. A library ``ValueError`` (bad parameter, code
length too large, unknown dataset) ends the job ``"failed"`` with its message: `submit` never
raises for those.

Streamlit-free; docs/app-engine.md describes how the app uses it.

Test hook: with ``CMH_TEST_SLOW_FIT_S=<seconds>`` in the environment every iteration report
sleeps that long (cancellable), so a test can act while a short training is still running;
``CMH_TEST_SLOW_FIT_REPORTS=<k>`` limits that to the first k reports of each job (a method that
reports once per bit, as SCM does, would otherwise sleep 32 times at 32 bits).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cmh_core._workqueue import WorkQueue
from cmh_core.methods._progress import Progress
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint

if TYPE_CHECKING:
    from cmh_core.datasets import CrossModalDataset
    from cmh_core.experiment import Run

__all__ = ["Cancelled", "Job", "Progress", "TrainingJobs", "SLOW_FIT_ENV", "SLOW_REPORTS_ENV"]

_log = logging.getLogger(__name__)

#: Environment variable of the test hook: seconds every iteration report sleeps.
SLOW_FIT_ENV = "CMH_TEST_SLOW_FIT_S"
#: Environment variable of the test hook: how many reports of each job sleep (unset: all of them).
SLOW_REPORTS_ENV = "CMH_TEST_SLOW_FIT_REPORTS"
#: Finished jobs kept in memory (their runs stay in the cache after they are forgotten).
_KEEP_FINISHED = 256
_ACTIVE = ("queued", "running")


class Cancelled(Exception):
    """Raised inside a fit, at its next progress report, when its job is cancelled."""


@dataclass
class Job:
    """One requested training (or a cached run served at once).

    Attributes
    ----------
    id : str
    key : RunKey
    owner : str
        Session token of the first session that asked; ``owners`` lists every one that did.
    state : {"queued", "running", "done", "failed", "cancelled"}
    progress : Progress or None
        The latest report of the fit (None before the first one, and for cached runs).
    history : list of (iteration, objective, elapsed_s)
        Every iteration reported so far (the live objective curve).
    run : Run or None
        The finished run, model included (state ``"done"``).
    error : str or None
        Why it failed (the library's message), or why a finished run could not be cached.
    submitted, started, finished : float or None
        ``time.time()`` stamps.
    cached : bool
        True when the run was served from the cache without training.
    cancel_requested : bool
        `TrainingJobs.cancel` was called on the running job; it stops at its next report.
    """

    id: str
    key: RunKey
    owner: str
    state: str = "queued"
    progress: Progress | None = None
    history: list[tuple[int, float, float]] = field(default_factory=list)
    run: Run | None = None
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cached: bool = False
    cancel_requested: bool = False
    owners: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in _ACTIVE

    @property
    def elapsed_s(self) -> float:
        """Seconds since the training started (to its end once finished); 0 while queued."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


class TrainingJobs(WorkQueue[Job]):
    """The process's background trainings: a FIFO queue, ``max_workers`` at a time, cached.

    Parameters
    ----------
    cache : RunCache
        Where finished runs go and cached runs come from.
    load_dataset : callable
        ``load_dataset(name) -> CrossModalDataset`` (the app passes its cached loader); called in
        `submit`'s thread, never in a worker.
    max_workers : int, default=1
        Trainings at a time (each uses all the cores numpy / torch give it).
    on_done : callable, optional
        ``on_done(job, dataset)``, called in the worker thread once a trained run is cached, just
        before its job turns ``"done"`` (not for cached runs); the app queues the run's UMAP
        there (`cmh_core.layouts`). Its exceptions are logged, never fail the job.
    """

    def __init__(
        self,
        cache: RunCache,
        load_dataset: Callable[[str], CrossModalDataset],
        max_workers: int = 1,
        on_done: Callable[[Job, CrossModalDataset], None] | None = None,
    ):
        if int(max_workers) < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}; e.g. max_workers=1")
        self.cache = cache
        self.load_dataset = load_dataset
        self.max_workers = int(max_workers)
        self.on_done = on_done
        self.trainings = 0  # fits actually started (tests count them)
        super().__init__([f"cmh-train-{i}" for i in range(self.max_workers)])  # the lock and the FIFO
        self._jobs: dict[str, Job] = {}
        self._data: dict[str, tuple[CrossModalDataset, str]] = {}  # job id -> (dataset, fingerprint)
        self._cancel: dict[str, threading.Event] = {}
        self._start()

    # ------------------------------------------------------------------ public API
    def submit(self, key: RunKey, owner: str) -> Job:
        """Ask for the run of ``key``: served from the cache, joined to a live job, or queued.

        Parameters
        ----------
        key : RunKey
        owner : str
            The asking session's token.

        Returns
        -------
        Job
            ``"done"`` at once for a cached run (no training); the same `Job` as an earlier
            request while that one is queued or running; ``"failed"`` for a dataset that cannot be
            loaded; else a new ``"queued"`` job.
        """
        owner = str(owner)
        with self._lock:
            live = self._live_job(key)
            if live is not None:
                if owner not in live.owners:
                    live.owners.append(owner)
                return live
            if self._closed:
                down = "the server is shutting down; ask again after it restarts"
                return self._add(Job(_new_id(), key, owner, state="failed", error=down, finished=time.time()))
        try:
            ds = self.load_dataset(key.dataset)
            fp = dataset_fingerprint(ds)
            run = self.cache.get(key, fp)
        except ValueError as e:
            now = time.time()
            job = Job(_new_id(), key, owner, state="failed", error=str(e), finished=now)
            with self._lock:
                return self._add(job)
        with self._lock:
            if run is not None:
                now = time.time()
                job = Job(_new_id(), key, owner, "done", run=run, cached=True, started=now, finished=now)
                return self._add(job)
            live = self._live_job(key)  # another thread queued it while we read the cache
            if live is not None:
                if owner not in live.owners:
                    live.owners.append(owner)
                return live
            job = self._add(Job(_new_id(), key, owner))
            self._data[job.id] = (ds, fp)
            self._cancel[job.id] = threading.Event()
            self._queue.append(job.id)
            self._lock.notify()
            return job

    def cached(self, key: RunKey) -> Run | None:
        """The cached run of ``key`` (model included) or None, without training or queueing.

        Raises
        ------
        ValueError
            If the dataset cannot be loaded.
        """
        ds = self.load_dataset(key.dataset)
        return self.cache.get(key, dataset_fingerprint(ds))

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None (unknown, or forgotten long after it finished)."""
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, owner: str | None = None) -> list[Job]:
        """Every job in submission order, or those ``owner`` asked for."""
        with self._lock:
            return [j for j in self._jobs.values() if owner is None or owner in j.owners]

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (dropped at once) or a running one (stops at its next report).

        Returns
        -------
        bool
            True if the job was queued or running, False if unknown or already finished.
        """
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return False
            if job.state == "queued":
                self._queue.remove(job_id)
                self._finish(job, "cancelled")
                return True
            job.cancel_requested = True
            self._cancel[job_id].set()
            return True

    def shutdown(self, wait: bool = True, timeout: float | None = 30.0) -> None:
        """Cancel every queued and running job and stop the workers (``wait``: join them)."""
        with self._lock:
            self._closed = True
            for job_id in list(self._queue):
                self._finish(self._jobs[job_id], "cancelled")
            self._queue.clear()
            for job in self._jobs.values():
                if job.state == "running":
                    job.cancel_requested = True
                    self._cancel[job.id].set()
            self._lock.notify_all()
        self._join(wait, timeout)

    # ------------------------------------------------------------------ internals
    def _live_job(self, key: RunKey) -> Job | None:
        for job in self._jobs.values():
            if job.key == key and job.active and not job.cancel_requested:
                return job
        return None

    def _add(self, job: Job) -> Job:
        if not job.owners:
            job.owners.append(job.owner)
        self._jobs[job.id] = job
        finished = [j for j in self._jobs.values() if not j.active]
        for old in finished[: max(len(finished) - _KEEP_FINISHED, 0)]:
            del self._jobs[old.id]
        return job

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        job.error, job.finished, job.cancel_requested = error, time.time(), False
        job.state = state  # last: a reader that sees the final state sees its error and run too
        self._data.pop(job.id, None)
        self._cancel.pop(job.id, None)
        self._lock.notify_all()  # wakes `wait` callers (and idle workers, which wait again)

    def _item(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def _serve(self, job_id: str) -> Callable[[], None]:
        job = self._jobs[job_id]  # `WorkQueue._work` holds the lock here
        job.state, job.started = "running", time.time()
        ds, fp = self._data[job.id]
        stop = self._cancel[job.id]
        self.trainings += 1

        def task() -> None:
            try:
                self._train(job, ds, fp, stop)
            except Exception as e:  # noqa: BLE001 - a worker must survive any failure of one fit
                _log.exception("training %s failed", job.key.label())
                with self._lock:
                    self._finish(job, "failed", f"{type(e).__name__}: {e}")

        return task

    def _train(self, job: Job, ds: CrossModalDataset, fp: str, stop: threading.Event) -> None:
        from cmh_core.experiment import run_experiment

        key = job.key
        kw: dict[str, Any] = {"n_bits": key.n_bits, "seed": key.seed, "params": key.param_dict()}
        kw["protocol"] = key.protocol
        if key.unpaired > 0:
            kw["unpaired"] = key.unpaired

        def on_iteration(iteration: int, objective: float, elapsed_s: float) -> None:
            job.history.append((int(iteration), float(objective), float(elapsed_s)))

        slowed = [0]  # reports slept on by the test hook

        def on_progress(p: Progress) -> None:
            job.progress = p
            slow = float(os.environ.get(SLOW_FIT_ENV) or 0)
            most = os.environ.get(SLOW_REPORTS_ENV)  # unset: every report
            if slow > 0 and p.kind in ("iteration", "step") and (not most or slowed[0] < int(most)):
                slowed[0] += 1
                stop.wait(slow)
            if stop.is_set():
                raise Cancelled(f"{key.label()} was cancelled")

        try:
            run = run_experiment(ds, key.method, callback=on_iteration, progress=on_progress, **kw)
            if stop.is_set():
                raise Cancelled(f"{key.label()} was cancelled")
        except Cancelled:
            with self._lock:
                self._finish(job, "cancelled")
            return
        except ValueError as e:
            with self._lock:
                self._finish(job, "failed", str(e))
            return
        note = None
        try:
            self.cache.put(key, fp, run)
        except OSError as e:  # a full disk loses the cache entry, not the run
            note = f"the run could not be cached ({e}); it is kept in memory only"
            _log.warning("caching %s failed: %s", key.label(), e)
        job.run = run
        if self.on_done is not None:  # before "done": whoever sees "done" finds the follow-up queued
            try:
                self.on_done(job, ds)
            except Exception:  # noqa: BLE001 - a follow-up (a layout) never fails the training
                _log.exception("on_done of %s failed", key.label())
        with self._lock:
            self._finish(job, "done", note)


def _new_id() -> str:
    return uuid.uuid4().hex[:12]
