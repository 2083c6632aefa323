"""AppTest: every page opened with each bad URL value shows no exception and a notice naming it.

The values are those of the hostile-input report: an unknown method or dataset, bits -1 / 0 /
999999 / abc, seed -1 / 30 digits / abc, an out-of-range query id. Four links per page carry them
(each link mixes a few, so each value is tried on every page). Then a link to an untrained slow
method asks before training.
"""

from __future__ import annotations

import pytest
from apptest_helpers import APP, by_key
from streamlit.testing.v1 import AppTest

from ui.frame import PAGES

pytestmark = [pytest.mark.app, pytest.mark.slow]
TIMEOUT = 240  # the first page that needs a run trains the default one on a loaded machine

LINKS = [
    {"method": "NoSuch", "bits": "-1", "seed": "-1", "query": "image:999999"},
    {"dataset": "nowhere", "bits": "0", "seed": "9" * 30},
    {"bits": "999999", "seed": "abc"},
    {"bits": "abc", "query": "text:-4"},
]


def _open(page: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    return at


@pytest.mark.parametrize("page", [p[0] for p in PAGES])
@pytest.mark.parametrize("link", LINKS, ids=lambda d: "&".join(f"{k}={v[:6]}" for k, v in d.items()))
def test_bad_link_values_are_named_never_a_traceback(page, link):
    at = _open(page, **link)
    assert not at.exception, at.exception
    notices = " | ".join(w.value for w in at.warning)
    for name, value in link.items():
        assert f"{value}" in notices, f"{page}: no notice names {name}={value!r}: {notices}"
    assert "showing" in notices
    assert at.query_params.get("bits", "32") in ("16", "32", "64", "128")  # the URL holds what is shown
    assert at.query_params.get("method", "DCH") != "NoSuch"


def test_a_link_to_a_slow_untrained_method_asks_first():
    from ui.registry import registry

    before = registry().jobs.trainings
    at = _open("pages/3_Search.py", method="SDEH", bits="16", seed="3")
    assert not at.exception, at.exception
    asked = " ".join(m.value for m in at.markdown)
    assert "This link asks for **SDEH · 16 bits · seed 3**" in asked and "not trained yet" in asked
    assert registry().jobs.trainings == before  # nothing started before the user's yes
    assert not any(c.value.startswith("Current run:") for c in at.caption)  # the page waits
    by_key(at.button, "ask_no").click().run()  # "Not now": the page opens the default run instead
    assert not at.exception, at.exception
    assert any(c.value.startswith("Current run: **DCH") for c in at.caption)
    assert registry().jobs.trainings - before <= 1  # at most the default DCH, never SDEH
