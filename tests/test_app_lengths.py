"""The Train page offers only code lengths the method accepts on the dataset, and trains at its default."""

from __future__ import annotations

import pytest
from apptest_helpers import by_key, open_page, press_train

from cmh_core.datasets import load_dataset
from cmh_core.methods import METHODS, code_lengths

pytestmark = pytest.mark.app

TIMEOUT = 180


@pytest.mark.parametrize("dataset", ["tuxpaint", "openmoji"])
def test_no_refused_length_is_offered(dataset):
    ds = load_dataset(dataset)
    nf = {"image": ds.image_features.shape[1], "text": ds.text_features.shape[1]}
    at = open_page("pages/2_Train.py", None, TIMEOUT, dataset=dataset)
    for name in METHODS:
        by_key(at.selectbox, "train_method").set_value(name).run()
        assert not at.exception, at.exception
        offered = by_key(at.button_group, "bits").options
        accepted = code_lengths(name, nf, len(ds.split.train))
        assert offered and all(accepted[int(b)] is None for b in offered), (name, offered)
        refused = [b for b, why in accepted.items() if why]
        if refused:  # the page names what it does not offer, and why
            assert any(f"{name} refuses" in c.value for c in at.caption), name


@pytest.mark.slow
def test_jspsh_trains_at_the_page_default():
    at = open_page("pages/2_Train.py", None, TIMEOUT, dataset="tuxpaint")
    by_key(at.selectbox, "train_method").set_value("JSPSH").run()
    assert by_key(at.button_group, "bits").value == 31  # 32 is refused on tuxpaint (K = 20 r >= 630)
    press_train(at)
    assert not at.error, [e.value for e in at.error]
    key = at.session_state["cmh_runs"].current
    assert (key.method, key.n_bits) == ("JSPSH", 31)
