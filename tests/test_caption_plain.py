"""Dataset captions are plain text on every card (issue 18): Markdown or HTML in a caption stays literal."""

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.app

EVIL = "koala ![x](http://evil/x.png) **b** <img src=http://evil/y.png>"


def _cards():
    """A page script: tuxpaint with item 0's caption replaced, drawn by every card the pages use."""
    import dataclasses

    import numpy as np

    from cmh_core.datasets import load_dataset
    from ui.gallery import item_grid, result_card
    from ui.playground import _ball_members

    evil = "koala ![x](http://evil/x.png) **b** <img src=http://evil/y.png>"
    base = load_dataset("tuxpaint")
    ds = dataclasses.replace(base, texts=[evil, *base.texts[1:]])
    item_grid(ds, [0])  # Dataset page, Code Map selection
    result_card(ds, 0, "text", 3, True, [])  # Search: a caption result
    result_card(ds, 0, "image", 3, False, [])  # Search: an image result shows its caption too
    _ball_members(ds, np.array([0]), np.array([0]), "text")  # the playground's Hamming ball


def test_captions_with_markdown_and_html_are_shown_literally():
    at = AppTest.from_function(_cards, default_timeout=60).run()
    assert not at.exception, at.exception
    shown = [t.value for t in at.text]
    assert sum(EVIL in v for v in shown) == 4  # grid, two result cards, the ball: verbatim
    rendered = [m.value for m in [*at.markdown, *at.caption]]
    assert not [v for v in rendered if "](http://evil" in v or "<img" in v]  # never as Markdown or HTML
