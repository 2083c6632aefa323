"""cmh_core.failures against brute-force oracles: AP, first relevant rank, the two lists, label AP."""

from types import SimpleNamespace

import numpy as np
import pytest

from cmh_core import plotting as P
from cmh_core.evaluation import average_precision, evaluate, per_query_ap, retrieval_codes
from cmh_core.failures import label_ap, query_failures, query_table
from cmh_core.hamming import hamming_distance, pack_bits
from ui.results import rank_query


@pytest.fixture(scope="module")
def run(tux, tux_fitted):
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    return model, retrieval_codes(model, tux, "learned")


def _oracle_ranking(codes, ds, direction, p):
    """Full ranking of query p by a sort on (distance, database index): (order, distance, relevant)."""
    q, db = ("image_query", "text_database") if direction == "i2t" else ("text_query", "image_database")
    d = hamming_distance(codes[q][p : p + 1], codes[db])[0].astype(int)
    yq = ds.labels[ds.split.query[p]]
    rel = (ds.labels[ds.split.database] @ yq) > 0
    order = np.array(sorted(range(len(d)), key=lambda j: (d[j], j)))
    return order, d, rel


@pytest.mark.parametrize("direction", ["i2t", "t2i"])
def test_table_ap_is_per_query_ap_and_its_mean_the_report_map(tux, run, direction):
    model, codes = run
    t = query_table(codes, tux.labels, tux.split, direction)
    assert len(t["id"]) == len(tux.split.query)
    ap_by_position = np.empty(len(t["ap"]))
    ap_by_position[t["position"]] = t["ap"]
    np.testing.assert_allclose(ap_by_position, per_query_ap(model, tux, direction), rtol=0, atol=1e-12)
    assert t["ap"].mean() == pytest.approx(evaluate(model, tux)[direction]["mAP"], abs=1e-12)
    # worst first, ties by dataset index; ids name the query modality and index as Search does
    keys = list(zip(t["ap"].tolist(), t["index"].tolist(), strict=True))
    assert keys == sorted(keys)
    mod = "image" if direction == "i2t" else "text"
    assert t["id"] == [f"{mod}:{i}" for i in t["index"]]
    np.testing.assert_array_equal(np.asarray(tux.split.query)[t["position"]], t["index"])


@pytest.mark.parametrize("direction", ["i2t", "t2i"])
def test_first_relevant_rank_and_counts_match_a_sorted_oracle(tux, run, direction):
    _, codes = run
    t = query_table(codes, tux.labels, tux.split, direction)
    for row in range(0, len(t["id"]), 7):
        order, _, rel = _oracle_ranking(codes, tux, direction, int(t["position"][row]))
        hits = np.flatnonzero(rel[order])
        assert t["n_relevant"][row] == rel.sum()
        assert t["first_relevant_rank"][row] == (hits[0] + 1 if len(hits) else 0)


def test_one_query_lists_match_the_full_ranking_and_the_search_page(tux, run):
    _, codes = run
    t = query_table(codes, tux.labels, tux.split, "i2t")
    for row in (0, 1, len(t["id"]) // 2, len(t["id"]) - 1):
        p, index = int(t["position"][row]), int(t["index"][row])
        f = query_failures(codes, tux.labels, tux.split, "i2t", index, k=5)
        order, d, rel = _oracle_ranking(codes, tux, "i2t", p)
        rel_ranks = [r + 1 for r in range(len(order)) if rel[order[r]]]
        irr_ranks = [r + 1 for r in range(len(order)) if not rel[order[r]]]
        assert [x["rank"] for x in f["lowest_relevant"]] == rel_ranks[::-1][:5]  # the last relevant first
        assert [x["rank"] for x in f["highest_irrelevant"]] == irr_ranks[:5]
        db = np.asarray(tux.split.database)
        for x in f["lowest_relevant"] + f["highest_irrelevant"]:
            j = order[x["rank"] - 1]
            assert (x["database_position"], x["index"], x["distance"]) == (j, db[j], d[j])
            assert set(x["shared"]) == set(np.flatnonzero(tux.labels[db[j]] & tux.labels[index]))
        assert (f["ap"], f["first_relevant_rank"]) == (t["ap"][row], t["first_relevant_rank"][row])
        # the same order as the Search page's rank_query (same tie rule), rank for rank
        ranked = rank_query(
            codes["image_query"][p], codes["text_database"], tux.labels[index], tux.labels[db]
        )
        np.testing.assert_array_equal(ranked["order"], order)
        assert ranked["ap"] == pytest.approx(f["ap"], abs=1e-12)


def _tiny():
    """3 queries (items 0-2), 4 database items (3-6), labels A B C D, 8-bit codes by hand."""
    labels = np.array(
        [
            [1, 0, 0, 0],  # q0: A
            [1, 1, 0, 0],  # q1: A, B
            [0, 0, 1, 0],  # q2: C (no database item has C)
            [1, 0, 0, 0],  # x3: A
            [0, 1, 0, 0],  # x4: B
            [1, 0, 0, 0],  # x5: A
            [0, 0, 0, 1],  # x6: D
        ]
    )
    bits = lambda *rows: pack_bits(np.array(rows, dtype=np.uint8))  # noqa: E731
    z, one, two = [0] * 8, [1] + [0] * 7, [1, 1] + [0] * 6
    codes = {
        "image_query": bits(z, two, z),
        "text_query": bits(z, z, z),
        "text_database": bits(two, z, one, one),  # q0: d = 2, 0, 1, 1; q1: d = 0, 2, 1, 1
        "image_database": bits(z, z, z, z),
    }
    return codes, labels, SimpleNamespace(query=[0, 1, 2], database=[3, 4, 5, 6])


def test_tiny_example_by_hand():
    codes, labels, split = _tiny()
    t = query_table(codes, labels, split, "i2t")
    # q0 ranks x4, x5, x6, x3 (x5 before x6: same distance, lower index): relevant at 2 and 4
    # q1 ranks x3, x5, x6, x4: relevant at 1, 2, 4; q2 has no relevant item
    ap0, ap1 = (1 / 2 + 2 / 4) / 2, (1 / 1 + 2 / 2 + 3 / 4) / 3
    assert t["id"] == ["image:2", "image:0", "image:1"]
    np.testing.assert_allclose(t["ap"], [0.0, ap0, ap1])
    assert t["first_relevant_rank"].tolist() == [0, 2, 1]
    assert t["n_relevant"].tolist() == [0, 2, 3]
    f = query_failures(codes, labels, split, "i2t", 0, k=2)
    assert [(x["rank"], x["index"], x["distance"]) for x in f["lowest_relevant"]] == [(4, 3, 2), (2, 5, 1)]
    assert [(x["rank"], x["index"], x["shared"]) for x in f["highest_irrelevant"]] == [(1, 4, []), (3, 6, [])]
    none = query_failures(codes, labels, split, "i2t", 2)
    assert none["lowest_relevant"] == [] and none["first_relevant_rank"] == 0 and none["ap"] == 0
    assert len(none["highest_irrelevant"]) == 4
    per = label_ap(t, labels)
    # C: q2 only (0); A: q0 and q1; B: q1 only; D: no query
    assert per["label"].tolist() == [2, 0, 1] and per["empty"].tolist() == [3]
    np.testing.assert_allclose(per["mean_ap"], [0.0, (ap0 + ap1) / 2, ap1])
    assert per["n_queries"].tolist() == [1, 2, 1]
    assert per["overall"] == pytest.approx((ap0 + ap1) / 3)


def test_label_chance_is_the_expected_ap_of_a_random_ranking():
    codes, labels, split = _tiny()
    t = query_table(codes, labels, split, "i2t")
    per = label_ap(t, labels)
    R = (labels[split.query] @ labels[split.database].T) > 0
    chance_q = average_precision(np.zeros(R.shape), R, ties="expected")  # one tie group = random order
    by_row = dict(zip(t["index"].tolist(), t["position"].tolist(), strict=True))
    for c, ch in zip(per["label"], per["chance"], strict=True):
        qs = [by_row[i] for i in t["index"] if labels[i, c]]
        assert ch == pytest.approx(chance_q[qs].mean(), abs=1e-12)
    assert per["overall_chance"] == pytest.approx(chance_q.mean(), abs=1e-12)


def test_bad_input_names_the_value_and_the_fix():
    codes, labels, split = _tiny()
    with pytest.raises(ValueError, match="'x2y'"):
        query_table(codes, labels, split, "x2y")
    with pytest.raises(ValueError, match="item 4 is not in the query set"):
        query_failures(codes, labels, split, "i2t", 4)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        query_failures(codes, labels, split, "i2t", 0, k=0)
    with pytest.raises(ValueError, match="'image_query'"):
        query_table({"text_database": codes["text_database"]}, labels, split, "i2t")
    with pytest.raises(ValueError, match="labels must be the dataset's multi-hot matrix"):
        query_table(codes, labels[:5], split, "i2t")
    with pytest.raises(ValueError, match="do not match the split"):
        query_table(codes, labels, SimpleNamespace(query=[0, 1], database=[3, 4, 5, 6]), "i2t")


def test_label_ap_figure_draws_worst_on_top_with_chance_and_overall():
    fig = P.label_ap_figure(["frog", "cat"], [0.1, 0.6], [3, 5], [0.02, 0.04], overall=0.45)
    bars, chance = fig.data
    assert bars.type == "bar" and list(bars.y) == ["frog", "cat"] and list(bars.x) == [0.1, 0.6]
    assert list(bars.customdata) == [3, 5] and list(chance.x) == [0.02, 0.04]
    assert fig.layout.yaxis.autorange == "reversed"  # the first (worst) label on top
    assert [s.x0 for s in fig.layout.shapes] == [0.45]
    assert len(P.label_ap_figure([], [], []).data) == 0
    with pytest.raises(ValueError, match="one entry per label"):
        P.label_ap_figure(["a"], [0.1, 0.2], [1])
