"""The 7x7 region-token cache: same backbone as the stored features, atomic cache, safe fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core.datasets import feature_maps as fm
from cmh_core.datasets import make_synthetic


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CMH_CACHE_DIR", str(tmp_path))
    return tmp_path / "feature_maps"


@pytest.mark.slow
def test_region_tokens_pool_to_the_stored_feature(tux):
    """Same network and preprocessing as `featurize_image`: the mean of the 49 tokens is the stored row."""
    items = [0, 5, int(np.argmin([tux.thumbnail(i).width for i in range(40)]))]  # incl. a narrow image
    calls = []
    images = [tux.thumbnail(i) for i in items]
    maps = fm.compute_feature_maps(images, progress=lambda done, total: calls.append((done, total)))
    assert maps.shape == (3, fm.N_REGION_TOKENS, 1280) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.mean(axis=1), tux.image_features[items], atol=1e-4)
    assert calls[-1] == (3, 3)


def test_cache_path_outside_repository_and_keyed_by_features(tux, cache):
    path = fm.feature_map_path(tux)
    assert path.parent == cache and path.name.startswith("tuxpaint-") and path.suffix == ".npz"
    other = make_synthetic(n=50, d_img=8, d_txt=4, n_labels=3, random_state=0)
    assert fm.feature_map_path(other) != path


def test_atomic_write_and_corrupt_cache_is_recomputed(cache):
    maps = np.random.default_rng(0).normal(size=(3, fm.N_REGION_TOKENS, 6)).astype(np.float16)
    path = cache / "toy-abc.npz"
    fm._write_atomic(path, maps, "abc")
    assert [p.name for p in cache.iterdir()] == ["toy-abc.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(fm._read_cache(path, "abc", 3), maps)
    with pytest.warns(UserWarning, match="does not match"):
        assert fm._read_cache(path, "abd", 3) is None  # written for other features
    with pytest.warns(UserWarning, match="does not match"):
        assert fm._read_cache(path, "abc", 4) is None  # other item count
    path.write_bytes(path.read_bytes()[:100])  # truncated by a crash
    with pytest.warns(UserWarning, match="unreadable"):
        assert fm._read_cache(path, "abc", 3) is None
    assert fm._read_cache(cache / "missing.npz", "abc", 3) is None


@pytest.mark.slow
def test_rows_of_no_bundled_image_are_not_found(tux):
    X = tux.image_features[:4].copy()
    X[1] += 1e-3  # an uploaded picture: close to a stored row but not it
    tokens, found = fm.region_tokens(X, progress=False)
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_allclose(tokens[found].astype(np.float32).mean(axis=1), X[found], atol=2e-3)
    assert not tokens[1].any()
    synth = make_synthetic(n=30, d_img=16, d_txt=8, n_labels=3, random_state=0)
    tokens, found = fm.region_tokens(synth.image_features)
    assert tokens is None and not found.any()


def test_datasets_without_images_have_no_maps():
    synth = make_synthetic(n=30, d_img=16, d_txt=8, n_labels=3, random_state=0)
    with pytest.raises(ValueError, match="EfficientNet-Lite0"):
        fm.load_feature_maps(synth)
