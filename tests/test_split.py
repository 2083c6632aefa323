"""make_split: seeded, disjoint, covering every label on both sides where possible."""

import hashlib

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


def test_index_arrays_in_random_order_not_sorted():
    # labels stored by category, as the tuxpaint bundle stores its items
    Y = np.repeat(np.eye(10, dtype=np.uint8), 60, axis=0)
    s = make_split(Y, random_state=0)
    for idx in (s.query, s.database):
        assert not (np.diff(idx) > 0).all()
    same = ((Y[s.database[1:]] & Y[s.database[:-1]]).sum(axis=1) > 0).mean()
    assert same <= 0.2, same  # random order: ~10% of neighbours share the label (sorted: ~98%)


def test_bundled_split_random_order_same_members():
    from cmh_core.datasets import load_dataset

    ds = load_dataset("tuxpaint")
    Y, db = ds.labels, ds.split.database
    same = ((Y[db[1:]] & Y[db[:-1]]).sum(axis=1) > 0).mean()
    assert same <= 0.2, same  # the old category-ordered database: 0.978
    np.testing.assert_array_equal(ds.split.train, db)
    # members of the split drawn by scripts/build_tuxpaint.py before the reorder: digest of the
    # sorted query rows of the bundle as committed before (the database is the complement)
    digest = hashlib.sha256(np.sort(ds.split.query).astype("<i8").tobytes()).hexdigest()
    assert digest == "98ce13b27c3e223cb858627643c35430e575632bfcb56c312d2367e3443c0531"
    assert (len(ds.split.query), len(db)) == (158, 630)
    np.testing.assert_array_equal(np.sort(np.concatenate([ds.split.query, db])), np.arange(ds.n_items))


def _dataset(n=50):
    from cmh_core.datasets import CrossModalDataset

    Y = _labels(n=n)
    return CrossModalDataset(
        name="t",
        image_features=np.zeros((n, 2), np.float32),
        text_features=np.zeros((n, 3), np.float32),
        labels=Y,
        label_names=[f"c{i}" for i in range(Y.shape[1])],
        texts=[""] * n,
        split=make_split(Y, random_state=1),
    )


def test_unpair_invariants():
    from cmh_core.datasets import unpair

    ds = _dataset(200)
    tr = ds.split.train
    ident = unpair(ds, 0.0)
    np.testing.assert_array_equal(ident["image"], tr)
    np.testing.assert_array_equal(ident["text"], tr)
    for f in (0.3, 1.0):
        idx = unpair(ds, f, random_state=4)
        np.testing.assert_array_equal(idx["image"], tr)  # images keep the training order
        np.testing.assert_array_equal(np.sort(idx["text"]), np.sort(tr))  # a permutation of train
        moved = (idx["text"] != tr).mean()
        assert moved <= f + 1e-12 and moved >= f - 0.05, (f, moved)  # a few may stay put by chance
        np.testing.assert_array_equal(unpair(ds, f, random_state=4)["text"], idx["text"])  # seeded
    for bad in (-0.1, 1.5, "half", True, float("nan")):
        with pytest.raises(ValueError, match="fraction"):
            unpair(ds, bad)


# ---------------------------------------------------------------- the validation split carved from train
def test_validation_split_is_carved_from_train_only():
    from cmh_core.datasets import validation_split

    Y = _labels(n=600)
    outer = make_split(Y, random_state=0)
    v = validation_split(outer, Y, fraction=0.25, random_state=3)
    assert len(v.query) == round(0.25 * len(outer.train))
    assert np.isin(v.query, outer.train).all() and np.isin(v.database, outer.train).all()
    assert len(np.intersect1d(v.query, outer.query)) == 0  # the real queries are never seen
    assert len(np.intersect1d(v.query, v.database)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([v.query, v.database])), np.sort(outer.train))
    np.testing.assert_array_equal(v.train, v.database)
    twice = Y[outer.train].sum(axis=0) >= 2  # labels that can be on both sides of the carve
    assert twice.sum() >= Y.shape[1] - 1  # only the two-item label is split 1 + 1 by the outer split
    assert (Y[v.query].sum(axis=0) > 0)[twice].all() and (Y[v.train].sum(axis=0) > 0)[twice].all()
    again, other = validation_split(outer, Y, 0.25, 3), validation_split(outer, Y, 0.25, 4)
    np.testing.assert_array_equal(again.query, v.query)
    assert not np.array_equal(other.query, v.query)
    for bad in (0, 1.0, -0.2, "0.2", True):
        with pytest.raises(ValueError, match="fraction"):
            validation_split(outer, Y, bad)


def test_validation_dataset_on_tuxpaint():
    from cmh_core.datasets import load_dataset, validation_dataset

    ds = load_dataset("tuxpaint")
    v = validation_dataset(ds)
    assert v.split.sizes() == {"query": 126, "database": 504, "train": 504}
    assert len(np.intersect1d(v.split.query, ds.split.query)) == 0
    assert v.image_features is ds.image_features  # a view of the same arrays, not a copy
    assert ds.split.sizes()["query"] == 158  # the original is untouched
