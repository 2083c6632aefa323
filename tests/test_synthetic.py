"""make_synthetic: deterministic, well-formed, label signal in both modalities, linear in n."""

import tracemalloc

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import roc_auc_score

from cmh_core.datasets import CrossModalDataset, load_dataset, make_synthetic


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n=2000, random_state=0)


def test_shapes_dtypes_and_contents(ds):
    assert isinstance(ds, CrossModalDataset)
    assert ds.image_features.shape == (2000, 512) and ds.image_features.dtype == np.float32
    assert ds.text_features.shape == (2000, 300) and ds.text_features.dtype == np.float32
    assert ds.labels.shape == (2000, 24) and ds.labels.dtype == np.uint8
    assert set(np.unique(ds.labels)) == {0, 1}
    assert (ds.labels.sum(axis=1) >= 1).all()
    assert np.isfinite(ds.image_features).all() and np.isfinite(ds.text_features).all()
    assert ds.label_names == [f"label_{j}" for j in range(24)]
    assert len(ds.texts) == 2000
    assert ds.texts[17].startswith("synthetic item 17: ")
    assert all(ds.label_names[j] in ds.texts[17] for j in np.flatnonzero(ds.labels[17]))
    assert len(ds.split.query) == 400 and len(np.intersect1d(ds.split.query, ds.split.database)) == 0
    assert ds.thumbnail(0).size == (96, 96)


def test_labels_are_realistic(ds):
    Y = ds.labels.astype(np.float64)
    per_item = Y.sum(axis=1)
    assert 1.5 <= per_item.mean() <= 4.0 and per_item.max() >= 4  # multi-label
    freq = Y.mean(axis=0)
    assert (freq > 0).all() and freq.max() / freq.min() > 2  # skewed frequencies
    # co-occurrence: among labels on >= 5% of items, some pair co-occurs far more often than
    # under independence (lift = P(a, b) / (P(a) P(b)); measured 3.7, independent labels ~1.6)
    common = Y[:, freq >= 0.05]
    f = common.mean(axis=0)
    lift = (common.T @ common / len(Y)) / np.outer(f, f)
    np.fill_diagonal(lift, 1.0)
    assert lift.max() > 2.5


def test_deterministic_for_a_seed():
    a, b = (
        make_synthetic(n=300, d_img=20, d_txt=10, random_state=5),
        make_synthetic(n=300, d_img=20, d_txt=10, random_state=5),
    )
    np.testing.assert_array_equal(a.image_features, b.image_features)
    np.testing.assert_array_equal(a.text_features, b.text_features)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.split.query, b.split.query)
    assert a.texts == b.texts
    c = make_synthetic(n=300, d_img=20, d_txt=10, random_state=6)
    assert not np.array_equal(a.labels, c.labels)
    assert not np.allclose(a.image_features, c.image_features)


def test_load_dataset_synthetic_passes_options():
    ds = load_dataset("synthetic", n=100, d_img=8, d_txt=4, n_labels=5)
    assert ds.image_features.shape == (100, 8) and ds.labels.shape == (100, 5)


def _probe_auc(X, Y, shuffle=False):
    """Mean per-label ROC AUC of a ridge probe trained on the first half, tested on the second."""
    h = len(X) // 2
    Y_fit = Y[:h][np.random.default_rng(0).permutation(h)] if shuffle else Y[:h]
    S = RidgeClassifier(alpha=10.0).fit(X[:h], Y_fit.astype(int)).decision_function(X[h:])
    keep = (Y[h:].sum(axis=0) > 0) & (Y[h:].sum(axis=0) < len(Y) - h)
    return roc_auc_score(Y[h:][:, keep], S[:, keep], average="macro")


@pytest.mark.parametrize("modality", ["image_features", "text_features"])
def test_each_modality_carries_the_label_signal(ds, modality):
    X = getattr(ds, modality)
    auc, chance = _probe_auc(X, ds.labels), _probe_auc(X, ds.labels, shuffle=True)
    assert auc >= 0.85, auc  # measured ~0.96 (image), ~0.98 (text)
    assert abs(chance - 0.5) < 0.1, chance


def test_noise_weakens_the_signal():
    quiet, loud = make_synthetic(n=1000, noise=0.2), make_synthetic(n=1000, noise=3.0)
    assert _probe_auc(quiet.image_features, quiet.labels) > _probe_auc(loud.image_features, loud.labels) + 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be"):
        make_synthetic(n=1)
    with pytest.raises(ValueError, match="label_density"):
        make_synthetic(n=10, label_density=0)
    with pytest.raises(ValueError, match="noise"):
        make_synthetic(n=10, noise=-1)


def test_memory_is_linear_in_n():
    # Memory, not speed (speed is for benchmarks): an n x n step would need 80 GB at this n.
    n = 200_000
    tracemalloc.start()
    try:
        big = make_synthetic(n=n, d_img=16, d_txt=16, random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert big.image_features.shape == (n, 16) and big.labels.shape == (n, 24)
    assert (big.labels.sum(axis=1) >= 1).all()
    assert len(big.split.query) == n // 5
    assert peak / n < 1500, peak  # measured ~455 bytes per item at n = 10^6
