"""Hostile conditions on the writing side: a full disk never leaves a partial file.

A full disk is simulated by making ``os.fsync`` (called on every temporary file before it is
renamed into place) raise ENOSPC: the write has then put some bytes into the temporary file,
as a real full disk would. Each test asserts the error, that the destination is absent or
unchanged, and that no temporary file is left in the folder.
"""

import errno
import os
import time

import numpy as np
import pytest

from cmh_core import _io
from cmh_core.datasets import make_synthetic, save_benchmark_file
from cmh_core.experiment import run_experiment


def _full_disk(monkeypatch, spare: int = 0):
    """Every ``os.fsync`` after the first ``spare`` ones (writability probes) raises ENOSPC."""
    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) <= spare:
            return real(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def small_run():
    ds = make_synthetic(n=80, random_state=0)
    return ds, run_experiment(ds, "CCA-ITQ", n_bits=16, seed=0)


def test_model_save_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch, small_run):
    _, run = small_run
    path = run.model.save(tmp_path / "model.npz")
    before = path.read_bytes()
    _full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left on device"):
        run.model.save(path)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["model.npz"]


def test_write_exports_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, small_run):
    from cmh_core.exports import write_exports

    ds, run = small_run
    _full_disk(monkeypatch, spare=1)
    with pytest.raises(OSError, match="No space left on device"):
        write_exports(run, ds, tmp_path)
    assert _listing(tmp_path) == []


def test_report_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, small_run):
    from cmh_core.report import write_report

    ds, run = small_run
    path = tmp_path / "r.html"
    _full_disk(monkeypatch, spare=1)  # the up-front writability probe passes, the report write fails
    with pytest.raises(OSError, match="No space left on device"):
        write_report(run, ds, path)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("suffix", [".npz", ".mat"])
def test_save_benchmark_file_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch, suffix):
    ds = make_synthetic(n=40, random_state=0)
    _full_disk(monkeypatch, spare=1)
    with pytest.raises(OSError, match="No space left on device"):
        save_benchmark_file(ds, tmp_path / f"b{suffix}")
    assert _listing(tmp_path) == []


def test_output_path_check_finds_a_full_disk_before_any_work(tmp_path, monkeypatch):
    from cmh_core.datasets.files import check_output_path

    _full_disk(monkeypatch)
    with pytest.raises(ValueError, match=r"cannot write the model file into .*No space left.*disk is full"):
        check_output_path(tmp_path / "m.npz", (), "the model file")
    assert _listing(tmp_path) == []


def test_train_out_on_a_full_disk_fails_before_training(tmp_path, monkeypatch, capsys):
    from cmh_core import cli, experiment

    def no_training(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(experiment, "run_experiment", no_training)
    _full_disk(monkeypatch)
    code = cli.main(["train", "--dataset", "tuxpaint", "--method", "DCH", "--out", str(tmp_path / "m.npz")])
    assert code == 2
    assert "No space left on device" in capsys.readouterr().err
    assert _listing(tmp_path) == []


def test_train_out_into_a_folder_that_is_a_file_fails_before_training(tmp_path, monkeypatch, capsys):
    from cmh_core import cli, experiment

    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "f").write_text("x")
    code = cli.main(["train", "--dataset", "tuxpaint", "--method", "DCH", "--out", str(tmp_path / "f" / "m")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_lone_surrogate_caption_does_not_break_the_report(tmp_path, small_run):
    from cmh_core.report import write_report

    ds, run = small_run
    ds = ds.__class__(**{**ds.__dict__, "texts": ["koala \ud800 caption"] * ds.n_items})
    path = write_report(run, ds, tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size > 1000 and "</html>" in html
    assert _listing(tmp_path) == ["r.html"]


def test_write_faiss_index_into_a_missing_folder_is_a_clear_error(tmp_path):
    from cmh_core.hamming import write_faiss_index

    with pytest.raises(ValueError, match=r"folder .*missing.* does not exist"):
        write_faiss_index(np.zeros((3, 2), np.uint8), tmp_path / "missing" / "x.index")


def test_stale_feature_map_temp_files_are_removed(tmp_path, monkeypatch):
    from cmh_core.datasets import feature_maps, load_dataset

    monkeypatch.setenv("CMH_CACHE_DIR", str(tmp_path))
    folder = feature_maps.cache_dir()
    folder.mkdir(parents=True)
    stale, fresh = folder / "tuxpaint-abc.x1.tmp", folder / "tuxpaint-abc.x2.tmp"
    stale.write_bytes(b"\0" * 1000)
    fresh.write_bytes(b"\0" * 1000)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    ds = load_dataset("tuxpaint")
    n = ds.n_items
    monkeypatch.setattr(
        feature_maps, "_read_cache", lambda path, key, n_items: np.zeros((n, 49, 8), np.float16)
    )
    feature_maps._LOADED.clear()
    feature_maps.load_feature_maps(ds)
    assert not stale.exists() and fresh.exists()  # a young one may belong to a writer at work


def test_atomic_write_failing_midway_removes_the_temp_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    _io.atomic_write_text(path, "old")
    _full_disk(monkeypatch)
    with pytest.raises(OSError):
        _io.atomic_write_text(path, "new" * 1000)
    assert path.read_text() == "old" and _listing(tmp_path) == ["a.json"]
