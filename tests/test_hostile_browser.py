"""Hostile uploads and captions in a real browser (the session's shared server and Chromium).

* A 16-bit grey PNG and a 20000 x 1 PNG uploaded on Search both show a thumbnail and results
  (``st.image(up.getvalue())`` used to crash on both: "cannot write mode I;16 as JPEG" and
  "height and width must be > 0").
* A caption of your own holding Markdown image syntax is shown as text: the page never requests
  the image's host (every request of the browser context is counted).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from browser_helpers import (
    T_ACTION,
    T_PAGE,
    VIEWPORT,
    assert_no_exception,
    goto_page,
    main_text,
    open_app,
    screenshot,
    wait_idle,
)

pytestmark = pytest.mark.browser

HOST = "cmh-hostile.invalid"
CAPTION = f"koala ![b](http://{HOST}/x.png)"


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def pngs(tmp_path_factory) -> dict[str, Path]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("pngs")
    grey16 = Image.fromarray((np.arange(96 * 64, dtype=np.uint32).reshape(64, 96) * 10).astype(np.uint16))
    assert grey16.mode == "I;16"
    strip = Image.new("RGB", (20000, 1), (200, 30, 30))
    out = {"grey16.png": grey16, "strip.png": strip}
    for name, im in out.items():
        (folder / name).write_bytes(_png(im))
    assert Image.open(folder / "grey16.png").mode == "I;16"
    return {name: folder / name for name in out}


def _upload(page, path: Path) -> None:
    page.locator(".st-key-upload input[type='file']").set_input_files(str(path))
    wait_idle(page, T_PAGE)
    page.wait_for_selector("text=your query", timeout=T_PAGE)
    # results of an image query are captions: only they say "of <n> texts"
    page.wait_for_selector("text=/Top \\d+ of \\d+ texts/", timeout=T_ACTION)
    wait_idle(page)


def test_hostile_uploads_and_markdown_caption(streamlit_server, browser, pngs):
    context = browser.new_context(viewport=VIEWPORT)
    hits: list[str] = []
    context.on("request", lambda r: hits.append(r.url) if HOST in r.url else None)
    context.route(f"**://{HOST}/**", lambda route: route.abort())  # never leaves the machine
    page = context.new_page()
    page.set_default_timeout(T_ACTION)
    try:
        open_app(page, streamlit_server.url)
        goto_page(page, "Search")  # trains the default run when the session has none
        page.locator(".st-key-query_source button", has_text="Upload an image").click()
        wait_idle(page)
        for name in ("grey16.png", "strip.png"):
            _upload(page, pngs[name])
            assert_no_exception(page, f"Search (upload {name})")
            img = page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first
            box = img.bounding_box()
            assert box is not None and box["width"] >= 100 and box["height"] >= 100, (name, box)
            screenshot(page, f"hostile_upload_{name[:-4]}")

        page.locator("[data-testid='stExpander'] summary", has_text="Add your own item").click()
        box = page.locator(".st-key-custom_text input")
        box.wait_for(timeout=T_ACTION)
        box.fill(CAPTION)
        box.press("Enter")
        wait_idle(page)
        page.locator(".st-key-custom_add_text button").click()
        wait_idle(page, T_PAGE)
        # the message sits in the "Add your own item" expander, closed again by the rerun
        page.wait_for_selector("text=Added your caption", state="attached", timeout=T_ACTION)
        wait_idle(page, T_PAGE)  # the add reruns the page (image features again): let it finish
        # the "yours in this ranking" line quotes the caption verbatim, as typed
        page.wait_for_function(
            "c => document.querySelector(\"[data-testid='stMain']\").innerText.includes(c)",
            arg=f"“{CAPTION}”",
            timeout=T_PAGE,
        )
        assert_no_exception(page, "Search (markdown caption)")
        page.wait_for_timeout(2000)  # give a rendered <img> time to ask for its source
        assert f"“{CAPTION}”" in main_text(page)
        assert page.locator(f"img[src*='{HOST}']").count() == 0
        screenshot(page, "hostile_markdown_caption")
    except Exception:
        screenshot(page, "failure_hostile_browser")
        raise
    finally:
        context.close()
    assert hits == [], f"the page fetched {hits}"
    assert streamlit_server.proc.poll() is None
