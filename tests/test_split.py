"""make_split: seeded, disjoint, covering every label on both sides where possible."""

import numpy as np
import pytest

from cmh_core.datasets import Split, make_split


def _labels(n=500, c=12, seed=0):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, c)) < rng.uniform(0.01, 0.3, size=c)).astype(np.uint8)
    Y[Y.sum(axis=1) == 0, 0] = 1
    Y[:, -1] = 0
    Y[[7, n - 3], -1] = 1  # a rare label with exactly two items
    return Y


def test_split_is_a_disjoint_cover_of_the_rows():
    Y = _labels()
    s = make_split(Y, random_state=3)
    assert isinstance(s, Split)
    assert len(np.intersect1d(s.query, s.database)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([s.query, s.database])), np.arange(len(Y)))
    np.testing.assert_array_equal(s.train, s.database)
    assert s.query.dtype == np.int64 and s.database.dtype == np.int64
    assert len(s.query) == 100  # 20% of 500


def test_every_label_in_query_and_database():
    Y = _labels()
    for seed in range(5):
        s = make_split(Y, random_state=seed)
        assert (Y[s.query].sum(axis=0) > 0).all(), seed
        assert (Y[s.database].sum(axis=0) > 0).all(), seed


def test_rare_labels_covered_even_with_few_queries():
    Y = _labels()
    s = make_split(Y, n_query=12, random_state=0)
    assert len(s.query) == 12
    assert (Y[s.query].sum(axis=0) > 0).all()
    assert (Y[s.database].sum(axis=0) > 0).all()


def test_deterministic_for_a_seed_and_varies_with_it():
    Y = _labels()
    a, b, c = make_split(Y, random_state=1), make_split(Y, random_state=1), make_split(Y, random_state=2)
    np.testing.assert_array_equal(a.query, b.query)
    np.testing.assert_array_equal(a.database, b.database)
    assert not np.array_equal(a.query, c.query)


def test_query_fraction_and_bad_arguments():
    Y = _labels(n=50)
    assert len(make_split(Y, query_fraction=0.5).query) == 25
    with pytest.raises(ValueError, match="n_query"):
        make_split(Y, n_query=50)
    with pytest.raises(ValueError, match="query_fraction"):
        make_split(Y, query_fraction=1.5)
    with pytest.raises(ValueError, match="labels"):
        make_split(np.full((5, 2), 2))
    with pytest.raises(ValueError, match="at least 2"):
        make_split(np.ones((1, 2)))
