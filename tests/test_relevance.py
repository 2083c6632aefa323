"""Relevance rules: "any" (shares any label) and "leaf" (shares the query's most specific label)."""

import json

import numpy as np
import pytest

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import (
    evaluate,
    most_specific_label,
    per_query_ap,
    relevance_query_labels,
)


class _Model:
    """Fixed packed codes: a 'fitted' hasher whose encode returns given rows (hand examples)."""

    code_length = 8

    def __init__(self, codes: dict[str, np.ndarray]):
        self._codes = codes

    def encode(self, X, modality="image"):
        return self._codes[modality][np.asarray(X[:, 0], dtype=int)]


class _Split:
    def __init__(self, query, database, train):
        self.query, self.database, self.train = query, database, train


class _Data:
    """4 items. Labels: 0 animals, 1 mammals, 2 cats. Item 0 (query) is a cat: animals/mammals/cats."""

    labels = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 1], [1, 1, 0]], dtype=np.uint8)
    image_features = np.arange(4, dtype=np.float64)[:, None]
    text_features = np.arange(4, dtype=np.float64)[:, None]
    split = _Split(np.array([0]), np.array([1, 2, 3]), np.array([1, 2, 3]))


def test_most_specific_label_is_the_rarest_with_ties_to_the_lower_column():
    Y = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 0]])
    counts = np.array([10, 4, 4])  # labels 1 and 2 tie: the lower column wins
    assert most_specific_label(Y, counts).tolist() == [1, 0, 1, -1]
    leaf = relevance_query_labels(Y, "leaf", counts)
    assert leaf.tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert relevance_query_labels(Y, "any").tolist() == Y.tolist()


def test_leaf_and_any_by_hand():
    """Query cat; database: an animal (d=0), a cat (d=1), a mammal (d=2). Hand AP under each rule."""
    codes = np.array([[0], [0], [1], [3]], dtype=np.uint8)  # distances to item 0: 0, 1, 2 for items 1, 2, 3
    model = _Model({"image": codes, "text": codes})
    model.train_codes_ = {"image": codes[1:], "text": codes[1:]}
    any_rep = evaluate(model, _Data(), precision_ks=(1,), return_per_query=True)
    leaf_rep = evaluate(model, _Data(), precision_ks=(1,), relevance="leaf", return_per_query=True)
    # any: all three share "animals" -> AP = 1. leaf: the rarest label of the query is cats (2 items),
    # only item 2 (rank 2) carries it -> AP = 1/2.
    assert any_rep["i2t"]["per_query_ap"] == [1.0]
    assert leaf_rep["i2t"]["per_query_ap"] == [0.5]
    assert leaf_rep["relevance"] == "leaf" and any_rep["relevance"] == "any"
    assert leaf_rep["i2t"]["precision_at_k"]["precision"] == [0.0]
    ap = per_query_ap(model, _Data(), "t2i", relevance="leaf")
    assert ap.tolist() == [0.5]


@pytest.mark.parametrize("bad", ["Leaf", "all", None, 1])
def test_unknown_relevance_is_refused_with_the_choices(bad):
    codes = np.zeros((4, 1), dtype=np.uint8)
    model = _Model({"image": codes, "text": codes})
    model.train_codes_ = {"image": codes[1:], "text": codes[1:]}
    with pytest.raises(ValueError, match=r"relevance must be 'any'.*'leaf'.*got"):
        evaluate(model, _Data(), relevance=bad)
    with pytest.raises(ValueError, match="relevance must be"):
        per_query_ap(model, _Data(), relevance=bad)


def _recorded_leaf(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(leaf by the rarest-label rule, leaf the bundle records) for every item of a bundle."""
    ds = load_dataset(name)
    meta = json.loads((ds.root / "meta.json").read_text())
    names = list(ds.label_names)
    Y = ds.labels != 0
    if name == "tuxpaint":  # labels are the folders of the stamp's path: the deepest kept one
        rec = []
        for y, path in zip(Y, meta["ids"], strict=True):
            kept = [names.index(p) for p in (f.replace("_", " ") for f in path.split("/")[:-1]) if p in names]
            rec.append([c for c in kept if y[c]][-1])
    else:  # group + subgroup: the subgroup, or the group when the subgroup was dropped or is a group
        pairs = zip(meta["groups"], meta["subgroups"], strict=True)
        rec = [names.index(s) if s in names else names.index(g) for g, s in pairs]
    return most_specific_label(Y, Y.sum(axis=0)), np.array(rec)


@pytest.mark.parametrize(("name", "floor"), [("tuxpaint", 0.95), ("openmoji", 0.99)])
def test_rarest_label_is_the_bundle_hierarchy_leaf(name, floor):
    """The documented agreement (docs/evaluation.md): 96.2 % on tuxpaint, 99.7 % on openmoji."""
    rule, recorded = _recorded_leaf(name)
    assert (rule == recorded).mean() >= floor


def test_leaf_map_differs_from_any_on_tuxpaint(tux, tux_fitted):
    """A trained DCH: leaf relevance is stricter, so fewer items are relevant and mAP moves."""
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    any_rep = evaluate(model, tux, precision_ks=(10,))
    leaf_rep = evaluate(model, tux, precision_ks=(10,), relevance="leaf")
    for d in ("i2t", "t2i"):
        assert abs(any_rep[d]["mAP"] - leaf_rep[d]["mAP"]) > 0.01, (any_rep[d]["mAP"], leaf_rep[d]["mAP"])
        # chance precision (the fraction relevant) drops: leaf relevance is a subset of any
        assert leaf_rep[d]["pr_curve"]["precision"][-1] < any_rep[d]["pr_curve"]["precision"][-1]
    # per_query_ap agrees with evaluate under the leaf rule
    ap = per_query_ap(model, tux, "i2t", relevance="leaf")
    assert np.isclose(ap.mean(), leaf_rep["i2t"]["mAP"])
