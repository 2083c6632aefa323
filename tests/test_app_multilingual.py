"""Search in any language on a run trained with multilingual e5 text features."""

from __future__ import annotations

import pytest
from apptest_helpers import by_key, open_page

pytestmark = pytest.mark.app

TIMEOUT = 240


def test_search_takes_a_german_caption_on_an_e5_run():
    at = open_page("pages/3_Search.py", None, TIMEOUT, dataset="tuxpaint:e5")
    by_key(at.button_group, "query_source").set_value("Type a text").run()
    assert any("multilingual e5" in c.value for c in at.caption)  # says which text features
    by_key(at.text_input, "typed_text").input("Ein Frosch").run()  # "a frog": not an English word
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("no AP" in c.value for c in at.caption)  # results were ranked for the typed query


def test_a_tfidf_run_still_names_unknown_words():
    at = open_page("pages/3_Search.py", None, TIMEOUT, dataset="tuxpaint")
    by_key(at.button_group, "query_source").set_value("Type a text").run()
    assert any("pick the dataset tuxpaint:e5" in c.value for c in at.caption)
    by_key(at.text_input, "typed_text").input("Schildkröte").run()
    assert any("Schildkröte" in e.value for e in at.error)
