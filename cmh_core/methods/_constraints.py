"""Parameter constraints of the methods: the one importer of scikit-learn's private validator.

scikit-learn's ``_param_validation`` is private API; every method file imports `Interval`,
`StrOptions` and friends from here, so a change there is mended in one place.

Upper bounds (docs/security.md has the table). Every iteration count, epoch count and network
width has one, so that neither a typo in the Train form nor a tampered model file can ask for
a billion iterations or a layer that does not fit in memory:

* `MAX_ITER` (alternating-optimisation iterations, also DCH's ``n_dcc`` sweeps times 100):
  every iterative method here decreases its objective monotonically and its paper runs 5 to 50
  iterations; 1,000 is 20x the largest default (CCA-ITQ's 50) and still finishes in hours.
* `MAX_EPOCHS`: 1,000 is 20x the deep methods' defaults (40 to 50 epochs).
* `MAX_BATCH`: 65,536 rows: a float32 batch of 65,536 x 10,000 features is 2.6 GB.
* `MAX_WIDTH` (DCMH ``n_hidden``, SDEH ``hidden_dim``): a d x h float32 layer with its
  gradient and Adam's two moments takes 16 d h bytes; at h = 16,384 and d_img + d_txt = 16,000
  that is 4.2 GB, the fit budget `MEMORY_BUDGET_BYTES`.
* `MAX_ANCHORS` (kernel and anchor-graph methods): the m x m anchor kernel and the n x m
  features in float64; m = 10,000 is 0.8 GB for the m x m part.
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
    "MAX_ANCHORS",
    "MAX_BATCH",
    "MAX_EPOCHS",
    "MAX_ITER",
    "MAX_WIDTH",
    "Interval",
    "InvalidParameterError",
    "MEMORY_BUDGET_BYTES",
    "StrOptions",
    "bits_within_memory",
    "make_constraint",
    "param_bounds",
    "validate_parameter_constraints",
]

# Largest working memory a fit may plan for: the default `max_n_bits` refuses code lengths whose
# arrays would not fit (DCH at 100,000 bits once asked for 37 GiB and died after a minute).
MEMORY_BUDGET_BYTES = 4 * 2**30


#: Upper bounds of iteration counts, epochs, batch sizes and widths (why: the module docstring).
MAX_ITER = 1_000
MAX_EPOCHS = 1_000
MAX_BATCH = 65_536
MAX_WIDTH = 16_384
MAX_ANCHORS = 10_000


def bits_within_memory(bytes_per_bit_squared: float, bytes_per_bit: float) -> int:
    """Largest r with ``a r^2 + b r <= MEMORY_BUDGET_BYTES`` (a, b >= 0, not both 0)."""
    a, b, m = float(bytes_per_bit_squared), float(bytes_per_bit), float(MEMORY_BUDGET_BYTES)
    if a == 0:
        return max(1, int(m // b))
    return max(1, int((-b + math.sqrt(b * b + 4 * a * m)) / (2 * a)))


def _integer_only(constraints: list) -> bool:
    ints = [c for c in constraints if isinstance(c, Interval) and c.type is Integral]
    return bool(ints) and all(isinstance(c, Interval) or c is None for c in constraints)


def param_bounds(method: str | type) -> dict[str, tuple[float | None, float | None]]:
    """``{parameter: (low, high)}`` of a method's numeric parameters, from ``_parameter_constraints``.

    For integer parameters the bounds are inclusive (an open end is moved by one); for real
    ones they are the interval's ends as declared. ``None`` is an unbounded end.

    Parameters
    ----------
    method : str or CrossModalHasher subclass
        A registered name (any case) or the class.

    Returns
    -------
    dict
        Only parameters with an `Interval` constraint (``n_bits`` included).
    """
    from cmh_core.methods import method_class

    cls = method_class(method) if isinstance(method, str) else method
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, constraints in cls._parameter_constraints.items():
        interval = next((c for c in constraints if isinstance(c, Interval)), None)
        if interval is None:
            continue
        low, high = interval.left, interval.right
        if interval.type is Integral:
            if low is not None and interval.closed in ("right", "neither"):
                low += 1
            if high is not None and interval.closed in ("left", "neither"):
                high -= 1
        out[name] = (low, high)
    return out
