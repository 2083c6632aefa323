"""Take the README's screenshot of the Search page: ``python scripts/screenshot_search.py``.

Starts ``streamlit run app.py`` on a free loopback port, opens the Search page in Debian's Chromium
(``/usr/bin/chromium``) through the browser test's helpers, waits for the default query's results,
folds the query grid and the bit playground, and saves the visible part of the page, scaled down and
reduced to a 128-colour palette, as ``docs/img/search.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_browser import (  # noqa: E402 - the browser test's helpers live in tests/
    RESULT_IMAGES_JS,
    T_ACTION,
    StreamlitServer,
    goto_page,
    launch_browser,
    open_app,
)

OUT = ROOT / "docs" / "img" / "search.png"


def main(width: int = 1000) -> Path:
    """Save the screenshot of the Search page with its default query; returns its path."""
    from playwright.sync_api import sync_playwright

    server = StreamlitServer().start()
    try:
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            open_app(page, server.url)
            goto_page(page, "Search")
            page.wait_for_function(f"() => ({RESULT_IMAGES_JS})() >= 10", timeout=T_ACTION)
            # fold the query grid and the bit playground so that the results come into view
            for title in ("Choose a query", "Bit playground"):
                page.locator("[data-testid='stExpander'] summary", has_text=title).click()
                page.wait_for_timeout(500)
            page.wait_for_timeout(1500)  # thumbnails finish loading
            raw = OUT.with_suffix(".raw.png")
            page.screenshot(path=str(raw))
            browser.close()
    finally:
        server.stop()
    img = Image.open(raw).convert("RGB")
    img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)
    raw.unlink()
    return OUT


if __name__ == "__main__":
    print(main())
