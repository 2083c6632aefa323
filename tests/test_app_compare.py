"""AppTest flows of the Compare page: the grid fills the table and charts, reuses runs, shows bad input."""

from __future__ import annotations

import json

import pytest
from apptest_helpers import APP, by_key, open_page, press_train
from streamlit.testing.v1 import AppTest

import cmh_core.comparison
from cmh_core.comparison import Comparison

pytestmark = pytest.mark.app

PAGE = "pages/6_Compare.py"
TIMEOUT = 120  # the test machine is shared and loaded; the default grid trains 4 runs


@pytest.fixture(scope="module", autouse=True)
def trainings():
    """Count the grid's trainings: every call of `run_experiment` made by `run_comparison`."""
    calls: list[tuple] = []
    real = cmh_core.comparison.run_experiment

    def counted(ds, method, **kw):
        calls.append((method, kw["n_bits"], kw["seed"]))
        return real(ds, method, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cmh_core.comparison, "run_experiment", counted)
        mp.setenv("CMH_COMPARE_JOBS", "1")  # trainings are counted in this process
        mp.setenv("CMH_COMPARE_CACHE", "0")  # and none come from an earlier session's disk cache
        yield calls


def _open(at: AppTest | None = None, page: str = PAGE) -> AppTest:
    return open_page(page, at, TIMEOUT)


_by_key = by_key


def _run_button(at: AppTest):
    return next(b for b in at.button if b.label == "Run comparison")


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _caption(at: AppTest, start: str) -> str:
    return next(c.value for c in at.caption if c.value.startswith(start))


@pytest.fixture(scope="module")
def compared(trainings) -> AppTest:
    """One session that ran the default grid: DCH and CCA-ITQ at 16 and 32 bits, one seed."""
    at = _open()
    assert any("No comparison yet" in i.value for i in at.info)
    assert _by_key(at.multiselect, "compare_methods").value == ["DCH", "CCA-ITQ"]
    assert _by_key(at.multiselect, "compare_bits").value == [16, 32]
    _run_button(at).click().run()
    assert not at.exception, at.exception
    return at


def test_grid_fills_the_table(compared, trainings):
    assert not compared.error
    assert sorted(trainings) == sorted((m, b, 0) for m in ("DCH", "CCA-ITQ") for b in (16, 32))
    table = compared.dataframe[0].value
    ndcg = ["NDCG@50 I→T", "NDCG@50 T→I"]  # graded NDCG beside mAP (issue 17)
    delta = ["Δ mAP I→T vs best baseline", "Δ mAP T→I vs best baseline"]  # issue 23
    maps = ["mAP I→T", "mAP T→I"]
    assert list(table.columns) == ["method", "bits", "seeds", *maps, *delta, *ndcg, "training s"]
    for col in delta:  # two baselines: each is measured against the other, the gaps mirror
        dch, cca = table[col][0], table[col][2]
        assert dch.endswith(" vs CCA-ITQ") and cca.endswith(" vs DCH"), (dch, cca)
        assert float(dch.split()[0]) == -float(cca.split()[0])
    assert [(m, b) for m, b in zip(table["method"], table["bits"], strict=True)] == [
        ("DCH", 16),
        ("DCH", 32),
        ("CCA-ITQ", 16),
        ("CCA-ITQ", 32),
    ]
    assert set(table["seeds"]) == {1}
    assert all(float(v) >= 0.4 for v in table["mAP I→T"][:2])  # DCH on tuxpaint: far above chance (~0.1)
    assert compared.get("progress")[0].value == 100
    assert compared.session_state["cmh_compare_runs"]  # the models, kept for reuse


def test_grid_fills_the_charts(compared):
    figs = _figures(compared)
    assert len(figs) == 3  # mAP vs bits for I→T and T→I, the overlaid PR curves
    for fig in figs[:2]:
        names = [t["name"] for t in fig["data"]]
        assert names == ["DCH", "CCA-ITQ", "chance (random codes)"]
        assert all(t["x"] == [16, 32] for t in fig["data"])
        assert all(t["error_y"]["array"] == [0.0, 0.0] for t in fig["data"][:2])  # one seed: no spread
        dch, chance = fig["data"][0]["y"], fig["data"][2]["y"]
        assert all(d > c + 0.2 for d, c in zip(dch, chance, strict=True))
    pr = {t["name"]: t["line"]["color"] for t in figs[2]["data"]}
    assert list(pr) == ["DCH · 16 bits", "DCH · 32 bits", "CCA-ITQ · 16 bits", "CCA-ITQ · 32 bits"]
    assert pr["DCH · 16 bits"] == pr["DCH · 32 bits"] == figs[0]["data"][0]["line"]["color"]
    assert "seed 0 (not averaged)" in _caption(compared, "One curve per method")


def test_downloads_offer_csv_json_and_the_html_report(compared):
    labels = [b.label for b in compared.get("download_button")]
    assert {"Runs CSV", "Runs JSON", "HTML report"} <= set(labels)
    cmp = Comparison.from_dict(compared.session_state["cmh_comparison"])
    assert len(cmp.to_csv().splitlines()) == 1 + 4


def test_second_click_reuses_every_run(compared, trainings):
    before = len(trainings)
    _run_button(compared).click().run()
    assert not compared.exception, compared.exception
    assert len(trainings) == before  # nothing retrained
    assert _caption(compared, "0 trained").startswith("0 trained, 4 reused (trained before on this server)")
    done = "Done: 4 runs, 4 of them reused (trained before on this server)"
    assert compared.get("progress")[0].proto.text == done
    assert len(compared.dataframe[0].value) == 4


def test_result_survives_a_page_switch(compared, trainings):
    before = len(trainings)
    _open(compared, "pages/1_Dataset.py")
    at = _open(compared)
    assert len(at.dataframe[0].value) == 4 and len(_figures(at)) == 3
    assert len(trainings) == before


def test_a_compared_run_becomes_the_current_run(compared):
    _by_key(compared.selectbox, "compare_open").set_value("CCA-ITQ · 32 bits · seed 0")
    _by_key(compared.button, "compare_open_button").click().run()
    assert not compared.exception, compared.exception
    assert any("CCA-ITQ · 32 bits · seed 0 is now the current run" in s.value for s in compared.success)
    assert [k.label() for k in compared.session_state["cmh_runs"].runs] == ["CCA-ITQ · 32 bits · seed 0"]
    at = _open(compared, "pages/3_Search.py")
    assert not any("No run in this session" in i.value for i in at.info)  # used it, no retraining


def test_a_run_of_the_train_page_is_reused(trainings):
    at = _open(page="pages/2_Train.py")
    _by_key(at.button_group, "bits").set_value(16)
    press_train(at)
    before = len(trainings)
    at = _open(at)
    _by_key(at.multiselect, "compare_methods").set_value(["DCH", "RandomCodes"])
    _by_key(at.multiselect, "compare_bits").set_value([16])
    _run_button(at).click().run()
    assert not at.exception and not at.error
    assert trainings[before:] == [("RandomCodes", 16, 0)]  # DCH 16 bits came from the Train page
    assert _caption(at, "1 trained").startswith("1 trained, 1 reused")


@pytest.mark.parametrize(
    ("widget", "value", "message"),
    [
        ("compare_methods", [], "at least one method"),
        ("compare_bits", [], "non-empty list of positive code lengths"),
        ("compare_seeds", 0, "at least one seed, got 0"),
        ("compare_unpaired", 0.5, "nothing to run: DCH: needs paired data (unpaired fraction 0.5)"),
    ],
)
def test_bad_input_is_an_error_with_the_fix(trainings, widget, value, message):
    at = _open()
    before = len(trainings)
    elements = {"compare_seeds": at.number_input, "compare_unpaired": at.slider}.get(widget, at.multiselect)
    _by_key(elements, widget).set_value(value)
    _run_button(at).click().run()
    assert not at.exception, at.exception
    assert any(message in e.value and e.value.startswith("The comparison could not run") for e in at.error)
    assert any("No comparison yet" in i.value for i in at.info)  # nothing half-shown
    assert len(trainings) == before


def test_all_pairs_refused_lists_why(trainings):
    at = _open()
    _by_key(at.multiselect, "compare_methods").set_value(["JSPSH"])
    _by_key(at.multiselect, "compare_bits").set_value([64, 128])
    _run_button(at).click().run()
    assert not at.exception, at.exception
    err = " ".join(e.value for e in at.error)
    assert "nothing to run" in err and "JSPSH at 64 bits: the largest n_bits for 630 training items" in err


def test_refused_pairs_are_listed_beside_the_result(trainings):
    at = _open()
    _by_key(at.multiselect, "compare_methods").set_value(["JSPSH"])
    _by_key(at.multiselect, "compare_bits").set_value([16, 32])
    _run_button(at).click().run()
    assert not at.exception and not at.error
    assert any("JSPSH at 32 bits" in w.value for w in at.warning)
    assert len(at.dataframe[0].value) == 1


def test_a_shared_url_sets_the_form_and_a_run_writes_it(trainings):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in {"cmp_methods": "SCM,NoSuchHash", "cmp_bits": "64,20", "cmp_seeds": "9"}.items():
        at.query_params[k] = v
    at = _open(at)
    assert _by_key(at.multiselect, "compare_methods").value == ["SCM"]  # unknown names dropped
    assert _by_key(at.multiselect, "compare_bits").value == [64]
    assert _by_key(at.number_input, "compare_seeds").value == 1  # out of range: replaced, and said
    assert any("seeds per cell 9" in w.value and "NoSuchHash" not in w.value for w in at.warning)
    assert any("methods NoSuchHash" in w.value for w in at.warning)
    _by_key(at.multiselect, "compare_methods").set_value([])
    _run_button(at).click().run()  # an error, but the choice still goes to the URL
    assert at.error and "cmp_methods" not in at.query_params and at.query_params["cmp_bits"] == "64"


def _lookup_script():
    import streamlit as st

    from cmh_core.comparison import Comparison
    from cmh_core.experiment import run_experiment
    from ui.compare import make_lookup, remember
    from ui.registry import registry
    from ui.state import COMPARE_RUNS, MAX_COMPARE_RUNS, RunKey

    def put(method, n_bits, seed, protocol="learned", params=None):
        run = run_experiment("synthetic", method, n_bits=n_bits, seed=seed, protocol=protocol, params=params)
        registry().put(RunKey.make("synthetic", method, n_bits, seed, params, protocol=protocol), run)
        return run

    put("RandomCodes", 16, 0)
    put("CCA-ITQ", 16, 0, params={"n_iter": 3})  # not the defaults: a grid never asks for it
    learned, encoded = make_lookup("synthetic", "learned"), make_lookup("synthetic", "encoded")
    other = make_lookup("openmoji", "learned")  # never trained in this module
    found = {
        "registered run": learned("RandomCodes", 16, 0) is not None,
        "other protocol": encoded("RandomCodes", 16, 0) is not None,
        "other dataset": other("RandomCodes", 16, 0) is not None,
        "other params": learned("CCA-ITQ", 16, 0) is not None,
        "other seed": learned("RandomCodes", 16, 1) is not None,
    }
    many = [put("RandomCodes", 16, s, "encoded") for s in range(MAX_COMPARE_RUNS + 3)]
    remember("synthetic", Comparison("synthetic", ["RandomCodes"], [16], [], protocol="encoded", runs=many))
    store = st.session_state[COMPARE_RUNS]
    found["stored, newest"] = list(store)[-1] == RunKey.make(
        "synthetic", "RandomCodes", 16, MAX_COMPARE_RUNS + 2, protocol="encoded"
    )
    found["stored, oldest dropped"] = (
        RunKey.make("synthetic", "RandomCodes", 16, 0, protocol="encoded") in store
    )
    found["registered, newest"] = encoded("RandomCodes", 16, MAX_COMPARE_RUNS + 2) is not None
    st.write(found)
    st.write(f"{len(store)} stored")


@pytest.mark.slow
def test_lookup_matches_only_the_same_settings(monkeypatch, tmp_path):
    # a registry of its own: the module's other tests trained grids (RandomCodes on tuxpaint, say)
    # that would rightly be found, so "other dataset" would not be what this test asks
    monkeypatch.setenv("CMH_CACHE_DIR", str(tmp_path))
    at = AppTest.from_function(_lookup_script, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    found = at.json[0].value
    assert json.loads(found) == {
        "registered run": True,
        "other protocol": False,
        "other dataset": False,
        "other params": False,
        "other seed": False,
        "stored, newest": True,
        "stored, oldest dropped": False,
        "registered, newest": True,
    }
    from ui.state import MAX_COMPARE_RUNS

    assert at.markdown[0].value == f"{MAX_COMPARE_RUNS} stored"


def test_progress_texts_name_method_bits_seed_and_reuse():
    from cmh_core.experiment import Run
    from ui.compare import _start_text, _step_text

    run = Run("tuxpaint", "CCA-ITQ", 32, 2, {}, "learned", {}, 1.234, 0.1)
    assert _start_text("", 1, 4, "CCA-ITQ", 32, 2) == "Now run 1 of 4: CCA-ITQ · 32 bits · seed 2…"
    done = _step_text(1, 4, run, False)
    assert done == "Run 1 of 4: CCA-ITQ · 32 bits · seed 2 · trained in 1.2 s"
    assert _step_text(1, 4, run, True).endswith("· reused (trained before on this server)")
    assert _start_text(done, 2, 4, "DCH", 16, 0) == f"{done}; now run 2 of 4: DCH · 16 bits · seed 0…"


def test_a_failing_run_is_an_error_and_the_finished_runs_are_kept(trainings, monkeypatch):
    counted = cmh_core.comparison.run_experiment

    def failing(ds, method, **kw):
        if method == "SCM":
            raise RuntimeError("solver diverged")
        return counted(ds, method, **kw)

    monkeypatch.setattr(cmh_core.comparison, "run_experiment", failing)
    at = _open()
    _by_key(at.multiselect, "compare_methods").set_value(["RandomCodes", "SCM"])
    _by_key(at.multiselect, "compare_bits").set_value([16])
    _run_button(at).click().run()
    assert not at.exception, at.exception
    assert any("The comparison failed (RuntimeError: solver diverged)" in e.value for e in at.error)
    before = len(trainings)
    _by_key(at.multiselect, "compare_methods").set_value(["RandomCodes"])
    _run_button(at).click().run()
    assert not at.exception and not at.error
    assert len(trainings) == before  # RandomCodes, trained before SCM failed, was kept and reused
    assert _caption(at, "0 trained").startswith("0 trained, 1 reused")
