"""The documentation stays true: the README's size, its generated methods table, its library example,
the API table's names, and no reference to a documentation path that is not in the repository."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cmh_core.cli import methods_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# folders whose paths the docs and docstrings cite ("de" "sign": this file must not cite one itself)
CITED = ("docs", "de" + "sign")
PATH_RE = re.compile(r"(?<![\w./-])(?:\.\./shared/)?(" + "|".join(CITED) + r")/[\w./-]*")
OUTSIDE_RE = re.compile(r"\.\./" + "shared|/work/" + "shared")  # the folder beside the checkout
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".npz", ".npy", ".mat", ".h5", ".gz", ".ico", ".ttf"}


def _repo_files() -> list[Path]:
    """Tracked files and untracked ones git does not ignore (a fresh clone has only the former)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [ROOT / f for f in out.splitlines() if (ROOT / f).is_file()]


def _text_files() -> dict[Path, str]:
    texts = {}
    for path in _repo_files():
        if path.suffix.lower() in SKIP_SUFFIXES or path.stat().st_size > 2_000_000:
            continue
        try:
            texts[path] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_readme_methods_table_is_generated_from_the_classes():
    """The table between the markers is exactly `cmh methods --markdown`, one row per METHODS entry."""
    from cmh_core.methods import METHODS

    table = re.search(r"<!-- methods:start -->\n(.*?)\n<!-- methods:end -->", README, re.S)
    assert table, "the README lost its methods table markers"
    assert table.group(1).strip() == methods_markdown()
    rows = [r for r in table.group(1).splitlines()[2:] if r.startswith("| [`")]
    assert [re.match(r"\| \[`([^`]+)`\]", r).group(1) for r in rows] == list(METHODS)


@pytest.mark.slow
def test_readme_library_example_runs_and_prints_what_it_says():
    code = re.search(r"## The library in ten lines\n\n```python\n(.*?)```", README, re.S).group(1)
    shown = re.search(r"It prints.*?```\n(.*?)```", README, re.S).group(1).splitlines()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
    printed = out.getvalue().splitlines()
    assert len(printed) == len(shown) == 7
    # mAP within 0.02 of the README's (BLAS thread counts move the last float bits), the rest equal
    got, want = (list(map(float, re.findall(r"\d\.\d{3}", line))) for line in (printed[0], shown[0]))
    assert len(got) == len(want) == 2 and all(abs(g - w) <= 0.02 for g, w in zip(got, want, strict=True))
    assert printed[1] == shown[1] == "query image: A koala."
    assert all(re.fullmatch(r"\s+\d+ bits  \S.*", line) for line in printed[2:])


def _api_names() -> list[str]:
    """``module.name`` for every function the API table of docs/api.md lists (first column)."""
    names = []
    for line in (ROOT / "docs" / "api.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        module = None
        for token in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
            name = token.split("(")[0]
            if "." in name:
                module, name = name.rsplit(".", 1)
            assert module, f"no module for {token!r} in docs/api.md"
            names.append(f"{module}.{name}")
    return names


def test_every_name_in_the_api_table_imports():
    names = _api_names()
    assert len(names) >= 35  # both tables of docs/api.md
    for dotted in names:
        module, name = dotted.rsplit(".", 1)
        mod = importlib.import_module(f"cmh_core.{module}")
        assert callable(getattr(mod, name, None)), f"cmh_core.{dotted} (docs/api.md) is gone"


def test_no_reference_to_a_documentation_path_that_does_not_exist():
    missing = []
    for path, text in _text_files().items():
        for m in PATH_RE.finditer(text):
            target = m.group(0).split("#")[0].rstrip(".,;:")
            if m.group(1) != "docs" or target.startswith("../") or not (ROOT / target).exists():
                missing.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
        missing += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in OUTSIDE_RE.finditer(text)]
    assert not missing, "references to paths outside the repository or missing:\n" + "\n".join(missing)


def test_markdown_links_resolve():
    missing = []
    for path, text in _text_files().items():
        if path.suffix != ".md":
            continue
        for target in LINK_RE.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                missing.append(f"{path.relative_to(ROOT)}: {target}")
    assert not missing, "Markdown links to missing files:\n" + "\n".join(missing)


def test_results_page_is_generated_from_the_bench_records():
    """docs/results.md is exactly what scripts/make_results.py makes of docs/results/*.json."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_results
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    files = make_results.default_files()
    assert files, "no bench records in docs/results/"
    page = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert page == make_results.render(files), "regenerate it: python scripts/make_results.py"
    assert "| RandomCodes |" in page and "| DCH |" in page


def test_ci_runs_the_readmes_test_command():
    """`.ci/run` installs and tests exactly as the README's second command says (then lints)."""
    block = re.search(r"## Install and test\n\n```bash\n(.*?)```", README, re.S).group(1)
    install, test = block.splitlines()[1].split("#")[0].strip().split(" && ")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert install in ci and test in ci and ci.index(install) < ci.index(test)
    assert "set -euo pipefail" in ci  # a failing test fails CI
