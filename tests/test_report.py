"""The one-file HTML report (run and comparison), its figures, gallery, escaping, and the CLI command."""

import base64
import dataclasses
import io
import re

import pytest
from plotly.offline import get_plotlyjs

from cmh_core.cli import main
from cmh_core.comparison import Comparison, run_comparison
from cmh_core.experiment import Run, run_experiment
from cmh_core.exports import run_codes
from cmh_core.report import (
    comparison_report_html,
    query_examples,
    run_report_html,
    write_report,
)

PLOTLY_JS = get_plotlyjs()
OUTSIDE = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def run(tux):
    return run_experiment(tux, "DCH", n_bits=32, seed=0)


@pytest.fixture(scope="module")
def run_html(run, tux):
    return run_report_html(run, tux)


@pytest.fixture(scope="module")
def comparison(synthetic_ds):
    return run_comparison(synthetic_ds, ["DCH", "SCM"], [16, 32], seeds=2)


@pytest.fixture(scope="module")
def comparison_html(comparison, synthetic_ds):
    return comparison_report_html(comparison, synthetic_ds)


def _assert_self_contained(html: str) -> None:
    """plotly.js inline exactly once, and no reference to anything outside the file."""
    assert html.count(PLOTLY_JS) == 1  # the whole library, verbatim, once
    assert html.count("* plotly.js v") == 1  # and no second copy of any version
    ours = html.replace(PLOTLY_JS, "")  # the library's own code mentions URLs it never loads here
    assert not OUTSIDE.findall(ours), OUTSIDE.findall(ours)[:3]
    assert "<link" not in ours and "@import" not in ours and "url(" not in ours
    assert not re.search(r"<script[^>]*\bsrc=", ours)


def test_run_report_is_one_self_contained_file(run_html):
    _assert_self_contained(run_html)
    assert run_html.startswith("<!DOCTYPE html>") and run_html.rstrip().endswith("</html>")


def test_run_report_has_the_figures_tables_and_parameters(run_html, run):
    assert run_html.count('class="plotly-graph-div"') >= 7  # mAP, loss, PR x2, P@k, balance, correlation
    titles = ["mAP against chance", "Training objective", "Precision-recall by Hamming radius"]
    titles += ["Precision-recall by rank", "Precision of the top k", "Bit balance", "Bit correlation"]
    for title in titles:
        assert title in run_html, title
    assert f"{run.map_i2t:.4f}" in run_html and f"{run.map_t2i_expected:.4f}" in run_html
    assert "Learning Discriminative Binary Codes" in run_html and "<td>n_iter</td>" in run_html
    assert "Tux Paint stamps" in run_html and "158 query, 630 database, 630 train" in run_html
    assert "chance mAP" in run_html


def test_run_report_plots_loss_terms_when_the_method_reports_them(run, tux, run_html):
    assert "Loss terms" not in run_html  # DCH reports only its total objective
    terms = [{"L_sim": 2.0 / (i + 1), "L_q": 0.5 / (i + 1)} for i in range(len(run.history))]
    html = run_report_html(dataclasses.replace(run, loss_terms=terms), tux)
    assert html.count('class="plotly-graph-div"') == run_html.count('class="plotly-graph-div"') + 1
    assert "Loss terms" in html and "L_sim" in html


def test_run_report_size_for_one_run(run_html):
    size = len(run_html.encode("utf-8"))
    own = size - len(PLOTLY_JS.encode("utf-8"))
    assert own < 250_000, own  # tables, figures and 48 thumbnails on top of plotly.js
    assert size < 5_000_000, size  # the aim of issue 10


def test_gallery_thumbnails_are_small_embedded_images(run_html):
    uris = re.findall(r'src="data:image/webp;base64,([A-Za-z0-9+/=]+)"', run_html)
    assert len(uris) >= 8  # 4 best + 4 worst image queries (I→T) at least
    from PIL import Image

    im = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert im.format == "WEBP" and max(im.size) <= 80
    assert run_html.count('class="card"') == 16  # 2 directions x (4 best + 4 worst)


def test_query_examples_are_the_best_and_worst_by_ap(run, tux):
    codes = run_codes(run, tux)
    for direction, expected in (("i2t", run.map_i2t), ("t2i", run.map_t2i)):
        ex = query_examples(codes, tux, direction, n=3, top=4)
        assert ex["ap"].mean() == pytest.approx(expected, abs=1e-12)  # the report's mAP, same AP
        best, worst = [e["ap"] for e in ex["best"]], [e["ap"] for e in ex["worst"]]
        assert best == sorted(best, reverse=True) and worst == sorted(worst)
        assert best[0] == ex["ap"].max() and worst[0] == ex["ap"].min()
        for e in ex["best"] + ex["worst"]:
            d = [r["distance"] for r in e["results"]]
            assert len(d) == 4 and d == sorted(d)
            for r in e["results"]:  # relevant = shares a label with the query
                assert r["relevant"] == bool((tux.labels[e["index"]] & tux.labels[r["index"]]).any())


def test_every_text_is_escaped(synthetic_ds):
    evil = "<script>alert('x')</script> & <b>bold</b>"
    ds = dataclasses.replace(synthetic_ds, name="syn<i>", texts=[evil] * synthetic_ds.n_items)
    run = run_experiment(ds, "RandomCodes", n_bits=16, seed=0)
    html = run_report_html(run, ds, chance={"i2t": 0.1, "t2i": 0.1})
    assert "<script>alert" not in html and "<b>bold" not in html and "syn<i>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "syn&lt;i&gt;" in html


def test_a_record_without_model_still_reports_its_numbers(run, tux):
    bare = Run.from_dict(run.to_dict())
    html = run_report_html(bare, tux, chance={"i2t": 0.1, "t2i": 0.1})
    _assert_self_contained(html)
    assert html.count('class="plotly-graph-div"') >= 5 and "carries no fitted model" in html
    assert 'class="card"' not in html


def test_run_report_refuses_another_dataset(run, synthetic_ds):
    with pytest.raises(ValueError, match="trained on 'tuxpaint'"):
        run_report_html(run, synthetic_ds)


def test_comparison_report_tables_figures_and_gallery(comparison_html, comparison):
    _assert_self_contained(comparison_html)
    assert comparison_html.count('class="plotly-graph-div"') >= 6  # mAP vs bits x2, PR x4
    assert "mAP vs code length" in comparison_html and "(seed mean)" in comparison_html
    for row in comparison.summary():
        cell = f"{row['map_i2t_mean']:.3f} ± {row['map_i2t_std']:.3f}"
        assert cell in comparison_html, cell
    assert comparison_html.count("<tr>") >= len(comparison.runs) + len(comparison.summary())
    assert 'class="card"' in comparison_html and "of the best run" in comparison_html
    assert "data:image/webp;base64," in comparison_html


def test_comparison_pr_curves_at_the_longest_code_every_method_ran(comparison, synthetic_ds):
    runs = [r for r in comparison.runs if not (r.method == "SCM" and r.n_bits == 32)]  # SCM refused 32
    partial = dataclasses.replace(comparison, runs=runs, skipped=["SCM at 32 bits: refused"])
    html = comparison_report_html(partial, synthetic_ds, chance={16: {"i2t": 0.2, "t2i": 0.2}}, gallery=0)
    assert "16 bits (seed mean)" in html and "32 bits (seed mean)" not in html
    assert "SCM at 32 bits: refused" in html and 'class="card"' not in html


def test_comparison_report_refuses_an_empty_comparison(synthetic_ds):
    empty = Comparison(dataset=synthetic_ds.name, methods=["DCH"], bits=[16], seeds=[0])
    with pytest.raises(ValueError, match="no runs"):
        comparison_report_html(empty, synthetic_ds)


def test_write_report_checks_the_path_and_the_object(run, tux, tmp_path):
    with pytest.raises(ValueError, match="unsupported suffix '.txt'"):
        write_report(run, tux, tmp_path / "r.txt")
    with pytest.raises(ValueError, match="does not exist"):
        write_report(run, tux, tmp_path / "missing" / "r.html")
    with pytest.raises(ValueError, match="takes a Run or a Comparison"):
        write_report({"runs": []}, tux, tmp_path / "r.html")
    path = write_report(run, tux, tmp_path / "r.html", chance={"i2t": 0.1, "t2i": 0.1}, gallery=1)
    assert path.read_text(encoding="utf-8").count('class="card"') == 4  # 1 best + 1 worst per direction


# -------------------------------------------------------------------------------------------- CLI
def _one_line_error(capsys, *expected):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for e in expected:
        assert e in err, err


def test_cli_report_of_one_run(tmp_path, capsys):
    out = tmp_path / "dch.html"
    assert main(["report", "--method", "dch", "--bits", "16", "--seed", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "DCH at 16 bits, seed 1" in printed and str(out) in printed and " MB)" in printed
    html = out.read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert "DCH · 16 bits · seed 1 on tuxpaint" in html


@pytest.mark.slow
def test_cli_report_of_a_comparison(tmp_path, capsys):
    out = tmp_path / "cmp.html"
    argv = ["report", "--methods", "RandomCodes,SCM", "--bits", "8,16", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "comparison of RandomCodes, SCM at 8, 16 bits, 1 seed(s)" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert html.count('class="plotly-graph-div"') >= 3 and "<td>SCM</td>" in html


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--method", "DCH", "--out", "{tmp}/missing/r.html"], "does not exist"),
        (["--method", "DCH", "--out", "{tmp}/r.txt"], "unsupported suffix"),
        (["--methods", "DCH,nope", "--out", "{tmp}/r.html"], "unknown method 'nope'"),
        (["--methods", "DCH", "--seed", "1", "--out", "{tmp}/r.html"], "--seeds N"),
        (["--method", "DCH", "--seeds", "0", "--out", "{tmp}/r.html"], "--seeds must be at least 1"),
        (["--method", "DCH", "--bits", "16,x", "--out", "{tmp}/r.html"], "--bits takes a list of ints"),
        (["--method", "DCH", "--bits", "0", "--out", "{tmp}/r.html"], "positive code lengths"),
        (["--method", "DCH", "--unpaired", "2", "--out", "{tmp}/r.html"], "--unpaired must be a fraction"),
    ],
)
def test_cli_report_bad_input_is_one_line_before_any_work(argv, expected, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["report", *argv]) == 2
    _one_line_error(capsys, expected)
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_report_needs_a_method(capsys, tmp_path):
    assert main(["report", "--out", str(tmp_path / "r.html")]) == 2
    _one_line_error(capsys, "one of the arguments --method --methods is required")
