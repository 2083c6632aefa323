"""End to end in a real browser: `streamlit run app.py` driven by Playwright in Debian Chromium.

The flow a user follows: train the default method, search from a query-set item and from typed
words, draw a lasso on the Code Map and see the selection gallery; no page shows an exception,
and a full-page screenshot of each page lands in ``test-output/screenshots/``. A second test
drives two browser sessions at once, training different methods, and checks that neither sees
the other's runs or selection.

Prerequisite: Debian's ``chromium`` at ``/usr/bin/chromium`` (``.ci/run`` installs it);
Playwright cannot download its own browser on these machines. The server and the browser are the
session's shared ones (``tests/conftest.py``; helpers in ``tests/browser_helpers.py``). The flow
functions are plain functions so that ``benchmarks/bench_app.py`` replays them to measure the
server's memory.
"""

from __future__ import annotations

import pytest
from browser_helpers import (  # the server and page helpers, re-exported for benchmarks/bench_app.py
    RESULT_IMAGES_JS,
    T_ACTION,
    T_PAGE,
    VIEWPORT,
    StreamlitServer,
    app_page,
    assert_no_exception,
    choose_method,
    click_query,
    goto_page,
    lasso,
    launch_browser,
    main_text,
    n_images,
    open_app,
    press_train,
    screenshot,
    session_run_labels,
    wait_idle,
    wait_trained,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = [  # what benchmarks/bench_app.py and scripts/screenshot_search.py import from here
    "RESULT_IMAGES_JS", "T_ACTION", "T_PAGE", "VIEWPORT", "StreamlitServer", "click_query", "full_flow",
    "goto_page", "launch_browser", "open_app", "wait_idle",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The flow (also replayed by benchmarks/bench_app.py)
# ---------------------------------------------------------------------------------------------


def flow_train(page) -> None:
    """Train page: train the default method with the form's defaults."""
    goto_page(page, "Train")
    assert_no_exception(page, "Train (before training)")
    press_train(page)
    wait_trained(page)
    assert_no_exception(page, "Train (after training)")


def flow_search(page) -> None:
    """Search page: pick a query-set item, see its gallery; then type a text query."""
    goto_page(page, "Search")
    click_query(page, 1)  # not the default first query: a real change
    page.wait_for_function(f"() => ({RESULT_IMAGES_JS})() >= 10", timeout=T_ACTION)
    assert "AP of this query" in main_text(page)
    assert_no_exception(page, "Search (query set)")
    screenshot(page, "3_search_query")
    page.locator(".st-key-query_source button", has_text="Type a text").click()
    wait_idle(page)
    box = page.locator(".st-key-typed_text input")
    box.wait_for(timeout=T_ACTION)
    box.fill("a red apple on a tree")
    box.press("Enter")
    wait_idle(page)
    # results of a text query are images: only they say "of <n> images"
    page.wait_for_selector("text=/Top \\d+ of \\d+ images/", timeout=T_ACTION)
    page.wait_for_function(f"() => ({RESULT_IMAGES_JS})() >= 10", timeout=T_ACTION)
    assert_no_exception(page, "Search (typed text)")
    screenshot(page, "3_search_text")


def selection_visible(page) -> bool:
    """Whether the Code Map shows a selection gallery (its CSV download appears with it)."""
    return page.locator("[data-testid='stMain'] [data-testid='stDownloadButton']").count() > 0


def flow_code_map(page) -> int:
    """Code Map page: lasso over the map (up to three tries), then the selection gallery shows."""
    from playwright.sync_api import Error as PlaywrightError

    goto_page(page, "Code Map")
    chart = page.locator("[data-testid='stMain'] .stPlotlyChart").first
    chart.wait_for(timeout=T_PAGE)
    page.wait_for_timeout(1000)  # plotly finishes its first draw after the element appears
    assert_no_exception(page, "Code Map (before selection)")
    assert not selection_visible(page)
    for _attempt in range(3):  # plotly's lasso is timing sensitive under load (plotly.js#6898)
        try:  # a rerun may redraw the chart while the lasso is drawn: the element detaches, draw again
            lasso(page, page.locator("[data-testid='stMain'] .stPlotlyChart").first)
        except PlaywrightError:
            page.wait_for_timeout(1000)
            continue
        wait_idle(page)
        try:
            page.wait_for_selector(
                "[data-testid='stMain'] [data-testid='stDownloadButton']", timeout=T_ACTION // 3
            )
            break
        except Exception:  # noqa: BLE001 - no points selected: draw once more
            page.wait_for_timeout(1000)
    assert selection_visible(page), "the lasso selected nothing in three tries"
    assert_no_exception(page, "Code Map (after selection)")
    return n_images(page)


def full_flow(page, url: str) -> dict[str, float]:
    """Home → Train → Search → Code Map, with a screenshot of each; returns the home load time."""
    t_home = open_app(page, url)
    assert_no_exception(page, "Home")
    screenshot(page, "0_home")
    goto_page(page, "Dataset")
    assert_no_exception(page, "Dataset")
    screenshot(page, "1_dataset")
    flow_train(page)
    screenshot(page, "2_train")
    flow_search(page)
    flow_code_map(page)
    screenshot(page, "4_code_map_selection")
    return {"home_s": t_home}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_user_flow_train_search_code_map(streamlit_server, browser):
    with app_page(browser, "failure_user_flow") as page:
        full_flow(page, streamlit_server.url)
    assert streamlit_server.proc.poll() is None, "the server died during the flow"


def _ready_to_train(page, url: str, method: str) -> None:
    open_app(page, url)
    goto_page(page, "Train")
    choose_method(page, method)


def test_two_sessions_never_share_runs_or_selections(streamlit_server, browser):
    ctx_a, ctx_b = browser.new_context(viewport=VIEWPORT), browser.new_context(viewport=VIEWPORT)
    a, b = ctx_a.new_page(), ctx_b.new_page()
    try:
        _ready_to_train(a, streamlit_server.url, "DCH")
        _ready_to_train(b, streamlit_server.url, "RandomCodes")
        press_train(a)
        press_train(b)  # both sessions train at the same time on one server
        wait_trained(a)
        wait_trained(b)
        runs_a, runs_b = session_run_labels(a), session_run_labels(b)
        assert len(runs_a) == 1 and runs_a[0].startswith("DCH · 32 bits"), runs_a
        assert len(runs_b) == 1 and runs_b[0].startswith("RandomCodes · 32 bits"), runs_b
        assert "Current run: DCH" in main_text(a) and "Current run: RandomCodes" in main_text(b)
        # B has its map open while A selects on A's map; B reruns and must still show no selection
        goto_page(b, "Code Map")
        b.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_PAGE)
        flow_code_map(a)
        b.locator(".st-key-map_lines label").click()  # any widget: a rerun of B's map
        wait_idle(b)
        assert not selection_visible(b), "session B shows a selection it never made"
        assert "RandomCodes" in main_text(b) and "DCH · 32 bits" not in main_text(b)
        for p, name in ((a, "A"), (b, "B")):
            assert_no_exception(p, f"session {name}")
        screenshot(b, "4_code_map_other_session")
    finally:
        ctx_a.close()
        ctx_b.close()


def test_failures_and_compare_pages_in_the_browser(streamlit_server, browser):
    """Failures (trains the default run itself) and a one-button comparison, seen in Chromium."""
    with app_page(browser, "failure_failures_compare") as page:
        open_app(page, streamlit_server.url)
        goto_page(page, "Failures")
        page.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_PAGE)
        assert_no_exception(page, "Failures")
        text = main_text(page)
        assert "lowest" in text and "Search" in text, text[:500]
        assert page.locator("[data-testid='stMain'] [data-testid='stDataFrame']").count() >= 1
        screenshot(page, "5_failures")
        goto_page(page, "Compare")
        page.get_by_role("button", name="Run comparison").click()
        wait_idle(page, T_PAGE)
        page.locator("[data-testid='stMain'] .stPlotlyChart").nth(2).wait_for(timeout=T_PAGE)
        assert_no_exception(page, "Compare")
        assert page.locator("[data-testid='stMain'] .stPlotlyChart").count() >= 3  # mAP vs bits ×2, PR
        assert "HTML report" in main_text(page)
        screenshot(page, "6_compare")
