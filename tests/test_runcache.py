"""The run cache: one key, atomic entries, LRU bound, found again by a new process."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cmh_core.experiment import run_experiment
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint


@pytest.fixture(scope="module")
def small_run(synthetic_ds):
    return run_experiment(synthetic_ds, "CCA-ITQ", n_bits=16, seed=0)


def test_key_is_canonical():
    a = RunKey.make("tuxpaint", "dch", 32, 0, {})
    b = RunKey.make("tuxpaint", "DCH", 32, 0, None)
    assert a == b and a.method == "DCH"
    assert a.digest("f") == b.digest("f")
    assert a.digest("f") != a.digest("g")  # other data, other entry
    assert RunKey.make("tuxpaint", "DCH", 32, 1).digest("f") != a.digest("f")
    with pytest.raises(ValueError, match="NoSuch"):
        RunKey.make("tuxpaint", "NoSuch", 32, 0)


def test_key_from_run(small_run):
    key = RunKey.from_run(small_run)
    assert (key.method, key.n_bits, key.seed, key.protocol) == ("CCA-ITQ", 16, 0, "learned")


def test_fingerprint_follows_the_arrays(synthetic_ds):
    from cmh_core.datasets import make_synthetic

    same = make_synthetic(n=850, d_img=48, d_txt=32, n_labels=8, random_state=0)
    other = make_synthetic(n=850, d_img=48, d_txt=32, n_labels=8, random_state=1)
    assert dataset_fingerprint(synthetic_ds) == dataset_fingerprint(same)
    assert dataset_fingerprint(synthetic_ds) != dataset_fingerprint(other)


def test_roundtrip_survives_a_new_cache_object(tmp_path, synthetic_ds, small_run):
    key, fp = RunKey.from_run(small_run), dataset_fingerprint(synthetic_ds)
    RunCache(tmp_path).put(key, fp, small_run)
    again = RunCache(tmp_path).get(key, fp)  # a restarted server opens the same folder
    assert again is not None and again.map_i2t == small_run.map_i2t
    X = synthetic_ds.image_features[:20]
    np.testing.assert_array_equal(again.model.encode(X, "image"), small_run.model.encode(X, "image"))
    assert [e["key"] for e in RunCache(tmp_path).entries()] == [key]


def test_bounded_lru(tmp_path, synthetic_ds, small_run):
    fp = dataset_fingerprint(synthetic_ds)
    one = RunCache(tmp_path).put(RunKey.from_run(small_run), fp, small_run)
    entry = sum(f.stat().st_size for f in one.rglob("*"))
    cache = RunCache(tmp_path, max_bytes=int(entry * 2.5))  # room for two entries
    keys = [RunKey.make("x", "CCA-ITQ", 16, s) for s in range(5)]
    for i, k in enumerate(keys):
        cache.put(k, fp, small_run)
        if i == 1:  # touch the older one: it is used, so it outlives newer unused ones
            os.utime(cache._dir(keys[0], fp), (1, 1))
            assert cache.get(keys[0], fp, with_model=False) is not None
    assert cache.size_bytes() <= cache.max_bytes
    kept = {e["key"] for e in cache.entries()}
    assert len(kept) == 2 and keys[-1] in kept


def test_kill_mid_write_leaves_no_entry(tmp_path, synthetic_ds, small_run, monkeypatch):
    key, fp = RunKey.from_run(small_run), dataset_fingerprint(synthetic_ds)
    cache = RunCache(tmp_path)

    def dies(self, path):
        open(path, "wb").write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # the process is killed while the model is written

    monkeypatch.setattr(type(small_run.model), "save", dies)
    with pytest.raises(KeyboardInterrupt):
        cache.put(key, fp, small_run)
    assert cache.get(key, fp) is None and cache.entries() == []
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left


def test_damaged_entry_is_a_miss(tmp_path, synthetic_ds, small_run):
    key, fp = RunKey.from_run(small_run), dataset_fingerprint(synthetic_ds)
    cache = RunCache(tmp_path)
    d = cache.put(key, fp, small_run)
    (d / "run.json").write_text("{not json")
    assert cache.get(key, fp) is None and not d.exists()


def test_bad_bound():
    with pytest.raises(ValueError, match="max_bytes"):
        RunCache("x", max_bytes=0)
