"""Buckets of identical codes and the bucket code map, against a dumb per-item oracle."""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core import plotting
from cmh_core.buckets import code_buckets


def test_buckets_match_an_oracle():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, (200, 1), dtype=np.uint8)  # 4 distinct codes, many repeats
    labels = rng.random((200, 3)) < 0.4
    b = code_buckets(codes, labels, ["a", "b", "c"])
    seen: dict[bytes, int] = {}
    for i, c in enumerate(codes):  # oracle: first appearance order
        seen.setdefault(c.tobytes(), len(seen))
        assert b.bucket[i] == seen[c.tobytes()]
    assert b.n_buckets == len(seen) and b.count.sum() == 200
    for k in range(b.n_buckets):
        rows = b.members(k)
        assert rows[0] == b.first[k] and len(rows) == b.count[k]
        assert (codes[rows] == b.codes[k]).all()
        per = labels[rows].sum(axis=0)
        assert b.majority[k] == "abc"[int(per.argmax())]
        assert b.purity[k] == pytest.approx(per.max() / len(rows))


def test_unlabelled_and_bad_input():
    b = code_buckets(np.zeros((3, 2), np.uint8), np.zeros((3, 2)), ["x", "y"])
    assert b.majority == ["(no label)"] and b.purity[0] == 1.0 and b.largest() == 0
    with pytest.raises(ValueError, match="one row per code"):
        code_buckets(np.zeros((3, 2), np.uint8), np.zeros((4, 2)), ["x", "y"])
    with pytest.raises(ValueError, match="label names"):
        code_buckets(np.zeros((3, 2), np.uint8), np.zeros((3, 2)), ["x"])


def test_dch_collapses_and_the_map_has_one_marker_per_distinct_code(tux, tux_fitted):
    """DCH at 32 bits on tuxpaint collapses its codes: the map shows buckets, not piles of dots."""
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    db = tux.split.database
    codes = model.encode(tux.image_features[db], "image")
    b = code_buckets(codes, tux.labels[db], tux.label_names)
    assert b.n_buckets < len(db) // 4  # collapsed: far fewer codes than items
    xy = np.random.default_rng(0).normal(size=(b.n_buckets, 2))
    hover = [
        plotting.bucket_hover(
            int(b.count[k]), "image", b.majority[k], b.purity[k], [tux.texts[db[i]] for i in b.members(k)]
        )
        for k in range(b.n_buckets)
    ]
    fig = plotting.bucket_map_figure(
        xy, [f"b{k}" for k in range(b.n_buckets)], b.count, ["image"] * b.n_buckets, b.majority, hover, star=0
    )
    points = [t for t in fig.data if t.name != "current query"]
    assert sum(len(t.x) for t in points) == b.n_buckets
    assert {i for t in points for i in t.ids} == {f"b{k}" for k in range(b.n_buckets)}
    big = hover[b.largest()]
    assert f"+{b.count[b.largest()] - plotting.codemap.HOVER_MEMBERS} more" in big
    assert big.count("<br>") == plotting.codemap.HOVER_MEMBERS + 1


def test_hover_escapes_markup():
    text = plotting.bucket_hover(1, "text", "<i>x</i>", 1.0, ["koala ![b](http://h/x.png) <img src=x>"])
    assert "<img" not in text and "&lt;img" in text and "<i>" not in text
