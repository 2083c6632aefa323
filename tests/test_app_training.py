"""AppTest: the Train page's background trainings: Stop cancels, a second one waits in the queue.

``CMH_TEST_SLOW_FIT_S`` (the jobs' test hook) makes each DCH iteration sleep, so the training is
still running when the test presses Stop.
"""

from __future__ import annotations

import pytest
from apptest_helpers import by_key, open_page, wait_trainings

from cmh_core.datasets import load_dataset
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint

pytestmark = [pytest.mark.app, pytest.mark.slow]
TIMEOUT = 180


def test_stop_cancels_and_a_second_training_queues(monkeypatch):
    monkeypatch.setenv("CMH_TEST_SLOW_FIT_S", "3")
    at = open_page("pages/2_Train.py", timeout=TIMEOUT)
    next(b for b in at.button if b.label == "Train").click().run()  # DCH: at least 15 s now
    by_key(at.selectbox, "train_method").set_value("SCM").run()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    bars = [p.proto.text for p in at.get("progress")]
    assert any(t.startswith("DCH · 32 bits · seed 0 · ") for t in bars), bars
    assert "SCM · 32 bits · seed 0: waiting, number 1 in the queue" in bars, bars
    stops = [b for b in at.button if b.key and b.key.startswith("stop_")]
    assert len(stops) == 2
    for b in stops:
        b.click()
    at.run()
    said = " ".join(w.value for w in at.warning)  # a queued job is dropped at once
    assert "The training of SCM · 32 bits · seed 0 was stopped" in said, said
    wait_trainings(at)  # a running one stops at its next report; that run shows the notice
    said = " ".join(w.value for w in at.warning)
    assert "The training of DCH · 32 bits · seed 0 was stopped" in said, said
    assert at.session_state["cmh_runs"].current is None  # nothing became current
    fp = dataset_fingerprint(load_dataset("tuxpaint"))
    assert RunCache().get(RunKey.make("tuxpaint", "DCH", 32, 0), fp) is None  # nothing was kept
