"""The "Relevant means" switch on Failures and Compare: the pages' numbers follow the library's leaf rule."""

import re

import numpy as np
import pytest
from apptest_helpers import by_key, current_run_of, open_page

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import evaluate, per_query_ap
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint
from ui.failures import relevance_labels

pytestmark = pytest.mark.app

TIMEOUT = 120  # the first open trains the default DCH run; the machine is shared


def test_failures_leaf_map_is_the_librarys(monkeypatch):
    at = open_page("pages/5_Failures.py", timeout=TIMEOUT)
    assert not [c for c in at.caption if c.value.startswith("Relevant = ")]  # "any": no second mAP
    by_key(at.radio, "failures_relevance").set_value("leaf").run()
    assert not at.exception, at.exception
    (line,) = [c.value for c in at.caption if c.value.startswith("Relevant = shares its most specific")]
    shown = float(re.search(r"mAP in this direction (\d\.\d+)", line).group(1))
    ds = load_dataset("tuxpaint")
    want = per_query_ap(current_run_of(at).model, ds, "i2t", relevance="leaf").mean()
    assert shown == pytest.approx(want, abs=5e-4)
    assert shown < current_run_of(at).map_i2t  # stricter than "shares any label" for this run


def test_relevance_labels_keep_database_rows_and_reduce_query_rows():
    class _DS:  # a split whose query and database share item 1: the leaf rows would be ambiguous
        labels = np.array([[1, 1], [1, 0], [0, 1]], dtype=np.uint8)

        class split:  # noqa: N801 - mimics CrossModalDataset.split
            query, database = np.array([0, 1]), np.array([1, 2])

    assert relevance_labels(_DS(), "any") is _DS.labels
    with pytest.raises(ValueError, match="query and database items differ"):
        relevance_labels(_DS(), "leaf")
    ds = load_dataset("tuxpaint")
    leaf = relevance_labels(ds, "leaf")
    q, db = np.asarray(ds.split.query), np.asarray(ds.split.database)
    assert (leaf[q].sum(axis=1) == 1).all() and (leaf[db] == ds.labels[db]).all()


def test_compare_leaf_table_rescores_the_grid(monkeypatch):
    monkeypatch.setenv("CMH_COMPARE_JOBS", "1")
    monkeypatch.setenv("CMH_COMPARE_CACHE", "0")
    at = open_page("pages/6_Compare.py", timeout=TIMEOUT)
    by_key(at.multiselect, "compare_methods").set_value(["CCA-ITQ"])
    by_key(at.multiselect, "compare_bits").set_value([16])
    next(b for b in at.button if b.label == "Run comparison").click().run()
    assert not at.exception, at.exception
    assert not [d for d in at.dataframe if "chance I→T" in d.value.columns]  # "any": no second table
    by_key(at.radio, "compare_relevance").set_value("leaf").run()
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "chance I→T" in d.value.columns]
    assert list(table["method"]) == ["CCA-ITQ"] and list(table["bits"]) == [16]
    ds = load_dataset("tuxpaint")
    run = RunCache().get(RunKey.make("tuxpaint", "CCA-ITQ", 16, 0), dataset_fingerprint(ds))  # the grid's
    assert float(table["mAP I→T"][0]) != pytest.approx(run.map_i2t, abs=5e-4)  # not the "any" score
    rep = evaluate(run.model, ds, relevance="leaf")
    assert float(table["mAP I→T"][0]) == pytest.approx(rep["i2t"]["mAP"], abs=5e-4)
    assert float(table["mAP T→I"][0]) == pytest.approx(rep["t2i"]["mAP"], abs=5e-4)
