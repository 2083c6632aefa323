"""Code Map in a real browser: one marker per distinct code, hovering one shows its thumbnails, and
clicking it lists its items.

DCH at 32 bits on tuxpaint (the default run a fresh session's Code Map trains) collapses many items
onto one code; each marker is one code of one modality, and hovering it lists up to 8 pictures and
captions, then "+N more" (`ui/bucket_tips.py`: plotly's hover label cannot show images). One click
on a marker fills the gallery with that code's items (docs/app.md: the map opens in zoom mode,
where Streamlit turns a click into a selection).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_helpers import SHOTS, T_PAGE, assert_no_exception, goto_page, lasso, open_app, wait_idle
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cmh_core.layouts import run_map_codes
from cmh_core.runcache import RunKey

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARKERS = "[data-testid='stMain'] .stPlotlyChart .scatterlayer .trace path.point"
PANEL = "#cmh-bucket-tip"
SELECTION = "[data-testid='stMain'] h3:has-text('Selection: ')"


def _distinct(tux, tux_fitted) -> tuple[int, int]:
    """Distinct database codes per modality of the run the page trains (same seed: same codes)."""
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    c = run_map_codes(tux, RunKey.make("tuxpaint", "DCH", 32, 0), model)
    return tuple(len(np.unique(c[f"{m}_database"], axis=0)) for m in ("image", "text"))


def test_code_map_markers_are_the_distinct_codes_hover_shows_thumbnails_click_selects(
    tux, tux_fitted, browser, streamlit_server
):
    n_img, n_txt = _distinct(tux, tux_fitted)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        open_app(page, streamlit_server.url)
        goto_page(page, "Code Map")  # no run yet: the page trains DCH at 32 bits, then draws the map
        page.locator(MARKERS).first.wait_for(timeout=T_PAGE)
        page.wait_for_timeout(1000)  # plotly finishes its first draw after the element appears
        assert_no_exception(page, "Code Map")
        text = page.locator("[data-testid='stMain']").inner_text()
        assert f"{n_img + n_txt} distinct codes for 1260 items ({n_img} image codes, {n_txt} caption" in text
        assert page.locator(MARKERS).count() == n_img + n_txt  # no query yet: no star

        markers = page.locator(MARKERS).all()
        areas = [(b["width"] * b["height"] if b else 0.0) for b in (m.bounding_box() for m in markers)]
        largest = markers[int(np.argmax(areas))]  # the largest bucket
        largest.scroll_into_view_if_needed()  # a UMAP layout may put it below the window
        page.wait_for_timeout(300)
        big = largest.bounding_box()
        x, y = big["x"] + big["width"] / 2, big["y"] + big["height"] / 2
        thumb = page.locator(f"{PANEL} img.cmh-tip-thumb").first
        for _attempt in range(20):  # the hook is installed by an iframe that may load after the chart
            page.mouse.move(x - 30, y - 30)
            page.mouse.move(x, y, steps=5)
            try:
                thumb.wait_for(state="visible", timeout=3000)
                break
            except PlaywrightTimeout:
                continue
        if not thumb.is_visible():
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "code_map_hover_failed.png"))
        thumb.wait_for(state="visible", timeout=T_PAGE // 4)
        head = page.locator(f"{PANEL} div").first.inner_text()
        count = int(re.match(r"(\d+) (image|text) codes?", head).group(1))
        thumbs = page.locator(f"{PANEL} img.cmh-tip-thumb")
        assert thumbs.count() == min(count, 8)
        assert all(t.evaluate("i => i.complete && i.naturalWidth > 0") for t in thumbs.all())
        assert page.locator(f"{PANEL} figcaption").count() == min(count, 8)
        more = page.locator(f"{PANEL} .cmh-tip-more")
        assert (more.inner_text() if more.count() else "") == (f"+{count - 8} more" if count > 8 else "")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "code_map_hover.png"))
        page.mouse.move(5, 5)  # leaving the marker hides the panel
        page.wait_for_selector(PANEL, state="hidden", timeout=T_PAGE // 4)
        # one click on the marker (the panel over it takes no pointer events) lists its whole bucket
        modality = re.match(r"\d+ (image|text) codes?", head).group(1)
        n_images = page.locator("[data-testid='stMain'] [data-testid='stImage']").count()
        page.mouse.click(x, y)
        wait_idle(page)
        page.locator(SELECTION).first.wait_for(timeout=T_PAGE // 4)
        n_img = count if modality == "image" else 0
        want = f"Selection: {count} codes ({n_img} images, {count - n_img} captions)"
        assert page.locator(SELECTION).first.inner_text() == want
        shown = page.locator("[data-testid='stMain'] [data-testid='stImage']").count() - n_images
        assert shown == min(count, 48)  # the gallery: one card (with its picture) per item
        page.locator(SELECTION).first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "code_map_click.png"))
        # the panel leaves selecting alone, and a selection survives recolouring
        chart = page.locator("[data-testid='stMain'] .stPlotlyChart").first
        for _attempt in range(2):  # plotly's lasso is timing sensitive under load (plotly.js#6898)
            lasso(page, chart)
            wait_idle(page)
            if page.locator(SELECTION).count():
                break
        picked = page.locator(SELECTION).first.inner_text()
        page.locator("[data-testid='stMain'] button", has_text="Label").first.click()
        wait_idle(page)
        assert page.locator(SELECTION).first.inner_text() == picked
        assert_no_exception(page, "Code Map after a lasso and a recolouring")
    finally:
        context.close()
