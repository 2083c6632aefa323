"""In a browser: trainings outlive the page, reloads keep the runs, links reopen views, Back goes back.

One ``streamlit run`` server of its own (``start_streamlit`` of ``tests/conftest.py``), with its
own run registry (``CMH_CACHE_DIR``) and the jobs' test hook ``CMH_TEST_SLOW_FIT_S`` (every
iteration report sleeps), so a DCH training lasts long enough to leave the Train page and come
back; the browser is the session's shared Chromium. Trainings are counted as the registry's
entries on disk: a link that retrains would add one. Screenshots go to ``test-output/screenshots/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import (
    T_ACTION,
    T_PAGE,
    VIEWPORT,
    app_page,
    assert_no_exception,
    choose_method,
    click_query,
    goto_page,
    main_text,
    open_app,
    press_train,
    screenshot,
    session_run_labels,
    wait_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SLOW_FIT_S = 3  # seconds per DCH iteration: its 5 iterations take about 15 s


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser_cache")


@pytest.fixture(scope="module")
def server(start_streamlit, cache_dir):
    srv = start_streamlit(  # each training sleeps at its first 5 reports only (SCM reports per bit)
        CMH_CACHE_DIR=str(cache_dir), CMH_TEST_SLOW_FIT_S=str(SLOW_FIT_S), CMH_TEST_SLOW_FIT_REPORTS="5"
    )
    yield srv
    srv.stop()  # not needed by the modules after this one


def trainings(cache_dir: Path) -> int:
    """Runs the server has trained and registered (one folder each)."""
    root = cache_dir / "runs"
    return sum(1 for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")) if root.is_dir() else 0


def current_title(page) -> str:
    m = re.search(r"Current run: (\S+ · \d+ bits · seed \d+)", main_text(page))
    return m.group(1) if m else ""


def wait_current(page, label: str) -> None:
    page.wait_for_function(
        "label => document.querySelector(\"[data-testid='stMain']\").innerText"
        ".includes('Current run: ' + label)",
        arg=label,
        timeout=T_PAGE * 3,
    )
    wait_idle(page, T_PAGE)


def test_training_outlives_the_page_and_a_reload_keeps_the_runs(server, browser, cache_dir):
    with app_page(browser, "failure_state_training") as page:
        open_app(page, server.url)
        goto_page(page, "Train")
        press_train(page)  # DCH, 32 bits, seed 0, slowed by the test hook
        page.wait_for_selector("text=/iteration \\d+ of 5/i", timeout=T_PAGE)
        screenshot(page, "state_1_training")
        goto_page(page, "Dataset")  # leave while it trains
        assert "No run yet" not in main_text(page)
        goto_page(page, "Train")  # come back: the progress is there again
        text = main_text(page)
        if "Current run: DCH" not in text:  # not finished yet: the bar reattached
            shown = re.search(r"DCH · 32 bits · seed 0 · .*(iteration \d+ of 5|Evaluating)", text, re.I)
            assert shown, text[:800]
            screenshot(page, "state_2_reattached")
        wait_current(page, "DCH · 32 bits · seed 0")  # done: the session's current run
        assert trainings(cache_dir) == 1
        choose_method(page, "SCM")
        press_train(page)
        wait_current(page, "SCM · 32 bits · seed 0")
        assert_no_exception(page, "Train after two trainings")
        screenshot(page, "state_3_two_runs")
        assert "sid=" in page.url
        page.reload()  # F5: a new Streamlit session; the URL's sid finds this session's runs
        page.wait_for_selector("h1", timeout=T_PAGE)
        wait_idle(page, T_PAGE)
        wait_current(page, "SCM · 32 bits · seed 0")  # the current run is kept
        listed = session_run_labels(page)  # the run picker lists this session's runs
        assert listed == ["DCH · 32 bits · seed 0", "SCM · 32 bits · seed 0"], listed
        assert trainings(cache_dir) == 2  # nothing retrained by the reload
        screenshot(page, "state_4_after_reload")


def _views(page) -> dict[str, str]:
    """Visit Search (a query), Code Map, Failures (a query), Compare (with results) and Train; their URLs."""
    urls = {}
    goto_page(page, "Search")
    click_query(page, 2)
    urls["Search"] = page.url
    goto_page(page, "Code Map")
    page.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_PAGE)
    page.locator(".st-key-map_colour button", has_text="Label").click()
    wait_idle(page)
    urls["Code Map"] = page.url
    goto_page(page, "Failures")
    page.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_PAGE)
    urls["Failures"] = page.url
    # Compare: DCH and SCM at 32 bits, both trained above (the form's default grid would train
    # CCA-ITQ too); the form starts from the URL, in this session (sid)
    sid = re.search(r"sid=([\w-]+)", page.url).group(1)
    page.goto(
        f"{page.url.split('/Failures')[0]}/Compare?dataset=tuxpaint&cmp_methods=DCH,SCM&cmp_bits=32&sid={sid}"
    )
    page.wait_for_selector("h1:has-text('Compare')", timeout=T_PAGE)
    wait_idle(page, T_PAGE)
    page.get_by_role("button", name="Run comparison").click()
    wait_idle(page, T_PAGE)
    page.locator("[data-testid='stMain'] .stPlotlyChart").nth(2).wait_for(timeout=T_PAGE * 3)
    urls["Compare"] = page.url
    goto_page(page, "Train")
    urls["Train"] = page.url
    return urls


def test_copied_links_reopen_the_same_view_without_training(server, browser, cache_dir):
    first = browser.new_context(viewport=VIEWPORT)
    page = first.new_page()
    page.set_default_timeout(T_ACTION)
    try:
        open_app(page, server.url)
        goto_page(page, "Train")
        choose_method(page, "SCM")
        press_train(page)  # registered by the first test already: current at once
        wait_current(page, "SCM · 32 bits · seed 0")
        urls = _views(page)
        assert "cmp_show=1" in urls["Compare"] and "colour=label" in urls["Code Map"]
        assert "query=" in urls["Search"] and "query=" in urls["Failures"]
        before = trainings(cache_dir)
        fresh = browser.new_context(viewport=VIEWPORT)  # another browser: no session, no cookies
        other = fresh.new_page()
        other.set_default_timeout(T_ACTION)
        for name, url in urls.items():
            other.goto(url, timeout=T_PAGE)
            other.wait_for_selector("h1", timeout=T_PAGE)
            wait_idle(other, T_PAGE)
            assert_no_exception(other, f"{name} from a copied link")
            text = main_text(other)
            if name != "Compare":  # Compare shows its grid, not the current run
                assert "SCM · 32 bits · seed 0" in text, f"{name}: {text[:600]}"
            assert "The link asked" not in text, f"{name}: a value of the link was refused"
            for param in ("query", "colour", "cmp_methods", "cmp_bits"):  # the view the page shows
                want = re.search(f"[?&]{param}=([^&]+)", url)
                if want:
                    assert f"{param}={want.group(1)}" in other.url, f"{name} lost {param}: {other.url}"
            if name == "Failures":
                q = re.search(r"query=(\w+)%3A(\d+)", url)
                assert f"Query {q.group(1)}:{q.group(2)}" in text, f"Failures lost its query: {text[:600]}"
            if name == "Compare":
                other.locator("[data-testid='stMain'] .stPlotlyChart").nth(2).wait_for(timeout=T_PAGE)
                assert "0 trained" in main_text(other)
            screenshot(other, f"state_link_{name.replace(' ', '_').lower()}")
        assert trainings(cache_dir) == before, "a copied link trained again"
        fresh.close()
    except Exception:
        screenshot(page, "failure_state_links")
        raise
    finally:
        first.close()


def test_back_goes_back_a_page_at_a_time(server, browser):
    with app_page(browser, "failure_state_back") as page:
        open_app(page, server.url)
        visited = ["Dataset", "Train", "Search", "Failures", "Compare"]
        for label in visited:  # five page changes (each page writes its view into the URL)
            goto_page(page, label)
        for label in reversed(["cmh-explorer", *visited[:-1]]):  # Back five times: the pages in reverse
            page.go_back()
            page.wait_for_selector(f"h1:has-text('{label}')", timeout=T_PAGE)
            wait_idle(page, T_PAGE)
            assert_no_exception(page, f"Back to {label}")
        screenshot(page, "state_5_back_home")
