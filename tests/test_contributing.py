"""A newcomer adds a method by following docs/contributing.md alone: the checklist's example method,
taken from the page itself, passes the whole contract suite and trains on the Train page."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from apptest_helpers import by_key, open_page, press_train

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "contributing.md"
NAME = "LabelRidge"


def example_source() -> str:
    """The Python block between the example-method markers of docs/contributing.md."""
    text = GUIDE.read_text(encoding="utf-8")
    block = re.search(
        r"<!-- example-method:start -->\n```python\n(.*?)```\n<!-- example-method:end -->", text, re.S
    )
    assert block, "docs/contributing.md lost its example method"
    return block.group(1)


@pytest.fixture
def example_module(tmp_path):
    """The example written to a temporary module, as step 1 of the checklist says."""
    (tmp_path / "label_ridge.py").write_text(example_source(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("label_ridge", tmp_path / "label_ridge.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["label_ridge"] = module
    spec.loader.exec_module(module)
    yield tmp_path, module
    sys.modules.pop("label_ridge", None)


@pytest.mark.slow
def test_example_method_passes_the_contract_suite(example_module):
    """tests/test_common.py, unchanged, run on the registered example (step 2: one line in METHODS)."""
    folder, _ = example_module
    (folder / "register_example.py").write_text(
        f"import label_ridge\nfrom cmh_core.methods import METHODS\nMETHODS[{NAME!r}] = label_ridge.{NAME}\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "register_example",
           "tests/test_common.py", "-k", NAME]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    tail = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", done.stdout).group(1))
    assert passed >= 18, tail  # every per-method check of the contract ran on the example
    assert "failed" not in done.stdout.splitlines()[-1] and "skipped" not in done.stdout.splitlines()[-1], (
        tail
    )


@pytest.mark.app
def test_example_method_trains_on_the_train_page(example_module, monkeypatch):
    import cmh_core.methods

    _, module = example_module
    monkeypatch.setitem(cmh_core.methods.METHODS, NAME, getattr(module, NAME))
    at = open_page("pages/2_Train.py", timeout=120)
    by_key(at.selectbox, "train_method").set_value(NAME).run()
    assert not at.exception, at.exception
    by_key(at.button_group, "bits").set_value(32)
    press_train(at)  # trainings run in the server's background jobs: wait until it is current
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["mAP I→T"]) >= 0.3 and float(metrics["mAP T→I"]) >= 0.3, metrics  # chance ~0.11
    runs = at.session_state["cmh_runs"]
    assert [k.label() for k in runs.runs] == [
        f"{NAME} · 32 bits · seed 0"
    ] and runs.current == runs.runs.keys[0]
