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


def wait_trainings(at: AppTest, limit_s: float = 600) -> AppTest:
    """Rerun the page until this session's background trainings are over (the fragment's polls)."""
    import time

    deadline = time.monotonic() + limit_s
    while at.session_state["cmh_jobs"] if "cmh_jobs" in at.session_state else False:
        assert time.monotonic() < deadline, "the training did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception
    return at


def press_train(at: AppTest) -> AppTest:
    """Press the Train page's Train button and wait until the run is trained and current."""
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    return wait_trainings(at)


def current_run_of(at: AppTest):
    """The session's current run, with its model, read from the run registry on disk."""
    from cmh_core.datasets import load_dataset
    from cmh_core.runcache import RunCache, dataset_fingerprint

    key = at.session_state["cmh_runs"].current
    return RunCache().get(key, dataset_fingerprint(load_dataset(key.dataset)))
