"""The experiment record and the command line (`python -m cmh_core ...`)."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from cmh_core.cli import format_table, main
from cmh_core.datasets import make_synthetic
from cmh_core.experiment import Run, run_experiment


@pytest.fixture(scope="module")
def small():
    return make_synthetic(n=500, d_img=48, d_txt=32, n_labels=8, random_state=0)


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


def test_format_table_mean_and_std():
    rows = [
        {"method": "A", "n_bits": 16, "seed": s, "map_i2t": v, "map_t2i": v, "fit_seconds": 1.0}
        for s, v in enumerate([0.2, 0.4])
    ]
    text = format_table(rows, [16, 32])
    assert "| A | 0.300 ± 0.100 | n/a |" in text


def test_bench_writes_csv_and_json(tmp_path, capsys):
    out_csv, out_json = tmp_path / "r.csv", tmp_path / "r.json"
    argv = ["bench", "--dataset", "tuxpaint", "--methods", "RandomCodes", "SCM", "--bits", "16", "32"]
    argv += ["--seeds", "2", "--csv", str(out_csv), "--json", str(out_json), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mAP, image → text (I→T)" in printed and "| SCM |" in printed
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 2 * 2 * 2
    scm = [float(r["map_i2t"]) for r in rows if r["method"] == "SCM" and r["n_bits"] == "32"]
    rnd = [float(r["map_i2t"]) for r in rows if r["method"] == "RandomCodes" and r["n_bits"] == "32"]
    assert np.mean(scm) >= np.mean(rnd) + 0.05
    assert len(json.loads(out_json.read_text(encoding="utf-8"))) == 8


def test_bad_method_is_a_one_line_error(capsys):
    assert main(["bench", "--methods", "NoSuchHash", "--bits", "16", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'NoSuchHash'" in err and "DCH" in err and "Traceback" not in err


def test_train_saves_a_loadable_model(tmp_path, capsys):
    from cmh_core.methods import load_model

    assert main(["train", "--method", "cca-itq", "--bits", "16", "--out", str(tmp_path / "m")]) == 0
    assert "saved model to" in capsys.readouterr().out
    assert load_model(tmp_path / "m.npz").code_length == 16


def test_module_entry_point_lists_datasets_and_methods():
    for cmd, expect in (("datasets", "tuxpaint"), ("methods", "CCA-ITQ")):
        res = subprocess.run(
            [sys.executable, "-m", "cmh_core", cmd], capture_output=True, text=True, check=True
        )
        assert expect in res.stdout
