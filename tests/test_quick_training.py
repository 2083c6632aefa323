"""AppTest: a quick training ends in the run its Train press started (`ui.training.wait_briefly`).

No fragment poll is needed: the press's own run waits for the job and redraws the page around the
new current run. The wait's bound is raised here, so the check does not depend on the load.
"""

from __future__ import annotations

import pytest
from apptest_helpers import open_page

pytestmark = [pytest.mark.app]


def test_a_quick_training_is_shown_by_the_press_itself(monkeypatch):
    import ui.training

    monkeypatch.setattr(ui.training, "QUICK_S", 600.0)  # DCH's expected 3 s is within it
    at = open_page("pages/2_Train.py", timeout=300)
    next(b for b in at.button if b.label == "Train").click().run()  # one run, no polling
    assert not at.exception, at.exception
    assert not at.session_state["cmh_jobs"]  # nothing left for the fragment to wait for
    assert str(at.session_state["cmh_runs"].current.label()) == "DCH · 32 bits · seed 0"
    assert any(s.value == "Current run: DCH · 32 bits · seed 0" for s in at.subheader)
    maps = {m.label: float(m.value) for m in at.metric if m.label.startswith("mAP")}
    assert maps["mAP I→T"] > 0.3 and maps["mAP T→I"] > 0.3  # trained codes, well above chance
