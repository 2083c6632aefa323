"""Input checks shared by the loaders and the methods.

Every check raises ``ValueError`` naming the array, the offending value and the fix.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_features", "check_labels", "check_positive_int", "check_same_rows"]


def check_positive_int(value, name: str, *, example: int | None = None) -> int:
    """Return ``value`` as an ``int`` >= 1; refuse bools, floats, strings and values < 1.

    The one positive-integer check of the package (code lengths, cut-offs, iteration counts).

    Parameters
    ----------
    value : object
        What the caller passed.
    name : str
        How the message names it (``"n_bits"``, ``"k"``).
    example : int, optional
        A valid value the message suggests (``"use e.g. n_bits=32"``).

    Raises
    ------
    ValueError
        Naming ``name``, the value and (with ``example``) a valid one.
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_) and value >= 1
    if not ok:
        fix = f"; use e.g. {name}={example}" if example is not None else ""
        raise ValueError(f"{name} must be a positive integer, got {value!r}{fix}")
    return int(value)


def check_features(X, name: str, *, n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float32 array ``(n, d)``.

    Parameters
    ----------
    X : array-like, shape (n, d)
    name : str
        How the error message names the array (``"image_features"``, ``"X_img"``).
    n_features : int, optional
        Required number of columns d (e.g. the count seen in ``fit``).
    """
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}; convert it to float32")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_items, n_features), got shape {arr.shape}; "
            "reshape a single item with x.reshape(1, -1)"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one item with one feature")
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(
            f"{name} contains NaN or Inf in {len(rows)} row(s) (first: row {int(rows[0])}); "
            "impute or drop those rows before hashing"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features per row but {n_features} were expected; "
            "use features of the same kind as in training"
        )
    return arr


def check_labels(Y, name: str = "labels", *, allow_empty_rows: bool = False) -> np.ndarray:
    """Return ``Y`` as a 2-D uint8 multi-hot matrix ``(n, c)`` with values in {0, 1}.

    Rows without any label are refused unless ``allow_empty_rows``: such items are relevant
    to nothing and silently distort mAP.
    """
    arr = np.asarray(Y)
    if arr.ndim == 1:
        raise ValueError(
            f"{name} must be a 2-D multi-hot matrix (n_items, n_labels), got shape {arr.shape}; "
            "one-hot encode class indices first, e.g. np.eye(n_classes)[y]"
        )
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(
            f"{name} must be 2-D (n_items, n_labels) with at least one label, got shape {arr.shape}"
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name} must be numeric 0/1, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):
        ok = np.isin(arr, (0, 1))
    if not ok.all():
        bad = arr[~ok].ravel()[:5]
        raise ValueError(
            f"{name} must contain only 0 and 1, found values such as {bad.tolist()}; "
            "binarise them, e.g. (labels > 0).astype(np.uint8)"
        )
    arr = arr.astype(np.uint8, copy=False)
    if not allow_empty_rows:
        empty = np.flatnonzero(arr.sum(axis=1) == 0)
        if len(empty):
            raise ValueError(
                f"{name} has {len(empty)} row(s) without any label (first: row {int(empty[0])}); "
                "drop those items, or add an 'other' label column"
            )
    return arr


def check_same_rows(**arrays) -> int:
    """Check that all given arrays have the same number of rows and return it.

    Example: ``check_same_rows(image_features=X1, text_features=X2, labels=Y)``.
    """
    counts = {k: len(v) for k, v in arrays.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{k}: {n}" for k, n in counts.items())
        raise ValueError(f"arrays must have one row per item, but row counts differ ({listed}); align them")
    return next(iter(counts.values()))
