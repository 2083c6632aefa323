"""Background UMAP (`cmh_core.layouts.LayoutJobs`): one at a time, bounded, dropped with its run, and
Code Map swapping PCA for UMAP when the layout is done.

No test waits on a real UMAP: the layout function is a stub that blocks until the test releases it
(`Held`), so every state is reached by events, never by a wall-clock wait (docs/app-engine.md).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from cmh_core.datasets import make_synthetic
from cmh_core.jobs import TrainingJobs
from cmh_core.layouts import LayoutJobs, run_map_codes
from cmh_core.runcache import RunCache, RunKey

_SAFETY_S = 300  # only a stuck test ends here; nothing is timed


class Held:
    """A layout stub that blocks until ``release`` is set; records its calls and its concurrency."""

    def __init__(self, fail: str | None = None):
        self.release, self.started = threading.Event(), threading.Event()
        self.calls: list[np.ndarray] = []
        self.active = self.most = 0
        self.fail = fail
        self.nice: int | None = None  # the worker thread's nice value at its last call
        self._lock = threading.Lock()

    def __call__(self, codes: np.ndarray, n_bits: int) -> np.ndarray:
        self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        with self._lock:
            self.calls.append(np.array(codes))
            self.active += 1
            self.most = max(self.most, self.active)
        self.started.set()
        assert self.release.wait(_SAFETY_S)
        with self._lock:
            self.active -= 1
        if self.fail:
            raise ValueError(self.fail)
        return self.coords(codes)

    @staticmethod
    def coords(codes: np.ndarray) -> np.ndarray:
        return np.column_stack([np.arange(len(codes)), codes[:, 0]]).astype(np.float32)


def _codes(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 2), dtype=np.uint8)


@pytest.fixture()
def held():
    stub = Held()
    yield stub
    stub.release.set()  # never leave the worker blocked


def test_layouts_run_one_at_a_time_in_order(held):
    eng = LayoutJobs(held)
    a, b, c = (eng.submit(k, _codes(20, k), 16, "s1") for k in range(3))
    assert held.started.wait(_SAFETY_S)
    assert a.state == "running" and (b.state, c.state) == ("queued", "queued")
    assert (eng.queue_position(1), eng.queue_position(2), eng.queue_position(0)) == (1, 2, 0)
    held.release.set()
    for k, lay in enumerate((a, b, c)):
        assert eng.wait(k) is lay and lay.state == "done", lay.error
        np.testing.assert_array_equal(lay.coords, Held.coords(_codes(20, k)))
    assert held.most == 1 and eng.computed == 3
    assert [len(x) for x in held.calls] == [20, 20, 20]
    np.testing.assert_array_equal(held.calls[1], _codes(20, 1))  # FIFO


def test_layouts_run_at_a_lower_priority_than_the_pages(held):
    """The worker thread's nice value is raised (capped at 19), so reruns and trainings come first."""
    held.release.set()
    here = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    eng = LayoutJobs(held, nice=10)
    eng.submit("a", _codes(5), 16, "s1")
    assert eng.wait("a").state == "done"
    assert held.nice == min(here + 10, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == here  # this thread unchanged


def test_a_run_asked_twice_is_computed_once_for_both_sessions(held):
    eng = LayoutJobs(held)
    first = eng.submit("run", _codes(10), 16, "s1")
    assert eng.submit("run", _codes(10), 16, "s2") is first and first.owners == ["s1", "s2"]
    held.release.set()
    assert eng.wait("run").state == "done"
    assert eng.submit("run", _codes(10), 16, "s3") is first  # done: served, not recomputed
    assert eng.computed == 1


def test_dropping_cancels_a_queued_layout_and_discards_a_running_one(held):
    eng = LayoutJobs(held)
    running = eng.submit("a", _codes(10), 16, "s1")
    assert held.started.wait(_SAFETY_S)
    queued = eng.submit("b", _codes(10), 16, "s1")
    assert eng.drop("b", "s1") and queued.state == "cancelled" and eng.get("b") is None
    assert eng.drop("a", "s1") and running.state == "cancelled"
    held.release.set()
    eng.shutdown()  # joins the worker: the dropped fit has ended
    assert running.state == "cancelled" and running.coords is None and eng.get("a") is None
    assert eng.computed == 1  # "b" never started


def test_a_layout_another_session_wants_is_kept(held):
    eng = LayoutJobs(held)
    lay = eng.submit("a", _codes(10), 16, "s1")
    eng.submit("a", _codes(10), 16, "s2")
    assert not eng.drop("a", "s1") and lay.owners == ["s2"]
    held.release.set()
    assert eng.wait("a").state == "done"
    assert eng.drop("a", "s2") and eng.get("a") is None  # nobody wants it: memory freed


def test_the_size_cap_and_the_queue_bound_skip_with_the_reason(held):
    eng = LayoutJobs(held, max_points=10, max_queued=1)
    big = eng.submit("big", _codes(11), 16, "s1")
    assert big.state == "skipped" and "11 codes is over the 10" in big.error
    eng.submit("a", _codes(5), 16, "s1")
    assert held.started.wait(_SAFETY_S)
    eng.submit("b", _codes(5), 16, "s1")  # the one queued slot
    full = eng.submit("c", _codes(5), 16, "s1")
    assert full.state == "skipped" and "1 layouts are already waiting" in full.error
    assert not held.calls[1:]  # nothing of "big" or "c" reached the layout function
    off = LayoutJobs(held, off="background UMAP is off").submit("x", _codes(5), 16, "s1")
    assert (off.state, off.error) == ("skipped", "background UMAP is off")


def test_a_failing_layout_fails_with_its_message_and_the_next_one_runs():
    bad = Held(fail="UMAP needs at least 4 points")
    bad.release.set()
    eng = LayoutJobs(bad)
    assert eng.submit("a", _codes(3), 16, "s1") is not None
    assert eng.wait("a").state == "failed" and "UMAP needs at least 4 points" in eng.get("a").error
    bad.fail = None
    assert eng.submit("b", _codes(6), 16, "s1") and eng.wait("b").state == "done"
    assert eng.submit("a", _codes(3), 16, "s1").state == "queued"  # a failed one may be asked again


def test_finished_layouts_kept_in_memory_are_bounded(held):
    held.release.set()
    eng = LayoutJobs(held, keep=2)
    for k in range(3):
        eng.submit(k, _codes(5, k), 16, "s1")
        eng.wait(k)
    assert eng.get(0) is None and eng.get(1).state == eng.get(2).state == "done"


@pytest.mark.parametrize("bad", [{"max_points": 0}, {"max_queued": -1}, {"keep": 0}])
def test_bounds_below_one_are_refused(bad):
    with pytest.raises(ValueError, match="must be at least 1"):
        LayoutJobs(**bad)


def test_a_finished_training_queues_its_umap_once(tmp_path, held):
    """`TrainingJobs.on_done` as the app wires it (`ui.registry`): after the fit, not on a cache hit."""
    ds = make_synthetic(n=240, d_img=24, d_txt=16, n_labels=5, random_state=0)
    layouts = LayoutJobs(held)

    def after(job, data):
        layouts.submit(job.key, run_map_codes(data, job.key, job.run.model)["map"], 8, job.owner)

    jobs = TrainingJobs(RunCache(tmp_path / "runs"), lambda name: ds, on_done=after)
    try:
        key = RunKey.make(ds.name, "DCH", 8, 0)
        job = jobs.wait(jobs.submit(key, "s1").id)
        assert job.state == "done", job.error
        lay = layouts.get(key)
        assert lay is not None and lay.owners == ["s1"] and lay.n_points == 2 * len(ds.split.database)
        held.release.set()
        assert layouts.wait(key).state == "done"
        expected = run_map_codes(ds, key, job.run.model)["map"]
        np.testing.assert_array_equal(held.calls[0], expected)
        assert jobs.submit(key, "s2").cached and layouts.get(key).owners == ["s1"]  # no hook on a cache hit
    finally:
        jobs.shutdown()
        layouts.shutdown()


def test_a_run_dropped_from_the_session_list_drops_its_layout(held):
    """`ui.state.apply` drops the oldest run past MAX_RUNS: its queued UMAP is cancelled for that session."""
    from cmh_core.runcache import default_cache_dir
    from ui import sessions
    from ui.registry import _registry
    from ui.state import MAX_RUNS, apply

    reg = _registry(str(default_cache_dir()))
    reg.layouts = LayoutJobs(held)
    state: dict = {}
    owner = sessions.token(state)
    keys = [RunKey.make("tuxpaint", "DCH", 32, seed) for seed in range(MAX_RUNS + 1)]
    reg.layouts.submit("blocker", _codes(5), 16, owner)  # holds the worker: the next one stays queued
    assert held.started.wait(_SAFETY_S)
    lay = reg.layouts.submit(keys[0], _codes(5), 16, owner)
    for key in keys:
        apply("trained", key, state)
    assert lay.state == "cancelled" and reg.layouts.get(keys[0]) is None
    held.release.set()
    reg.layouts.shutdown()


@pytest.mark.app
def test_code_map_shows_pca_then_swaps_in_umap_when_the_layout_is_done(held):
    """A fresh session opens Code Map: DCH trains, PCA is drawn at once, UMAP appears with no click."""
    from apptest_helpers import by_key, open_page

    from cmh_core.runcache import default_cache_dir
    from ui.registry import _registry

    reg = _registry(str(default_cache_dir()))
    reg.layouts = LayoutJobs(held)  # the real UMAP, but gated by the test
    at = open_page("pages/4_Code_Map.py", timeout=300)
    key = at.session_state["cmh_runs"].current
    assert any(c.value.startswith("PCA of 1260 codes") for c in at.caption)
    assert any("being computed in the background" in c.value for c in at.caption)
    assert not [b for b in at.button_group if b.key == "map_projection"]  # no UMAP to choose yet
    held.release.set()
    assert reg.layouts.wait(key).state == "done"
    at.run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("UMAP of 1260 codes") for c in at.caption)
    assert by_key(at.button_group, "map_projection").value == "UMAP"
    assert len(held.calls) == 1 and len(held.calls[0]) == 1260  # once, the run's 2 x 630 map codes
    by_key(at.button_group, "map_projection").set_value("PCA").run()
    assert any(c.value.startswith("PCA of 1260 codes") for c in at.caption)
