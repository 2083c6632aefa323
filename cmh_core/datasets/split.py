"""The one query / database / train split used by every loader, the CLI, the app and the tests.

Protocol (the usual one for cross-modal hashing benchmarks): a seeded random query set, the rest
is the retrieval database, and methods are trained on the database. The query set is seeded with
one item per label where possible, so every label is evaluated; the database keeps one item per
label where possible, so every query label has something to retrieve. The cost is O(n c) time and
memory linear in n, so it is used as is for 10^6 synthetic items.

The index arrays are stored in a seeded random order, not sorted: ``ties="stable"`` breaks
distance ties by database position, and a sorted database of a dataset stored by category would
put the items of the query's category first in every tie (inflating mAP). `unpair` gives the
per-modality training row orders of the unpaired setting. `validation_split` carves a seeded
validation part out of the training rows: every tuned default is chosen on it, never on the query
set (`validation_dataset` wraps a dataset around it, so `evaluate` scores it unchanged).
"""

from __future__ import annotations

import dataclasses
from numbers import Real

import numpy as np

from cmh_core._checks import check_labels
from cmh_core.datasets._types import Split

__all__ = ["make_split", "unpair", "validation_dataset", "validation_split"]


def _first_with_each_label(labels_perm: np.ndarray, blocked: np.ndarray) -> list[int]:
    """Positions (in permuted order) covering each label greedily, rarest label first.

    Parameters
    ----------
    labels_perm : ndarray of uint8, shape (n, c)
        Labels in a random row order.
    blocked : ndarray of bool, shape (n,)
        Positions that may not be picked (updated in place with the picks).

    Returns
    -------
    list of int
        Picked positions; each covered label has at least two items overall, so picking one
        never takes a label away from the other side of the split.
    """
    counts = labels_perm.sum(axis=0, dtype=np.int64)  # (c,)
    covered = np.zeros(labels_perm.shape[1], dtype=bool)
    picks: list[int] = []
    for lab in np.argsort(counts, kind="stable"):
        if covered[lab] or counts[lab] < 2:
            continue
        candidates = np.flatnonzero(labels_perm[:, lab] & ~blocked)
        if len(candidates) == 0:
            continue
        pos = int(candidates[0])
        picks.append(pos)
        blocked[pos] = True
        covered |= labels_perm[pos].astype(bool)
    return picks


def make_split(
    labels,
    n_query: int | None = None,
    *,
    query_fraction: float = 0.2,
    random_state: int | None = 0,
) -> Split:
    """Split items into a seeded query set and a database (train = database).

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n, c)
        Multi-hot labels; rows without labels are allowed here (they are just never seeds).
    n_query : int, optional
        Number of query items, ``1 <= n_query <= n - 1``. Default: ``round(query_fraction * n)``
        clipped to that range.
    query_fraction : float, default 0.2
        Fraction of items used as queries when ``n_query`` is not given, in (0, 1).
    random_state : int or None, default 0
        Seed of the permutation; the same labels and seed always give the same split.

    Returns
    -------
    Split
        ``query`` (n_q,), ``database`` (n - n_q,) and ``train`` (same as database): int64 row
        indices in a seeded random order (see the module notes); query and database are
        disjoint and together cover all rows.

    Notes
    -----
    1. Rows are shuffled with ``np.random.default_rng(random_state)``.
    2. Query seeds: for each label with at least two items, rarest first, the first shuffled item
       carrying it unless a seed already covers it (at most ``n_query`` seeds).
    3. Database reserves: likewise, one other item per label is kept for the database.
    4. The query set is filled up to ``n_query`` with the remaining shuffled items.
    5. Both index arrays keep the shuffled order of step 1.
    """
    Y = labels
    if not (isinstance(Y, np.ndarray) and Y.dtype == np.uint8 and Y.ndim == 2 and Y.max(initial=0) <= 1):
        Y = check_labels(labels, "labels", allow_empty_rows=True)  # fast path above for clean uint8
    n = Y.shape[0]
    if n < 2:
        raise ValueError(f"labels has {n} row(s); a query/database split needs at least 2 items")
    if n_query is None:
        if not 0.0 < float(query_fraction) < 1.0:
            raise ValueError(f"query_fraction must be in (0, 1), got {query_fraction}; e.g. use 0.2")
        n_query = int(round(float(query_fraction) * n))
        n_query = min(max(n_query, 1), n - 1)
    elif not 1 <= int(n_query) <= n - 1:
        raise ValueError(f"n_query must be between 1 and n - 1 = {n - 1}, got {n_query}")
    n_query = int(n_query)

    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)  # perm[pos] = row
    Y_perm = Y[perm]  # (n, c) uint8

    blocked = np.zeros(n, dtype=bool)  # positions already assigned
    seeds = _first_with_each_label(Y_perm, blocked)[:n_query]
    # Reserve one database item per label, searching from the end of the shuffled order.
    rev_blocked = blocked[::-1].copy()
    reserves = [n - 1 - p for p in _first_with_each_label(Y_perm[::-1], rev_blocked)]

    in_query = np.zeros(n, dtype=bool)  # by position
    in_query[seeds] = True
    free = np.ones(n, dtype=bool)
    free[seeds] = False
    free[reserves] = False
    n_fill = n_query - len(seeds)
    fill = np.flatnonzero(free)[:n_fill]
    in_query[fill] = True
    if len(fill) < n_fill:  # only when reserves crowd out the fill (tiny n)
        extra = np.flatnonzero(~in_query)[: n_fill - len(fill)]
        in_query[extra] = True

    query = perm[in_query].astype(np.int64)  # shuffled order (step 5)
    database = perm[~in_query].astype(np.int64)
    return Split(query=query, database=database, train=database.copy())


def unpair(dataset, fraction: float, random_state: int | None = 0) -> dict[str, np.ndarray]:
    """Per-modality training row orders for the unpaired setting.

    Image row ``t`` of the training set is dataset row ``idx["image"][t]`` and text row ``t``
    is ``idx["text"][t]``: a seeded ``fraction`` of the training positions get their text rows
    shuffled among themselves (a random permutation may leave a few in place), the others stay
    paired. Fit with ``X_img[idx["image"]], X_txt[idx["text"]], Y[idx["image"]],
    Y_txt=Y[idx["text"]]`` and evaluate with ``train_index=idx``.

    Parameters
    ----------
    dataset : CrossModalDataset
    fraction : float
        In [0, 1]: 0 keeps every pair (both orders equal ``split.train``), 1 shuffles all texts.
    random_state : int or None, default 0

    Returns
    -------
    dict
        ``{"image": (n_train,), "text": (n_train,)}`` int64 dataset rows, each a permutation of
        ``split.train``.

    Raises
    ------
    ValueError
        If ``fraction`` is not a real number in [0, 1].
    """
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be a number in [0, 1] (share of unpaired texts), got {fraction!r}")
    train = np.asarray(dataset.split.train, dtype=np.int64)
    rng = np.random.default_rng(random_state)
    moved = rng.choice(len(train), size=int(round(float(fraction) * len(train))), replace=False)
    text = train.copy()
    text[moved] = train[rng.permutation(moved)]  # texts of the moved positions, shuffled among them
    return {"image": train.copy(), "text": text}


def validation_split(split: Split, labels, fraction: float = 0.2, random_state: int | None = 0) -> Split:
    """Carve a seeded validation part out of ``split.train``: the split every tuned default uses.

    The training rows are split by `make_split` itself (so every label with two or more training
    items has validation queries and something left to retrieve). The original query rows are
    never touched: tuning on this split cannot see the query set.

    Parameters
    ----------
    split : Split
        The dataset's query / database / train split.
    labels : array-like of {0, 1}, shape (n, c)
        The dataset's multi-hot labels (all rows; only ``labels[split.train]`` is read).
    fraction : float, default 0.2
        Share of the training rows held out for validation, in (0, 1).
    random_state : int or None, default 0
        Seed of the carve; the same split, labels and seed always give the same validation split.

    Returns
    -------
    Split
        ``query``: the validation rows (n_val,); ``database`` and ``train``: the remaining
        training rows (n_tr - n_val,), identical. int64 dataset rows, all from ``split.train``.

    Raises
    ------
    ValueError
        If ``fraction`` is not in (0, 1) or the training part has fewer than 2 rows.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(
            f"fraction must be in (0, 1) (share of training rows for validation), got {fraction!r}"
        )
    train = np.asarray(split.train, dtype=np.int64)
    if len(train) < 2:
        raise ValueError(f"split.train has {len(train)} row(s); a validation split needs at least 2")
    inner = make_split(np.asarray(labels)[train], query_fraction=float(fraction), random_state=random_state)
    rest = train[inner.database]
    return Split(query=train[inner.query], database=rest, train=rest.copy())


def validation_dataset(dataset, fraction: float = 0.2, random_state: int | None = 0):
    """The dataset with `validation_split` as its split: fit on ``.split.train``, `evaluate` as usual.

    Parameters
    ----------
    dataset : CrossModalDataset
    fraction, random_state
        As `validation_split`.

    Returns
    -------
    CrossModalDataset
        A shallow copy (arrays shared, not copied) whose queries are the validation rows.
    """
    split = validation_split(dataset.split, dataset.labels, fraction, random_state)
    return dataclasses.replace(dataset, split=split)
