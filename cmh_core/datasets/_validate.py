"""Checks of the arrays a benchmark file holds: shapes, labels, names and split indices.

Each problem raises one ``ValueError`` naming the array and the fix (used by
`cmh_core.datasets.files`).
"""

from __future__ import annotations

import numpy as np

from cmh_core._checks import check_features, check_labels
from cmh_core.datasets._types import Split


def _check_ndim(name: str, shape: tuple) -> None:
    """Refuse feature arrays that are not 2-D, with the fix for 0-D, 1-D and raw-image tensors."""
    if len(shape) == 0:
        raise ValueError(f"{name} must be 2-D (n_items, n_features), got a single number; store a matrix")
    if len(shape) == 1:
        raise ValueError(
            f"{name} must be 2-D (n_items, n_features), got 1-D shape {shape}; "
            "store one row per item, e.g. x.reshape(-1, 1) for a single feature"
        )
    if len(shape) > 2:
        raise ValueError(
            f"{name} must be 2-D (n_items, n_features), got shape {shape} (raw images or tensors?); "
            "extract one feature vector per item first (e.g. cmh_core.datasets.featurize_image), "
            "or flatten with x.reshape(len(x), -1)"
        )


def _features(arr: np.ndarray, name: str, n_features: int | None = None) -> np.ndarray:
    """Validate one feature matrix (n, d) with messages for the common wrong shapes."""
    arr = np.asarray(arr)
    if arr.dtype == object:
        raise ValueError(f"{name} is an object/cell array; save it as a numeric (n_items, n_features) matrix")
    _check_ndim(name, arr.shape)
    return check_features(arr, name, n_features=n_features)


def _labels(arr: np.ndarray, name: str) -> np.ndarray:
    """Validate a multi-hot label matrix, spotting class-index columns."""
    arr = np.asarray(arr)
    if arr.dtype == object:
        raise ValueError(
            f"{name} is an object/cell array; save labels as a numeric 0/1 (n_items, n_labels) matrix"
        )
    if (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)) and np.issubdtype(arr.dtype, np.number):
        values = np.unique(arr)
        if len(values) > 2 or not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"{name} looks like class indices (shape {arr.shape}, values {values[:5].tolist()}...), "
                "not a multi-hot matrix; one-hot encode them, e.g. np.eye(k)[y.ravel() - y.min()]"
            )
    return check_labels(arr, name)


def _strings(arr: np.ndarray, name: str, length: int, what: str) -> list[str]:
    """Validate a 1-D str array of the given length and return it as a list."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "US":
        raise ValueError(
            f"{name} must be a str array, got dtype {arr.dtype}; save it as np.array(list_of_str)"
        )
    if arr.ndim != 1 or len(arr) != length:
        raise ValueError(f"{name} must have shape ({length},) (one entry per {what}), got {arr.shape}")
    if arr.dtype.kind == "S":
        return [s.decode("utf-8", "replace") for s in arr.tolist()]
    return [str(s) for s in arr.tolist()]


def _indices(arr, name: str, n: int) -> np.ndarray:
    """Validate a 1-D array of distinct 0-based row indices into n rows."""
    arr = np.asarray(arr)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D integer array of row indices, got dtype {arr.dtype}, shape {arr.shape}; "
            "save e.g. np.flatnonzero(mask).astype(np.int64)"
        )
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise ValueError(
            f"{name} has indices out of range 0..{n - 1} (e.g. {int(bad[0])}); use 0-based row numbers"
        )
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"{name} contains duplicate indices; list each row once")
    return arr.astype(np.int64)


def _split_from_arrays(n: int, query, database, train) -> Split:
    """Build a checked Split from optional index arrays (query required when any is given)."""
    if query is None:
        raise ValueError(
            "split_database / split_train given without split_query; add split_query or drop them all"
        )
    q = _indices(query, "split_query", n)
    if database is None:
        db = np.setdiff1d(np.arange(n), q)
    else:
        db = _indices(database, "split_database", n)
        both = np.intersect1d(q, db)
        if len(both):
            raise ValueError(
                f"split_query and split_database overlap in {len(both)} row(s) (first: {int(both[0])}); "
                "query and database must be disjoint"
            )
    if len(db) == 0:
        raise ValueError("split_query covers every row, leaving an empty database; keep some rows out of it")
    tr = db if train is None else _indices(train, "split_train", n)
    if not np.isin(tr, db).all():
        raise ValueError(
            "split_train must be a subset of split_database (methods train on database items only)"
        )
    # Keep the file's order: with ties="stable" the database order decides tied ranks, and a
    # file written by save_benchmark_file must read back identically.
    return Split(query=q, database=db, train=tr)
