"""The experiment record and the command line (`python -m cmh_core ...`, `cmh`)."""

import csv
import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from cmh_core import cli
from cmh_core.cli import format_table, main, method_catalogue
from cmh_core.datasets import load_dataset, make_synthetic
from cmh_core.experiment import Run, run_experiment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    return make_synthetic(n=500, d_img=48, d_txt=32, n_labels=8, random_state=0)


def _one_line_error(capsys, *expected):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for e in expected:
        assert e in err, err
    return err


def test_run_is_json_and_round_trips(small):
    calls = []
    run = run_experiment(small, "dch", n_bits=16, seed=0, callback=lambda *a: calls.append(a))
    assert run.method == "DCH" and run.n_bits == 16
    assert run.map_i2t > 0.3 and run.map_t2i > 0.3  # far above chance on separable synthetic data
    assert calls and len(run.history) == len(calls) and run.fit_seconds > 0
    d = json.loads(run.to_json())
    assert "model" not in d and d["report"]["i2t"]["mAP"] == run.map_i2t
    back = Run.from_dict(d)
    assert back.map_t2i == run.map_t2i and back.model is None


# ----------------------------------------------------------------------------------------- tables
def _rows(values, **extra):
    return [
        {"method": "A", "n_bits": 16, "seed": s, "map_i2t": v, "map_t2i": v, "fit_seconds": 1.0, **extra}
        for s, v in enumerate(values)
    ]


def test_format_table_mean_and_std():
    text = format_table(_rows([0.2, 0.4]), [16, 32])
    assert "| A | 0.300 ± 0.100 | n/a |" in text
    assert "tie-expected" not in text  # no such values in the rows: no such table


def test_format_table_one_seed_prints_no_spread():
    text = format_table(_rows([0.25]), [16])
    assert "| A | 0.250 |" in text and "±" not in text


def test_format_table_shows_tie_expected_beside_stable():
    text = format_table(_rows([0.6, 0.7], map_i2t_expected=0.5, map_t2i_expected=0.55), [16])
    blocks = text.split("\n\n")
    assert "I→T), ties broken by database order" in blocks[0] and "I→T), tie-expected" in blocks[1]
    assert "| A | 0.500 ± 0.000 |" in blocks[1] and "| A | 0.550 ± 0.000 |" in blocks[3]


# ------------------------------------------------------------------------------------------ bench
@pytest.mark.slow
def test_bench_writes_csv_and_json(tmp_path, capsys):
    out_csv, out_json = tmp_path / "r.csv", tmp_path / "r.json"
    argv = ["bench", "--dataset", "tuxpaint", "--methods", "scm", "--bits", "16", "--seeds", "1"]
    assert main([*argv, "--csv", str(out_csv), "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert "mAP, image → text (I→T)" in captured.out and "| SCM |" in captured.out
    assert "±" not in captured.out  # one seed: no spread
    assert captured.err.startswith("progress (1 runs") and "SCM 16 0" in captured.err
    assert "| SCM |" not in captured.err  # progress lines do not repeat the table
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["method"] == "SCM" and float(rows[0]["map_i2t"]) > 0.2
    records = json.loads(out_json.read_text(encoding="utf-8"))
    assert len(records) == 1
    assert float(rows[0]["map_i2t_expected"]) == pytest.approx(records[0]["report"]["i2t"]["mAP_expected"])
    assert "I→T), tie-expected" in captured.out


@pytest.mark.slow
def test_bench_skips_what_a_method_refuses_and_says_so(capsys):
    argv = ["bench", "--methods", "DCH", "--bits", "16", "100000", "--seeds", "1", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| DCH | " in out and "n/a" in out  # 16 bits ran, 100000 bits did not
    assert "not run" in out and "DCH at 100000 bits: the largest n_bits for 630 training items" in out
    # every combination refused: one clear error, not an empty table
    assert main(["bench", "--methods", "DCH", "--bits", "16", "--unpaired", "1"]) == 2
    _one_line_error(capsys, "nothing to run", "DCH: needs paired data")
    assert main(["bench", "--methods", "DCH", "--unpaired", "1.5"]) == 2
    _one_line_error(capsys, "--unpaired must be a fraction in [0, 1], got 1.5")


def test_bad_method_is_a_one_line_error(capsys):
    assert main(["bench", "--methods", "NoSuchHash", "--bits", "16", "--seeds", "1"]) == 2
    _one_line_error(capsys, "unknown method 'NoSuchHash'", "DCH")


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any run starts: output paths must be refused before work."""
    import cmh_core.experiment

    def refuse(*a, **k):
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(cmh_core.experiment, "run_experiment", refuse)


@pytest.mark.usefixtures("no_training")
def test_bad_output_paths_are_refused_before_any_work(tmp_path, capsys):
    missing = tmp_path / "no-such-dir" / "r.csv"
    assert (
        main(["bench", "--methods", "RandomCodes", "--bits", "16", "--seeds", "1", "--csv", str(missing)])
        == 2
    )
    _one_line_error(capsys, "the --csv file", "no-such-dir' does not exist")
    assert main(["bench", "--methods", "RandomCodes", "--json", str(tmp_path)]) == 2
    _one_line_error(capsys, "it is a directory")
    assert main(["train", "--method", "DCH", "--out", str(tmp_path / "nope" / "m")]) == 2
    _one_line_error(capsys, "the model file", "m.npz")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bench", "--bits", "x"], "invalid int value: 'x'"),
        (["train"], "the following arguments are required: --method"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["bench", "--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["train", "--method", "DCH", "--bits", "0"], "--bits must be a positive code length, got 0"),
    ],
)
def test_usage_errors_are_one_line(capsys, argv, expected):
    assert main(argv) == 2
    _one_line_error(capsys, expected)


def test_bad_files_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty.npz").write_bytes(b"")
    assert main(["train", "--method", "DCH", "--dataset", str(tmp_path / "empty.npz")]) == 2
    _one_line_error(capsys, "empty.npz is empty (0 bytes)")
    assert main(["export", "--dataset", str(tmp_path), "--out", str(tmp_path / "x.npz")]) == 2
    _one_line_error(capsys, f"{tmp_path} is a directory")


def test_internal_error_is_one_line_too(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_datasets", broken)
    assert main(["datasets"]) == 1
    _one_line_error(capsys, "internal error (RuntimeError: boom)", "CMH_DEBUG=1")


# ------------------------------------------------------------------------------------ train, export
@pytest.mark.slow
def test_train_saves_a_loadable_model(tmp_path, capsys):
    from cmh_core.methods import load_model

    assert main(["train", "--method", "cca-itq", "--bits", "16", "--out", str(tmp_path / "m")]) == 0
    assert "saved model to" in capsys.readouterr().out
    assert load_model(tmp_path / "m.npz").code_length == 16


def test_export_writes_mat_that_loads_back(tmp_path, capsys):
    out = tmp_path / "tuxpaint.mat"
    assert main(["export", "--dataset", "TuxPaint", "--out", str(out)]) == 0
    assert f"wrote tuxpaint to {out}: 158 query and 630 database items" in capsys.readouterr().out
    ds, back = load_dataset("tuxpaint"), load_dataset(out)
    assert (back.image_features[back.split.query] == ds.image_features[ds.split.query]).all()
    assert main(["export", "--out", str(tmp_path / "t.csv")]) == 2
    _one_line_error(capsys, "unsupported suffix '.csv'; use one of .npz, .mat")


# ------------------------------------------------------------------------------ help and listings
def test_help_lists_every_command_without_rst_markup(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("bench", "train", "export", "datasets", "methods"):
        assert f"\n    {cmd} " in out, cmd
    assert "``" not in out and "`" not in out


def test_train_help_documents_every_option_and_lists_methods(capsys):
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for opt, words in (
        ("--dataset DATASET", "bundled name"),
        ("--method METHOD", "the method to train"),
        ("--bits BITS", "code length"),
        ("--seed SEED", "random_state"),
        ("--protocol {learned,encoded}", "database codes"),
        ("--out OUT", "save the trained model"),
    ):
        assert f"{opt} {words}" in out, opt
    assert "methods: " + ", ".join(m["name"] for m in method_catalogue()) in out


def test_methods_lists_header_fidelity_and_idea(capsys):
    from cmh_core.methods import METHODS

    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["method", "fidelity", "idea"]
    assert len(lines) == 1 + len(METHODS)
    for line, (name, cls) in zip(lines[1:], METHODS.items(), strict=True):
        assert line.startswith(name) and cls.fidelity in line and cls.paper["idea"] in line


def test_catalogue_read_from_source_equals_the_imported_registry():
    from cmh_core.methods import METHODS

    expected = [(n, c.fidelity, c.paper.get("idea", "")) for n, c in METHODS.items()]
    source = cli._catalogue_from_source(ROOT / "cmh_core" / "methods")
    assert [(e["name"], e["fidelity"], e["idea"]) for e in source] == expected


def test_methods_command_does_not_import_sklearn():
    code = "import sys; from cmh_core.cli import main; main(['methods']); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_module_entry_point_lists_datasets_and_methods():
    for cmd, expect in (("datasets", "tuxpaint"), ("methods", "CCA-ITQ"), ("--help", "export")):
        res = subprocess.run(
            [sys.executable, "-m", "cmh_core", cmd], capture_output=True, text=True, check=True
        )
        assert expect in res.stdout


# --------------------------------------------------------------------------------------- packaging
def test_pyproject_declares_console_script_and_dynamic_dependencies():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = conf["project"]
    assert "dependencies" in project["dynamic"] and "dependencies" not in project
    assert conf["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    module, func = project["scripts"]["cmh"].split(":")
    entry = getattr(importlib.import_module(module), func)
    assert entry is main and entry(["datasets"]) == 0
    # setuptools keeps every line that is not blank or a comment line as one requirement
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    reqs = [Requirement(s) for s in (ln.strip() for ln in lines) if s and not s.startswith("#")]
    assert {"numpy", "scikit-learn", "torch"} <= {r.name for r in reqs}
