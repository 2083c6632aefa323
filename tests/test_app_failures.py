"""AppTest flows of the Failures page: every query sorted by AP, the detail view, the link to Search."""

import re
from urllib.parse import parse_qs

import numpy as np
import pytest
from apptest_helpers import by_key, follow_link, open_page
from streamlit.testing.v1 import AppTest

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import retrieval_codes
from cmh_core.failures import query_failures, query_table
from cmh_core.runcache import RunCache, dataset_fingerprint

pytestmark = pytest.mark.app

PAGE = "pages/5_Failures.py"
TIMEOUT = 90  # the test machine is shared and loaded


def _open(at: AppTest | None = None, page: str = PAGE, **query) -> AppTest:
    return open_page(page, at, TIMEOUT, **query)


_by_key = by_key


def _run(at: AppTest):
    """The session's current run, read from the registry on disk (what the pages show)."""
    key = at.session_state["cmh_runs"].current
    return RunCache().get(key, dataset_fingerprint(load_dataset(key.dataset)))


def _codes(at: AppTest, ds):
    return retrieval_codes(_run(at).model, ds, "learned")


def _search_link(at: AppTest) -> dict[str, list[str]]:
    (link,) = [p for p in at.get("page_link") if p.proto.label == "Open this query on Search"]
    assert link.proto.page == "Search"
    return parse_qs(link.proto.query_string)


def _lowest_named(at: AppTest) -> tuple[str, int]:
    (m,) = [
        m
        for md in at.markdown
        if (m := re.search(r"Lowest-ranked relevant item: \*\*(\S+)\*\*.*rank \*\*(\d+)\*\*", md.value))
    ]
    return m.group(1), int(m.group(2))


@pytest.fixture(scope="module")
def tux():
    return load_dataset("tuxpaint")


@pytest.fixture(scope="module")
def opened() -> AppTest:
    """One session that opened Failures first (so the page trained the default run)."""
    return _open()


def test_lists_every_query_sorted_by_ap(opened, tux):
    assert any("No run in this session" in i.value for i in opened.info)  # opened the default, said so
    frame = opened.dataframe[0].value
    assert len(frame) == len(tux.split.query)
    ap = frame["AP"].to_numpy()
    assert (np.diff(ap) >= 0).all()  # worst first
    table = query_table(_codes(opened, tux), tux.labels, tux.split, "i2t")
    assert frame["query"].tolist() == table["id"]
    np.testing.assert_allclose(ap, table["ap"], atol=1e-12)
    assert len(opened.session_state["cmh_runs"].runs) == 1
    assert ap.mean() == pytest.approx(_run(opened).map_i2t, abs=1e-12)  # the run's mAP in this direction


def test_detail_names_the_lowest_ranked_relevant_item_and_links_to_search(opened, tux):
    frame = opened.dataframe[0].value
    worst = frame["query"].iloc[0]
    assert _by_key(opened.selectbox, "failures_query").value == worst  # the worst query is shown first
    f = query_failures(_codes(opened, tux), tux.labels, tux.split, "i2t", int(worst.split(":")[1]))
    last = f["lowest_relevant"][0]
    assert _lowest_named(opened) == (f"text:{last['index']}", last["rank"])
    low = next(d.value for d in opened.dataframe if "rank" in d.value.columns)  # the lowest-relevant list
    assert low["item"].iloc[0] == f"text:{last['index']}" and low["rank"].iloc[0] == last["rank"]
    assert _search_link(opened)["query"] == [worst]
    assert opened.query_params["query"] == worst


def test_opens_on_the_worst_query_not_on_searchs_unless_its_url_names_one(tux):
    at = _open(page="pages/3_Search.py")
    chosen = f"image:{int(tux.split.query[5])}"
    at = _open(at, "pages/3_Search.py", query=chosen)
    assert at.session_state["cmh_query"] == chosen
    at = follow_link(at, "Failures", TIMEOUT)  # the sidebar's link: Failures' own view, no query yet
    worst = at.dataframe[0].value["query"].iloc[0]
    assert worst != chosen and _by_key(at.selectbox, "failures_query").value == worst
    named = at.dataframe[0].value["query"].iloc[9]
    at = _open(at, query=named)  # its own URL names one: that one
    assert _by_key(at.selectbox, "failures_query").value == named and at.query_params["query"] == named


def test_another_query_then_search_opens_it(tux):
    at = _open()
    pick = at.dataframe[0].value["query"].iloc[7]
    _by_key(at.selectbox, "failures_query").set_value(pick).run()
    assert not at.exception, at.exception
    f = query_failures(_codes(at, tux), tux.labels, tux.split, "i2t", int(pick.split(":")[1]))
    assert _lowest_named(at)[0] == f"text:{f['lowest_relevant'][0]['index']}"
    link = _search_link(at)
    assert link["query"] == [pick] and link["method"] == ["DCH"] and link["bits"] == ["32"]
    # following the link (AppTest cannot click one: its URL is opened in the same session)
    at = _open(at, "pages/3_Search.py", **{k: v[0] for k, v in link.items()})
    assert at.query_params["query"] == pick
    assert any("**Query (image)**" in m.value for m in at.markdown)
    assert not any("No run in this session" in i.value for i in at.info)  # the same run, not retrained


def test_table_row_selection_chooses_the_query(tux):
    at = _open()
    row = 4
    pick = at.dataframe[0].value["query"].iloc[row]
    at.session_state["failures_table_i2t"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    assert _by_key(at.selectbox, "failures_query").value == pick
    assert _search_link(at)["query"] == [pick]


def test_caption_queries_direction(opened, tux):
    _by_key(opened.button_group, "failures_direction").set_value("t2i").run()
    assert not opened.exception, opened.exception
    frame = opened.dataframe[0].value
    assert len(frame) == len(tux.split.query) and all(q.startswith("text:") for q in frame["query"])
    assert (np.diff(frame["AP"].to_numpy()) >= 0).all()
    query = _by_key(opened.selectbox, "failures_query").value
    f = query_failures(_codes(opened, tux), tux.labels, tux.split, "t2i", int(query.split(":")[1]))
    assert _lowest_named(opened) == (
        f"image:{f['lowest_relevant'][0]['index']}",
        f["lowest_relevant"][0]["rank"],
    )
    assert _search_link(opened)["query"] == [query]


def test_synthetic_dataset_works_too():
    at = _open(dataset="synthetic")
    frame = at.dataframe[0].value
    assert len(frame) == len(load_dataset("synthetic").split.query)
    assert (np.diff(frame["AP"].to_numpy()) >= 0).all()
    assert not at.error


@pytest.mark.slow
def test_unpaired_run_pages_rank_the_codes_the_run_was_evaluated_on(tux):
    from cmh_core.experiment import run_experiment
    from ui.runs import codes_for
    from ui.state import RunKey

    run = run_experiment(tux, "AMSH", n_bits=16, seed=0, unpaired=0.5)
    key = RunKey.make("tuxpaint", "AMSH", 16, 0, unpaired=0.5)
    table = query_table(codes_for(key, run), tux.labels, tux.split, "i2t")
    assert table["ap"].mean() == pytest.approx(run.map_i2t, abs=1e-12)  # the Train page's mAP


def test_a_query_without_relevant_items_is_explained_not_a_traceback(monkeypatch):
    import ui.failures
    from cmh_core.failures import query_failures as real

    def without_labels(codes, labels, split, direction, index, k=10):
        bare = labels.copy()
        bare[index] = 0  # the shown query carries no label: nothing in the database is relevant
        return real(codes, bare, split, direction, index, k=k)

    monkeypatch.setattr(ui.failures, "query_failures", without_labels)
    at = _open()
    assert not at.error
    assert any("shares no label with any of the 630 database texts" in i.value for i in at.info)
    assert {m.label: m.value for m in at.metric}["First relevant rank"] == "none"
    assert not [md for md in at.markdown if "Lowest-ranked relevant item" in md.value]
    irrelevant = [d.value for d in at.dataframe if "rank" in d.value.columns]
    assert len(irrelevant) == 1 and irrelevant[0]["rank"].tolist() == list(range(1, 11))
