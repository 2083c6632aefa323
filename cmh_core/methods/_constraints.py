"""Parameter constraints of the methods: the one importer of scikit-learn's private validator.

scikit-learn's ``_param_validation`` is private API; every method file imports `Interval`,
`StrOptions` and friends from here, so a change there is mended in one place.
"""

from __future__ import annotations

import math
from numbers import Integral

from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    make_constraint,
    validate_parameter_constraints,
)

__all__ = [
    "Interval",
    "InvalidParameterError",
    "MEMORY_BUDGET_BYTES",
    "StrOptions",
    "bits_within_memory",
    "make_constraint",
    "validate_parameter_constraints",
]

# Largest working memory a fit may plan for: the default `max_n_bits` refuses code lengths whose
# arrays would not fit (DCH at 100,000 bits once asked for 37 GiB and died after a minute).
MEMORY_BUDGET_BYTES = 4 * 2**30


def bits_within_memory(bytes_per_bit_squared: float, bytes_per_bit: float) -> int:
    """Largest r with ``a r^2 + b r <= MEMORY_BUDGET_BYTES`` (a, b >= 0, not both 0)."""
    a, b, m = float(bytes_per_bit_squared), float(bytes_per_bit), float(MEMORY_BUDGET_BYTES)
    if a == 0:
        return max(1, int(m // b))
    return max(1, int((-b + math.sqrt(b * b + 4 * a * m)) / (2 * a)))


def _integer_only(constraints: list) -> bool:
    ints = [c for c in constraints if isinstance(c, Interval) and c.type is Integral]
    return bool(ints) and all(isinstance(c, Interval) or c is None for c in constraints)
