"""Pure Plotly figure builders (cmh_core.plotting): the traces, ids and lines each one promises."""

import numpy as np
import plotly.graph_objects as go
import pytest

from cmh_core import plotting as P
from cmh_core.datasets import make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.methods import get_method


@pytest.fixture(scope="module")
def report():
    ds = make_synthetic(n=400, d_img=32, d_txt=24, n_labels=6, random_state=0)
    tr = ds.split.train
    model = get_method("CCA-ITQ", n_bits=16, random_state=0)
    model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
    return evaluate(model, ds)


def _chance_lines(fig: go.Figure) -> list[float]:
    return [s.y0 for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1]


def test_objective_figure_skips_nan_rows_and_notes_missing_objective():
    fig = P.objective_figure([[1, 5.0, 0.1], [2, float("nan"), 0.2], [3, 4.0, 0.3]])
    assert len(fig.data) == 1
    assert list(fig.data[0].x) == [1, 3] and list(fig.data[0].y) == [5.0, 4.0]
    for history in ([], [[1, float("nan"), 0.1], [2, float("nan"), 0.2]]):
        empty = P.objective_figure(history)
        assert len(empty.data) == 0
        assert "no objective" in empty.layout.annotations[0].text


def test_map_bar_figure_has_bars_and_chance_marks():
    fig = P.map_bar_figure({"I→T": 0.61, "T→I": 0.55}, {"I→T": 0.12, "T→I": 0.13})
    bars, chance = fig.data
    assert bars.type == "bar" and list(bars.x) == ["I→T", "T→I"] and list(bars.y) == [0.61, 0.55]
    assert list(bars.marker.color) == [P.DIRECTION_COLOURS["I→T"], P.DIRECTION_COLOURS["T→I"]]
    assert list(chance.y) == [0.12, 0.13] and "chance" in chance.name
    assert len(P.map_bar_figure({"I→T": 0.5}).data) == 1  # no chance given: no chance trace


def test_pr_curves_by_radius_take_the_report_dicts(report):
    curves = {"I→T": report["i2t"]["pr_curve"], "T→I": report["t2i"]["pr_curve"]}
    fig = P.pr_curve_figure(curves, by="radius")
    assert [t.name for t in fig.data] == ["I→T", "T→I"]
    assert list(fig.data[0].y) == report["i2t"]["pr_curve"]["precision"]
    assert list(fig.data[0].customdata) == list(range(report["n_bits"] + 1))  # radius 0..r
    # chance = precision with every item in the ball = mean fraction of relevant items
    (chance,) = _chance_lines(fig)
    assert chance == pytest.approx(P.chance_from_pr_curve(report["i2t"]["pr_curve"]))
    assert 0 < chance < 1


def test_pr_curve_by_rank_and_precision_at_k(report):
    chance = P.chance_from_pr_curve(report["i2t"]["pr_curve"])
    curves = {"I→T": report["i2t"]["precision_at_k"], "T→I": report["t2i"]["precision_at_k"]}
    fig = P.pr_curve_figure(curves, by="rank", chance=chance)
    assert list(fig.data[1].x) == report["t2i"]["precision_at_k"]["recall"]
    assert _chance_lines(fig) == [pytest.approx(chance)]
    pk = P.precision_at_k_figure(curves, chance=chance)
    assert list(pk.data[0].x) == report["i2t"]["precision_at_k"]["k"]
    assert pk.layout.xaxis.type == "log" and _chance_lines(pk) == [pytest.approx(chance)]
    with pytest.raises(ValueError, match="precision_at_k"):
        P.pr_curve_figure({"I→T": report["i2t"]["pr_curve"]}, by="rank")
    with pytest.raises(ValueError, match="by must be"):
        P.pr_curve_figure(curves, by="distance")


def test_bit_figures():
    balance = np.array([0.5, 0.9, 0.1, 0.45])
    fig = P.bit_balance_figure(balance)
    assert fig.data[0].type == "bar" and list(fig.data[0].y) == list(balance)
    assert _chance_lines(fig) == [0.5]
    C = np.eye(4)
    heat = P.bit_correlation_figure(C)
    assert heat.data[0].type == "heatmap" and (heat.data[0].zmin, heat.data[0].zmax) == (-1, 1)
    with pytest.raises(ValueError, match="square"):
        P.bit_correlation_figure(np.zeros((2, 3)))


def test_bit_strip_frames_exactly_the_differing_bits():
    a = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    b = np.array([1, 1, 1, 0, 0, 0, 1, 1])
    fig = P.bit_strip_figure(a, b, names=("image", "caption"))
    assert fig.data[0].type == "heatmap" and list(fig.data[0].y) == ["image", "caption"]
    framed = sorted(int(round(s.x0 + 0.5)) for s in fig.layout.shapes)
    assert framed == [1, 3, 7]
    assert "distance 3 of 8" in fig.layout.title.text
    with pytest.raises(ValueError, match="one length"):
        P.bit_strip_figure(a, b[:4])


def test_code_map_one_trace_per_colour_with_ids_and_a_line_trace():
    rng = np.random.default_rng(0)
    n = 12
    coords = rng.normal(size=(n, 2))
    ids = [f"{'img' if i % 2 == 0 else 'txt'}:{i // 2}" for i in range(n)]
    colour = ["cat", "dog", "bird"] * 4
    symbol = ["image", "text"] * 6
    hover = [f"item {i}" for i in range(n)]
    pairs = [(i, i + 1) for i in range(0, n, 2)]
    fig = P.code_map_figure(coords, ids, colour, symbol, hover, pair_lines=pairs)
    lines, *points = fig.data
    assert lines.mode == "lines" and lines.ids is None and lines.hoverinfo == "skip"
    assert np.isnan(lines.x[2]) and len(lines.x) == 3 * len(pairs)  # one polyline, gaps between pairs
    assert [t.name for t in points] == ["cat", "dog", "bird"]
    assert all(t.type == "scattergl" for t in points)
    got_ids = [i for t in points for i in t.ids]
    assert sorted(got_ids) == sorted(ids)
    for t in points:  # customdata maps each point back to its row of coords
        for pid, idx, x in zip(t.ids, t.customdata, t.x, strict=True):
            assert ids[idx] == pid and x == coords[idx, 0]
        assert {s for s in t.marker.symbol} <= {"circle-open", "diamond"}  # images as rings
    assert fig.layout.dragmode == "zoom"  # a click selects a marker (Streamlit: not in lasso mode)
    assert len(P.code_map_figure(coords, ids, colour, symbol, hover).data) == 3  # no pairs: no line trace


def test_code_map_rejects_mismatched_inputs():
    coords = np.zeros((3, 2))
    with pytest.raises(ValueError, match="ids must be unique"):
        P.code_map_figure(coords, ["a", "a", "b"], ["x"] * 3, ["image"] * 3, [""] * 3)
    with pytest.raises(ValueError, match="hover has 2"):
        P.code_map_figure(coords, ["a", "b", "c"], ["x"] * 3, ["image"] * 3, [""] * 2)
    with pytest.raises(ValueError, match="out of range"):
        P.code_map_figure(coords, ["a", "b", "c"], ["x"] * 3, ["image"] * 3, [""] * 3, pair_lines=[(0, 3)])


def test_group_colours_are_stable_and_cycle():
    names = [f"label_{i}" for i in range(len(P.PALETTE) + 3)]
    c = P.group_colours(names + names[:5])
    assert list(c) == names and c["label_0"] == P.PALETTE[0]
    assert c[names[len(P.PALETTE)]] == P.PALETTE[0]  # cycles past the palette
    assert P.group_colours(["text", "image"]) == {"text": P.MODALITY_COLOURS["text"], "image": "#1f77b4"}
    assert all(isinstance(v, str) and v for v in c.values())
