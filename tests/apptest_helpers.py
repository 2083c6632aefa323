"""Shared AppTest glue for the page tests: open a page in a (new or given) session, find by key."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def open_page(page: str, at: AppTest | None = None, timeout: float = 60, **query) -> AppTest:
    """Run ``page`` in session ``at`` (a new one from app.py when None), with URL ``query`` set.

    ``is None``, not ``or``: an AppTest that has not run yet has no elements and counts as false,
    so ``at or AppTest(...)`` would silently swap a fresh session for another one.
    """
    at = AppTest.from_file(APP, default_timeout=timeout) if at is None else at
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def by_key(elements, key):
    """The element of ``elements`` whose widget key is ``key``."""
    return next(e for e in elements if e.key == key)


def follow_link(at: AppTest, label: str, timeout: float = 120) -> AppTest:
    """Click the sidebar's page link ``label`` as a browser would: that page, with the link's URL only.

    AppTest keeps the old page's query parameters on `switch_page`; a browser opens the link's.
    """
    from urllib.parse import parse_qs

    from ui.frame import PAGES

    (link,) = [p for p in at.sidebar.get("page_link") if p.proto.label == label]
    at.query_params.clear()
    for k, v in parse_qs(link.proto.query_string).items():
        at.query_params[k] = v[-1]
    page = next(path for path, name, *_ in PAGES if name == label)
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at
