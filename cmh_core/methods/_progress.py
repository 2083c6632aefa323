"""Progress plumbing of a fit: timing, stages, set-up phases and forwarding to the user's callback.

A method declares its stages (`CrossModalHasher._stages`: name, iterations and unit of each) and,
inside ``_fit``, calls ``callback.stage(i)`` when stage i begins, ``callback(iteration, objective)``
once per iteration (or epoch) and ``callback.phase(text, done, total)`` for set-up work that is
not an iteration (kernel features, feature maps). The user's callback is called as before,
``callback(iteration, objective, elapsed_s[, terms])``; one that also names a ``progress`` keyword
receives a `Progress` with every report, and is also called, with iteration 0 and objective NaN,
when a stage begins or a set-up phase reports (``progress.kind`` says which).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral

__all__ = [
    "Callback",
    "Progress",
    "_Progress",
    "_takes_terms",
    "_takes_progress",
    "default_stages",
    "normalize_stages",
]

Callback = Callable[[int, float, float], None]


@dataclass(frozen=True)
class Progress:
    """One progress report of a fit, ready for a progress bar.

    Attributes
    ----------
    stage, n_stages : int
        The current stage (1-based) and how many the method declared.
    stage_name : str
        ``"hash functions"``; for a set-up phase, the phase's text.
    done, total : int
        Iterations (epochs, steps) finished in this stage and its declared total; for a set-up
        phase, its own count (images, modalities).
    text : str
        A line for the user: ``"Stage 2 of 2 · hash functions · iteration 3 of 15"`` or
        ``"Computing image feature maps (12 of 630)"``.
    elapsed_s : float
        Seconds since the fit (or the run) began.
    objective : float or None
        The objective reported with this iteration; None for stage starts and phases.
    kind : {"iteration", "step", "stage", "phase"}
        An iteration finished (with its objective), a step finished without an objective (not
        part of the history), a stage began (``done`` 0), or a set-up phase reported.
    unit : str
        What a stage counts (``"iteration"``, ``"epoch"``, ``"step"``).
    """

    stage: int
    n_stages: int
    stage_name: str
    done: int
    total: int
    text: str
    elapsed_s: float
    objective: float | None = None
    kind: str = "iteration"
    unit: str = "iteration"

    @property
    def fraction(self) -> float:
        """``done / total`` clipped to [0, 1] (a bar's value)."""
        return min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0


def normalize_stages(stages: Sequence[Sequence]) -> list[tuple[str, int, str]]:
    """``[(name, total[, unit]), ...]`` -> ``[(name, total, unit), ...]``, checked.

    Raises
    ------
    ValueError
        For no stages or a total below 1 (a method's declaration is wrong).
    """
    out = []
    for s in stages:
        if len(s) not in (2, 3):
            raise ValueError(f"a stage is (name, total) or (name, total, unit), got {s!r}")
        name, total, unit = (*s, "iteration")[:3]
        if int(total) < 1:
            raise ValueError(f"stage {name!r} declares {total} iterations; a stage needs at least 1")
        out.append((str(name), int(total), str(unit)))
    if not out:
        raise ValueError("a method declares at least one stage, e.g. [('training', n_iter)]")
    return out


def default_stages(model: object) -> list[tuple[str, int, str]]:
    """One stage, "training", of ``model.n_iter`` iterations or ``model.n_epochs`` epochs, else 1.

    A method with several loops overrides ``_stages`` and calls ``callback.stage(i)`` as each
    begins (AMSH: codes, then hash functions).
    """
    for attr, unit in (("n_iter", "iteration"), ("n_epochs", "epoch")):
        n = getattr(model, attr, None)
        if isinstance(n, Integral) and not isinstance(n, bool) and n >= 1:
            return [("training", int(n), unit)]
    return [("training", 1, "iteration")]


def _positional(callback: Callable) -> int | None:
    """How many positional parameters ``callback`` names (not ``*args``, not ``progress``)."""
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):  # no signature (some builtins): the documented three arguments
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.name != "progress" for p in params)


def _takes_terms(callback: Callable) -> bool:
    """Whether ``callback`` names a fourth positional parameter (for the loss terms).

    ``*args`` does not count, so ``lambda *a: ...`` keeps receiving the documented three values;
    nor does a parameter named ``progress`` (see `_takes_progress`).
    """
    n = _positional(callback)
    return n is not None and n >= 4


def _takes_progress(callback: Callable) -> bool:
    """Whether ``callback`` accepts a ``progress`` keyword (then it gets `Progress` reports)."""
    try:
        params = inspect.signature(callback).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("progress")
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return p is not None and p.kind in kinds


def stage_text(stage: int, n_stages: int, name: str, done: int, total: int, unit: str) -> str:
    """``"Stage 2 of 2 · hash functions · iteration 3 of 15"`` (one stage: ``"Epoch 3 of 40"``)."""
    count = f"{unit} {done} of {total}" if done > 0 else f"{unit} 0 of {total}, starting"
    if n_stages == 1:
        return count[0].upper() + count[1:]
    return f"Stage {stage} of {n_stages} · {name} · {count}"


def phase_text(text: str, done: int, total: int) -> str:
    """``"Computing image feature maps (12 of 630)"``; just the text for a one-step phase."""
    return f"{text} ({done} of {total})" if total > 1 else text


class _Progress:
    """Times a fit, tracks its stage and forwards reports to the user's callback.

    Subclasses call ``progress(iteration, objective)`` once per iteration (or epoch), and may pass
    ``terms={"name": value, ...}``, the parts of the objective (a deep method's loss terms). A
    callback that names a fourth positional parameter receives that dict (empty when the method
    has no parts); a three-argument callback gets ``(iteration, objective, elapsed_s)`` as always.
    The base calls it once with objective NaN at the end if the method reported nothing.

    Parameters
    ----------
    callback : callable or None
        The user's callback.
    stages : list of (name, total[, unit]), optional
        The method's declared stages (default one stage, "training", of one iteration).
    """

    def __init__(self, callback: Callback | None, stages: Sequence[Sequence] | None = None):
        self.callback = callback
        self.with_terms = callback is not None and _takes_terms(callback)
        self.with_progress = callback is not None and _takes_progress(callback)
        self.stages = normalize_stages(stages or [("training", 1)])
        self.t0 = time.perf_counter()
        self.calls = 0
        self.current = 0  # 0 until the first stage begins (explicitly or by the first report)
        self.done = 0
        self.last: Progress | None = None

    @property
    def active(self) -> bool:
        """True when the user gave a callback: only then is an objective worth computing."""
        return self.callback is not None

    def __call__(self, iteration: int, objective: float, terms: dict[str, float] | None = None) -> None:
        self.calls += 1
        if self.callback is None:
            return
        if self.current == 0:  # a method that never calls stage(): its only stage began
            self.current = 1
        self.done += 1
        args = (int(iteration), float(objective), float(time.perf_counter() - self.t0))
        if self.with_terms:
            args = (*args, {str(k): float(v) for k, v in (terms or {}).items()})
        if self.with_progress:
            self.callback(*args, progress=self._report("iteration", float(objective)))
        else:
            self.callback(*args)

    def stage(self, i: int) -> None:
        """Stage ``i`` (1-based, as declared by ``_stages``) begins: its count restarts at 0."""
        if not 1 <= int(i) <= len(self.stages):
            raise ValueError(f"stage {i} is not declared: the method declares {len(self.stages)} stage(s)")
        self.current, self.done = int(i), 0
        self._emit(self._report("stage", None))

    def tick(self) -> None:
        """One iteration of the current stage that has no objective (not recorded as history)."""
        if self.current == 0:
            self.current = 1
        self.done += 1
        self._emit(self._report("step", None))

    def phase(self, text: str, done: int = 0, total: int = 1, *, stage: int | None = None) -> None:
        """A set-up phase that is not an iteration: ``phase("Computing kernel features", 1, 2)``.

        It belongs to the current stage (the first before any began), or to ``stage`` if given.
        """
        stage = max(self.current, 1) if stage is None else int(stage)
        unit = self.stages[stage - 1][2]
        p = Progress(
            stage,
            len(self.stages),
            str(text),
            int(done),
            int(total),
            phase_text(str(text), int(done), int(total)),
            float(time.perf_counter() - self.t0),
            None,
            "phase",
            unit,
        )
        self._emit(p)

    # ------------------------------------------------------------------ internals
    def _report(self, kind: str, objective: float | None) -> Progress:
        stage = max(self.current, 1)
        name, total, unit = self.stages[stage - 1]
        if objective is not None and math.isnan(objective):
            objective = None
        p = Progress(
            stage,
            len(self.stages),
            name,
            self.done,
            total,
            stage_text(stage, len(self.stages), name, self.done, total, unit),
            float(time.perf_counter() - self.t0),
            objective,
            kind,
            unit,
        )
        self.last = p
        return p

    def _emit(self, p: Progress) -> None:
        """Send a report without an iteration to a callback that takes ``progress``."""
        if self.with_progress:
            args = (0, float("nan"), p.elapsed_s) + (({},) if self.with_terms else ())
            self.callback(*args, progress=p)
