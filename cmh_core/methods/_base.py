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
from collections.abc import Callable
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from cmh_core._checks import check_features, check_labels, check_positive_int, check_same_rows
from cmh_core._vocab import MODALITIES
from cmh_core.hamming import pack_bits
from cmh_core.methods._constraints import (
    MEMORY_BUDGET_BYTES,
    Interval,
    InvalidParameterError,
    _integer_only,
    bits_within_memory,
    validate_parameter_constraints,
)
from cmh_core.methods._persistence import (
    _FORMAT_TAG,
    _META_KEY,
    FORMAT_VERSION,
    _json_param,
    _read_model_file,
    _restore_state,
    _split_state,
    _version,
    _write_model_file,
    load_model,
)
from cmh_core.methods._progress import Callback, _Progress, default_stages

__all__ = [
    "CrossModalHasher",
    "LinearHasher",
    "load_model",
    "MODALITIES",
    "FORMAT_VERSION",
    "MEMORY_BUDGET_BYTES",
    "bits_within_memory",
]


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

    def _stages(self) -> list[tuple]:
        """``[(name, iterations[, unit]), ...]`` that ``_fit`` reports (`_progress.default_stages`)."""
        return default_stages(self)

    def prepare(self, dataset: Any, progress: Callable[[str, int, int], None] | None = None) -> None:
        """One-off set-up on the whole dataset before `fit`, reporting ``progress(text, done, total)``.

        `cmh_core.experiment.run_experiment` calls it; default: nothing (SDEH builds feature maps).
        """

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
        progress = _Progress(callback, self._stages())
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
        return _write_model_file(path, arrays)  # atomic: temporary file, then rename

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


def _valid_modality(modality: Any) -> str:
    if modality not in MODALITIES:
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    return modality
