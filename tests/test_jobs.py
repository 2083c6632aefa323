"""Background trainings (`cmh_core.jobs`): cache hits, deduplication, cancel, failures, queue, restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from cmh_core import methods
from cmh_core.datasets import make_synthetic
from cmh_core.jobs import SLOW_FIT_ENV, SLOW_REPORTS_ENV, TrainingJobs
from cmh_core.methods import get_method
from cmh_core.methods.random_codes import RandomCodes
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint

_FINAL = ("done", "failed", "cancelled")
_WAIT_S = 300  # generous: the machine may be loaded; nothing here asserts a duration


@pytest.fixture(scope="module")
def small_ds():
    """240 synthetic items: a DCH fit takes well under a second."""
    return make_synthetic(n=240, d_img=24, d_txt=16, n_labels=5, random_state=0)


def _loader(ds):
    def load(name: str):
        if name != ds.name:
            raise ValueError(f"unknown dataset {name!r}; use {ds.name!r}")
        return ds

    return load


@pytest.fixture()
def engine(tmp_path, small_ds):
    jobs = TrainingJobs(RunCache(tmp_path / "runs"), _loader(small_ds), max_workers=1)
    yield jobs
    jobs.shutdown()


def _key(ds, method="DCH", n_bits=8, **params) -> RunKey:
    return RunKey.make(ds.name, method, n_bits, 0, params or None)


def _wait(job, states=_FINAL, what=lambda j: True):
    t0 = time.monotonic()
    while not (job.state in states and what(job)):
        assert time.monotonic() - t0 < _WAIT_S, f"job stuck in {job.state!r}"
        time.sleep(0.02)
    return job


def test_a_trained_run_is_cached_and_a_second_request_trains_nothing(engine, small_ds):
    key = _key(small_ds)
    job = _wait(engine.submit(key, "s1"))
    assert job.state == "done", job.error
    assert engine.trainings == 1 and not job.cached
    assert job.run.model is not None and len(job.history) == 5  # DCH's 5 iterations, live curve
    assert job.progress.kind == "phase" and job.progress.text.startswith("Evaluating retrieval")
    (entry,) = engine.cache.entries()
    assert entry["key"] == key
    again = engine.submit(key, "s2")
    assert again.state == "done" and again.cached and again.id != job.id
    assert engine.trainings == 1
    assert again.run.map_i2t == pytest.approx(job.run.map_i2t)
    assert engine.cached(key) is not None


def test_two_requests_for_one_key_train_once(engine, small_ds, monkeypatch):
    monkeypatch.setenv(SLOW_FIT_ENV, "0.05")
    key = _key(small_ds, n_iter=4)
    first = engine.submit(key, "s1")
    second = engine.submit(key, "s2")
    assert second is first and first.owners == ["s1", "s2"]
    assert engine.wait(first.id, timeout=_WAIT_S) is first
    assert first.state == "done" and engine.trainings == 1
    assert [j.id for j in engine.jobs("s2")] == [first.id]


def test_cancel_a_running_job_caches_nothing(engine, small_ds, monkeypatch):
    monkeypatch.setenv(SLOW_FIT_ENV, "1")
    job = engine.submit(_key(small_ds, n_iter=50), "s1")
    _wait(job, ("running",), lambda j: j.progress is not None)
    assert engine.cancel(job.id)
    _wait(job)
    assert job.state == "cancelled" and job.run is None
    assert engine.cache.entries() == []
    assert not engine.cancel(job.id)  # already finished
    # the same key asked again after a cancel trains afresh
    monkeypatch.setenv(SLOW_FIT_ENV, "0")
    again = _wait(engine.submit(job.key, "s1"))
    assert again.id != job.id and again.state == "done" and engine.trainings == 2


def test_the_slow_hook_sleeps_at_the_first_k_reports_only(engine, small_ds, monkeypatch):
    sleeps, wait = [], threading.Event.wait

    def no_sleep(self, timeout=None):  # the hook's hour-long waits are counted, not slept
        if timeout == 3600.0:
            sleeps.append(timeout)
            return self.is_set()
        return wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", no_sleep)
    monkeypatch.setenv(SLOW_FIT_ENV, "3600")
    monkeypatch.setenv(SLOW_REPORTS_ENV, "2")
    job = _wait(engine.submit(_key(small_ds, n_iter=6), "s1"))
    assert job.state == "done" and sleeps.count(3600.0) == 2  # 6 iterations, 2 of them slowed


def test_a_second_job_waits_queued_and_can_be_dropped(engine, small_ds, monkeypatch):
    monkeypatch.setenv(SLOW_FIT_ENV, "1")
    a = engine.submit(_key(small_ds, n_iter=50), "s1")
    _wait(a, ("running",))
    b = engine.submit(_key(small_ds, "CCA-ITQ"), "s2")
    c = engine.submit(_key(small_ds, "SCM"), "s2")
    assert (b.state, c.state) == ("queued", "queued")  # max_workers=1: one training at a time
    assert [engine.queue_position(j.id) for j in (a, b, c)] == [0, 1, 2]
    assert engine.cancel(b.id) and b.state == "cancelled"
    assert engine.queue_position(c.id) == 1
    engine.cancel(a.id)
    monkeypatch.setenv(SLOW_FIT_ENV, "0")
    _wait(c)
    assert (a.state, c.state) == ("cancelled", "done")
    assert engine.trainings == 2  # a and c; b never started
    assert engine.jobs("s2") == [b, c]


def test_a_library_error_fails_the_job_with_its_message(engine, small_ds):
    with pytest.raises(ValueError) as expected:
        get_method("DCH", n_iter=0)._validate_hyperparams()
    job = _wait(engine.submit(_key(small_ds, n_iter=0), "s1"))
    assert job.state == "failed" and job.error == str(expected.value)
    unknown = engine.submit(RunKey.make("no-such-data", "DCH", 8, 0), "s1")
    assert unknown.state == "failed" and "no-such-data" in unknown.error
    # the worker survives failures
    assert _wait(engine.submit(_key(small_ds), "s1")).state == "done"


def test_the_registry_survives_a_restart(tmp_path, small_ds):
    load = _loader(small_ds)
    first = TrainingJobs(RunCache(tmp_path / "runs"), load)
    job = _wait(first.submit(_key(small_ds, "CCA-ITQ"), "s1"))
    first.shutdown()
    second = TrainingJobs(RunCache(tmp_path / "runs"), load)
    try:
        again = second.submit(job.key, "s9")
        assert again.state == "done" and again.cached and second.trainings == 0
        assert again.run.report == job.run.report
        assert again.run.model.encode(small_ds.image_features[:4]).tolist() == (
            job.run.model.encode(small_ds.image_features[:4]).tolist()
        )
    finally:
        second.shutdown()


def test_a_bounded_cache_evicts_the_least_recently_used_run(tmp_path, small_ds):
    """Filled past its bound, the registry drops the oldest run, which then trains again."""
    probe = TrainingJobs(RunCache(tmp_path / "probe"), _loader(small_ds))
    _wait(probe.submit(_key(small_ds), "s1"))
    one_entry = probe.cache.size_bytes()
    probe.shutdown()
    jobs = TrainingJobs(RunCache(tmp_path / "runs", max_bytes=int(2.5 * one_entry)), _loader(small_ds))
    try:
        keys = [_key(small_ds, n_iter=n) for n in (2, 3, 4)]
        for k in keys:
            assert _wait(jobs.submit(k, "s1")).state == "done"
        assert jobs.trainings == 3
        assert jobs.cache.size_bytes() <= jobs.cache.max_bytes
        assert {e["key"] for e in jobs.cache.entries()} == set(keys[1:])  # the first one was evicted
        assert _wait(jobs.submit(keys[1], "s1")).cached  # still there: served without training
        assert _wait(jobs.submit(keys[0], "s1")).cached is False and jobs.trainings == 4
    finally:
        jobs.shutdown()


class _SlowPrepare(RandomCodes):
    """RandomCodes with a long set-up phase (stands in for SDEH's feature maps)."""

    name = "SlowPrepare"

    def prepare(self, dataset, progress=None):
        for i in range(1, 201):
            time.sleep(0.05)
            if progress is not None:
                progress("Building the slow thing", i, 200)


def test_set_up_phases_report_and_can_be_cancelled(engine, small_ds, monkeypatch):
    monkeypatch.setitem(methods.METHODS, "SlowPrepare", _SlowPrepare)
    job = engine.submit(_key(small_ds, "SlowPrepare"), "s1")
    _wait(job, ("running",), lambda j: j.progress is not None)
    assert job.progress.kind == "phase"
    assert job.progress.text.startswith("Building the slow thing (") and job.progress.total == 200
    assert engine.cancel(job.id) and job.cancel_requested
    _wait(job)
    assert job.state == "cancelled" and job.progress.done < 200  # stopped inside the phase
    assert engine.cache.entries() == []


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from cmh_core.datasets import make_synthetic
from cmh_core.jobs import TrainingJobs
from cmh_core.methods import CrossModalHasher
from cmh_core.runcache import RunCache, RunKey

ds = make_synthetic(n=240, d_img=24, d_txt=16, n_labels=5, random_state=0)
root, marker = Path(sys.argv[1]), Path(sys.argv[2])
real_save = CrossModalHasher.save

def slow_save(self, path):  # half a model on disk, then wait to be killed
    out = real_save(self, path)
    data = out.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    marker.write_text("writing")
    time.sleep(600)

CrossModalHasher.save = slow_save
jobs = TrainingJobs(RunCache(root), lambda name: ds)
job = jobs.submit(RunKey.make(ds.name, "DCH", 8, 0), "s1")
time.sleep(600)
"""


@pytest.mark.slow
def test_a_kill_mid_write_never_leaves_a_damaged_entry(tmp_path, small_ds):
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(_KILLED_WRITER))
    marker = tmp_path / "marker"
    root = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(root), str(marker)], env=env)
    try:
        t0 = time.monotonic()
        while not marker.exists():
            assert proc.poll() is None, "the writer died before writing"
            assert time.monotonic() - t0 < _WAIT_S
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert any(root.iterdir())  # the half-written temporary folder is there...
    cache = RunCache(root)
    assert cache.entries() == []  # ...but it is no entry
    key = RunKey.make(small_ds.name, "DCH", 8, 0)
    assert cache.get(key, dataset_fingerprint(small_ds)) is None
    jobs = TrainingJobs(cache, _loader(small_ds))
    try:
        job = _wait(jobs.submit(key, "s1"))
        assert job.state == "done" and jobs.trainings == 1
        assert cache.get(key, dataset_fingerprint(small_ds)).model is not None
    finally:
        jobs.shutdown()
