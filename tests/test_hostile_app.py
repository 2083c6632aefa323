"""Hostile uploads and captions in the app without a browser (the browser test: test_hostile_browser.py)."""

import io

import numpy as np
import pytest
from apptest_helpers import by_key, open_page
from PIL import Image

from ui.custom_items import display_thumbnail, plain_markdown

TIMEOUT = 600  # generous: the shared machine ran at load 40 (first run trains DCH, then EfficientNet)
CAPTION = "koala ![b](http://cmh-hostile.invalid/x.png)"


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


GREY16 = _png(Image.fromarray((np.arange(64 * 96, dtype=np.uint32).reshape(64, 96) * 10).astype(np.uint16)))
STRIP = _png(Image.new("RGB", (20000, 1), (200, 30, 30)))


def test_16_bit_grey_png_becomes_an_8_bit_rgb_thumbnail():
    assert Image.open(io.BytesIO(GREY16)).mode == "I;16"
    im = Image.open(io.BytesIO(display_thumbnail(GREY16, 120)))
    assert im.mode == "RGB" and im.size == (120, 120)
    a = np.asarray(im)[:, :, 0]
    assert a.max() > a.min()  # the gradient survives the scaling to 8 bits (not all white or black)


def test_20000_by_1_png_keeps_a_visible_line_on_a_minimum_size_thumbnail():
    im = Image.open(io.BytesIO(display_thumbnail(STRIP, 120)))
    assert im.size == (120, 120)
    a = np.asarray(im)
    red_rows = np.flatnonzero((a[:, :, 0] > 150) & (a[:, :, 1] < 100)).size
    assert red_rows >= 100  # the strip is at least one pixel high across the thumbnail


def test_plain_markdown_escapes_images_links_html_and_directives():
    out = plain_markdown(CAPTION + " <img src=x> :red[y] **b**\nz")
    for token in ("![", "](", ":red[", "**"):
        assert token not in out
    assert "\\<img" in out  # every '<' escaped: no HTML tag
    assert out.replace("\\", "") == CAPTION + " <img src=x> :red[y] **b** z"  # only escapes added


@pytest.mark.app
def test_search_upload_of_hostile_pngs_and_a_markdown_caption():
    at = open_page("pages/3_Search.py", timeout=TIMEOUT)  # trains the default run
    by_key(at.button_group, "query_source").set_value("Upload an image").run()
    for name, data in (("grey16.png", GREY16), ("strip.png", STRIP)):
        by_key(at.file_uploader, "upload").set_value((name, data, "image/png"))
        at.run()
        assert not at.exception, (name, at.exception)
        assert not at.error, (name, [e.value for e in at.error])
        assert any("`d = " in md.value for md in at.markdown), name  # result cards are shown
    by_key(at.text_input, "custom_text").input(CAPTION).run()
    by_key(at.button, "custom_add_text").click().run()
    assert not at.exception
    shown = [s.value for s in at.success]
    assert shown and all("![" not in s and "\\!\\[" in s for s in shown), shown
    assert not any("![" in md.value for md in at.markdown)  # nowhere rendered as Markdown
