"""Every page runs once with defaults and shows no exception (Streamlit AppTest)."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


def test_home_page_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert any("cross-modal hashing" in t.value for t in at.title)
    assert [m.value for m in at.metric][0] != "0"


def test_home_and_dataset_page_show_the_same_sizes():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    home = {m.label: int(m.value) for m in at.metric}
    at.switch_page("pages/1_Dataset.py").run()
    assert not at.exception, at.exception
    page = {m.label: int(m.value) for m in at.metric}
    assert list(home) == ["Items", "Labels", "Query set", "Database"]
    assert page == {**home, "Training set": page["Training set"]}  # one helper, plus the training set
    assert home["Query set"] + home["Database"] == home["Items"]  # queries are held out of the database
    assert 0 < page["Training set"] <= home["Database"]


@pytest.mark.parametrize("page", PAGES)
def test_page_runs(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
