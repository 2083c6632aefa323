"""The app's warm start (ui/warmup.py, docs/performance.md "Warm start and background work").

Each check runs in a fresh interpreter: the BLAS limit is process-wide and "what Home imports"
needs an empty ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HOME = """
import json, logging, sys
logging.disable(logging.CRITICAL)
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=120).run()
heavy = sorted(m for m in ("sklearn", "pandas", "torch", "umap", "numba") if m in sys.modules)
print("RESULT", json.dumps({{"errors": [e.value for e in at.exception], "heavy": heavy,
    "strips": len(at.get("plotly_chart"))}}))
"""

WARM = """
import json, logging, sys
logging.disable(logging.CRITICAL)
sys.path.insert(0, {root!r})
from threadpoolctl import threadpool_info
from cmh_core.datasets import load_dataset
from cmh_core.experiment import run_experiment
import ui.chance, ui.warmup
steps = ui.warmup.run("tuxpaint", 32, modules=("cmh_core.methods",))
blas = sorted({{i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}})
direct = run_experiment(load_dataset("tuxpaint"), "RandomCodes", n_bits=32, seed=0)
print("RESULT", json.dumps({{"steps": list(steps), "blas": blas, "again": ui.warmup.limit_blas_threads(3),
    "chance": ui.chance._CHANCE[("tuxpaint", 32, 0)], "direct": [direct.map_i2t, direct.map_t2i]}}))
"""


def _result(code: str, env_extra: dict[str, str], tmp_path) -> dict:
    import os

    env = {**os.environ, "CMH_CACHE_DIR": str(tmp_path), **env_extra}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.app
def test_home_first_run_imports_no_method_library(tmp_path):
    """Home's first draw on a fresh server imports neither scikit-learn nor pandas (nor torch, umap,
    numba): those cost seconds, and the warm-up loads them after Home is drawn."""
    res = _result(HOME.format(app=str(ROOT / "app.py")), {"CMH_WARMUP": "0"}, tmp_path)
    assert res["errors"] == []
    assert res["strips"] == 2  # the worked example was drawn: the check ran on a complete Home
    assert res["heavy"] == [], f"Home's first run imported {res['heavy']}"


def test_warmup_limits_blas_and_computes_the_real_chance_level(tmp_path):
    """The warm-up's steps: BLAS on one thread (once: a later call keeps it), the methods imported,
    and the chance level stored is RandomCodes' real mAP at 32 bits on tuxpaint."""
    res = _result(WARM.format(root=str(ROOT)), {"CMH_BLAS_THREADS": "1"}, tmp_path)
    assert res["steps"] == ["BLAS threads", "import cmh_core.methods", "chance level tuxpaint 32 bits"]
    assert res["blas"] == [1]
    assert res["again"] == 1  # the first limit stays for the life of the process
    assert res["chance"] == {"i2t": res["direct"][0], "t2i": res["direct"][1]}
    assert 0.0 < res["chance"]["i2t"] < 0.5  # random codes: well below any trained method


def test_bad_blas_setting_is_refused_with_the_fix(monkeypatch):
    from ui import warmup

    monkeypatch.setenv(warmup.BLAS_ENV, "two")
    with pytest.raises(ValueError, match=r"CMH_BLAS_THREADS must be a whole number >= 0, got 'two'"):
        warmup._limit(None)
    with pytest.raises(ValueError, match="got -1"):
        warmup._limit(-1)
    assert warmup._limit(0) is None  # 0: OpenBLAS keeps its own threads, nothing is changed
