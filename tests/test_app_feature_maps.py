"""The Train path builds SDEH's feature-map cache under a progress bar, and only when SDEH needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmh_core.datasets import feature_maps
from ui.runs import _region_tokens_ready
from ui.state import RunKey


@pytest.fixture()
def calls(monkeypatch, tmp_path):
    seen = []

    def fake_load(ds, progress=None):
        progress(3, 6)  # what compute_feature_maps reports after a batch
        seen.append((ds.name, callable(progress)))

    monkeypatch.setattr(feature_maps, "load_feature_maps", fake_load)
    monkeypatch.setattr(feature_maps, "feature_map_path", lambda ds: Path(tmp_path) / "absent.npz")
    return seen


def test_sdeh_on_a_bundle_builds_the_cache_with_progress(calls, tux):
    _region_tokens_ready(tux, RunKey.make("tuxpaint", "SDEH", 32, 0, {"local_tokens": "auto"}))
    assert calls == [("tuxpaint", True)]


@pytest.mark.parametrize(
    "method, params",
    [("DCH", {}), ("SDEH", {}), ("SDEH", {"local_branch": False, "local_tokens": "auto"})],
)
def test_no_cache_build_when_nothing_reads_region_tokens(calls, tux, method, params):
    _region_tokens_ready(tux, RunKey.make("tuxpaint", method, 32, 0, params))
    assert calls == []


def test_no_cache_build_without_images(calls, synthetic_ds):
    _region_tokens_ready(synthetic_ds, RunKey.make("synthetic", "SDEH", 32, 0, {"local_tokens": "auto"}))
    assert calls == []
