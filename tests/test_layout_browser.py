"""Every page at 1400 x 900 and at 800 x 900 in Chromium: nothing wider than the window, nothing cut.

One browser session (the session's shared server and Chromium, ``tests/conftest.py``) trains the
default run and a small comparison once, then visits every page of ``ui/frame.py`` at both window
sizes. Each visit saves a screenshot of the window and of the whole page in the test's temporary
folder and measures, in the page itself:

* the document's width against the window (``scrollWidth <= innerWidth``) and every visible
  element's right edge (clipped by its scrolling ancestors) against the window's and, inside a
  column, against the column's (a 140 px image drawn over the caption beside it);
* any scroll box that hides text sideways (data grids excepted: they scroll by design);
* every button whose label broke inside a word (more text lines than words: "Search" as a column
  of letters), from the label's height and its line height;
* metric values and labels cut short with an ellipsis ("32 …"), and chart text (a title, a
  legend entry) running out of its figure.

A last test checks that the first search result is in view without scrolling at 1400 x 900.
"""

from __future__ import annotations

import pytest
from browser_helpers import (
    RESULT_IMAGES_JS,
    T_ACTION,
    T_PAGE,
    assert_no_exception,
    goto_page,
    open_app,
    press_train,
    screenshot,
    wait_idle,
    wait_trained,
)

from ui.frame import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = {"1400": {"width": 1400, "height": 900}, "800": {"width": 800, "height": 900}}
LABELS = [label for _script, label, _icon, _pid in PAGES]

# What the page measures about itself: offenders as short descriptions ("tag.class 'text' right=913").
MEASURE_JS = r"""() => {
  const W = window.innerWidth;
  const seen = (e) => {
    const s = getComputedStyle(e);
    return s.display !== "none" && s.visibility !== "hidden" && parseFloat(s.opacity || "1") > 0;
  };
  const name = (e) => {
    const id = e.getAttribute("data-testid") || (e.className && e.className.baseVal === undefined
      ? String(e.className).split(" ").filter(c => c.startsWith("st-key-"))[0] || "" : "");
    const text = (e.innerText || e.textContent || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return `${e.tagName.toLowerCase()}${id ? "[" + id + "]" : ""} '${text}'`;
  };
  // the part of an element left visible by the ancestors that clip it (overflow other than visible)
  const visibleRect = (e) => {
    let r = e.getBoundingClientRect();
    let left = r.left, right = r.right, top = r.top, bottom = r.bottom;
    for (let a = e.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== "visible") {
        const b = a.getBoundingClientRect();
        left = Math.max(left, b.left); right = Math.min(right, b.right);
      }
      if (s.overflowY !== "visible") {
        const b = a.getBoundingClientRect();
        top = Math.max(top, b.top); bottom = Math.min(bottom, b.bottom);
      }
    }
    return {left, right, top, bottom};
  };
  const roots = "[data-testid='stMain'], [data-testid='stSidebar']";
  const out = {docWidth: document.documentElement.scrollWidth, innerWidth: W, wide: [], sideways: [],
               spill: [], letters: [], cut: []};
  for (const e of document.querySelectorAll(`${roots.split(", ").map(r => r + " *").join(", ")}`)) {
    if (e.closest("[data-testid='stSidebar'][aria-expanded='false']")) continue;  // folded away
    if (e.closest("[data-testid='stDataFrame'] canvas, .js-plotly-plot .modebar")) continue;
    const r = e.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0 || !seen(e)) continue;
    const v = visibleRect(e);
    if (v.right > v.left && v.bottom > v.top && v.right > W + 1) {
      out.wide.push(`${name(e)} right=${Math.round(v.right)}`);
    }
    const col = e.closest("[data-testid='stColumn']");  // drawn over the next column (an image)
    const edge = col ? col.getBoundingClientRect().right : Infinity;
    if (v.right > v.left && v.bottom > v.top && v.right > edge + 1) {
      out.spill.push(`${name(e)} right=${Math.round(v.right)} > column ${Math.round(edge)}`);
    }
    const s = getComputedStyle(e);
    if ((s.overflowX === "auto" || s.overflowX === "scroll") && e.scrollWidth > e.clientWidth + 1
        && !e.closest("[data-testid='stDataFrame'], [data-testid='stTable'], .stCode, pre")) {
      // a box hides text sideways when a descendant holding text reaches past it (an empty
      // combobox input that makes a tag box scroll by a few pixels hides nothing)
      const box = e.getBoundingClientRect();
      const past = (c) => {
        const r = c.getBoundingClientRect();
        return r.right > box.right + 1 || r.left < box.left - 1;
      };
      const hidden = Array.from(e.querySelectorAll("*")).filter(c =>
        Array.from(c.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()) && past(c));
      if (hidden.length) out.sideways.push(`${name(e)} hides ${name(hidden[0])}`);
    }
  }
  const buttons = "[data-testid='stMain'] button, [data-testid='stSidebar'] button";
  for (const b of document.querySelectorAll(buttons)) {
    const t = b.querySelector("p");  // the label; icon-only buttons (a ligature like "close") have none
    const text = t ? (t.innerText || "").trim() : "";
    if (!text || !seen(b) || b.getBoundingClientRect().width === 0) continue;
    const s = getComputedStyle(t);
    const lh = s.lineHeight === "normal" ? 1.2 * parseFloat(s.fontSize) : parseFloat(s.lineHeight);
    const lines = Math.round(t.getBoundingClientRect().height / lh);
    const words = text.split(/\s+/).length;
    if (lines > words) out.letters.push(`${name(b)} ${lines} lines for ${words} word(s)`);
  }
  for (const e of document.querySelectorAll(
      "[data-testid='stMetricValue'] *, [data-testid='stMetricValue'], " +
      "[data-testid='stMetricLabel'] *, [data-testid='stMetricLabel']")) {
    if (seen(e) && e.scrollWidth > e.clientWidth + 1) {
      out.cut.push(`${name(e)} ${e.scrollWidth}>${e.clientWidth}`);
    }
  }
  for (const svg of document.querySelectorAll("[data-testid='stMain'] .js-plotly-plot svg.main-svg")) {
    const b = svg.getBoundingClientRect();  // a chart's title or legend text running out of its figure
    for (const t of svg.querySelectorAll("text")) {
      const r = t.getBoundingClientRect();
      if (r.width > 0 && t.textContent.trim() && (r.right > b.right + 1 || r.left < b.left - 1)) {
        const text = t.textContent.trim().slice(0, 40);
        out.cut.push(`chart text '${text}' ${Math.round(r.left)}..${Math.round(r.right)} of ${b.right}`);
      }
    }
  }
  return out;
}"""

# The first search result: the distance line of a result card ("d = 7"), in document order.
FIRST_RESULT_JS = r"""() => {
  const hits = Array.from(document.querySelectorAll("[data-testid='stMain'] code"))
    .filter(e => /^d = \d+$/.test(e.innerText.trim()));
  if (!hits.length) return null;
  const card = hits[0].closest("[data-testid='stVerticalBlockBorderWrapper']") || hits[0];
  const r = card.getBoundingClientRect(), d = hits[0].getBoundingClientRect();
  return {cardTop: r.top, distanceBottom: d.bottom, innerHeight: window.innerHeight,
          scrollTop: document.querySelector("[data-testid='stMain']").scrollTop};
}"""


def _visit(page, label: str) -> None:
    """Open a page through its sidebar link (same session) and wait until it has drawn."""
    page.locator("[data-testid='stSidebar'] [data-testid='stPageLink'] a", has_text=label).first.click()
    title = "cmh-explorer" if label == "Home" else label  # the home page's title names the app
    page.wait_for_selector(f"h1:has-text('{title}')", timeout=T_PAGE)
    wait_idle(page, T_PAGE)
    _ready(page, label)


def _ready(page, label: str) -> None:
    """Wait until a page has drawn what it shows once a run (and a comparison) exists."""
    if label in ("Code Map", "Failures", "Compare"):
        page.locator("[data-testid='stMain'] .stPlotlyChart").first.wait_for(timeout=T_PAGE)
    if label == "Search":
        page.wait_for_function(f"() => ({RESULT_IMAGES_JS})() >= 6", timeout=T_PAGE)
    page.wait_for_timeout(700)  # plotly and images finish their layout after the element appears
    wait_idle(page, T_PAGE)


@pytest.fixture(scope="module")
def layout(streamlit_server, browser, tmp_path_factory):
    """``{(size, page label): measurements}`` of one session that trained a run and a comparison."""
    shots = tmp_path_factory.mktemp("layout_screenshots")
    context = browser.new_context(viewport=SIZES["1400"])
    page = context.new_page()
    page.set_default_timeout(T_ACTION)
    found: dict = {"shots": shots}
    try:
        open_app(page, streamlit_server.url)
        goto_page(page, "Train")
        press_train(page)  # DCH, 32 bits: Train shows its metrics, Search/Code Map/Failures use it
        wait_trained(page)
        goto_page(page, "Compare")
        page.get_by_role("button", name="Run comparison").click()  # DCH and CCA-ITQ at 16 and 32 bits
        wait_idle(page, T_PAGE)
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            for label in LABELS:
                _visit(page, label)
                assert_no_exception(page, f"{label} at {size} px")
                if label == "Search" and size == "1400":
                    found["first_result"] = page.evaluate(FIRST_RESULT_JS)
                found[(size, label)] = page.evaluate(MEASURE_JS)
                stem = f"{size}_{label.replace(' ', '_').lower()}"
                page.screenshot(path=str(shots / f"{stem}_window.png"))
                screenshot(page, f"{stem}_full", folder=shots)
    except Exception:
        screenshot(page, "failure_layout", folder=shots)
        raise
    finally:
        context.close()
    print(f"layout screenshots: {shots}")
    return found


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("label", LABELS)
def test_nothing_is_wider_than_the_window(layout, size, label):
    m = layout[(size, label)]
    assert m["docWidth"] <= m["innerWidth"], f"{label} at {size} px scrolls sideways: {m['docWidth']}"
    assert m["wide"] == [], (
        f"{label} at {size} px: {len(m['wide'])} element(s) past the edge: {m['wide'][:8]}"
    )
    assert m["spill"] == [], f"{label} at {size} px: drawn past their column: {m['spill'][:8]}"
    assert m["sideways"] == [], f"{label} at {size} px: boxes that hide text sideways: {m['sideways'][:8]}"


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("label", LABELS)
def test_no_button_label_breaks_inside_a_word(layout, size, label):
    letters = layout[(size, label)]["letters"]
    assert letters == [], f"{label} at {size} px: {letters[:8]}"


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("label", LABELS)
def test_no_metric_or_chart_text_is_cut(layout, size, label):
    cut = layout[(size, label)]["cut"]
    assert cut == [], f"{label} at {size} px: {cut[:8]}"


def test_first_search_result_is_in_view_at_1400(layout):
    first = layout["first_result"]
    assert first is not None, "no result card ('d = N') on Search"
    assert first["scrollTop"] == 0, first
    assert first["cardTop"] < first["innerHeight"] and first["distanceBottom"] <= first["innerHeight"], (
        f"the first result starts {first['cardTop']:.0f} px down, below the {first['innerHeight']} px window"
    )
