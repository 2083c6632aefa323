"""The current run follows the user's last action: one transition (`ui.state.follow`), one test per event."""

from __future__ import annotations

import pytest

from cmh_core.runcache import RunKey
from ui.state import MAX_RUNS, RunStore, SessionRuns, follow, set_query_choice


def key(method: str = "DCH", bits: int = 32, seed: int = 0) -> RunKey:
    return RunKey.make("tuxpaint", method, bits, seed)


def trained(*methods: str) -> SessionRuns:
    s = SessionRuns()
    for m in methods:
        s, _ = follow(s, "trained", key(m))
    return s


def test_a_finished_training_becomes_current_even_after_another():
    # the reported bug: a second training did not become the current run
    s = trained("DCH")
    s, dropped = follow(s, "trained", key("CCA-ITQ"))
    assert s.current == key("CCA-ITQ") and dropped is None
    s, _ = follow(s, "trained", key("SCM"))
    assert s.current == key("SCM")
    assert list(s.runs) == [key("DCH"), key("CCA-ITQ"), key("SCM")]


def test_a_picked_run_becomes_current_and_keeps_its_place():
    s = trained("DCH", "CCA-ITQ", "SCM")
    s, dropped = follow(s, "picked", key("DCH"))
    assert s.current == key("DCH") and dropped is None
    assert list(s.runs) == [key("DCH"), key("CCA-ITQ"), key("SCM")]


def test_picking_a_run_outside_the_list_is_refused():
    with pytest.raises(ValueError, match="not in this session's runs"):
        follow(trained("DCH"), "picked", key("SCM"))


def test_a_compared_run_made_current_joins_the_list():
    s = trained("DCH")
    s, _ = follow(s, "compared", key("CCA-ITQ", 16))
    assert s.current == key("CCA-ITQ", 16) and list(s.runs)[-1] == key("CCA-ITQ", 16)


def test_an_opened_link_becomes_current():
    s = trained("DCH", "SCM")
    s, _ = follow(s, "link", key("DCH"))  # already listed: moves to the newest place
    assert s.current == key("DCH") and list(s.runs) == [key("SCM"), key("DCH")]
    s, _ = follow(SessionRuns(), "link", key("CCA-ITQ"))  # a new session opened by a link
    assert s.current == key("CCA-ITQ") and list(s.runs) == [key("CCA-ITQ")]


def test_the_list_is_capped_and_never_drops_the_current_run():
    s = SessionRuns()
    for seed in range(MAX_RUNS):
        s, dropped = follow(s, "trained", key(seed=seed))
        assert dropped is None
    s, _ = follow(s, "picked", key(seed=0))  # the oldest is current
    s, dropped = follow(s, "trained", key(seed=99))
    assert dropped == key(seed=1) and len(s.runs) == MAX_RUNS and key(seed=0) in s.runs
    assert s.current == key(seed=99)


def test_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown event 'opened'"):
        follow(SessionRuns(), "opened", key())


def test_run_store_serves_the_comparison_store_too():
    store = RunStore(cap=3)
    for seed in range(5):
        store, _ = store.add(key(seed=seed))
    assert list(store) == [key(seed=2), key(seed=3), key(seed=4)]
    store, dropped = store.add(key(seed=2))  # re-adding refreshes, drops nothing
    assert dropped is None and list(store)[-1] == key(seed=2)


def test_a_new_query_clears_the_widgets_keyed_by_the_old_query():
    state = {"flips_32_00ff": [3], "bit_result_00ff": 2, "other": 1}
    set_query_choice("image:12", state)
    assert state == {"other": 1, "cmh_query": "image:12"}
    state["flips_32_aa"] = [1]
    set_query_choice("image:12", state)  # same query: kept
    assert "flips_32_aa" in state
