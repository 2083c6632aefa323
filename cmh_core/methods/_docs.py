"""One source for the words beside a hyper-parameter: the method's own numpydoc docstring.

The Train form's help texts, `cmh methods` and the docs read a parameter's meaning from the
``Parameters`` section of the method class's docstring, so a parameter is explained once, where
its code is, and a new method's form explains itself.
"""

from __future__ import annotations

import inspect
import re

__all__ = ["param_help", "param_docs"]

_HEADER = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.MULTILINE)
_ITEM = re.compile(r"^(\w+(?:\s*,\s*\w+)*)\s*:\s*(.*)$")  # "a, b : float" documents two


def param_docs(cls: type) -> dict[str, tuple[str, str]]:
    """``{name: (type, description)}`` from the ``Parameters`` section of ``cls``'s docstring.

    Parameters
    ----------
    cls : type
        A class with a numpydoc docstring (its constructor's parameters documented).

    Returns
    -------
    dict
        The type line (e.g. ``"float, default=1.0"``) and the description joined into one line;
        empty when the docstring has no ``Parameters`` section.
    """
    doc = inspect.getdoc(cls) or ""
    heads = list(_HEADER.finditer(doc))
    out: dict[str, tuple[str, str]] = {}
    for i, h in enumerate(heads):
        if h.group(1).strip() != "Parameters":
            continue
        end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
        names: list[str] = []
        for line in doc[h.end() : end].splitlines():
            m = _ITEM.match(line)
            if m and not line.startswith(" "):
                names = [n.strip() for n in m.group(1).split(",")]
                for n in names:
                    out[n] = (m.group(2).strip(), "")
            elif names and line.strip():
                for n in names:
                    kind, text = out[n]
                    out[n] = (kind, f"{text} {line.strip()}".strip())
    return out


def param_help(cls: type) -> dict[str, str]:
    """One line per parameter for a form's help: the description's first sentence, then its type.

    ``"λ: ridge on the label classifier W. (float, default=1.0)"``.
    """
    out = {}
    for name, (kind, text) in param_docs(cls).items():
        first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""
        out[name] = f"{first} ({kind})" if first else f"({kind})"
    return out
