"""One home for the browser tests' plumbing: the streamlit server, Chromium, and page helpers.

`StreamlitServer` runs ``python -m streamlit run app.py`` on a free loopback port; `launch_browser`
starts Debian's Chromium (``/usr/bin/chromium``: Playwright cannot download its own browser on
these machines) with the flags these machines need. The fixtures that share one server and one
browser across the browser test modules are in ``tests/conftest.py`` (``streamlit_server``,
``start_streamlit`` for a server with its own environment, ``browser``). The page helpers follow
Streamlit's own e2e rule: wait for the script run an action triggered to finish
(`wait_idle`). ``benchmarks/bench_app.py`` and ``scripts/screenshot_search.py`` use them too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

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
]  # the project's flags, plus /dev/shm and first-run noise off
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

    def __init__(self, port: int | None = None, env: Mapping[str, str] | None = None):
        self.port = port or free_port()
        self.env = dict(env or {})  # on top of os.environ: CMH_CACHE_DIR, test hooks
        self.url = f"http://localhost:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = ROOT / "test-output" / f"streamlit-{self.port}.log"

    def start(self, timeout: float = 120.0) -> StreamlitServer:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
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


@contextlib.contextmanager
def app_page(browser, failure_shot: str, viewport: Mapping[str, int] = VIEWPORT) -> Iterator:
    """A page in a fresh browser context (a new session, no cookies), closed on leaving.

    On an exception inside, the page is saved as screenshot ``failure_shot`` before it propagates.
    """
    context = browser.new_context(viewport=dict(viewport))
    page = context.new_page()
    page.set_default_timeout(T_ACTION)
    try:
        yield page
    except Exception:
        screenshot(page, failure_shot)
        raise
    finally:
        context.close()


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


def screenshot(page, name: str, folder: Path = SHOTS) -> Path:
    """Save the whole page: Streamlit scrolls inside its main container, so grow the viewport to it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
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
    """Pick the chart's Lasso Select tool, then draw a closed lasso over the middle with real mouse moves.

    The Code Map opens in zoom mode, where a click selects one marker (docs/app.md).
    """
    chart.scroll_into_view_if_needed()
    tool = chart.locator(".modebar-btn[data-val='lasso']").first
    if tool.count():
        chart.hover()  # plotly shows its toolbar on hover
        tool.click()
    drag = chart.locator(".nsewdrag").first  # Plotly's drag layer = the plot area
    box = drag.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    pts = [(0.15, 0.15), (0.85, 0.15), (0.85, 0.85), (0.15, 0.85), (0.15, 0.2)]
    page.mouse.move(x0 + w * pts[0][0], y0 + h * pts[0][1])
    page.mouse.down()
    for fx, fy in pts[1:]:
        page.mouse.move(x0 + w * fx, y0 + h * fy, steps=12)
    page.mouse.up()


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
