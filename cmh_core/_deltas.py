"""Each method's mAP difference to the best baseline of a comparison (Compare page, comparison report).

A baseline is a registered method whose ``fidelity`` is ``"classic baseline"`` (CCA-ITQ, SCM,
CMFH, DCH, DCMH), except ``RandomCodes``: that one is the chance level, drawn as its own line.
The seed methods of the project (the others) are the ones a reader wants to see against the best
baseline; a baseline's own row is compared with the best *other* baseline, so the column also
says by how much the leading baseline leads. Differences are of the mean mAP over seeds, at the
same code length; see docs/app.md (Compare).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CHANCE_METHOD", "is_baseline", "baseline_deltas"]

CHANCE_METHOD = "RandomCodes"


def is_baseline(method: str) -> bool:
    """Whether ``method`` is a registered classic baseline other than the chance level."""
    from cmh_core.methods import method_class

    try:
        cls = method_class(method)
    except ValueError:  # a record of a method this install does not register: not a baseline
        return False
    return cls.fidelity == "classic baseline" and cls.name != CHANCE_METHOD


def baseline_deltas(
    summary: Sequence[Mapping[str, Any]], direction: str = "i2t"
) -> list[dict[str, Any] | None]:
    """For each summary row, its mean mAP minus the best (other) baseline's at the same code length.

    Parameters
    ----------
    summary : sequence of dict
        `cmh_core.comparison.Comparison.summary()` rows (``method``, ``n_bits``,
        ``map_<direction>_mean``).
    direction : {"i2t", "t2i"}

    Returns
    -------
    list
        One entry per row, in order: ``{"baseline": name, "baseline_map": float, "delta": float}``
        (``delta`` = the row's mean mAP minus the baseline's), or None for the chance level and
        for a row with no other baseline at its code length.
    """
    if direction not in ("i2t", "t2i"):
        raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")
    mean = f"map_{direction}_mean"
    baselines = [r for r in summary if is_baseline(str(r["method"]))]
    out: list[dict[str, Any] | None] = []
    for row in summary:
        method, bits = str(row["method"]), int(row["n_bits"])
        others = [b for b in baselines if int(b["n_bits"]) == bits and str(b["method"]) != method]
        if method == CHANCE_METHOD or not others:
            out.append(None)
            continue
        best = max(others, key=lambda b: float(b[mean]))  # first listed wins a tie
        ref = float(best[mean])
        out.append({"baseline": str(best["method"]), "baseline_map": ref, "delta": float(row[mean]) - ref})
    return out
