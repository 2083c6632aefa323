"""A FIFO of keys served by daemon worker threads under one condition lock (private).

The shared skeleton of `cmh_core.jobs.TrainingJobs` and `cmh_core.layouts.LayoutJobs`: both keep
their items in a dict of their own and queue only the items' keys here. A subclass implements
``_serve(key)`` (called in a worker thread with the lock *held*; it marks the item running and
returns what the worker then does outside the lock) and ``_item(key)`` (the item `wait` watches).
docs/app-engine.md describes the two engines.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["WorkQueue"]

T = TypeVar("T")  # the item a subclass keeps per key (a Job, a Layout)


class WorkQueue(Generic[T]):
    """A lock, a FIFO of keys, one daemon thread per name that takes them in order.

    Parameters
    ----------
    thread_names : list of str
        One worker thread each, started by `_start`.
    """

    def __init__(self, thread_names: list[str]):
        self._lock = threading.Condition()
        self._queue: collections.deque[Hashable] = collections.deque()
        self._closed = False
        self._workers = [threading.Thread(target=self._work, name=n, daemon=True) for n in thread_names]

    def _start(self) -> None:
        """Start the workers (last in a subclass's ``__init__``, once its own state exists)."""
        for t in self._workers:
            t.start()

    # ------------------------------------------------------------------ shared public API
    def queue_position(self, key: Hashable) -> int:
        """1 for the next queued item to start, 2 for the one after, ...; 0 when not queued."""
        with self._lock:
            try:
                return self._queue.index(key) + 1
            except ValueError:
                return 0

    def wait(self, key: Hashable, timeout: float | None = None) -> T | None:
        """Block until ``key``'s item is no longer queued or running (or ``timeout`` s passed).

        Returns
        -------
        The item (None if unknown).
        """
        with self._lock:
            item = self._item(key)
            if item is not None:
                self._lock.wait_for(lambda: not item.active, timeout)
            return item

    def _join(self, wait: bool, timeout: float | None) -> None:
        if wait:
            for t in self._workers:
                t.join(timeout)

    # ------------------------------------------------------------------ subclass hooks
    def _item(self, key: Hashable) -> T | None:
        raise NotImplementedError

    def _serve(self, key: Hashable) -> Callable[[], None]:
        raise NotImplementedError

    def _before_work(self) -> None:
        """Called once in each worker thread before it takes its first key."""

    def _work(self) -> None:
        self._before_work()
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if not self._queue:  # closed and drained
                    return
                task = self._serve(self._queue.popleft())
            task()
