"""Home's precomputed example (`cmh_core.demo`, ``assets/home/``): reproduced by a fresh fit, loaded
safely, and shown by Home without any training (docs/app-engine.md, "Warm start")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmh_core.datasets import list_datasets, load_dataset
from cmh_core.demo import (
    EXAMPLE_BITS,
    EXAMPLE_METHOD,
    EXAMPLE_SEED,
    example_from_model,
    example_path,
    example_record,
    fit_example,
    load_example,
)


def _shipped(name: str) -> dict:
    return json.loads(example_path(name).read_text())


def test_every_listed_dataset_ships_an_example():
    for d in list_datasets():
        assert example_path(d["name"]).is_file(), f"run scripts/build_home_examples.py {d['name']}"


def test_shipped_tuxpaint_example_equals_a_fresh_fit(tux, tux_fitted):
    """The committed file is what the build script writes for a fresh DCH fit with the same seed."""
    model = tux_fitted(EXAMPLE_METHOD, n_bits=EXAMPLE_BITS, random_state=EXAMPLE_SEED)
    fresh = example_record(tux, "tuxpaint", example_from_model(tux, model))
    assert fresh == _shipped("tuxpaint")
    ex = load_example(tux, "tuxpaint")
    assert ex["a"] != ex["b"] and not (tux.labels[ex["a"]] & tux.labels[ex["b"]]).any()
    # the image's code is nearer its own caption's than the unrelated caption's
    bits = np.unpackbits(np.stack([ex["image"], ex["own"], ex["other"]]), axis=1)
    assert (bits[0] != bits[1]).sum() < (bits[0] != bits[2]).sum()


@pytest.mark.slow
@pytest.mark.parametrize("name", [d["name"] for d in list_datasets() if d["name"] != "tuxpaint"])
def test_other_shipped_examples_equal_a_fresh_fit(name):
    ds = load_dataset(name)
    assert example_record(ds, name, fit_example(ds)) == _shipped(name)


def _write(tmp_path, rec) -> str:
    path = tmp_path / "home" / "tuxpaint.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(rec if isinstance(rec, str) else json.dumps(rec))
    return str(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"fingerprint": "0000000000000000"}, "other data"),
        ({"a": 10**9}, "'a' must be an item index"),
        ({"b": True}, "'b' must be an item index"),
        ({"own": "zz"}, "'own' is not a hex code"),
        ({"image": "00"}, "'image' has 1 bytes, expected 4"),
        ({"format": 2}, "not a format-1"),
        ({"method": None}, "'method'"),
    ],
)
def test_a_damaged_or_stale_file_is_refused_with_the_fix(tux, tmp_path, change, match):
    path = _write(tmp_path, {**_shipped("tuxpaint"), **change})
    with pytest.raises(ValueError, match=match) as e:
        load_example(tux, "tuxpaint", path)
    assert "build_home_examples.py" in str(e.value)


def test_bad_json_is_refused_and_a_missing_file_is_none(tux, tmp_path):
    with pytest.raises(ValueError, match="not valid JSON"):
        load_example(tux, "tuxpaint", _write(tmp_path, "{"))
    assert load_example(tux, "tuxpaint", tmp_path / "nothing.json") is None


@pytest.mark.app
def test_home_shows_the_example_without_training(monkeypatch):
    """A fresh server (empty run cache): Home and a switch to openmoji draw the example, no fit at all."""
    from apptest_helpers import APP
    from streamlit.testing.v1 import AppTest

    from cmh_core.methods._base import CrossModalHasher
    from cmh_core.runcache import default_cache_dir
    from ui.registry import _registry

    fits = []
    real_fit = CrossModalHasher.fit
    monkeypatch.setattr(
        CrossModalHasher, "fit", lambda self, *a, **k: fits.append(self) or real_fit(self, *a, **k)
    )
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 2  # the two bit strips
    assert any("Hamming distance to its own caption" in c.value for c in at.caption)
    at.sidebar.selectbox[0].select("openmoji").run()
    assert not at.exception, at.exception
    assert any("Hamming distance to its own caption" in c.value for c in at.caption)
    assert fits == []  # no fit in this process: neither Home's example nor a training
    assert _registry(str(default_cache_dir())).jobs.trainings == 0
