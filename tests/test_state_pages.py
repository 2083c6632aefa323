"""Every page script is in the sidebar (ui/frame.py PAGES) and has a page id for its URL view."""

from __future__ import annotations

from pathlib import Path

from ui.frame import PAGES
from ui.url import PAGE_PARAMS
from ui.url import PAGES as URL_PAGES

ROOT = Path(__file__).resolve().parents[1]


def test_pages_equal_the_page_scripts():
    scripts = {"app.py"} | {p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py")}
    assert {path for path, *_ in PAGES} == scripts  # a new page is invisible until it is listed


def test_every_page_has_a_url_view():
    assert {pid: path for path, _, _, pid in PAGES} == URL_PAGES
    assert set(PAGE_PARAMS) == set(URL_PAGES)
