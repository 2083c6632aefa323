"""Input checks shared by the metrics: distances become integer levels, relevance a clean array."""

from __future__ import annotations

import numpy as np

from cmh_core.evaluation._ranking import row_blocks

__all__ = ["as_levels", "check_inputs", "check_ties", "check_cutoff", "as_ks", "dense_rank_rows"]


def dense_rank_rows(D: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of each row's distances: ``L[i, j]`` = number of distinct values below ``D[i, j]``.

    Ranking per row (not over the whole matrix) bounds the number of levels by ``n_database``
    whatever the values, so any real distances work.

    Parameters
    ----------
    D : ndarray, shape (n_query, n_database)

    Returns
    -------
    L : ndarray of uint16 (uint32 when n_database > 65,536), shape (n_query, n_database)
    V : int
        Number of levels (1 + the largest rank).
    """
    n_q, n_db = D.shape
    L = np.empty(D.shape, dtype=np.uint16 if n_db <= 65536 else np.uint32)
    V = 1
    for s, e in row_blocks(n_q, n_db):
        order = np.argsort(D[s:e], axis=1, kind="stable")
        sd = np.take_along_axis(D[s:e], order, axis=1)
        step = np.zeros(sd.shape, dtype=np.int64)
        step[:, 1:] = sd[:, 1:] != sd[:, :-1]  # a new distinct value starts here
        rank = np.cumsum(step, axis=1)
        np.put_along_axis(L[s:e], order, rank.astype(L.dtype), axis=1)
        V = max(V, int(rank[:, -1].max()) + 1)
    return L, V


def as_levels(D: np.ndarray, integer: bool = False) -> tuple[np.ndarray, int]:
    """Integer distance levels ``L`` in 0..V-1, preserving each row's order and ties; ``(L, V)``.

    Integer distances in 0..65535 (Hamming distances) are kept as they are; other values
    become per-row dense ranks (`dense_rank_rows`), unless ``integer`` (radius-based metrics,
    where the value itself matters), which raises instead.
    """
    if D.size == 0:
        return np.zeros(D.shape, dtype=np.uint8), 1
    if D.dtype == bool:
        return D.astype(np.uint8), 2
    if not np.issubdtype(D.dtype, np.number) or np.issubdtype(D.dtype, np.complexfloating):
        raise ValueError(f"distances must be real numbers, got dtype {D.dtype}")
    if np.issubdtype(D.dtype, np.inexact) and not np.isfinite(D).all():
        raise ValueError("distances contain NaN or Inf; every query-item pair needs a finite distance")
    lo = 0 if np.issubdtype(D.dtype, np.unsignedinteger) else D.min()
    hi = D.max()
    integral = np.issubdtype(D.dtype, np.integer) or bool(np.all(D == np.rint(D)))
    if lo >= 0 and hi <= 65535 and integral:
        return (D if np.issubdtype(D.dtype, np.integer) else D.astype(np.uint16)), int(hi) + 1
    if integer:
        raise ValueError(
            f"radius-based metrics need integer distances in 0..65535 (Hamming distances of codes up "
            f"to 65,535 bits), got dtype {D.dtype} with values in [{lo}, {hi}]; use rank-based metrics"
        )
    return dense_rank_rows(D)


def check_inputs(
    distances, relevance, *, name: str = "relevance", graded: bool = False, integer: bool = False
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate a (distances, relevance) pair; return contiguous ``(levels, relevance, V)``.

    Graded relevance is returned as float64 (any input dtype, so no unsigned wrap-around
    downstream); binary relevance as bool.
    """
    D, R = np.asarray(distances), np.asarray(relevance)
    if D.ndim != 2:
        raise ValueError(f"distances must be 2-D (n_query, n_database), got shape {D.shape}")
    if R.shape != D.shape:
        raise ValueError(
            f"{name} has shape {R.shape} but distances has shape {D.shape}; both must be "
            "(n_query, n_database), e.g. relevance_from_labels(labels[query], labels[database])"
        )
    if D.shape[0] == 0:
        raise ValueError(f"distances has no query rows (shape {D.shape}); pass at least one query")
    if not (np.issubdtype(R.dtype, np.number) or R.dtype == bool):
        raise ValueError(f"{name} must be bool or numeric, got dtype {R.dtype}")
    if graded:
        R = np.ascontiguousarray(R, dtype=np.float64)
        if not np.isfinite(R).all():
            raise ValueError(f"{name} contains NaN or Inf")
        if R.size and R.min() < 0:
            raise ValueError(f"{name} must be non-negative (graded relevance), found {R.min()}")
    else:
        R = np.ascontiguousarray(R if R.dtype == bool else R != 0)
    L, V = as_levels(D, integer)
    return np.ascontiguousarray(L), R, V


def check_ties(ties: str) -> None:
    """Refuse a tie rule other than "stable" / "expected"."""
    if ties not in ("stable", "expected"):
        raise ValueError(f"ties must be 'stable' or 'expected', got {ties!r}")


def check_cutoff(k, name: str = "k") -> int:
    """A positive integer cut-off, as int."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def as_ks(ks) -> tuple[np.ndarray, bool]:
    """Cut-offs as an int64 array, and whether a scalar was given."""
    scalar = np.ndim(ks) == 0
    arr = np.atleast_1d(np.asarray(ks))
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
        raise ValueError(f"ks must be positive integers (a cut-off or a list of cut-offs), got {ks!r}")
    return arr.astype(np.int64), scalar
