"""End to end in a real browser: `streamlit run app.py` driven by Playwright in Debian Chromium.

The flow a user follows: train the default method, search from a query-set item and from typed
words, draw a lasso on the Code Map and see the selection gallery; no page shows an exception,
and a full-page screenshot of each page lands in ``test-output/screenshots/``. A second test
drives two browser sessions at once, training different methods, and checks that neither sees
the other's runs or selection.

Prerequisite: Debian's ``chromium`` at ``/usr/bin/chromium`` (``.ci/run`` installs it);
Playwright cannot download its own browser on these machines. The flow functions are plain
functions so that ``benchmarks/bench_app.py`` replays them to measure the server's memory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# generous: the test machine is shared (2 cores), a cold page import or a training can take a while
T_PAGE = 120_000  # ms
T_ACTION = 90_000  # ms
APP = "[data-testid='stApp']"
IDLE = f"{APP}[data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
VIEWPORT = {"width": 1400, "height": 1000}


# ---------------------------------------------------------------------------------------------
# Server and browser
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    """A localhost TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamlitServer:
    """``python -m streamlit run app.py`` on a free port; `start` waits until /_stcore/health is ok."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://localhost:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "test-output" / f"streamlit-{self.port}.log"

    def start(self, timeout: float = 120.0) -> StreamlitServer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"streamlit did not answer /_stcore/health within {timeout:.0f} s")

    def rss_mb(self) -> float:
        """Resident memory of the server process (VmRSS of /proc/<pid>/status), in MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line in /proc status")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def launch_browser(pw):
    """Debian Chromium, headless, with the flags these machines need."""
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# ---------------------------------------------------------------------------------------------
# Page helpers
# ---------------------------------------------------------------------------------------------


def wait_idle(page, timeout: int = T_ACTION) -> None:
    """Wait until the script run an action triggered has finished (Streamlit's own e2e rule).

    The run starts a moment after the click, so first give it a chance to flip to "running".
    """
    page.wait_for_selector(f"{APP}[data-test-connection-state='CONNECTED']", timeout=timeout)
    try:
        page.wait_for_selector(f"{APP}[data-test-script-state='running']", timeout=1500)
    except Exception:  # noqa: BLE001 - a fast rerun may already be over
        pass
    page.wait_for_selector(IDLE, timeout=timeout)


def open_app(page, url: str) -> float:
    """Load the home page; returns the seconds until its title shows and the script is idle."""
    t0 = time.perf_counter()
    page.goto(url, timeout=T_PAGE)
    page.wait_for_selector("h1", timeout=T_PAGE)
    wait_idle(page, T_PAGE)
    return time.perf_counter() - t0


def goto_page(page, label: str) -> None:
    """Switch page through the sidebar link (same session; a page.goto would start a new one)."""
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text=label).first.click()
    page.wait_for_selector(f"h1:has-text('{label}')", timeout=T_PAGE)
    wait_idle(page, T_PAGE)


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def n_images(page) -> int:
    return page.locator("[data-testid='stMain'] [data-testid='stImage']").count()


def assert_no_exception(page, where: str) -> None:
    n = page.locator(EXCEPTION).count()
    assert n == 0, f"{where}: {n} exception box(es): {page.locator(EXCEPTION).first.inner_text()[:800]}"


def screenshot(page, name: str) -> Path:
    """Save the whole page: Streamlit scrolls inside its main container, so grow the viewport to it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll("
        "\"[data-testid='stMain'], [data-testid='stAppViewContainer'], section\"), e => e.scrollHeight))"
    )
    size = page.viewport_size or VIEWPORT
    page.set_viewport_size({"width": size["width"], "height": int(min(max(height, size["height"]), 8000))})
    page.wait_for_timeout(500)  # let plotly re-layout at the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def open_options(page, key: str):
    """Open the option list of the select box with widget key ``key``; returns its option locator.

    Streamlit 1.67's select box is a react-aria combobox: its chevron button toggles the list
    (a click on an already focused input does not reopen it), so press that and check.
    """
    options = page.get_by_role("option")
    opener = page.locator(f".st-key-{key} button[aria-label='Open']")
    for _attempt in range(3):
        opener.click()
        try:
            options.first.wait_for(timeout=5000)
            return options
        except Exception:  # noqa: BLE001 - the click landed during a rerun: press again
            page.keyboard.press("Escape")
    options.first.wait_for(timeout=T_ACTION)
    return options


def close_options(page) -> None:
    page.keyboard.press("Escape")
    page.locator("h1").first.click()  # move the focus off the combobox


def choose_method(page, method: str) -> None:
    """Pick a method in the Train page's select box."""
    open_options(page, "train_method").filter(has_text=method).get_by_text(method, exact=True).first.click()
    wait_idle(page)
    value = page.locator(".st-key-train_method input").input_value()
    assert value == method, f"method picker shows {value!r}, not {method!r}"


def press_train(page) -> None:
    page.locator("[data-testid='stFormSubmitButton'] button", has_text="Train").click()


def session_run_labels(page) -> list[str]:
    """Labels of this session's runs, read from the Train page's "Current run" picker."""
    labels = [t.strip() for t in open_options(page, "current_pick").all_inner_texts()]
    close_options(page)
    return labels


def wait_trained(page) -> None:
    """Training ends with the run shown: its mAP figures and the session's run list."""
    wait_idle(page, T_PAGE)
    page.wait_for_selector(".st-key-current_pick", timeout=T_PAGE)  # drawn after the run's figures


def lasso(page, chart) -> None:
    """Draw a closed lasso over the middle of a Plotly chart with real mouse moves."""
    chart.scroll_into_view_if_needed()
    drag = chart.locator(".nsewdrag").first  # Plotly's drag layer = the plot area
    box = drag.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    pts = [(0.15, 0.15), (0.85, 0.15), (0.85, 0.85), (0.15, 0.85), (0.15, 0.2)]
    page.mouse.move(x0 + w * pts[0][0], y0 + h * pts[0][1])
    page.mouse.down()
    for fx, fy in pts[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=12)
    page.mouse.up()


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


# thumbnails inside result rows: images with an enclosing column row that shows a distance "d = 7"
RESULT_IMAGES_JS = """() => Array.from(document.querySelectorAll(
    "[data-testid='stMain'] [data-testid='stImage']")).filter(img => {
  for (let e = img.closest("[data-testid='stHorizontalBlock']"); e;
       e = e.parentElement && e.parentElement.closest("[data-testid='stHorizontalBlock']")) {
    if (/d = \\d+/.test(e.innerText)) return true;
  }
  return false;
}).length"""


def result_thumbnails(page) -> int:
    """How many thumbnails the Search page's result gallery shows (query grid excluded)."""
    return int(page.evaluate(RESULT_IMAGES_JS))


def click_query(page, n: int) -> None:
    """Press the n-th "Search" button of the query-set grid and wait for the page to change."""
    picks = page.locator("[class*='st-key-pick_'] button")
    if not picks.nth(n).is_visible():
        page.locator("[data-testid='stExpander'] summary", has_text="Choose a query").click()
    picks.nth(n).wait_for(state="visible", timeout=T_PAGE)
    before = main_text(page)
    picks.nth(n).click()
    wait_idle(page)
    page.wait_for_function(
        "old => document.querySelector(\"[data-testid='stMain']\").innerText !== old",
        arg=before,
        timeout=T_ACTION,
    )
    wait_idle(page)


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
    """Code Map page: lasso over the map (retried once), then the selection gallery shows."""
    goto_page(page, "Code Map")
    chart = page.locator("[data-testid='stMain'] .stPlotlyChart").first
    chart.wait_for(timeout=T_PAGE)
    page.wait_for_timeout(1000)  # plotly finishes its first draw after the element appears
    assert_no_exception(page, "Code Map (before selection)")
    assert not selection_visible(page)
    for _attempt in range(2):  # plotly's lasso is timing sensitive under load (plotly.js#6898)
        lasso(page, chart)
        wait_idle(page)
        try:
            page.wait_for_selector(
                "[data-testid='stMain'] [data-testid='stDownloadButton']", timeout=T_ACTION // 3
            )
            break
        except Exception:  # noqa: BLE001 - no points selected: draw once more
            page.wait_for_timeout(1000)
    assert selection_visible(page), "the lasso selected nothing twice"
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


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    srv = StreamlitServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_browser(pw)
        yield b
        b.close()


def test_user_flow_train_search_code_map(server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(T_ACTION)
    try:
        full_flow(page, server.url)
    except Exception:
        screenshot(page, "failure_user_flow")
        raise
    finally:
        context.close()
    assert server.proc.poll() is None, "the server died during the flow"


def _ready_to_train(page, url: str, method: str) -> None:
    open_app(page, url)
    goto_page(page, "Train")
    choose_method(page, method)


def test_two_sessions_never_share_runs_or_selections(server, browser):
    ctx_a, ctx_b = browser.new_context(viewport=VIEWPORT), browser.new_context(viewport=VIEWPORT)
    a, b = ctx_a.new_page(), ctx_b.new_page()
    try:
        _ready_to_train(a, server.url, "DCH")
        _ready_to_train(b, server.url, "RandomCodes")
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


def test_failures_and_compare_pages_in_the_browser(server, browser):
    """Failures (trains the default run itself) and a one-button comparison, seen in Chromium."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(T_ACTION)
    try:
        open_app(page, server.url)
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
    except Exception:
        screenshot(page, "failure_failures_compare")
        raise
    finally:
        context.close()
