"""Progress plumbing of a fit: timing and forwarding ``(iteration, objective, elapsed_s[, terms])``."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable

__all__ = ["Callback", "_Progress", "_takes_terms"]

Callback = Callable[[int, float, float], None]


def _takes_terms(callback: Callable) -> bool:
    """Whether ``callback`` names a fourth positional parameter (for the loss terms).

    ``*args`` does not count, so ``lambda *a: ...`` keeps receiving the documented three values.
    """
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): the documented three arguments
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) >= 4


class _Progress:
    """Times a fit and forwards ``(iteration, objective, elapsed_s[, terms])`` to the user's callback.

    Subclasses call ``progress(iteration, objective)`` once per iteration (or epoch), and may pass
    ``terms={"name": value, ...}``, the parts of the objective (a deep method's loss terms). A
    callback that names a fourth positional parameter receives that dict (empty when the method
    has no parts); a three-argument callback gets ``(iteration, objective, elapsed_s)`` as always.
    The base calls it once with objective NaN at the end if the method reported nothing.
    """

    def __init__(self, callback: Callback | None):
        self.callback = callback
        self.with_terms = callback is not None and _takes_terms(callback)
        self.t0 = time.perf_counter()
        self.calls = 0

    @property
    def active(self) -> bool:
        """True when the user gave a callback: only then is an objective worth computing."""
        return self.callback is not None

    def __call__(self, iteration: int, objective: float, terms: dict[str, float] | None = None) -> None:
        self.calls += 1
        if self.callback is None:
            return
        args = (int(iteration), float(objective), float(time.perf_counter() - self.t0))
        if self.with_terms:
            self.callback(*args, {str(k): float(v) for k, v in (terms or {}).items()})
        else:
            self.callback(*args)
