"""`CrossModalHasher`: the estimator shape every method in `cmh_core.methods` shares.

The API a method builds on (kept stable: methods on other branches rely on it)
-----------------------------------------------------------------------------
A method subclasses `CrossModalHasher` (or `LinearHasher`, for hash functions
``(x - means_[m]) @ projections_[m]``), stores its keyword-only parameters in ``__init__`` (paper
defaults, no logic, no validation) and declares / implements:

* ``_parameter_constraints``: scikit-learn style constraints of every constructor parameter,
  merged with the base's (``n_bits``, ``random_state``)::

      _parameter_constraints: ClassVar[dict] = {
          **CrossModalHasher._parameter_constraints,
          "alpha": [Interval(Real, 0, None, closed="neither")],
          "n_iter": [Interval(Integral, 1, None, closed="left")],
      }

  `fit` checks them once, before any work; a bad value gets a ``ValueError`` naming the
  parameter, the value, the valid range and the default.
* ``_fitted_attributes``: name → kind of every fitted attribute (``{**CrossModalHasher.
  _fitted_attributes, "means_": "{array(d)}", "projections_": "{array(d, r)}"}``). Kinds:
  ``"int"``, ``"float"``, ``"array(dims)"`` and ``"{...}"`` for a dict keyed by modality; dims
  are ``r`` (``code_length_``), ``b`` (bytes per code), ``d`` (that modality's feature count),
  ``*`` (any) or a number. `save` writes and `load` restores exactly these, checked.
* ``_fit(X_img, X_txt, Y, Y_txt, rng, callback)``: learn the fitted attributes and optionally
  return the learned training codes ``{"image": B1, "text": B2}`` (arrays ``(n_m, r)`` whose
  entries > 0 are 1-bits, e.g. {-1, +1} or bool). ``callback(iteration, objective)`` reports
  progress; compute the objective only when ``callback.active`` (a user callback was given).
* ``_project(X, modality) -> (n, r) float``: the real-valued hash function output.
* optionally ``_binarize(proj)`` (default ``proj >= 0``), ``_code_length(n_bits)`` (default
  ``n_bits``) and ``max_n_bits(n_features, n_samples)``: the largest ``n_bits`` the method
  accepts for data of that size (default: what fits in `MEMORY_BUDGET_BYTES`); its docstring's
  first line says why, and `_check_n_bits` quotes it when refusing a larger value.

The user's callback is called as ``callback(iteration: int, objective: float, elapsed_s: float)``;
a callback taking a fourth positional argument also gets ``terms: dict[str, float]``, the parts of
the objective a method reports (``progress(it, obj, terms={...})``; deep methods' loss terms).

The base class validates inputs and parameters, turns ``random_state`` into a
`numpy.random.Generator`, times and forwards progress to the user's callback, thresholds
``proj >= 0``, packs bits with `cmh_core.hamming.pack_bits`, and saves / loads fitted models as
``.npz`` files without pickle.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import time
import zipfile
from collections.abc import Callable
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

from cmh_core._checks import check_features, check_labels, check_positive_int, check_same_rows
from cmh_core.hamming import pack_bits

__all__ = [
    "CrossModalHasher",
    "LinearHasher",
    "load_model",
    "MODALITIES",
    "FORMAT_VERSION",
    "MEMORY_BUDGET_BYTES",
    "bits_within_memory",
]

MODALITIES = ("image", "text")
FORMAT_VERSION = 1
_FORMAT_TAG = "cmh_core.model"
_META_KEY = "__cmh_meta__"
# Largest working memory a fit may plan for: the default `max_n_bits` refuses code lengths whose
# arrays would not fit (DCH at 100,000 bits once asked for 37 GiB and died after a minute).
MEMORY_BUDGET_BYTES = 4 * 2**30

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


class CrossModalHasher(BaseEstimator):
    """Base class of every cross-modal hashing method (image ↔ text).

    Parameters
    ----------
    n_bits : int, default=32
        Code length r (bits per item).
    random_state : int, numpy.random.Generator or None, default=None
        Seed of every random choice in ``fit``; the same int gives the same codes.

    Attributes
    ----------
    n_features_in_ : dict
        ``{"image": d_img, "text": d_txt}`` seen in ``fit``.
    code_length_ : int
        Bits per code (usually ``n_bits``).
    train_codes_ : dict of ndarray of uint8
        ``{"image": (n_img, ceil(r/8)), "text": (n_txt, ceil(r/8))}`` packed learned codes of the
        training rows, in the order given to ``fit`` (the database of the "learned" protocol).

    Class attributes
    ----------------
    name : str
        Registry name (``"CCA-ITQ"``).
    supports_unpaired : bool
        Whether ``fit`` accepts unpaired data (``Y_txt`` given, or different row counts).
    deterministic : bool
        True if ``random_state`` has no effect (closed-form methods such as SCM).
    fidelity : str
        ``"reference-code"``, ``"reconstructed from abstract"`` or ``"classic baseline"``.
    paper : dict
        ``title, authors, venue, year, doi`` (or ``url``) and a one-line ``idea``.
    on_our_data : str
        One or two sentences of what this project measured for the method on its bundled data,
        losses included (the app's Train page shows it; the README has the tables).
    """

    name: ClassVar[str] = "CrossModalHasher"
    supports_unpaired: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    fidelity: ClassVar[str] = "classic baseline"
    paper: ClassVar[dict[str, Any]] = {}
    on_our_data: ClassVar[str] = ""
    _parameter_constraints: ClassVar[dict] = {
        "n_bits": [Interval(Integral, 1, None, closed="left")],
        "random_state": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator],
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {
        "n_features_in_": "{int}",
        "code_length_": "int",
        "train_codes_": "{array(*, b)}",
    }

    def __init__(self, *, n_bits: int = 32, random_state: int | np.random.Generator | None = None):
        self.n_bits = n_bits
        self.random_state = random_state

    # ------------------------------------------------------------------ hooks for subclasses
    def _fit(self, X_img, X_txt, Y, Y_txt, rng: np.random.Generator, callback: _Progress):
        """Learn fitted attributes; may return ``{"image": B1, "text": B2}`` training codes."""
        raise NotImplementedError

    def _project(self, X: np.ndarray, modality: str) -> np.ndarray:
        """Real-valued hash function output ``(n, r)`` for validated float32 ``X``."""
        raise NotImplementedError

    def _binarize(self, proj: np.ndarray) -> np.ndarray:
        """Bits ``(n, r)`` bool from projections: ``proj >= 0`` (sgn with 0 → +1)."""
        return proj >= 0

    def max_n_bits(self, n_features: dict[str, int], n_samples: int) -> int:
        """What fits in memory: codes and projections of every training row and feature column.

        The default assumes a fit holds about four float32 and one bool (n, r) array per
        modality plus float64 (d_m, r) hash functions; methods with other limits override this
        (and say why in the first line of their docstring).

        Parameters
        ----------
        n_features : dict
            ``{"image": d_img, "text": d_txt}``.
        n_samples : int
            Training rows n.

        Returns
        -------
        int
            The largest ``n_bits`` that `fit` accepts for data of that size.
        """
        per_bit = 2 * 17 * n_samples + 8 * sum(n_features.values())  # bytes per bit of r
        return bits_within_memory(0, per_bit)

    def _check_n_bits(self, n_bits: int, n_features: dict[str, int], n_samples: int) -> None:
        """Refuse ``n_bits > max_n_bits(...)`` with a ValueError naming the value, the limit, why."""
        limit = int(self.max_n_bits(n_features, n_samples))
        if n_bits > limit:
            doc = inspect.getdoc(type(self).max_n_bits) or ""
            why = doc.split("\n\n")[0].replace("\n", " ").strip().rstrip(".")
            raise ValueError(
                f"n_bits={n_bits} is too large for {self.name} on data with n = {n_samples} training "
                f"items, d_img = {n_features['image']}, d_txt = {n_features['text']}: the largest is "
                f"{limit} ({why}); use n_bits <= {limit}"
            )

    def _code_length(self, n_bits: int) -> int:
        """Bits per code for a given ``n_bits`` (differs for e.g. sparse codes)."""
        return n_bits

    # ------------------------------------------------------------------ public API
    @property
    def code_length(self) -> int:
        """Bits per code: ``code_length_`` once fitted, else what ``n_bits`` will give."""
        if hasattr(self, "code_length_"):
            return int(self.code_length_)
        return int(self._code_length(check_positive_int(self.n_bits, "n_bits", example=32)))

    def fit(self, X_img, X_txt, Y, *, Y_txt=None, callback: Callback | None = None) -> CrossModalHasher:
        """Learn hash functions and training codes.

        Parameters
        ----------
        X_img : array-like, shape (n_img, d_img)
            Image features.
        X_txt : array-like, shape (n_txt, d_txt)
            Text features; row i describes the same item as ``X_img[i]`` (paired data).
        Y : array-like of {0, 1}, shape (n_img, c)
            Multi-hot labels of the image rows (and of the text rows when paired).
        Y_txt : array-like of {0, 1}, shape (n_txt, c), optional
            Labels of the text rows for unpaired data (only where ``supports_unpaired``).
        callback : callable, optional
            ``callback(iteration: int, objective: float, elapsed_s: float)``, called once per
            iteration (once at the end, objective NaN, for methods without iterations); a
            callback with a fourth positional parameter also receives the objective's parts
            as ``terms: dict[str, float]`` (empty for methods that report none).

        Returns
        -------
        self
        """
        self._validate_hyperparams()
        X_img, X_txt, Y, Y_txt = self._validate_fit_inputs(X_img, X_txt, Y, Y_txt)
        if callback is not None and not callable(callback):
            raise ValueError(
                f"callback must be callable as callback(iteration, objective, elapsed_s), got {callback!r}"
            )
        n_bits = int(self.n_bits)
        n_features = {"image": X_img.shape[1], "text": X_txt.shape[1]}
        # unpaired sets may differ in size: the smaller one bounds what can be learned
        self._check_n_bits(n_bits, n_features, min(X_img.shape[0], X_txt.shape[0]))
        self._reset_fitted()
        rng = np.random.default_rng(self.random_state)
        progress = _Progress(callback)
        self.n_features_in_ = n_features
        self.code_length_ = int(self._code_length(n_bits))
        train_bits = self._fit(X_img, X_txt, Y, Y_txt, rng, progress)
        if train_bits is None:
            pairs = zip(MODALITIES, (X_img, X_txt), strict=True)
            train_bits = {m: self._binarize(self._project(X, m)) for m, X in pairs}
        self.train_codes_ = {m: pack_bits(np.asarray(train_bits[m])) for m in MODALITIES}
        if progress.calls == 0:
            progress(1, float("nan"))
        return self

    def encode(self, X, modality: str = "image") -> np.ndarray:
        """Hash features of one modality into packed codes.

        Parameters
        ----------
        X : array-like, shape (n, d_modality)
        modality : {"image", "text"}

        Returns
        -------
        codes : ndarray of uint8, shape (n, ceil(code_length / 8))
            Big-endian packed bits (bit j of item i is bit ``7 - j % 8`` of byte ``j // 8``).
        """
        self._check_fitted()
        modality = _valid_modality(modality)
        X = check_features(X, f"X ({modality})", n_features=self.n_features_in_[modality])
        return pack_bits(self._binarize(self._project(X, modality)))

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (``.npz``; arrays + embedded JSON, no pickle).

        Returns
        -------
        Path
            The file written (``.npz`` appended if missing).
        """
        self._check_fitted()
        arrays, attrs = _split_state(self, self._fitted_attributes)
        meta = {
            "format": _FORMAT_TAG,
            "format_version": FORMAT_VERSION,
            "class": self.name,
            "cmh_core_version": _version(),
            "params": {k: _json_param(v) for k, v in self.get_params(deep=False).items()},
            "attrs": attrs,
        }
        arrays[_META_KEY] = np.array(json.dumps(meta))
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CrossModalHasher:
        """Read a model written by `save`; the file must hold this class's model.

        Raises
        ------
        ValueError
            If the file is not a cmh_core model, holds another method's model, or was written in
            another format version.
        """
        meta, arrays = _read_model_file(path)
        if cls is not CrossModalHasher and meta.get("class") != cls.name:
            raise ValueError(
                f"file {str(path)!r} holds a {meta['class']} model, not {cls.name}; "
                "use cmh_core.methods.load_model(path), which picks the class from the file"
            )
        if cls is CrossModalHasher:
            return load_model(path)
        params = meta.get("params")
        if not isinstance(params, dict) or set(params) != set(cls._get_param_names()):
            raise ValueError(
                f"{str(path)!r} holds parameters {sorted(params) if isinstance(params, dict) else params!r}, "
                f"but {cls.name} takes {sorted(cls._get_param_names())}; the file is damaged or was "
                "written by another cmh_core version: retrain and save again"
            )
        model = cls(**params)
        try:
            model._validate_hyperparams()
        except ValueError as e:
            raise ValueError(f"{str(path)!r} holds an invalid parameter: {e}") from e
        _restore_state(model, arrays, meta.get("attrs"), str(path))
        return model

    # ------------------------------------------------------------------ internals
    def _validate_hyperparams(self) -> None:
        """Check every parameter against ``_parameter_constraints`` (scikit-learn's validator).

        Raises
        ------
        InvalidParameterError (a ValueError)
            Naming the parameter, the value, the valid range and the default.
        """
        params = self.get_params(deep=False)
        defaults = {
            k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items() if k in params
        }
        for key, value in params.items():
            constraints = self._parameter_constraints.get(key)
            if constraints is None:
                continue  # tests/test_common.py fails any method that leaves a parameter out
            try:
                # sklearn counts True as an int; a bool is never a sensible count or size (checked
                # first: True = 1 may also be out of range, and "not a bool" is the clearer message)
                if isinstance(value, bool | np.bool_) and _integer_only(constraints):
                    raise InvalidParameterError(
                        f"The {key!r} parameter of {self.name} must be an int, not a bool. "
                        f"Got {value!r} instead."
                    )
                validate_parameter_constraints({key: constraints}, {key: value}, caller_name=self.name)
            except InvalidParameterError as e:
                fix = f" Use e.g. {key}={defaults[key]!r} (the default)." if key in defaults else ""
                raise InvalidParameterError(f"{e}{fix}") from None

    def _validate_fit_inputs(self, X_img, X_txt, Y, Y_txt):
        X_img = check_features(X_img, "X_img")
        X_txt = check_features(X_txt, "X_txt")
        Y = check_labels(Y, "Y")
        unpaired = Y_txt is not None or X_img.shape[0] != X_txt.shape[0]
        if unpaired and not self.supports_unpaired:
            why = "Y_txt was given"
            if Y_txt is None:
                why = f"X_img has {X_img.shape[0]} rows but X_txt has {X_txt.shape[0]}"
            raise ValueError(
                f"{self.name} needs paired data (row i of X_img and X_txt is the same item), but {why}; "
                "pass paired rows and one label matrix Y without Y_txt, or use a method with "
                "supports_unpaired=True"
            )
        if unpaired and Y_txt is None:
            raise ValueError(
                f"X_img has {X_img.shape[0]} rows but X_txt has {X_txt.shape[0]}: for unpaired data "
                "pass the text labels as Y_txt"
            )
        if Y_txt is not None:
            Y_txt = check_labels(Y_txt, "Y_txt")
            check_same_rows(X_img=X_img, Y=Y)
            check_same_rows(X_txt=X_txt, Y_txt=Y_txt)
            if Y_txt.shape[1] != Y.shape[1]:
                raise ValueError(
                    f"Y has {Y.shape[1]} label columns but Y_txt has {Y_txt.shape[1]}; "
                    "both must use the same label vocabulary"
                )
        else:
            check_same_rows(X_img=X_img, X_txt=X_txt, Y=Y)
        return X_img, X_txt, Y, Y_txt

    def _reset_fitted(self) -> None:
        for k in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, k)

    def _check_fitted(self) -> None:
        if not hasattr(self, "train_codes_"):
            raise NotFittedError(
                f"this {self.name} model is not fitted yet; call fit(X_img, X_txt, Y) before encode or save"
            )


class LinearHasher(CrossModalHasher):
    """A method whose hash functions are linear: ``proj = (x - means_[m]) @ projections_[m]``.

    Subclasses set ``means_`` (``{m: (d_m,)}``) and ``projections_`` (``{m: (d_m, r)}``) in ``_fit``.
    """

    _fitted_attributes: ClassVar[dict[str, str]] = {
        **CrossModalHasher._fitted_attributes,
        "means_": "{array(d)}",
        "projections_": "{array(d, r)}",
    }

    def _project(self, X: np.ndarray, modality: str) -> np.ndarray:
        """``(X - means_[m]) @ projections_[m]``: (n, r) float32."""
        from cmh_core.methods._linalg import linear_project

        return linear_project(X, self.means_[modality], self.projections_[modality])


# ---------------------------------------------------------------------- parameter checks
def bits_within_memory(bytes_per_bit_squared: float, bytes_per_bit: float) -> int:
    """Largest r with ``a r^2 + b r <= MEMORY_BUDGET_BYTES`` (a, b >= 0, not both 0)."""
    a, b, m = float(bytes_per_bit_squared), float(bytes_per_bit), float(MEMORY_BUDGET_BYTES)
    if a == 0:
        return max(1, int(m // b))
    return max(1, int((-b + math.sqrt(b * b + 4 * a * m)) / (2 * a)))


def _integer_only(constraints: list) -> bool:
    ints = [c for c in constraints if isinstance(c, Interval) and c.type is Integral]
    return bool(ints) and all(isinstance(c, Interval) or c is None for c in constraints)


def _valid_modality(modality: Any) -> str:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    return modality


# ---------------------------------------------------------------------- save / load helpers
def _version() -> str:
    import cmh_core

    return str(getattr(cmh_core, "__version__", "unknown"))


def _json_param(v: Any) -> Any:
    """Parameters are JSON scalars or lists of them; a Generator seed is saved as None."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, list | tuple):
        return [_json_param(x) for x in v]
    if isinstance(v, np.random.Generator):
        return None
    raise ValueError(f"parameter value {v!r} cannot be saved; use numbers, strings or None")


def _parse_kind(kind: str) -> tuple[bool, str, tuple[str, ...]]:
    """``"{array(d, r)}"`` → (per_modality=True, "array", ("d", "r")); ``"int"`` → (False, "int", ())."""
    modal = kind.startswith("{") and kind.endswith("}")
    inner = kind[1:-1] if modal else kind
    if inner.startswith("array(") and inner.endswith(")"):
        return modal, "array", tuple(x.strip() for x in inner[6:-1].split(",") if x.strip())
    if inner not in ("int", "float"):
        raise TypeError(f"unknown fitted-attribute kind {kind!r}; use int, float, array(...) or {{...}}")
    return modal, inner, ()


def _split_state(model: CrossModalHasher, declared: dict[str, str]) -> tuple[dict, dict]:
    """Declared fitted attributes → npz arrays + JSON-able attrs.

    Arrays are stored as ``a:<name>``, per-modality dicts of arrays as ``d:<name>:<modality>``;
    ints and floats (and dicts of them) go to the JSON ``attrs``. A fitted attribute missing from
    ``declared`` is a bug of the method, refused here so that `load` can trust the list.
    """
    fitted = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    undeclared = sorted(set(fitted) - set(declared))
    if undeclared:
        raise TypeError(
            f"{model.name} has fitted attribute(s) {undeclared} missing from its _fitted_attributes; "
            "declare them (name -> kind) in the class so that save/load can check them"
        )
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for k in fitted:
        v = getattr(model, k)
        modal, base, _ = _parse_kind(declared[k])
        if base == "array" and modal:
            for key, x in v.items():
                arrays[f"d:{k}:{key}"] = np.asarray(x)
        elif base == "array":
            arrays[f"a:{k}"] = np.asarray(v)
        else:
            attrs[k] = json.loads(json.dumps(v))
    return arrays, attrs


def _dims_ok(shape: tuple[int, ...], dims: tuple[str, ...], r: int, d: int | None) -> bool:
    if len(shape) != len(dims):
        return False
    size = {"r": r, "b": -(-r // 8), "d": d}
    return all(x == "*" or shape[i] == (size[x] if x in size else int(x)) for i, x in enumerate(dims))


def _restore_state(model: CrossModalHasher, arrays: dict, attrs: Any, where: str) -> None:
    """Set exactly the declared fitted attributes from a file, checking kinds and shapes.

    Raises
    ------
    ValueError
        For a missing, extra or wrongly shaped attribute (the file was damaged or tampered with).
    """
    declared = model._fitted_attributes
    attrs = attrs if isinstance(attrs, dict) else {}
    want_attrs, want_arrays = set(), set()
    for k, kind in declared.items():
        modal, base, _ = _parse_kind(kind)
        if base != "array":
            want_attrs.add(k)
        else:
            want_arrays |= {f"d:{k}:{m}" for m in MODALITIES} if modal else {f"a:{k}"}
    extra = sorted((set(attrs) - want_attrs) | (set(arrays) - want_arrays))
    missing = sorted((want_attrs - set(attrs)) | (want_arrays - set(arrays)))
    if extra or missing:
        raise ValueError(
            f"{where} does not match a saved {model.name} model (unexpected: {extra or 'none'}; "
            f"missing: {missing or 'none'}); the file is damaged or was altered: retrain and save again"
        )
    _restore_scalars(model, attrs, where)
    r = int(model.code_length_)
    if r != model._code_length(int(model.n_bits)):
        raise ValueError(f"{where}: code_length_ = {r} does not follow from n_bits = {model.n_bits}; retrain")
    for k, kind in declared.items():
        modal, base, dims = _parse_kind(kind)
        if base != "array":
            continue
        if modal:
            value = {m: arrays[f"d:{k}:{m}"] for m in MODALITIES}
        else:
            value = {None: arrays[f"a:{k}"]}
        for m, x in value.items():
            d = model.n_features_in_[m] if m else None
            if x.dtype.kind not in "biuf" or not _dims_ok(x.shape, dims, r, d):
                got = f"shape {x.shape}, dtype {x.dtype}"
                raise ValueError(
                    f"{where}: {k}{f'[{m!r}]' if m else ''} should be array({', '.join(dims)}) with "
                    f"r = {r}{f', d = {d}' if d else ''}, got {got}; the file is damaged: retrain"
                )
        setattr(model, k, value if modal else value[None])


def _restore_scalars(model: CrossModalHasher, attrs: dict, where: str) -> None:
    for k, v in attrs.items():
        modal, base, _ = _parse_kind(model._fitted_attributes[k])
        want = int if base == "int" else float
        values = list(v.values()) if modal and isinstance(v, dict) else [v]
        bad = (modal and (not isinstance(v, dict) or set(v) != set(MODALITIES))) or not all(
            isinstance(x, want) and not isinstance(x, bool) for x in values
        )
        if bad or (k in ("code_length_", "n_features_in_") and min(values) < 1):
            raise ValueError(f"{where}: fitted attribute {k} = {v!r} is not a valid {base}; retrain")
        setattr(model, k, v)


def _read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ValueError(f"model file {str(path)!r} {what}; pass the path of a .npz written by model.save()")
    not_model = f"{str(path)!r} is not a cmh_core model file (a .npz written by model.save())"
    if path.stat().st_size == 0:
        raise ValueError(f"{not_model}: the file is empty")
    if not zipfile.is_zipfile(path):  # np.load would call a text file "pickled data"
        raise ValueError(f"{not_model}: it is not a zip archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{not_model}: {e}") from e
    if _META_KEY not in arrays:
        raise ValueError(f"{not_model} (no metadata)")
    try:
        meta = json.loads(str(arrays.pop(_META_KEY)))
    except json.JSONDecodeError as e:
        raise ValueError(f"{not_model}: its metadata is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_TAG:
        raise ValueError(not_model)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses model format version {meta.get('format_version')} (written by cmh_core "
            f"{meta.get('cmh_core_version')}), but this cmh_core reads version {FORMAT_VERSION}; "
            "retrain the model with this version and save it again"
        )
    return meta, arrays


def load_model(path: str | Path) -> CrossModalHasher:
    """Load any saved model; the method class is read from the file and looked up in `METHODS`.

    Raises
    ------
    ValueError
        If the file is not a cmh_core model, has another format version, or names a method
        that is not registered.
    """
    from cmh_core.methods import METHODS

    meta, _ = _read_model_file(path)
    cls = METHODS.get(meta.get("class"))
    if cls is None:
        raise ValueError(
            f"{str(path)!r} holds a {meta['class']} model, which is not registered here; "
            f"registered methods: {', '.join(METHODS)}"
        )
    return cls.load(path)
