"""Relevance rules: "any" (shares any label) and "leaf" (shares the query's most specific label).

The bundled datasets' labels are hierarchical without storing the tree: tuxpaint's labels are
the folders of a stamp's path (``animals/mammals/cats`` gives animals, mammals, cats) and
openmoji's are an emoji's group and subgroup (``smileys-emotion`` / ``face-smiling``). A file
of the user's has only a multi-hot matrix. So specificity is read off the labels themselves:

    the most specific label of an item is, among its labels, the one that the fewest items of
    the dataset carry (ties: the lower label column).

In a tree of labels an item's labels are a path from the root and a child's items are a subset
of its parent's, so the rarest label is the deepest one. On the bundles it agrees with the
recorded hierarchy for 96.2 % of tuxpaint's items (the deepest folder; the others are stamps such
as ``hobbies/music/trumpet`` whose deeper label, music, also names folders elsewhere) and 99.7 % of
openmoji's (the subgroup), measured in ``tests/test_relevance.py``. Definitions:
``docs/evaluation.md``, "Relevance".
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["RELEVANCE_RULES", "check_relevance", "most_specific_label", "relevance_query_labels"]

RELEVANCE_RULES = ("any", "leaf")
Relevance = Literal["any", "leaf"]


def check_relevance(relevance: object) -> str:
    """Return ``relevance`` when it names a rule; a ValueError names the value and the choices."""
    if not isinstance(relevance, str) or relevance not in RELEVANCE_RULES:
        raise ValueError(
            f"relevance must be 'any' (shares any label) or 'leaf' (shares the query's most specific "
            f"label), got {relevance!r}"
        )
    return relevance


def most_specific_label(labels, label_counts) -> np.ndarray:
    """Column of each item's most specific label: its label carried by the fewest items.

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n, c)
        Multi-hot labels of the items.
    label_counts : array-like of int, shape (c,)
        Items per label in the whole dataset (``dataset.labels.sum(axis=0)``).

    Returns
    -------
    ndarray of int64, shape (n,)
        The label column; ties go to the lower column; -1 for an item without labels.
    """
    Y = np.asarray(labels) != 0
    counts = np.asarray(label_counts, dtype=np.float64).reshape(-1)
    if Y.ndim != 2 or counts.shape != (Y.shape[1],):
        raise ValueError(
            f"labels must be (n, c) and label_counts (c,), got shapes {np.shape(labels)} and "
            f"{np.shape(label_counts)}"
        )
    masked = np.where(Y, counts[None, :], np.inf)  # argmin takes the first column of equal counts
    leaf = np.argmin(masked, axis=1) if Y.shape[1] else np.zeros(len(Y), dtype=np.int64)
    return np.where(Y.any(axis=1), leaf, -1).astype(np.int64)


def relevance_query_labels(query_labels, relevance: str, label_counts=None) -> np.ndarray:
    """Query labels under a relevance rule: any shared label of these counts as relevance.

    ``"any"`` returns the labels unchanged. ``"leaf"`` keeps only each query's most specific
    label (`most_specific_label`), so a database item is relevant exactly when it carries that
    label, and its graded relevance (NDCG) is 0 or 1.

    Parameters
    ----------
    query_labels : array-like of {0, 1}, shape (n_query, c) or (c,)
    relevance : {"any", "leaf"}
    label_counts : array-like of int, shape (c,)
        Items per label in the dataset; needed for ``"leaf"``.

    Returns
    -------
    ndarray of uint8, same shape as ``query_labels``
    """
    check_relevance(relevance)
    Yq = np.asarray(query_labels)
    if relevance == "any":
        return Yq
    if label_counts is None:
        raise ValueError("relevance='leaf' needs label_counts, the items per label (labels.sum(axis=0))")
    Y2 = np.atleast_2d(Yq)
    leaf = most_specific_label(Y2, label_counts)
    out = np.zeros(Y2.shape, dtype=np.uint8)
    has = leaf >= 0
    out[np.flatnonzero(has), leaf[has]] = 1
    return out.reshape(Yq.shape)
