"""Graded NDCG@50 beside mAP: in `evaluate`'s report, the bench tables, the CLI and Compare's table.

The oracle is a plain loop: rank each query's database with ``np.argsort(kind="stable")``, gains
``2^g - 1`` with ``g`` the number of labels shared with the query (docs/evaluation.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core.cli import main
from cmh_core.comparison import Comparison, format_table, run_row
from cmh_core.evaluation import evaluate, retrieval_codes
from cmh_core.experiment import Run
from cmh_core.hamming import hamming_distance


def _ndcg_loop(D: np.ndarray, Yq: np.ndarray, Ydb: np.ndarray, k: int) -> float:
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    out = []
    for d, y in zip(D, Yq, strict=True):
        g = (Ydb.astype(int) @ y.astype(int)).astype(float)  # shared labels with every item
        ranked = g[np.argsort(d, kind="stable")][:k]
        ideal = np.sort(g)[::-1][:k]
        idcg = (2**ideal - 1) @ disc[: len(ideal)]
        out.append((2**ranked - 1) @ disc[: len(ranked)] / idcg if idcg > 0 else 0.0)
    return float(np.mean(out))


def test_report_ndcg50_both_directions_matches_a_plain_loop(tux, tux_fitted):
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    rep = evaluate(model, tux)
    codes = retrieval_codes(model, tux)
    Yq, Ydb = tux.labels[tux.split.query], tux.labels[tux.split.database]
    for d, (q, db) in {
        "i2t": ("image_query", "text_database"),
        "t2i": ("text_query", "image_database"),
    }.items():
        want = _ndcg_loop(hamming_distance(codes[q], codes[db]), Yq, Ydb, 50)
        assert rep[d]["NDCG@50"] == pytest.approx(want, abs=1e-12)
        assert 0.0 < rep[d]["NDCG@50"] < 1.0
    assert rep["mean_NDCG@50"] == pytest.approx((rep["i2t"]["NDCG@50"] + rep["t2i"]["NDCG@50"]) / 2)


def test_binary_and_graded_ndcg_differ_on_multilabel_items():
    """Two items share one label with the query, one shares two: only graded NDCG prefers the latter."""
    Yq = np.array([[1, 1, 0]])
    Ydb = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    D_good, D_bad = np.array([[1, 0, 2]]), np.array([[0, 1, 2]])  # the two-label item first / second
    assert _ndcg_loop(D_good, Yq, Ydb, 2) == pytest.approx(1.0)
    assert _ndcg_loop(D_bad, Yq, Ydb, 2) < 0.95
    R = (Ydb @ Yq.T > 0).astype(int)  # binary relevance: both orders are ideal
    assert _ndcg_loop(D_bad, np.ones((1, 1)), R, 2) == pytest.approx(1.0)


def _run(method: str, seed: int, ndcg: tuple[float, float] | None) -> Run:
    report = {
        d: {"mAP": 0.5 + 0.1 * i, **({} if ndcg is None else {"NDCG@50": ndcg[i]})}
        for i, d in enumerate(("i2t", "t2i"))
    }
    return Run(
        dataset="toy",
        method=method,
        n_bits=16,
        seed=seed,
        params={},
        protocol="learned",
        report=report,
        fit_seconds=1.0,
        eval_seconds=0.1,
        history=[],
    )


def test_bench_rows_summary_and_tables_carry_ndcg():
    cmp = Comparison("toy", ["A"], [16], [0, 1], runs=[_run("A", 0, (0.6, 0.4)), _run("A", 1, (0.7, 0.5))])
    assert run_row(cmp.runs[0])["ndcg_i2t"] == 0.6 and run_row(cmp.runs[0])["ndcg_t2i"] == 0.4
    (s,) = cmp.summary()
    assert s["ndcg_i2t_mean"] == pytest.approx(0.65) and s["ndcg_i2t_std"] == pytest.approx(0.05)
    assert s["ndcg_t2i_mean"] == pytest.approx(0.45)
    table = cmp.table()
    assert "NDCG@50, image → text (I→T)" in table and "| A | 0.650 ± 0.050 |" in table
    assert "NDCG@50, text → image (T→I)" in table and "| A | 0.450 ± 0.050 |" in table
    assert "ndcg_i2t" in cmp.to_csv().splitlines()[0]


def test_reports_without_ndcg_still_tabulate():
    cmp = Comparison("toy", ["A"], [16], [0], runs=[_run("A", 0, None)])
    assert "ndcg_i2t" not in run_row(cmp.runs[0]) and "ndcg_i2t_mean" not in cmp.summary()[0]
    assert "NDCG" not in format_table(cmp.rows(), [16]) and "mAP, image → text" in cmp.table()


def test_compare_table_shows_ndcg():
    from ui.compare import summary_rows

    cmp = Comparison("toy", ["A"], [16], [0, 1], runs=[_run("A", 0, (0.6, 0.4)), _run("A", 1, (0.7, 0.5))])
    (row,) = summary_rows(cmp)
    assert row["NDCG@50 I→T"] == "0.650 ± 0.050" and row["NDCG@50 T→I"] == "0.450 ± 0.050"
    assert (
        "NDCG@50 I→T" not in summary_rows(Comparison("toy", ["A"], [16], [0], runs=[_run("A", 0, None)]))[0]
    )


def test_cli_bench_prints_ndcg_tables(capsys):
    argv = [
        "bench",
        "--dataset",
        "tuxpaint",
        "--methods",
        "scm",
        "--bits",
        "16",
        "--seeds",
        "1",
        "--no-progress",
    ]
    assert main([*argv, "--no-progress"]) == 0
    out = capsys.readouterr().out
    i2t = out.split("NDCG@50, image → text (I→T)")[1].split("\n\n")[0]
    value = float(i2t.strip().splitlines()[-1].split("|")[2])
    assert 0.2 < value < 1.0  # SCM ranks far better than chance by graded gain too
    assert "NDCG@50, text → image (T→I)" in out
