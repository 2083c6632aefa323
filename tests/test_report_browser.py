"""The HTML reports open in a real browser with every outside request blocked.

The session's shared Debian Chromium (``tests/conftest.py``) opens the report of a
run and of a comparison from a ``file://`` URL. A route handler sees every request the page
makes: files, ``data:`` and ``blob:`` URLs go through, anything else (a CDN, a web font, an
image host) is counted and aborted. The report must need none of them, and must still draw at
least three plotly figures and its thumbnails. Screenshots go to ``test-output/screenshots/``.
A last test presses the Train page's download buttons in the session's shared ``streamlit run``
(the files are built on the click, on Streamlit's own thread) and reads the files back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import SHOTS, goto_page, open_app, press_train, wait_trained

from cmh_core.comparison import run_comparison
from cmh_core.experiment import run_experiment
from cmh_core.report import write_report

pytestmark = pytest.mark.browser

LOCAL = ("file:", "data:", "blob:")
T_RENDER = 90_000  # ms: plotly.js is 4.8 MB of script to parse on a loaded machine

FIGURES_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
    .filter(d => d.querySelector('svg.main-svg') && d.getBoundingClientRect().height > 50).length"""
IMAGES_JS = """() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])"""


@pytest.fixture(scope="module")
def reports(tux, synthetic_ds, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    run = run_experiment(tux, "DCH", n_bits=32, seed=0)
    cmp = run_comparison(synthetic_ds, ["DCH", "CCA-ITQ"], [16, 32], seeds=1)
    return {
        "run": write_report(run, tux, folder / "run.html"),
        "comparison": write_report(cmp, synthetic_ds, folder / "comparison.html"),
    }


def _open_offline(browser, path: Path):
    """A page showing ``path`` with outside requests blocked; returns (page, context, local, blocked)."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    local, blocked = [], []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(LOCAL):
            local.append(url)
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri(), timeout=T_RENDER)
    return page, context, local, blocked, errors


@pytest.mark.parametrize("which", ["run", "comparison"])
def test_report_renders_offline_with_figures_and_thumbnails(reports, browser, which):
    page, context, local, blocked, errors = _open_offline(browser, reports[which])
    try:
        page.wait_for_function(f"({FIGURES_JS})() >= 3", timeout=T_RENDER)
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=T_RENDER)
        n_figures = page.evaluate(FIGURES_JS)
        images = page.evaluate(IMAGES_JS)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"report_{which}.png"), full_page=True)
    finally:
        context.close()
    assert blocked == [], f"the report asked for {len(blocked)} outside resource(s): {blocked[:5]}"
    assert local and local[0].startswith("file:")  # the route saw the page itself: interception works
    assert n_figures >= (7 if which == "run" else 6), n_figures
    assert len(images) >= 8 and all(done and width > 0 for done, width in images), images
    assert errors == [], errors


def test_train_page_downloads_build_the_files_on_click(streamlit_server, browser, tmp_path):
    """In a real `streamlit run`: after training, the lazy download buttons deliver the files."""
    import numpy as np

    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(T_RENDER)
    got = {}
    try:
        open_app(page, streamlit_server.url)
        goto_page(page, "Train")
        press_train(page)
        wait_trained(page)
        for kind in ("html", "codes_npz", "csv"):
            with page.expect_download(timeout=T_RENDER) as info:
                page.locator(f".st-key-dl_run_{kind} button").first.click()
            got[kind] = tmp_path / info.value.suggested_filename
            info.value.save_as(got[kind])
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()
    assert got["html"].name == "tuxpaint_DCH_32bits_seed0_report.html"
    assert "DCH · 32 bits · seed 0 on tuxpaint" in got["html"].read_text(encoding="utf-8")
    with np.load(got["codes_npz"], allow_pickle=False) as z:
        assert z["image_query"].shape == (158, 4) and z["text_database_ids"][0].startswith("text:")
    assert got["csv"].read_text(encoding="utf-8").startswith("section,metric,at,value\n")
