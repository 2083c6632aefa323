"""Every hyper-parameter of every registered method explains itself from the class docstring."""

from __future__ import annotations

import pytest

from cmh_core.methods import METHODS, param_help
from cmh_core.methods._docs import param_docs


@pytest.mark.parametrize("name", list(METHODS))
def test_every_parameter_has_one_line_of_help(name):
    cls = METHODS[name]
    helps = param_help(cls)
    for p in cls._get_param_names():
        assert p in helps, f"{name}.{p} is not documented in the class docstring's Parameters section"
        assert len(helps[p]) > len("(int)") and "\n" not in helps[p]


def test_parser_reads_shared_lines_and_stops_at_the_next_section():
    class Demo:
        """Demo.

        Parameters
        ----------
        a, b : float, default=1
            Two weights. Second sentence.
        c : int
            C.

        Attributes
        ----------
        d_ : int
            Not a parameter.
        """

    docs = param_docs(Demo)
    assert set(docs) == {"a", "b", "c"}
    assert param_help(Demo)["b"] == "Two weights. (float, default=1)"
