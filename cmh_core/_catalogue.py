"""The registered methods' catalogue for the CLI, read from source (no scikit-learn import)."""

from __future__ import annotations

import ast
from pathlib import Path

__all__ = ["method_catalogue"]


def _literal_class_attrs(module: Path, class_name: str) -> dict:
    """Literal class attributes (``name``, ``fidelity``, ``paper``) of a class, read from its source."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    attrs = {}
    for node in cls.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            if target.id in ("fidelity", "paper"):
                attrs[target.id] = ast.literal_eval(node.value)
    if "fidelity" not in attrs:
        raise ValueError(f"{class_name} declares no literal fidelity")
    return attrs


def _catalogue_from_source(package: Path) -> list[dict[str, str]]:
    """Read the METHODS registry and each class's literal attributes without importing them."""
    tree = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    modules, registry = {}, None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cmh_core.methods."):
            for alias in node.names:
                modules[alias.asname or alias.name] = node.module.rsplit(".", 1)[1]
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "METHODS" and isinstance(node.value, ast.Dict):
            registry = node.value
    if registry is None:
        raise ValueError("no literal METHODS dict")
    out = []
    for key, value in zip(registry.keys, registry.values, strict=True):
        name, cls_name = ast.literal_eval(key), value.id  # type: ignore[union-attr]
        attrs = _literal_class_attrs(package / f"{modules[cls_name]}.py", cls_name)
        out.append(_entry(name, attrs["fidelity"], attrs.get("paper") or {}))
    return out


def _entry(name: str, fidelity: str, paper: dict) -> dict[str, str]:
    return {
        "name": name,
        "fidelity": fidelity,
        "idea": paper.get("idea", ""),
        "title": paper.get("title", ""),
    }


def method_catalogue() -> list[dict[str, str]]:
    """Registered methods in registry order: ``name, fidelity, idea, title`` for each.

    Read from the methods' source files (their literal class attributes) so that listing them
    does not import scikit-learn (about 1 s); falls back to importing `cmh_core.methods` when a
    class attribute is not a literal.

    Returns
    -------
    list of dict
    """
    try:
        return _catalogue_from_source(Path(__file__).resolve().parent / "methods")
    except (OSError, SyntaxError, ValueError, KeyError, AttributeError, StopIteration, TypeError):
        from cmh_core.methods import METHODS

        return [_entry(n, c.fidelity, getattr(c, "paper", {}) or {}) for n, c in METHODS.items()]
