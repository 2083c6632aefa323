"""The docstring examples of `cmh_core` run and print what they show (every module with a ``>>>``)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "cmh_core").rglob("*.py")
    if ">>>" in p.read_text(encoding="utf-8")
)


def test_the_doctests_are_found():
    assert {"cmh_core.hamming", "cmh_core.datasets", "cmh_core.methods"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"
