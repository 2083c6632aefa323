"""Buckets of identical codes: what a code map shows when a supervised method collapses its codes.

Supervised hashing often maps many items onto one code (DCH at 32 bits puts tuxpaint's 1,260
database codes on about 50 distinct ones). A scatter of the items then draws ~50 piles of
identical dots; a map of *buckets* (one marker per distinct code and modality, sized by its
count, coloured by its majority label, with the label's purity) shows the same picture honestly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cmh_core.hamming import check_codes

__all__ = ["CodeBuckets", "code_buckets"]


@dataclass(frozen=True)
class CodeBuckets:
    """Distinct codes of one code set and the items in each.

    Attributes
    ----------
    bucket : ndarray of int64, shape (n,)
        Bucket of each item (row of the codes given to `code_buckets`).
    codes : ndarray of uint8, shape (m, n_bytes)
        The distinct codes, in order of first appearance.
    first : ndarray of int64, shape (m,)
        Row of the first item of each bucket.
    count : ndarray of int64, shape (m,)
        Items per bucket.
    majority : list of str, length m
        The label most members carry (ties: the label listed first); "(no label)" when none has one.
    purity : ndarray of float64, shape (m,)
        Fraction of members carrying the majority label, in (0, 1].
    """

    bucket: np.ndarray
    codes: np.ndarray
    first: np.ndarray
    count: np.ndarray
    majority: list[str]
    purity: np.ndarray

    @property
    def n_buckets(self) -> int:
        """Number of distinct codes m."""
        return len(self.count)

    def members(self, b: int) -> np.ndarray:
        """Rows of the items in bucket ``b``, increasing."""
        return np.flatnonzero(self.bucket == b)

    def largest(self) -> int:
        """Index of the largest bucket (the first one on a tie)."""
        return int(np.argmax(self.count))


def code_buckets(codes, labels, label_names: Sequence[str]) -> CodeBuckets:
    """Group items by identical packed code; majority label and its purity per group.

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes)
        Packed codes of one modality.
    labels : array-like, shape (n, c)
        Multi-hot labels of the same items.
    label_names : sequence of str, length c

    Returns
    -------
    CodeBuckets
        Buckets in order of first appearance, so the result does not depend on byte order.

    Raises
    ------
    ValueError
        When codes and labels have different numbers of rows, or names and label columns differ.
    """
    B = check_codes(codes, "codes")
    Y = np.asarray(labels) != 0
    if Y.ndim != 2 or len(Y) != len(B):
        raise ValueError(f"labels must be (n, c) with one row per code: codes {B.shape}, labels {Y.shape}")
    if len(label_names) != Y.shape[1]:
        raise ValueError(f"{len(label_names)} label names for {Y.shape[1]} label columns; give one each")
    if len(B) == 0:
        empty = np.zeros(0, np.int64)
        return CodeBuckets(empty, B[:0], empty, empty, [], np.zeros(0))
    _, first, inverse = np.unique(B, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # np.unique sorts by bytes; renumber by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    bucket = rank[inverse.reshape(-1)].astype(np.int64)
    first = first[order].astype(np.int64)
    m = len(first)
    count = np.bincount(bucket, minlength=m).astype(np.int64)
    per_label = np.zeros((m, Y.shape[1]), np.int64)  # per_label[b, l]: members of b carrying label l
    np.add.at(per_label, bucket, Y.astype(np.int64))
    best = per_label.argmax(axis=1) if Y.shape[1] else np.zeros(m, np.int64)
    hits = per_label[np.arange(m), best] if Y.shape[1] else np.zeros(m, np.int64)
    majority = [label_names[int(b)] if h > 0 else "(no label)" for b, h in zip(best, hits, strict=True)]
    purity = np.where(hits > 0, hits / count, 1.0)
    return CodeBuckets(bucket, B[first], first, count, majority, purity.astype(np.float64))
