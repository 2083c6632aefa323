"""`CrossModalHasher`: the estimator shape every method in `cmh_core.methods` shares.

A method subclasses `CrossModalHasher`, stores its keyword-only parameters in ``__init__`` (paper
defaults, no logic) and implements two things only:

* ``_fit(X_img, X_txt, Y, Y_txt, rng, callback)``: learn the fitted attributes (names ending in
  ``_``) and optionally return the learned training codes ``{"image": B1, "text": B2}``
  (arrays ``(n_m, r)`` whose entries > 0 are 1-bits, e.g. {-1, +1} or bool);
* ``_project(X, modality) -> (n, r) float``: the real-valued hash function output.

The base class validates inputs, turns ``random_state`` into a `numpy.random.Generator`, times and
forwards progress to the user's callback, thresholds ``proj >= 0`` (the `_binarize` hook, which a
method with non-sign codes overrides), packs bits with `cmh_core.hamming.pack_bits`, and saves /
loads fitted models as ``.npz`` files without pickle.
"""

from __future__ import annotations

import json
import numbers
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from cmh_core._checks import check_features, check_labels, check_same_rows
from cmh_core.hamming import pack_bits

__all__ = ["CrossModalHasher", "load_model", "MODALITIES", "FORMAT_VERSION"]

MODALITIES = ("image", "text")
FORMAT_VERSION = 1
_FORMAT_TAG = "cmh_core.model"
_META_KEY = "__cmh_meta__"

Callback = Callable[[int, float, float], None]


class _Progress:
    """Times a fit and forwards ``(iteration, objective, elapsed_s)`` to the user's callback.

    Subclasses call ``progress(iteration, objective)`` once per iteration; the base calls it once
    with objective NaN at the end if the method reported nothing (methods without iterations).
    """

    def __init__(self, callback: Callback | None):
        self.callback = callback
        self.t0 = time.perf_counter()
        self.calls = 0

    def __call__(self, iteration: int, objective: float) -> None:
        self.calls += 1
        if self.callback is not None:
            self.callback(int(iteration), float(objective), float(time.perf_counter() - self.t0))


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
    """

    name: ClassVar[str] = "CrossModalHasher"
    supports_unpaired: ClassVar[bool] = False
    deterministic: ClassVar[bool] = False
    fidelity: ClassVar[str] = "classic baseline"
    paper: ClassVar[dict[str, Any]] = {}

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

    def _check_n_bits(self, n_bits: int, n_features: dict[str, int], n_samples: int) -> None:
        """Method-specific limits on n_bits (raise ValueError naming the value and the fix)."""

    def _code_length(self, n_bits: int) -> int:
        """Bits per code for a given ``n_bits`` (differs for e.g. sparse codes)."""
        return n_bits

    # ------------------------------------------------------------------ public API
    @property
    def code_length(self) -> int:
        """Bits per code: ``code_length_`` once fitted, else what ``n_bits`` will give."""
        if hasattr(self, "code_length_"):
            return int(self.code_length_)
        return int(self._code_length(_valid_n_bits(self.n_bits)))

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
            iteration (once at the end, objective NaN, for methods without iterations).

        Returns
        -------
        self
        """
        X_img, X_txt, Y, Y_txt = self._validate_fit_inputs(X_img, X_txt, Y, Y_txt)
        if callback is not None and not callable(callback):
            raise ValueError(
                f"callback must be callable as callback(iteration, objective, elapsed_s), got {callback!r}"
            )
        n_bits = _valid_n_bits(self.n_bits)
        n_features = {"image": X_img.shape[1], "text": X_txt.shape[1]}
        self._check_n_bits(n_bits, n_features, X_img.shape[0])
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
        arrays, attrs = _split_state(self)
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
        if cls is not CrossModalHasher and meta["class"] != cls.name:
            raise ValueError(
                f"file {str(path)!r} holds a {meta['class']} model, not {cls.name}; "
                "use cmh_core.methods.load_model(path), which picks the class from the file"
            )
        if cls is CrossModalHasher:
            return load_model(path)
        model = cls(**meta["params"])
        _restore_state(model, arrays, meta["attrs"])
        return model

    # ------------------------------------------------------------------ internals
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


# ---------------------------------------------------------------------- parameter checks
def _valid_n_bits(n_bits: Any) -> int:
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral):
        raise ValueError(f"n_bits must be a positive integer, got {n_bits!r}; use e.g. n_bits=32")
    if n_bits <= 0:
        raise ValueError(f"n_bits must be a positive integer, got {n_bits}; use e.g. n_bits=32")
    return int(n_bits)


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


def _split_state(model: CrossModalHasher) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fitted attributes (public names ending in '_') → npz arrays + JSON-able attrs.

    ndarrays are stored as ``a:<name>``, dicts of ndarrays as ``d:<name>:<key>``; ints, floats,
    strings and dicts/lists of them go to the JSON ``attrs``.
    """
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for k, v in vars(model).items():
        if not k.endswith("_") or k.startswith("_"):
            continue
        if isinstance(v, np.ndarray):
            arrays[f"a:{k}"] = v
        elif isinstance(v, dict) and v and all(isinstance(x, np.ndarray) for x in v.values()):
            for key, x in v.items():
                arrays[f"d:{k}:{key}"] = x
        else:
            try:
                attrs[k] = json.loads(json.dumps(v))
            except TypeError as e:
                raise TypeError(f"fitted attribute {k} of type {type(v).__name__} cannot be saved") from e
    return arrays, attrs


def _restore_state(model: CrossModalHasher, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    for k, v in attrs.items():
        setattr(model, k, v)
    for key, x in arrays.items():
        kind, _, rest = key.partition(":")
        if kind == "a":
            setattr(model, rest, x)
        elif kind == "d":
            name, _, sub = rest.partition(":")
            if not hasattr(model, name) or not isinstance(getattr(model, name), dict):
                setattr(model, name, {})
            getattr(model, name)[sub] = x


def _read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} does not exist; pass the path written by model.save()")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as e:
        raise ValueError(
            f"{str(path)!r} is not a cmh_core model file (.npz written by model.save()): {e}"
        ) from e
    if _META_KEY not in arrays:
        raise ValueError(
            f"{str(path)!r} is not a cmh_core model file (no metadata); save models with model.save()"
        )
    meta = json.loads(str(arrays.pop(_META_KEY)))
    if meta.get("format") != _FORMAT_TAG:
        raise ValueError(f"{str(path)!r} is not a cmh_core model file; save models with model.save()")
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
    cls = METHODS.get(meta["class"])
    if cls is None:
        raise ValueError(
            f"{str(path)!r} holds a {meta['class']} model, which is not registered here; "
            f"registered methods: {', '.join(METHODS)}"
        )
    return cls.load(path)
