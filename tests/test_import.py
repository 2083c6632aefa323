"""Importing cmh_core and every submodule never pulls in streamlit, torch or umap."""

import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import cmh_core, cmh_core.datasets
names = [m.name for m in pkgutil.walk_packages(cmh_core.__path__, "cmh_core.")]
names = [n for n in names if n != "cmh_core.__main__"]  # would run the CLI
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in ("streamlit", "torch", "umap") if m in sys.modules)
print("RESULT", len(names), heavy)
"""


def test_import_is_light():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("RESULT"), out.stdout
    _, n_modules, heavy = line.split(" ", 2)
    assert int(n_modules) >= 5  # datasets and its submodules were discovered
    assert heavy == "[]", f"heavy modules imported: {heavy}"


def test_datasets_api_names():
    import cmh_core.datasets as D

    for name in (
        "load_dataset", "list_datasets", "make_synthetic", "CrossModalDataset", "Split",
        "featurize_text", "featurize_image", "read_benchmark_file", "make_split", "save_benchmark_file",
    ):  # fmt: skip
        assert callable(getattr(D, name)), name
    names = [d["name"] for d in D.list_datasets()]
    assert "tuxpaint" in names and "synthetic" in names
    assert all(d["description"] for d in D.list_datasets())
