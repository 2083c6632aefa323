"""The experiment grid (`cmh_core.comparison`) and its figure, against hand-made runs and numpy.

Most tests replace `run_experiment` with a fake that makes a `Run` from its arguments at once, so
the grid logic (order, reuse, progress, refusals, errors) is tested without training; one test
trains for real on small synthetic data.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from cmh_core import comparison, plotting
from cmh_core.comparison import Comparison, run_comparison
from cmh_core.datasets import make_synthetic
from cmh_core.experiment import Run


@pytest.fixture(scope="module")
def small():
    """200 items (160 training rows): DCH refuses codes longer than 160 bits here."""
    return make_synthetic(n=200, d_img=24, d_txt=16, n_labels=6, random_state=0)


def _curve(n_bits: int, level: float) -> dict[str, list]:
    radius = list(range(n_bits + 1))
    return {
        "radius": radius,
        "precision": [level] * len(radius),
        "recall": [r / n_bits for r in radius],
        "nonempty": [1.0] * len(radius),
    }


def _run(method: str, n_bits: int, seed: int, i2t: float, t2i: float, fit: float = 1.0, **kw) -> Run:
    report = {
        d: {
            "mAP": v,
            "mAP_expected": v - 0.01,
            "pr_curve": _curve(n_bits, v),
            "precision_at_k": {"k": [1, 10], "precision": [v, v], "recall": [0.1, 0.5]},
        }
        for d, v in (("i2t", i2t), ("t2i", t2i))
    }
    return Run(
        dataset=kw.get("dataset", "toy"),
        method=method,
        n_bits=n_bits,
        seed=seed,
        params={"n_bits": n_bits, "random_state": seed},
        protocol=kw.get("protocol", "learned"),
        report=report,
        fit_seconds=fit,
        eval_seconds=0.1,
        history=[[1, 2.0, 0.1]],
    )


@pytest.fixture
def fake(monkeypatch):
    """Replace training by a Run whose numbers depend on (method, bits, seed); records every call."""
    calls: list[tuple] = []

    def run_experiment(ds, method, *, n_bits, seed, params=None, protocol="learned", unpaired=0.0):
        calls.append((method, n_bits, seed, protocol))
        rng = np.random.default_rng([n_bits, seed, len(method)])
        i2t, t2i = rng.uniform(0.2, 0.8, size=2)
        return _run(method, n_bits, seed, float(i2t), float(t2i), float(rng.uniform(0.1, 2)), dataset=ds.name)

    monkeypatch.setattr(comparison, "run_experiment", run_experiment)
    return calls


# ------------------------------------------------------------------------------------------ grid
def test_grid_order_is_method_then_bits_then_seed(small, fake):
    cmp = run_comparison(small, ["dch", "RandomCodes"], [32, 16], 2, protocol="encoded")
    expected = [(m, b, s) for m in ("DCH", "RandomCodes") for b in (32, 16) for s in (0, 1)]
    assert [c[:3] for c in fake] == expected
    assert [(r.method, r.n_bits, r.seed) for r in cmp.runs] == expected
    assert {c[3] for c in fake} == {"encoded"} and cmp.protocol == "encoded"
    assert cmp.methods == ["DCH", "RandomCodes"] and cmp.bits == [32, 16] and cmp.seeds == [0, 1]
    assert cmp.reused == 0 and cmp.skipped == []


def test_explicit_seeds_and_repeats_are_not_extra_cells(small, fake):
    cmp = run_comparison(small, ["DCH", "dch"], [16, 16], [3, 5, 3])
    assert [c[:3] for c in fake] == [("DCH", 16, 3), ("DCH", 16, 5)]
    assert cmp.seeds == [3, 5] and cmp.summary()[0]["n_seeds"] == 2


def test_progress_is_called_once_per_run_in_order(small, fake):
    seen = []
    reuse = {("DCH", 16, 1): _run("DCH", 16, 1, 0.5, 0.5)}
    cmp = run_comparison(
        small,
        ["DCH", "SCM"],
        [16, 8],
        2,
        lookup=lambda m, b, s: reuse.get((m, b, s)),
        progress=lambda done, total, run, reused: seen.append((done, total, run.method, reused)),
    )
    assert [s[0] for s in seen] == list(range(1, 9)) and {s[1] for s in seen} == {8}
    assert [s[3] for s in seen].count(True) == 1 and seen[1] == (2, 8, "DCH", True)
    assert len(cmp.runs) == 8


def test_starting_names_each_cell_before_it_runs(small, fake):
    events = []
    run_comparison(
        small,
        ["DCH"],
        [8, 16],
        [4],
        lookup=lambda m, b, s: _run(m, b, s, 0.5, 0.5) if b == 8 else None,  # 8 bits: reused
        starting=lambda i, n, m, b, s: events.append(("start", i, n, m, b, s, len(fake))),
        progress=lambda done, total, run, reused: events.append(("done", done, total, run.n_bits, reused)),
    )
    assert events == [
        ("start", 1, 2, "DCH", 8, 4, 0),
        ("done", 1, 2, 8, True),
        ("start", 2, 2, "DCH", 16, 4, 0),  # announced before its training started
        ("done", 2, 2, 16, False),
    ]


def test_lookup_reuse_skips_training_and_is_counted(small, fake):
    mine = _run("DCH", 16, 0, 0.9, 0.8)
    asked = []

    def lookup(method, n_bits, seed):
        asked.append((method, n_bits, seed))
        return mine if (method, n_bits, seed) == ("DCH", 16, 0) else None

    cmp = run_comparison(small, ["DCH"], [16, 32], 1, lookup=lookup)
    assert asked == [("DCH", 16, 0), ("DCH", 32, 0)]  # registry names, every cell asked once
    assert [c[:3] for c in fake] == [("DCH", 32, 0)]  # only the cell not found was trained
    assert cmp.reused == 1 and cmp.runs[0] is mine


def test_refused_pairs_are_listed_not_run(small, fake):
    cmp = run_comparison(small, ["DCH", "RandomCodes"], [16, 4096], 1)
    assert [c[:2] for c in fake] == [("DCH", 16), ("RandomCodes", 16), ("RandomCodes", 4096)]
    assert len(cmp.skipped) == 1
    assert "DCH at 4096 bits" in cmp.skipped[0] and "160" in cmp.skipped[0]  # the limit, named


@pytest.mark.parametrize(
    ("methods", "bits", "seeds", "message"),
    [
        ([], [16], 1, "at least one method"),
        (["DCH"], [], 1, "non-empty list of positive code lengths"),
        (["DCH"], [0], 1, "got [0]"),
        (["DCH"], [16], 0, "at least one seed, got 0"),
        (["DCH"], [16], [], "at least one seed"),
        (["DCH"], [16], True, "a count"),
        (["NoSuchHash"], [16], 1, "NoSuchHash"),
        (["DCH"], [4096], 1, "nothing to run: DCH at 4096 bits"),
    ],
)
def test_bad_grids_raise_before_any_training(small, fake, methods, bits, seeds, message):
    with pytest.raises(ValueError) as err:
        run_comparison(small, methods, bits, seeds)
    assert message in str(err.value)
    assert fake == []


def test_unpaired_fraction_out_of_range_is_refused(small, fake):
    with pytest.raises(ValueError, match=r"fraction in \[0, 1\], got 1.5"):
        run_comparison(small, ["DCH"], [16], 1, unpaired=1.5)


def test_paired_only_methods_are_skipped_when_unpaired(small, fake):
    with pytest.raises(ValueError, match="needs paired data"):
        run_comparison(small, ["DCH"], [16], 1, unpaired=0.5)


# --------------------------------------------------------------------------------------- results
def _hand_made() -> Comparison:
    runs = [
        _run("A", 16, 0, 0.50, 0.40, 1.0),
        _run("A", 16, 1, 0.60, 0.44, 3.0),
        _run("A", 16, 2, 0.58, 0.47, 2.0),
        _run("A", 32, 0, 0.70, 0.60, 4.0),
        _run("B", 16, 0, 0.30, 0.20, 0.5),
    ]
    return Comparison("toy", ["A", "B"], [16, 32], [0, 1, 2], runs=runs, skipped=["B at 32 bits: no"])


def test_summary_is_mean_and_population_std_per_cell():
    cmp = _hand_made()
    rows = {(r["method"], r["n_bits"]): r for r in cmp.summary()}
    assert list(rows) == [("A", 16), ("A", 32), ("B", 16)]  # grid order
    a16 = rows[("A", 16)]
    assert a16["n_seeds"] == 3
    assert a16["map_i2t_mean"] == pytest.approx(np.mean([0.50, 0.60, 0.58]))
    assert a16["map_i2t_std"] == pytest.approx(np.std([0.50, 0.60, 0.58]))
    assert a16["map_t2i_mean"] == pytest.approx(np.mean([0.40, 0.44, 0.47]))
    assert a16["map_t2i_std"] == pytest.approx(np.std([0.40, 0.44, 0.47]))
    assert a16["fit_seconds_mean"] == pytest.approx(2.0)
    assert a16["fit_seconds_std"] == pytest.approx(np.std([1.0, 3.0, 2.0]))
    assert rows[("A", 32)]["n_seeds"] == 1 and rows[("A", 32)]["map_i2t_std"] == 0.0


def test_csv_has_one_row_per_run_with_its_numbers():
    cmp = _hand_made()
    rows = list(csv.DictReader(io.StringIO(cmp.to_csv())))
    assert len(rows) == len(cmp.runs)
    assert list(rows[0])[:7] == ["dataset", "method", "n_bits", "seed", "protocol", "map_i2t", "map_t2i"]
    assert {"map_i2t_expected", "map_t2i_expected", "fit_seconds"} <= set(rows[0])
    for row, run in zip(rows, cmp.runs, strict=True):
        assert (row["method"], int(row["n_bits"]), int(row["seed"])) == (run.method, run.n_bits, run.seed)
        assert float(row["map_i2t"]) == pytest.approx(run.map_i2t)
        assert float(row["fit_seconds"]) == pytest.approx(run.fit_seconds)


def test_empty_comparison_csv_still_has_a_header():
    text = Comparison("toy", [], [], []).to_csv()
    assert text.splitlines() == ["method,n_bits,seed"]


def test_json_round_trip_keeps_every_field():
    cmp = _hand_made()
    cmp.reused = 2
    back = Comparison.from_dict(json.loads(cmp.to_json()))
    assert back == cmp  # dataclass equality: fields and runs (models are not compared)
    assert back.runs[1].report["i2t"]["pr_curve"] == cmp.runs[1].report["i2t"]["pr_curve"]
    assert back.summary() == cmp.summary() and back.to_csv() == cmp.to_csv()


def test_table_shows_mean_and_std_per_cell():
    text = _hand_made().table()
    mean, std = np.mean([0.50, 0.60, 0.58]), np.std([0.50, 0.60, 0.58])
    assert f"| A | {mean:.3f} ± {std:.3f} | 0.700 |" in text
    assert "| B | 0.300 | n/a |" in text


def test_curves_take_one_seed_per_cell():
    cmp = _hand_made()
    curves = cmp.curves("t2i")
    assert list(curves) == ["A · 16 bits", "A · 32 bits", "B · 16 bits"]
    assert curves["A · 16 bits"]["precision"][0] == 0.40  # seed 0 (the first), not the mean
    assert cmp.curves("i2t", seed=1) == {"A · 16 bits": cmp.runs[1].report["i2t"]["pr_curve"]}
    assert list(cmp.curves("i2t", by="rank")["B · 16 bits"]) == ["k", "precision", "recall"]
    with pytest.raises(ValueError, match="direction must be 'i2t' or 't2i', got 'x2y'"):
        cmp.curves("x2y")
    with pytest.raises(ValueError, match="by must be 'radius' or 'rank'"):
        cmp.curves("i2t", by="k")


# ---------------------------------------------------------------------------------------- figure
def test_map_vs_bits_figure_has_a_line_per_method_with_std_bars_and_chance():
    cmp = _hand_made()
    fig = plotting.map_vs_bits_figure(cmp.summary(), "i2t", chance={16: 0.1, 32: 0.11})
    names = [t.name for t in fig.data]
    assert names == ["A", "B", "chance (random codes)"]
    a = fig.data[0]
    assert list(a.x) == [16, 32] and list(a.y) == pytest.approx([np.mean([0.50, 0.60, 0.58]), 0.70])
    assert list(a.error_y.array) == pytest.approx([np.std([0.50, 0.60, 0.58]), 0.0])
    assert list(fig.data[2].y) == [0.1, 0.11] and fig.data[2].line.dash == "dash"
    assert list(fig.layout.xaxis.tickvals) == [16, 32]


def test_map_vs_bits_figure_edge_cases():
    empty = plotting.map_vs_bits_figure([], "t2i")
    assert len(empty.data) == 0 and "No runs" in empty.layout.annotations[0].text
    no_chance = plotting.map_vs_bits_figure(_hand_made().summary(), "t2i")
    assert [t.name for t in no_chance.data] == ["A", "B"]
    with pytest.raises(ValueError, match="got 'both'"):
        plotting.map_vs_bits_figure([], "both")


# ----------------------------------------------------------------------------------- real training
def test_real_grid_beats_random_codes_at_every_length():
    ds = make_synthetic(n=300, d_img=32, d_txt=24, n_labels=6, random_state=1)
    cmp = run_comparison(ds, ["RandomCodes", "DCH"], [8, 16], 2)
    assert len(cmp.runs) == 8 and all(r.model is not None for r in cmp.runs)
    rows = {(r["method"], r["n_bits"]): r for r in cmp.summary()}
    for b in (8, 16):
        for d in ("i2t", "t2i"):
            assert rows[("DCH", b)][f"map_{d}_mean"] >= rows[("RandomCodes", b)][f"map_{d}_mean"] + 0.1
    seeds = {(r.method, r.n_bits): set() for r in cmp.runs}
    for r in cmp.runs:
        seeds[(r.method, r.n_bits)].add(r.seed)
    assert all(s == {0, 1} for s in seeds.values())


def test_comparison_pr_figure_colours_by_method_and_dashes_by_length():
    cmp = _hand_made()
    fig = plotting.comparison_pr_figure(cmp.curves("i2t"))
    assert [t.name for t in fig.data] == ["A · 16 bits", "A · 32 bits", "B · 16 bits"]
    colour = {t.name: t.line.color for t in fig.data}
    dash = {t.name: t.line.dash for t in fig.data}
    assert colour["A · 16 bits"] == colour["A · 32 bits"] != colour["B · 16 bits"]
    assert dash["A · 16 bits"] == dash["B · 16 bits"] != dash["A · 32 bits"]
    bars = plotting.map_vs_bits_figure(cmp.summary(), "i2t")
    assert bars.data[0].line.color == colour["A · 16 bits"]  # one colour per method on the page
    assert list(fig.data[1].y) == cmp.runs[3].report["i2t"]["pr_curve"]["precision"]
