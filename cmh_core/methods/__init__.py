"""Cross-modal hashing methods: one class per file, registered by name in `METHODS`.

Adding a method = one file with a `CrossModalHasher` subclass + one line in `METHODS`.

>>> from cmh_core.methods import get_method
>>> m = get_method("cca-itq", n_bits=32, random_state=0)   # case, '-' and '_' ignored
"""

from __future__ import annotations

from typing import Any

from cmh_core.methods._base import CrossModalHasher, LinearHasher, load_model
from cmh_core.methods.amsh import AMSH
from cmh_core.methods.cca_itq import CCAITQ
from cmh_core.methods.cmfh import CMFH
from cmh_core.methods.csmh import CSMH
from cmh_core.methods.dch import DCH
from cmh_core.methods.dcmh import DCMH
from cmh_core.methods.hpseh import HPsEH
from cmh_core.methods.jspsh import JSPSH
from cmh_core.methods.random_codes import RandomCodes
from cmh_core.methods.scm import SCM
from cmh_core.methods.sdeh import SDEH

__all__ = [
    "METHODS",
    "CrossModalHasher",
    "LinearHasher",
    "code_lengths",
    "get_method",
    "load_model",
    "method_class",
]

#: Code lengths the app offers first; a method that refuses some gets its largest accepted one too.
CANDIDATE_LENGTHS = (16, 32, 64, 128)

METHODS: dict[str, type[CrossModalHasher]] = {
    "RandomCodes": RandomCodes,
    "CCA-ITQ": CCAITQ,
    "SCM": SCM,
    "CMFH": CMFH,
    "DCH": DCH,
    "AMSH": AMSH,
    "JSPSH": JSPSH,
    "HPsEH": HPsEH,
    "CSMH": CSMH,
    "DCMH": DCMH,
    "SDEH": SDEH,
}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in "-_ ")


def method_class(name: str) -> type[CrossModalHasher]:
    """The registered class for ``name`` (case-insensitive; '-', '_' and spaces ignored).

    Raises
    ------
    ValueError
        If no method has that name; the message lists the registered names.
    """
    if isinstance(name, str):
        for registered, cls in METHODS.items():
            if _key(registered) == _key(name):
                return cls
    raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")


def get_method(name: str, **params: Any) -> CrossModalHasher:
    """A new, unfitted instance of the method ``name`` with the given parameters.

    Parameters
    ----------
    name : str
        Any key of `METHODS`, case-insensitive, ignoring '-', '_' and spaces ("cca_itq").
    **params
        Constructor parameters (e.g. ``n_bits=64, random_state=0``); the rest keep the paper's
        defaults.

    Raises
    ------
    ValueError
        For an unknown method name or parameter (the message lists the valid ones).
    """
    cls = method_class(name)
    valid = cls._get_param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"{cls.name} has no parameter(s) {', '.join(map(repr, unknown))}; "
            f"valid parameters: {', '.join(valid)}"
        )
    return cls(**params)


def code_lengths(
    name: str,
    n_features: dict[str, int],
    n_samples: int,
    params: dict[str, Any] | None = None,
    candidates: tuple[int, ...] = CANDIDATE_LENGTHS,
) -> dict[int, str | None]:
    """Which ``n_bits`` the method accepts on data of this size, with the reason for each refusal.

    The method's own `_check_n_bits` decides (the check `fit` makes first), so a length offered
    here is never refused by training. Where the method refuses a candidate but accepts a
    smaller length above the next smaller accepted candidate (JSPSH on ``tuxpaint``: r <= 31,
    since its K = 20 r storage bits must stay below the 630 training items), that largest
    accepted length is added, so every method has a length near the usual ones.

    Parameters
    ----------
    name : str
        A registered method name.
    n_features : dict
        ``{"image": d_img, "text": d_txt}``.
    n_samples : int
        Training rows n.
    params : dict, optional
        Hyper-parameters that change the limit (JSPSH's ``code_bits`` / ``sparsity``, the anchors
        of the kernel methods).
    candidates : tuple of int

    Returns
    -------
    dict
        ``{n_bits: None}`` for an accepted length, ``{n_bits: "reason"}`` for a refused one,
        in increasing n_bits.
    """
    model = get_method(name, **(params or {}))
    out: dict[int, str | None] = {}
    for b in sorted(set(candidates)):
        try:
            model._check_n_bits(int(b), n_features, int(n_samples))
            out[b] = None
        except ValueError as e:
            out[b] = str(e)
    limit = int(model.max_n_bits(n_features, int(n_samples)))
    if any(out.values()) and limit >= 1 and limit not in out and limit < max(out):
        try:
            model._check_n_bits(limit, n_features, int(n_samples))
            out[limit] = None
        except ValueError:
            pass
    return dict(sorted(out.items()))
