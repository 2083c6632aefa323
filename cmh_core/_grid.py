"""Where a comparison's cells train: local processes or a Dask cluster (`run_comparison` helper).

Nothing here schedules: local processes are `concurrent.futures.ProcessPoolExecutor` (spawned,
so no forked BLAS or OpenMP state), clusters are Dask distributed (a `LocalCluster` started for
the grid, or an existing scheduler's address). Every cell is one `run_experiment` call with one
BLAS/OpenMP thread, so ``n`` workers use ``n`` cores and no more; the parent collects the runs
as their futures finish (progress, cache) and puts them back in grid order.

A worker gets the dataset by name or path (and loads it once per process), or, for a dataset
object that has neither, as an object: sent once per local worker, scattered once to a cluster.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["one_thread", "train_cell", "run_cells"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_GIVEN = "\0given"  # the dataset key of a dataset object handed to local workers
_DATASETS: dict[str, Any] = {}  # per worker process: dataset name/path -> loaded dataset
_MAIN_SWAP = threading.Lock()  # one worker start-up at a time swaps ``__main__``


@contextmanager
def _workers_skip_main() -> Iterator[None]:
    """While worker processes start, ``__main__`` is an empty module, so spawn does not re-run it.

    A spawned process first re-runs its parent's ``__main__`` script (as ``__mp_main__``) unless that
    module was imported by name. Streamlit installs each page script as ``sys.modules["__main__"]``
    (the app's script runner and AppTest alike), so every grid worker started from a page ran the
    page again, and a page that starts a grid started another one in each worker: the Compare page
    multiplied processes and the test suite hung on CI. Workers need nothing from ``__main__``
    (`train_cell` lives here), so they start without it. The swap is undone if nobody replaced it.
    """
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None) is not None:
        yield  # ``python -m ...``: spawn imports the module by name, and skips ``*.__main__``
        return
    with _MAIN_SWAP:
        blank = types.ModuleType("__main__")
        sys.modules["__main__"] = blank
        try:
            yield
        finally:
            if sys.modules.get("__main__") is blank:
                sys.modules["__main__"] = main


def _one_thread_env(dataset: Any = None) -> None:
    """Process-pool initializer: one thread for libraries not yet loaded (torch), and the dataset."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    if dataset is not None:
        _DATASETS[_GIVEN] = dataset


def _dataset(ref: Any):
    from cmh_core.datasets import load_dataset

    if not isinstance(ref, str):
        return ref  # an object (scattered by Dask)
    if ref not in _DATASETS:
        _DATASETS[ref] = load_dataset(ref)
    return _DATASETS[ref]


@contextmanager
def one_thread(method: str):
    """One BLAS/OpenMP thread (and one torch thread for deep methods) for the duration of a run.

    Every grid cell runs so, sequential or parallel: results then do not depend on how many
    threads the process had (a 2-thread BLAS sums in another order and can flip a sign bit).
    """
    from threadpoolctl import threadpool_limits

    from cmh_core.methods import method_class

    torch, before = None, None
    if "torch" in sys.modules or any(c.__name__ == "TorchHasher" for c in method_class(method).__mro__):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def train_cell(ref: Any, method: str, n_bits: int, seed: int, params, protocol: str, unpaired: float):
    """One grid cell with one BLAS/OpenMP thread: `cmh_core.experiment.run_experiment` unchanged.

    Parameters
    ----------
    ref : str or CrossModalDataset
        Dataset name/path (loaded once per process) or the dataset itself.

    Returns
    -------
    Run
        With its fitted model (pickled back to the caller).
    """
    from cmh_core.experiment import run_experiment

    ds = _dataset(ref)
    with one_thread(method):
        return run_experiment(
            ds, method, n_bits=n_bits, seed=seed, params=params, protocol=protocol, unpaired=unpaired
        )


def _check_jobs(n_jobs: int) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of processes, got {n_jobs!r}; e.g. n_jobs=2")
    return n_jobs


def run_cells(
    dataset: Any,
    cells: Sequence[tuple[int, str, int, int, Any]],
    *,
    n_jobs: int,
    scheduler: str | None,
    protocol: str,
    unpaired: float,
) -> Iterator[tuple[int, Any]]:
    """Train ``cells`` (index, method, bits, seed, params) in parallel; yield (index, Run) as they finish.

    Parameters
    ----------
    dataset : str or CrossModalDataset
        What workers load: a name/path, or an object sent to them.
    n_jobs : int
        Local processes, or the `LocalCluster`'s workers when ``scheduler="local"``.
    scheduler : None, "local" or str
        None: a process pool; ``"local"``: a Dask `LocalCluster` started and closed here; any
        other string: the address of a running Dask scheduler (``"tcp://host:8786"``).
    """
    _check_jobs(n_jobs)
    dataset = _worker_ref(dataset)
    if scheduler is None:
        yield from _process_pool(dataset, cells, n_jobs, protocol, unpaired)
    else:
        yield from _dask(dataset, cells, n_jobs, scheduler, protocol, unpaired)


def _worker_ref(dataset: Any) -> Any:
    """What a worker gets: a bundled dataset by name (its thumbnail loader cannot be pickled, and a
    worker loads the same bundle), anything else as given."""
    if isinstance(dataset, str) or getattr(dataset, "root", None) is None:
        return dataset
    from cmh_core.datasets import list_datasets

    return dataset.name if dataset.name in {d["name"] for d in list_datasets()} else dataset


def _process_pool(dataset, cells, n_jobs, protocol, unpaired):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    given = None if isinstance(dataset, str) else dataset
    ref = dataset if given is None else _GIVEN
    pool = ProcessPoolExecutor(
        max_workers=min(n_jobs, len(cells)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_one_thread_env,
        initargs=(given,),
    )
    try:
        with _workers_skip_main():  # a spawn pool starts its processes on the first submits
            futures = {
                pool.submit(train_cell, ref, m, b, s, p, protocol, unpaired): i for i, m, b, s, p in cells
            }
        for f in as_completed(futures):
            yield futures[f], f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(dataset, cells, n_jobs, scheduler: str, protocol, unpaired):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as e:  # pragma: no cover - a core requirement
        raise ImportError("Dask grids need dask and distributed: pip install dask distributed") from e

    cluster = None
    if scheduler == "local":
        # Worker processes start with OMP/OpenBLAS/MKL_NUM_THREADS=1 (Dask's pre-spawn environment).
        with _workers_skip_main():  # the nannies spawn their workers while the cluster starts
            cluster = LocalCluster(
                n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None
            )
        client = Client(cluster)
    elif isinstance(scheduler, str) and "://" in scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        raise ValueError(
            f"scheduler must be None, 'local' or a Dask address such as 'tcp://host:8786', got {scheduler!r}"
        )
    try:
        ref = dataset if isinstance(dataset, str) else client.scatter(dataset, broadcast=True)
        futures = {
            client.submit(train_cell, ref, m, b, s, p, protocol, unpaired, pure=False): i
            for i, m, b, s, p in cells
        }
        for f in as_completed(futures):
            yield futures[f], f.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
