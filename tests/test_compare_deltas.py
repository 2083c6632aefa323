"""Compare's difference to the best baseline, its legend under the plot, and the report's query gallery.

One small real comparison on the synthetic data (JSPSH, a seed method, against DCH and CCA-ITQ,
with RandomCodes as chance; 16 bits, two seeds), shared by the tests of this file.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cmh_core import plotting
from cmh_core._deltas import baseline_deltas, is_baseline
from cmh_core.comparison import Comparison, run_comparison
from cmh_core.report import comparison_report_html

METHODS = ["JSPSH", "DCH", "CCA-ITQ", "RandomCodes"]


@pytest.fixture(scope="module")
def cmp(synthetic_ds) -> Comparison:
    return run_comparison(synthetic_ds, METHODS, [16], seeds=2)


def _mean(cmp: Comparison, method: str, direction: str) -> float:
    return float(np.mean([getattr(r, f"map_{direction}") for r in cmp.runs if r.method == method]))


def test_baselines_are_the_classic_methods_without_chance():
    assert is_baseline("DCH") and is_baseline("CCA-ITQ") and is_baseline("dcmh")
    assert not is_baseline("RandomCodes") and not is_baseline("JSPSH") and not is_baseline("no-such")


@pytest.mark.parametrize("direction", ["i2t", "t2i"])
def test_delta_equals_the_difference_to_the_best_baseline(cmp, direction):
    assert len(cmp.runs) == 8 and not cmp.skipped
    means = {m: _mean(cmp, m, direction) for m in METHODS}
    best = max(("DCH", "CCA-ITQ"), key=means.get)
    other = "CCA-ITQ" if best == "DCH" else "DCH"
    summary = cmp.summary()
    got = {r["method"]: d for r, d in zip(summary, baseline_deltas(summary, direction), strict=True)}
    assert got["JSPSH"]["baseline"] == best
    assert got["JSPSH"]["delta"] == pytest.approx(means["JSPSH"] - means[best], abs=1e-12)
    assert got[best]["baseline"] == other  # a baseline against the best other one: its lead
    assert got[best]["delta"] == pytest.approx(means[best] - means[other], abs=1e-12)
    assert got[best]["delta"] >= 0
    assert got["RandomCodes"] is None  # the chance level has its own line, no delta


def test_compare_table_shows_the_delta_and_its_baseline(cmp):
    from ui.compare import summary_rows

    rows = {r["method"]: r for r in summary_rows(cmp)}
    for direction, arrow in (("i2t", "I→T"), ("t2i", "T→I")):
        means = {m: _mean(cmp, m, direction) for m in METHODS}
        best = max(("DCH", "CCA-ITQ"), key=means.get)
        cell = rows["JSPSH"][f"Δ mAP {arrow} vs best baseline"]
        value, name = re.fullmatch(r"([+-]\d\.\d{3}) vs (\S+)", cell).groups()
        assert name == best and float(value) == pytest.approx(means["JSPSH"] - means[best], abs=5e-4)
        assert rows["RandomCodes"][f"Δ mAP {arrow} vs best baseline"] == ""


def test_a_delta_needs_a_baseline_at_the_same_length():
    rows = [
        {"method": "JSPSH", "n_bits": 16, "map_i2t_mean": 0.7},
        {"method": "DCH", "n_bits": 32, "map_i2t_mean": 0.6},
    ]
    assert baseline_deltas(rows, "i2t") == [None, None]
    with pytest.raises(ValueError, match="direction"):
        baseline_deltas(rows, "x2y")


def test_map_vs_bits_legend_sits_under_the_plot(cmp):
    fig = plotting.map_vs_bits_figure(cmp.summary(), "i2t", {16: 0.2})
    legend = fig.layout.legend
    assert legend.orientation == "h" and legend.y < 0 and legend.yanchor == "top"
    pr = plotting.comparison_pr_figure(cmp.curves("i2t"))
    assert pr.layout.legend.orientation == "h" and pr.layout.legend.y < 0


def test_comparison_report_shows_the_gallery_from_the_app_s_records(cmp, synthetic_ds):
    """The app keeps a comparison as `to_dict` (no models): the registry's lookup brings the gallery."""
    kept = Comparison.from_dict(cmp.to_dict())
    assert all(r.model is None for r in kept.runs)
    trained = {(r.method, r.n_bits, r.seed): r for r in cmp.runs}
    asked = []

    def lookup(method, n_bits, seed):
        asked.append((method, n_bits, seed))
        return trained.get((method, n_bits, seed))

    chance = {16: {"i2t": 0.2, "t2i": 0.2}}  # given: the gallery is what this test looks at
    html = comparison_report_html(kept, synthetic_ds, chance=chance, lookup=lookup)
    best = max(cmp.runs, key=lambda r: r.map_i2t + r.map_t2i)
    assert asked[0] == (best.method, best.n_bits, best.seed)
    assert f"of the best run, {best.method} · 16 bits · seed {best.seed}" in html
    # 3 best + 3 worst queries per direction: image queries show the query, caption queries 5 results
    n_images = len(re.findall(r'<img src="data:image/webp;base64,', html))
    assert n_images == 2 * 3 + 2 * 3 * 5, n_images
    assert "Δ I→T vs best baseline" in html
    without = comparison_report_html(kept, synthetic_ds, chance=chance)
    assert "data:image/webp" not in without and "No query gallery" in without
