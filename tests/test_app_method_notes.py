"""Each seed method states what this project measured for it, losses included, on the Train page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmh_core.methods import METHODS

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parents[1]

SEEDS = [n for n, c in METHODS.items() if c.fidelity != "classic baseline"]


def test_every_seed_method_has_a_measured_note():
    assert {"AMSH", "JSPSH", "HPsEH", "CSMH", "SDEH"} <= set(SEEDS)
    for name in SEEDS:
        assert "tuxpaint" in METHODS[name].on_our_data, name


@pytest.mark.parametrize("name, says", [("SDEH", "L_sem hurts NDCG@50"), ("AMSH", "loses to DCH")])
def test_train_page_shows_the_note(name, says):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["method"] = name
    at.switch_page("pages/2_Train.py").run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Measured here:") and says in c for c in captions), captions
