"""Search page layout (issue 23): results first, the picker's caption filter, the relevance switch."""

import numpy as np
import pytest
from apptest_helpers import by_key, open_page

from cmh_core.datasets import load_dataset
from cmh_core.evaluation import most_specific_label
from ui.search import filter_queries

TIMEOUT = 120  # the first open trains the default DCH run; the machine is shared


@pytest.fixture(scope="module")
def ds():
    return load_dataset("tuxpaint")


@pytest.fixture(scope="module")
def at():
    """One Search session for the module's flows (each test leaves the filter and rule at defaults)."""
    return open_page("pages/3_Search.py", timeout=TIMEOUT)


def _walk(node):
    """Every node of an AppTest tree in page order (depth first, children by their index)."""
    yield node
    children = getattr(node, "children", None) or {}
    for k in sorted(children):
        yield from _walk(children[k])


def _position(at, match) -> int:
    return next(n for n, node in enumerate(_walk(at.main)) if match(node))


def _is(kind: str, text: str):
    def match(node) -> bool:
        if getattr(node, "type", None) != kind:
            return False
        value = getattr(node, "label", None) if kind in ("expander", "metric") else getattr(node, "value", "")
        return isinstance(value, str) and value.startswith(text)

    return match


def test_filter_queries_is_a_case_insensitive_substring(ds):
    q = [int(i) for i in ds.split.query]
    hits = filter_queries(ds.texts, q, "  SailBoat ")
    assert hits and all("sailboat" in ds.texts[i].lower() for i in hits)
    assert filter_queries(ds.texts, q, "") == q
    assert filter_queries(ds.texts, q, "zzqx-nothing") == []
    om = load_dataset("openmoji")  # koala is a database emoji there: found among the database captions
    assert filter_queries(om.texts, [int(i) for i in om.split.database], "Koala")


@pytest.mark.app
def test_results_come_before_the_playground_and_your_items(at):
    assert not at.exception
    first_card = _position(at, lambda n: getattr(n, "type", None) == "markdown" and "`d = " in n.value)
    ap = _position(at, _is("metric", "AP of this query"))
    picker = _position(at, _is("expander", "Choose a query"))
    playground = _position(at, _is("expander", "Bit playground"))
    mine = _position(at, _is("expander", "Add your own item"))
    assert picker < ap < first_card < playground < mine
    # the results come directly under the query: no expander between the query and the first card
    assert not [
        n for n in list(_walk(at.main))[picker + 1 : first_card] if getattr(n, "type", "") == "expander"
    ]


@pytest.mark.app
def test_caption_filter_narrows_the_picker_and_an_impossible_one_says_so(at, ds):
    box = by_key(at.text_input, "query_filter")
    box.input("coin").run()
    assert not at.exception, at.exception
    want = filter_queries(ds.texts, [int(i) for i in ds.split.query], "coin")
    picks = sorted(int(b.key.removeprefix("pick_")) for b in at.button if (b.key or "").startswith("pick_"))
    assert picks == sorted(want) and len(want) == 2
    assert any(e.label == f"Choose a query (2 of {len(ds.split.query)} match)" for e in at.expander)
    shown = [t.value for t in at.text]
    assert all(any(ds.texts[i][:50] in v for v in shown) for i in want)  # the captions are shown

    by_key(at.text_input, "query_filter").input("zzqx no such words").run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if (b.key or "").startswith("pick_")]
    assert any("No caption in the query set contains" in i.value for i in at.info)
    assert any(e.label.startswith("Choose a query (0 of") for e in at.expander)

    by_key(at.text_input, "query_filter").input("").run()  # back to the whole query set
    assert len([b for b in at.button if (b.key or "").startswith("pick_")]) == 12


@pytest.mark.app
def test_leaf_relevance_counts_only_the_querys_most_specific_label(at, ds):
    def relevant_in_db() -> int:
        return int(next(m.value for m in at.metric if m.label == "Relevant in the database"))

    q = int(ds.split.query[0])  # the default query: the first image query
    Ydb = ds.labels[np.asarray(ds.split.database)] != 0
    any_count = relevant_in_db()
    assert any_count == int((Ydb & (ds.labels[q] != 0)).any(axis=1).sum())
    by_key(at.radio, "search_relevance").set_value("leaf").run()
    assert not at.exception, at.exception
    leaf = int(most_specific_label(ds.labels[q][None], ds.labels.sum(axis=0))[0])
    assert relevant_in_db() == int(Ydb[:, leaf].sum()) < any_count
    by_key(at.radio, "search_relevance").set_value("any").run()
    assert relevant_in_db() == any_count
