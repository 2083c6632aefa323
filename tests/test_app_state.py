"""AppTest: the current run follows the user's last action across trainings, the picker and Compare.

The reported bug: after a second training the Train page kept the first run, and so did the URL,
Search, Code Map and Failures. Here one session trains DCH, then CCA-ITQ, then SCM; after each,
the run shown, its metrics, the URL and Search's run are the one just trained. Then an older run
is picked, and a compared run made current: each becomes current.
"""

from __future__ import annotations

import pytest
from apptest_helpers import by_key, open_page, press_train
from streamlit.testing.v1 import AppTest

from cmh_core.datasets import load_dataset
from cmh_core.runcache import RunCache, RunKey, dataset_fingerprint

pytestmark = [pytest.mark.app, pytest.mark.slow]
TIMEOUT = 180  # loaded, shared machine: trainings and page imports can take a while


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A registry of this module's own (the app reads ``$CMH_CACHE_DIR``)."""
    root = tmp_path_factory.mktemp("cmh_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CMH_CACHE_DIR", str(root))
        yield root


def registered(cache_dir, key: RunKey):
    return RunCache(cache_dir / "runs").get(key, dataset_fingerprint(load_dataset(key.dataset)))


def train(at: AppTest, method: str) -> AppTest:
    by_key(at.selectbox, "train_method").set_value(method).run()
    return press_train(at)


def current(at: AppTest) -> RunKey:
    return at.session_state["cmh_runs"].current


def shown_on_train(at: AppTest) -> tuple[str, str, str]:
    title = next(h.value for h in at.subheader if h.value.startswith("Current run: "))
    metrics = {m.label: m.value for m in at.metric}
    return title.removeprefix("Current run: "), metrics["mAP I→T"], metrics["mAP T→I"]


def search_run(at: AppTest) -> str:
    open_page("pages/3_Search.py", at, TIMEOUT)
    caption = next(c.value for c in at.caption if c.value.startswith("Current run: "))
    return caption.removeprefix("Current run: **").split("**")[0]


def test_each_training_becomes_current_then_a_pick_then_compare(cache_dir):
    at = open_page("pages/2_Train.py", timeout=TIMEOUT)
    for method in ("DCH", "CCA-ITQ", "SCM"):
        if at.session_state["cmh_page"] != "train":
            open_page("pages/2_Train.py", at, TIMEOUT)
        train(at, method)
        key = RunKey.make("tuxpaint", method, 32, 0)
        run = registered(cache_dir, key)
        assert run is not None, f"{method} is not in the registry"
        assert current(at) == key
        assert shown_on_train(at) == (key.label(), f"{run.map_i2t:.3f}", f"{run.map_t2i:.3f}")
        assert (at.query_params["method"], at.query_params["bits"], at.query_params["seed"]) == (
            method,
            "32",
            "0",
        )
        assert by_key(at.selectbox, "current_pick").value == key.label()
        assert search_run(at) == key.label()
        assert at.query_params["method"] == method  # Search's URL names the same run

    # pick an older run on the Train page: it becomes current everywhere
    open_page("pages/2_Train.py", at, TIMEOUT)
    by_key(at.selectbox, "current_pick").set_value("DCH · 32 bits · seed 0").run()
    assert not at.exception, at.exception
    assert current(at).method == "DCH" and shown_on_train(at)[0] == "DCH · 32 bits · seed 0"
    assert at.query_params["method"] == "DCH"
    assert search_run(at) == "DCH · 32 bits · seed 0"
    assert [k.method for k in at.session_state["cmh_runs"].runs] == ["DCH", "CCA-ITQ", "SCM"]

    # Compare: a compared run made current
    open_page("pages/6_Compare.py", at, TIMEOUT)
    by_key(at.multiselect, "compare_methods").set_value(["CCA-ITQ"])
    by_key(at.multiselect, "compare_bits").set_value([16, 32])
    next(b for b in at.button if b.label == "Run comparison").click().run()
    assert not at.exception, at.exception
    by_key(at.selectbox, "compare_open").set_value("CCA-ITQ · 16 bits · seed 0")
    by_key(at.button, "compare_open_button").click().run()
    assert not at.exception, at.exception
    made = RunKey.make("tuxpaint", "CCA-ITQ", 16, 0)
    assert current(at) == made and at.query_params["bits"] == "16"
    assert search_run(at) == made.label()
    open_page("pages/2_Train.py", at, TIMEOUT)
    assert shown_on_train(at)[0] == made.label()
    assert by_key(at.selectbox, "current_pick").value == made.label()
