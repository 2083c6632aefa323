"""The bit playground's pure functions (`cmh_core.playground`) against brute-force numpy oracles."""

import numpy as np
import pytest

from cmh_core.evaluation import per_query_ap
from cmh_core.hamming import pack_bits, unpack_bits
from cmh_core.playground import flip_bits, flipped_distances, hamming_ball, place_near, rank_with_extra
from ui.results import rank_query


def _codes(n: int, n_bits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random unpacked bits (n, n_bits) and their packed codes."""
    B = np.random.default_rng(seed).integers(0, 2, size=(n, n_bits), dtype=np.uint8)
    return B, pack_bits(B)


def _oracle_distances(q_bits: np.ndarray, B: np.ndarray) -> np.ndarray:
    return (q_bits[None, :] != B).sum(axis=1)  # count differing bits, one item at a time


def _oracle_ap(d: np.ndarray, rel: np.ndarray) -> float:
    """AP of a ranking by (distance, index): mean over relevant ranks k of precision@k."""
    order = np.lexsort((np.arange(len(d)), d))
    hits = rel[order].astype(float)
    if hits.sum() == 0:
        return 0.0
    prec = np.cumsum(hits) / np.arange(1, len(d) + 1)
    return float((prec * hits).sum() / hits.sum())


@pytest.mark.parametrize("n_bits", [16, 30, 64, 128])
def test_flip_bits_inverts_exactly_the_named_bits(n_bits):
    B, C = _codes(3, n_bits, seed=n_bits)
    for j in (0, n_bits // 2, n_bits - 1):
        got = unpack_bits(flip_bits(C[1], [j], n_bits), n_bits)
        want = B[1].copy()
        want[j] ^= 1
        np.testing.assert_array_equal(got, want)
    assert not np.any(unpack_bits(flip_bits(C[2], [], n_bits), n_bits) != B[2])
    two = flip_bits(C[0], [1, 5, 5], n_bits)  # a bit named twice cancels out
    np.testing.assert_array_equal(two, flip_bits(C[0], [1], n_bits))
    assert C[0].tobytes() != two.tobytes()  # the input is left as it was
    np.testing.assert_array_equal(flip_bits(flip_bits(C[0], [3, 7], n_bits), [3, 7], n_bits), C[0])


def test_flip_bits_keeps_the_padding_bits_zero():
    _, C = _codes(1, 30, seed=1)
    out = flip_bits(C[0], list(range(30)), 30)
    assert out[-1] & 0b11 == 0  # bits 30, 31 of the last byte are padding


@pytest.mark.parametrize("n_bits", [32, 128])
def test_flipping_one_bit_moves_every_distance_by_exactly_one_and_back(n_bits):
    Bq, Q = _codes(1, n_bits, seed=3)
    B, DB = _codes(500, n_bits, seed=4)
    d0 = flipped_distances(Q[0], DB, [], n_bits)
    np.testing.assert_array_equal(d0, _oracle_distances(Bq[0], B))
    for j in (0, 7, n_bits - 1):
        d1 = flipped_distances(Q[0], DB, [j], n_bits)
        assert np.all(np.abs(d1 - d0) == 1)  # every database item moves, by exactly one
        np.testing.assert_array_equal(d1 - d0, np.where(B[:, j] == Bq[0, j], 1, -1))  # +1 where it agreed
        back = flipped_distances(flip_bits(Q[0], [j], n_bits), DB, [j], n_bits)
        np.testing.assert_array_equal(back, d0)  # flipping it back restores them


def test_several_flips_match_the_oracle():
    Bq, Q = _codes(1, 64, seed=5)
    B, DB = _codes(300, 64, seed=6)
    flips = [2, 9, 33, 63]
    q = Bq[0].copy()
    q[flips] ^= 1
    np.testing.assert_array_equal(flipped_distances(Q, DB, flips, 64), _oracle_distances(q, B))


def test_hamming_ball_is_the_brute_force_ball_in_ranking_order():
    Bq, Q = _codes(1, 16, seed=7)  # 16 bits and 2000 items: every radius has members
    B, DB = _codes(2000, 16, seed=8)
    d = _oracle_distances(Bq[0], B)
    ball = hamming_ball(Q[0], DB, 3)
    assert sorted(ball) == [0, 1, 2, 3]
    for r, rows in ball.items():
        assert set(rows.tolist()) == set(np.flatnonzero(d <= r).tolist())
        np.testing.assert_array_equal(rows, np.lexsort((np.arange(len(d)), d))[: len(rows)])
    assert len(ball[1]) > len(ball[0]) or len(ball[2]) > len(ball[1])  # the ball grows


def test_hamming_ball_rejects_a_bad_radius():
    _, C = _codes(5, 8, seed=0)
    with pytest.raises(ValueError, match="radius must be a non-negative integer"):
        hamming_ball(C[0], C, -1)


def test_bad_bits_and_codes_are_named():
    _, C = _codes(2, 32, seed=0)
    with pytest.raises(ValueError, match="bit 32 is outside the code; bits are numbered 0..31"):
        flip_bits(C[0], [32], 32)
    with pytest.raises(ValueError, match="bit -1"):
        flip_bits(C[0], [-1], 32)
    with pytest.raises(ValueError, match="one packed code"):
        flip_bits(C, [1], 32)
    with pytest.raises(ValueError, match="n_bits=64 does not fit"):
        flip_bits(C[0], [1], 64)


def test_rerank_after_flips_matches_the_oracle_ap_and_tie_rule():
    rng = np.random.default_rng(9)
    Bq, Q = _codes(1, 16, seed=10)  # short codes: many ties, so the tie rule matters
    B, DB = _codes(400, 16, seed=11)
    yq = np.array([1, 0, 1, 0], dtype=np.uint8)
    ydb = rng.integers(0, 2, size=(400, 4), dtype=np.uint8)
    rel = (ydb & yq).any(axis=1)
    for flips in ([], [0], [4, 11], list(range(16))):
        q = Bq[0].copy()
        q[flips] ^= 1
        ranked = rank_query(flip_bits(Q[0], flips, 16), DB, yq, ydb)
        d = _oracle_distances(q, B)
        np.testing.assert_array_equal(ranked["order"], np.lexsort((np.arange(400), d)))
        assert ranked["ap"] == pytest.approx(_oracle_ap(d, rel), abs=1e-12)


def test_unflipped_ap_is_the_evaluation_per_query_ap(tux, tux_fitted):
    from cmh_core.evaluation import retrieval_codes

    model = tux_fitted("DCH", n_bits=32, random_state=0)
    codes = retrieval_codes(model, tux, "learned")
    db = np.asarray(tux.split.database)
    want = per_query_ap(model, tux, "i2t")
    for pos in (0, 5, 17):
        q = int(tux.split.query[pos])
        got = rank_query(
            flip_bits(codes["image_query"][pos], [], 32),
            codes["text_database"],
            tux.labels[q],
            tux.labels[db],
        )
        assert got["ap"] == pytest.approx(want[pos], abs=1e-12)


def test_rank_with_extra_puts_added_codes_after_database_ties():
    _, DB = _codes(50, 8, seed=12)
    extra = DB[[3, 40]]  # copies of database rows: the same distances as the originals
    order, dist = rank_with_extra(DB[3], DB, extra)
    pos = {int(r): t for t, r in enumerate(order)}
    assert dist[pos[50]] == dist[pos[3]] == 0 and pos[50] > pos[3]  # the copy follows its original
    assert dist[pos[51]] == dist[pos[40]] and pos[51] > pos[40]  # tie: the database item first
    db_only = [r for r in order if r < 50]
    np.testing.assert_array_equal(db_only, rank_with_extra(DB[3], DB, DB[:0])[0])  # its order unchanged
    assert np.all(np.diff(dist) >= 0)


def test_place_near_sits_on_an_equal_code_else_between_the_nearest():
    B, DB = _codes(40, 16, seed=13)
    xy = np.random.default_rng(14).normal(size=(40, 2))
    got = place_near(DB[[7]], DB, xy)
    same = np.flatnonzero((B == B[7]).all(axis=1))
    np.testing.assert_allclose(got[0], xy[same].mean(axis=0), rtol=1e-6)
    # a code no reference has: the mean of its 5 nearest, ties by row
    new = next(c for c in (np.roll(B[0], s) ^ 1 for s in range(16)) if _oracle_distances(c, B).min() > 0)
    near = np.lexsort((np.arange(40), _oracle_distances(new, B)))[:5]
    np.testing.assert_allclose(place_near(pack_bits(new[None]), DB, xy)[0], xy[near].mean(axis=0), rtol=1e-6)
    assert place_near(DB[:0], DB, xy).shape == (0, 2)
    with pytest.raises(ValueError, match="ref_xy must be"):
        place_near(DB[:1], DB, xy[:3])


def test_own_items_are_one_labelled_star_trace_with_their_ids():
    from cmh_core import plotting

    xy = np.zeros((4, 2))
    fig = plotting.code_map_figure(
        xy, ["image:1", "image:2", "text:1", "text:2"], ["a"] * 4, ["image"] * 2 + ["text"] * 2, ["h"] * 4
    )
    n = len(fig.data)
    plotting.add_own_items(
        fig, [[1, 2], [3, 4]], ["yours:0", "yours:1"], ["my koala", "x" * 40], ["image", "text"]
    )
    assert len(fig.data) == n + 1
    t = fig.data[-1]
    assert t.name == "yours" and list(t.ids) == ["yours:0", "yours:1"]
    assert (
        list(t.marker.symbol) == ["star", "star-diamond"] and t.text[0] == "my koala" and len(t.text[1]) == 24
    )
    assert len(plotting.add_own_items(fig, np.zeros((0, 2)), [], [], []).data) == n + 1  # nothing to add
    # Labels point away from the nearest side (a centred label of an edge star ran out of the chart
    # at 800 px): map x spans 0..3, y 0..4 here.
    plotting.add_own_items(fig, [[0, 0], [1.5, 2], [3, 4]], ["a", "b", "c"], ["l", "m", "r"], ["image"] * 3)
    assert list(fig.data[-1].textposition) == ["top right", "top center", "bottom left"]
    with pytest.raises(ValueError, match="one entry per added item"):
        plotting.add_own_items(fig, [[0, 0]], ["yours:0"], [], ["image"])
