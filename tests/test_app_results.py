"""The pure result logic behind the pages (ui/results.py), checked against plain numpy oracles."""

import numpy as np
import pytest

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import per_query_ap
from cmh_core.experiment import run_experiment
from cmh_core.hamming import pack_bits, unpack_bits
from ui.results import (
    differing_bits,
    filter_items,
    group_by_distance,
    map_points,
    parse_item_id,
    rank_query,
    representative_sample,
    selected_ids,
    selection_rows,
)


def _random_codes(rng, n, r):
    return pack_bits(rng.integers(0, 2, size=(n, r)).astype(bool))


def test_rank_query_orders_by_distance_then_index_and_marks_relevance():
    rng = np.random.default_rng(0)
    db = _random_codes(rng, 200, 16)
    q = _random_codes(rng, 1, 16)[0]
    Y = rng.integers(0, 2, size=(200, 5))
    yq = np.array([1, 0, 0, 1, 0])
    out = rank_query(q, db, yq, Y)
    d = (unpack_bits(db, 16) != unpack_bits(q[None], 16)).sum(axis=1)  # oracle distances
    expected = sorted(range(200), key=lambda j: (d[j], j))
    assert out["order"].tolist() == expected
    assert out["distance"].tolist() == [d[j] for j in expected]
    assert out["relevant"].tolist() == [bool((Y[j] & yq).any()) for j in expected]
    # AP oracle: mean over relevant ranks of precision at that rank
    rel = out["relevant"]
    hits = np.cumsum(rel)
    ap = (hits[rel] / (np.flatnonzero(rel) + 1)).mean()
    assert out["ap"] == pytest.approx(ap)


def test_rank_query_ap_equals_per_query_ap_of_a_trained_model():
    run = run_experiment("synthetic", "DCH", n_bits=16, seed=0)
    from cmh_core.datasets import load_dataset
    from cmh_core.evaluation import retrieval_codes

    ds = load_dataset("synthetic")
    codes = retrieval_codes(run.model, ds)
    ap = per_query_ap(run.model, ds, "t2i")
    db = ds.split.database
    for pos in (0, 7, len(ds.split.query) - 1):
        i = ds.split.query[pos]
        out = rank_query(codes["text_query"][pos], codes["image_database"], ds.labels[i], ds.labels[db])
        assert out["ap"] == pytest.approx(ap[pos], abs=1e-12)


def test_rank_query_refuses_mismatched_labels():
    with pytest.raises(ValueError, match="db_labels"):
        rank_query(np.zeros(2, np.uint8), np.zeros((3, 2), np.uint8), [1, 0], np.zeros((4, 2)))


def test_group_by_distance_keeps_ties_together():
    assert group_by_distance([0, 0, 2, 3, 3, 3, 5], 5) == [(0, [0, 1]), (2, [2]), (3, [3, 4])]
    assert group_by_distance([1, 1], 0) == []


def test_representative_sample_mixes_labels_and_is_seeded():
    Y = np.zeros((100, 3), dtype=np.uint8)
    Y[:80, 0] = 1  # a dominant label
    Y[80:90, 1] = 1
    Y[90:, 2] = 1
    s = representative_sample(Y, range(100), 6, seed=1)
    assert len(set(s)) == 6
    assert {int(Y[i].argmax()) for i in s[:3]} == {0, 1, 2}  # one of each label first
    assert s == representative_sample(Y, range(100), 6, seed=1)
    assert sorted(representative_sample(Y, range(100), 1000)) == list(range(100))


def test_filter_items_by_label_and_caption():
    texts = ["A red apple", "A car", "Green apple pie"]
    Y = np.array([[1, 0], [0, 1], [1, 1]])
    assert filter_items(texts, Y, None, "APPLE") == [0, 2]
    assert filter_items(texts, Y, 1, "") == [1, 2]
    assert filter_items(texts, Y, 1, "apple") == [2]


def test_selected_ids_reads_the_event_dict_style():
    ev = {"selection": {"points": [{"id": "image:3"}, {"x": 1}, {"id": "text:3"}, {"id": "image:3"}]}}
    assert selected_ids(ev) == ["image:3", "text:3"]
    assert selected_ids(None) == [] and selected_ids({}) == [] and selected_ids({"selection": {}}) == []


def test_selection_rows_and_bad_ids():
    rows = selection_rows(["text:1", "image:0"], ["cat", "dog"], np.array([[1, 0], [0, 1]]), ["a", "b"])
    assert rows[0] == {"id": "text:1", "modality": "text", "index": 1, "caption": "dog", "labels": "b"}
    assert rows[1]["labels"] == "a"
    with pytest.raises(ValueError, match="'video:1'"):
        parse_item_id("video:1")
    with pytest.raises(ValueError, match="outside"):
        selection_rows(["image:5"], ["cat"], np.array([[1]]), ["a"])


def test_map_points_rows_match_map_codes_layout():
    texts = ["t0", "t1", "t2"]
    Y = np.array([[1, 0], [0, 1], [1, 1]])
    pts = map_points(texts, Y, ["a", "b"], [2, 0], "relevance", query_labels=[0, 1])
    assert pts["ids"] == ["image:2", "image:0", "text:2", "text:0"]
    assert pts["colour"] == ["relevant", "not relevant", "relevant", "not relevant"]
    assert pts["pairs"] == [(0, 2), (1, 3)]
    assert map_points(texts, Y, ["a", "b"], [1], "modality")["colour"] == ["image", "text"]
    with pytest.raises(ValueError, match="query_labels"):
        map_points(texts, Y, ["a", "b"], [1], "relevance")
    with pytest.raises(ValueError, match="'size'"):
        map_points(texts, Y, ["a", "b"], [1], "size")


def test_differing_bits_counts_the_hamming_distance():
    rng = np.random.default_rng(3)
    a, b = _random_codes(rng, 2, 20)
    bits, differ = differing_bits(a, b, 20)
    assert bits.shape == (2, 20)
    assert int(differ.sum()) == int((unpack_bits(a, 20) != unpack_bits(b, 20)).sum())


def test_home_example_caption_is_really_unrelated():
    """Home's "unrelated caption" shares no label with the image (a uint distance once wrapped -1)."""
    from ui.runs import demo_example

    ex = demo_example("tuxpaint")
    ds = load_dataset("tuxpaint")
    assert ex["a"] != ex["b"]
    assert not (ds.labels[ex["a"]] & ds.labels[ex["b"]]).any()
