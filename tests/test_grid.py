"""Benchmark grids on local processes and Dask, and the resumable run cache (`bench --cache`)."""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core import comparison
from cmh_core.comparison import run_comparison
from cmh_core.datasets import make_synthetic
from cmh_core.runcache import RunCache

METHODS, BITS, SEEDS = ["DCH", "CCA-ITQ"], [16, 32], [0, 1]


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n=900, d_img=48, d_txt=32, n_labels=8, random_state=0)


@pytest.fixture(scope="module")
def sequential(ds):
    return run_comparison(ds, METHODS, BITS, SEEDS)


def _maps(cmp):
    return [(r.method, r.n_bits, r.seed, r.map_i2t, r.map_t2i) for r in cmp.runs]


@pytest.mark.slow
def test_two_local_processes_give_the_sequential_grid(ds, sequential):
    done = []
    cmp = run_comparison(ds, METHODS, BITS, SEEDS, n_jobs=2, progress=lambda i, n, r, _: done.append((i, n)))
    assert len(sequential.runs) == 8 and _maps(cmp) == _maps(sequential)  # identical mAP, grid order
    assert done == [(i, 8) for i in range(1, 9)]  # the progress counts finished futures
    assert all(r.model is not None for r in cmp.runs)


@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_sequential_grid(ds, sequential):
    cmp = run_comparison(ds, METHODS, BITS, SEEDS, n_jobs=2, scheduler="local")
    assert _maps(cmp) == _maps(sequential)


@pytest.mark.slow
def test_an_interrupted_grid_resumes_from_the_cache(ds, sequential, tmp_path, monkeypatch):
    trained = []
    real = comparison.run_experiment

    def counting(*a, **kw):
        trained.append((a[1], kw["n_bits"], kw["seed"]))
        return real(*a, **kw)

    monkeypatch.setattr(comparison, "run_experiment", counting)

    def killed_after_three(i, n, run, reused):
        if i == 3:
            raise KeyboardInterrupt  # as Ctrl-C (or a kill) after the third finished run

    with pytest.raises(KeyboardInterrupt):
        run_comparison(ds, METHODS, BITS, SEEDS, cache=tmp_path, progress=killed_after_three)
    assert len(trained) == 3 and len(RunCache(tmp_path).entries()) == 3
    trained.clear()
    cmp = run_comparison(ds, METHODS, BITS, SEEDS, cache=tmp_path)
    assert len(trained) == 5 and cmp.reused == 3  # only the missing five trained
    assert _maps(cmp) == _maps(sequential)
    trained.clear()
    again = run_comparison(ds, METHODS, BITS, SEEDS, cache=RunCache(tmp_path))
    assert trained == [] and again.reused == 8 and _maps(again) == _maps(sequential)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", [None, "local"])
def test_workers_do_not_rerun_a_page_installed_as_main(ds, sequential, scheduler, tmp_path, monkeypatch):
    """Streamlit installs the page script as ``__main__``; spawned workers must not run it again.

    Before the fix every worker re-ran the page (a Compare page started a grid in each worker) and
    the suite hung on CI after an AppTest had left its page as ``__main__``.
    """
    import sys
    import types

    marker = tmp_path / "page-ran"
    page = tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(page)  # as Streamlit's script runner leaves it: a file, no __spec__
    monkeypatch.setitem(sys.modules, "__main__", fake)
    cmp = run_comparison(ds, METHODS, [16], [0], n_jobs=2, scheduler=scheduler)
    assert not marker.exists(), marker.read_text()
    assert sys.modules["__main__"] is fake  # put back after the workers started
    assert _maps(cmp) == [m for m in _maps(sequential) if m[1] == 16 and m[2] == 0]


def test_bad_grid_settings_are_value_errors(ds):
    with pytest.raises(ValueError, match="n_jobs"):
        run_comparison(ds, METHODS, BITS, 1, n_jobs=0)
    with pytest.raises(ValueError, match="scheduler"):
        run_comparison(ds, METHODS, BITS, 1, n_jobs=2, scheduler="nowhere")


@pytest.mark.slow
def test_a_killed_bench_resumes_with_cache_and_trains_only_the_missing_runs(ds, sequential, tmp_path):
    """`cmh bench --cache` killed (SIGKILL) after 3 runs finished; the rerun trains the other 5."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from cmh_core.datasets import save_benchmark_file

    data = save_benchmark_file(ds, tmp_path / "grid.npz")
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "cmh_core", "bench", "--dataset", str(data), "--methods", *METHODS,
           "--bits", "16", "32", "--seeds", "2", "--cache", str(cache), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while len(RunCache(cache).entries()) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # mid-grid, no clean-up
    finally:
        proc.wait()
    done = len(RunCache(cache).entries())
    assert 3 <= done < 8, done
    rerun = subprocess.run([*cmd, "--jobs", "2"], capture_output=True, text=True, timeout=900, check=True)
    out = rerun.stdout
    assert f"{done} run(s) reused, {8 - done} trained" in out  # only the missing runs trained
    assert len(RunCache(cache).entries()) == 8
    dch16 = np.mean([r.map_i2t for r in sequential.runs if (r.method, r.n_bits) == ("DCH", 16)])
    assert f"| DCH | {dch16:.3f} ± " in out  # the table holds the sequential grid's numbers


def test_a_bundle_goes_to_workers_by_name(tux, synthetic_ds):
    """A bundle's thumbnail loader cannot be pickled, so workers load it by name; other data travels."""
    import pickle

    from cmh_core._grid import _worker_ref

    assert _worker_ref(tux) == "tuxpaint" and _worker_ref("tuxpaint") == "tuxpaint"
    assert _worker_ref(synthetic_ds) is synthetic_ds
    pickle.dumps(_worker_ref(synthetic_ds))
