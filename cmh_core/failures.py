"""Failure analysis of a run: which queries fail, why one query fails, which labels fail most.

Pure numpy on a run's packed codes (`cmh_core.evaluation.retrieval_codes`) and the dataset's
labels and split; the Failures page only displays what these functions return. The ranking is
the one of the whole project: ascending Hamming distance, ties by database index (the order of
`cmh_core.hamming.search`, of `evaluate`'s stable AP and of the Search page), so a rank here is
the rank the Search page shows, and an AP here is `cmh_core.evaluation.per_query_ap`.

A *direction* is ``"i2t"`` (image queries against the text database) or ``"t2i"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cmh_core.evaluation import average_precision, relevance_from_labels
from cmh_core.hamming import hamming_distance

__all__ = ["DIRECTIONS", "direction_modalities", "query_table", "query_failures", "label_ap"]

#: direction → (query modality, database modality)
DIRECTIONS: dict[str, tuple[str, str]] = {"i2t": ("image", "text"), "t2i": ("text", "image")}
_BLOCK = 1 << 22  # query rows x database items per block of the first-relevant search


def direction_modalities(direction: str) -> tuple[str, str]:
    """``(query modality, database modality)`` of ``"i2t"`` / ``"t2i"``; a ValueError otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(
            f"direction must be 'i2t' (image queries) or 't2i' (text queries), got {direction!r}"
        )
    return DIRECTIONS[direction]


def _arrays(codes: Mapping[str, np.ndarray], labels, split, direction: str):
    """Query / database codes, labels and dataset indices of one direction, checked."""
    q_mod, db_mod = direction_modalities(direction)
    for name in (f"{q_mod}_query", f"{db_mod}_database"):
        if name not in codes:
            raise ValueError(
                f"codes has no {name!r} (keys: {sorted(codes)}); pass the dict of "
                "cmh_core.evaluation.retrieval_codes"
            )
    q_idx = np.asarray(split.query, dtype=np.int64)  # (n_q,) dataset rows of the queries
    db_idx = np.asarray(split.database, dtype=np.int64)  # (n_db,)
    Q, DB = np.asarray(codes[f"{q_mod}_query"]), np.asarray(codes[f"{db_mod}_database"])
    if len(Q) != len(q_idx) or len(DB) != len(db_idx):
        raise ValueError(
            f"codes do not match the split: {len(Q)} query codes for {len(q_idx)} queries and "
            f"{len(DB)} database codes for {len(db_idx)} database items; use the codes of this dataset"
        )
    Y = np.asarray(labels)
    top = int(max(q_idx.max(initial=-1), db_idx.max(initial=-1)))
    if Y.ndim != 2 or len(Y) <= top:
        raise ValueError(
            f"labels must be the dataset's multi-hot matrix (n_items, c) covering item {top}, got shape "
            f"{Y.shape}; pass dataset.labels, not the labels of a subset"
        )
    return Q, DB, Y[q_idx], Y[db_idx], q_idx, db_idx


def _first_relevant_rank(D: np.ndarray, R: np.ndarray) -> np.ndarray:
    """1-based rank of each row's first relevant item under (distance, index) order; 0 if none.

    Without sorting: with d* the smallest distance of a relevant item and j* the smallest index
    of a relevant item at d*, the rank is ``#{d < d*} + #{d = d*, j < j*} + 1``.
    D, R : (n_q, n_db) distances and bool relevance.
    """
    n_q, n_db = D.shape
    out = np.zeros(n_q, dtype=np.int64)
    rows = max(1, _BLOCK // max(n_db, 1))
    big = np.iinfo(np.int64).max
    j = np.arange(n_db)
    for s in range(0, n_q, rows):
        d, r = D[s : s + rows].astype(np.int64), R[s : s + rows]
        d_star = np.where(r, d, big).min(axis=1, initial=big)  # (rows,)
        at_star = r & (d == d_star[:, None])
        j_star = np.where(at_star, j[None, :], n_db).min(axis=1, initial=n_db)
        before = (d < d_star[:, None]) | ((d == d_star[:, None]) & (j[None, :] < j_star[:, None]))
        out[s : s + rows] = np.where(r.any(axis=1), before.sum(axis=1) + 1, 0)
    return out


def query_table(codes: Mapping[str, np.ndarray], labels, split, direction: str = "i2t") -> dict[str, Any]:
    """Every query of one direction with its AP, worst first (ties by dataset index).

    Parameters
    ----------
    codes : mapping
        Packed codes as `cmh_core.evaluation.retrieval_codes` returns them: ``"image_query"``,
        ``"text_query"`` (n_q, n_bytes) and ``"image_database"``, ``"text_database"`` (n_db, n_bytes).
    labels : array-like of {0, 1}, shape (n_items, c)
        Multi-hot labels of the whole dataset.
    split : object with ``query`` and ``database``
        Dataset indices of the query (n_q,) and database (n_db,) items (a dataset's ``split``).
    direction : {"i2t", "t2i"}

    Returns
    -------
    dict
        Columns of equal length n_q, sorted by ``(ap, index)``: ``index`` dataset index,
        ``id`` item id (``"image:12"``, as the Search page names queries), ``position`` row in
        ``split.query`` (and in the query codes), ``ap`` average precision over the whole
        ranking (= `per_query_ap`, stable ties; 0 without relevant items), ``n_relevant``
        database items sharing a label with the query, ``first_relevant_rank`` 1-based rank of
        the best-ranked relevant item (0 when there is none). Also ``direction``, ``n_database``.
    """
    Q, DB, Yq, Ydb, q_idx, _ = _arrays(codes, labels, split, direction)
    q_mod = direction_modalities(direction)[0]
    D = hamming_distance(Q, DB)  # d_H(q_i, x_j): (n_q, n_db)
    R = relevance_from_labels(Yq, Ydb)  # S_ij = 1 when q_i and x_j share a label: (n_q, n_db)
    ap = average_precision(D, R)  # (n_q,), the stable AP of evaluate / per_query_ap
    first = _first_relevant_rank(D, R)
    order = np.lexsort((q_idx, ap))  # worst AP first, then dataset index
    return {
        "direction": direction,
        "n_database": int(DB.shape[0]),
        "index": q_idx[order],
        "id": [f"{q_mod}:{int(i)}" for i in q_idx[order]],
        "position": order.astype(np.int64),
        "ap": ap[order],
        "n_relevant": R.sum(axis=1).astype(np.int64)[order],
        "first_relevant_rank": first[order],
    }


def _rows(ranks: np.ndarray, order, d, db_idx, Ydb, yq) -> list[dict[str, Any]]:
    """Table rows for 0-based ``ranks`` of one query's ranking (``order``: database rows by rank)."""
    out = []
    for t in ranks:
        j = int(order[t])
        lab = np.flatnonzero(Ydb[j])
        out.append(
            {
                "rank": int(t) + 1,
                "database_position": j,
                "index": int(db_idx[j]),
                "distance": int(d[j]),
                "labels": lab.tolist(),
                "shared": [int(c) for c in lab if yq[c]],
            }
        )
    return out


def query_failures(
    codes: Mapping[str, np.ndarray], labels, split, direction: str, index: int, k: int = 10
) -> dict[str, Any]:
    """One query's misses: its relevant items ranked lowest and irrelevant items ranked highest.

    Parameters
    ----------
    codes, labels, split, direction
        As in `query_table`.
    index : int
        Dataset index of the query (an item of ``split.query``).
    k : int
        How many items each list holds (fewer when there are fewer).

    Returns
    -------
    dict
        ``id``, ``index``, ``position`` (row in ``split.query``), ``labels`` (the query's label
        columns), ``ap``, ``n_relevant``, ``first_relevant_rank`` (0: none), ``n_database``;
        ``lowest_relevant``: rows for the k relevant items with the largest ranks, the very last
        one first; ``highest_irrelevant``: rows for the k irrelevant items with the smallest
        ranks, rank 1 first. A row is ``{"rank" (1-based), "database_position", "index"
        (dataset index), "distance", "labels", "shared"}`` (label columns). Ranks are those of
        the Search page: ascending distance, ties by database index.

    Raises
    ------
    ValueError
        If ``index`` is not a query of the split or ``k`` is not a positive integer.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer (items per list), got {k!r}")
    Q, DB, Yq, Ydb, q_idx, db_idx = _arrays(codes, labels, split, direction)
    where = np.flatnonzero(q_idx == int(index))
    if len(where) == 0:
        raise ValueError(
            f"item {index!r} is not in the query set ({len(q_idx)} queries); pick one of split.query"
        )
    p = int(where[0])
    yq, Ydb = Yq[p] != 0, Ydb != 0  # (c,), (n_db, c)
    d = hamming_distance(Q[p : p + 1], DB)[0]  # (n_db,)
    rel = (Ydb & yq[None, :]).any(axis=1)  # (n_db,)
    order = np.argsort(d, kind="stable")  # rank -> database row: (distance, index), as Search
    rel_ranked = rel[order]
    rel_ranks, irr_ranks = np.flatnonzero(rel_ranked), np.flatnonzero(~rel_ranked)  # 0-based, ascending
    ap = float(average_precision(d[None, :], rel[None, :])[0])
    return {
        "id": f"{direction_modalities(direction)[0]}:{int(index)}",
        "index": int(index),
        "position": p,
        "labels": np.flatnonzero(yq).tolist(),
        "ap": ap,
        "n_relevant": int(rel.sum()),
        "first_relevant_rank": int(rel_ranks[0]) + 1 if len(rel_ranks) else 0,
        "n_database": int(len(db_idx)),
        "lowest_relevant": _rows(rel_ranks[::-1][:k], order, d, db_idx, Ydb, yq),
        "highest_irrelevant": _rows(irr_ranks[:k], order, d, db_idx, Ydb, yq),
    }


def label_ap(table: Mapping[str, Any], labels) -> dict[str, Any]:
    """Mean AP per label over the queries carrying it, worst label first.

    ``mean_ap[c] = (1/|Q_c|) Σ_{q ∈ Q_c} AP_q`` with ``Q_c`` the queries having label c; a
    query with several labels counts for each. The chance level of a label is the same mean of
    each query's AP under a uniformly random ranking, ``E[AP] = H_n/n + (N-1)/(n-1) (1 - H_n/n)``
    for N relevant among n items (the tie-expected AP with every distance equal).

    Parameters
    ----------
    table : mapping
        `query_table`'s result (``index``, ``ap``, ``n_relevant``, ``n_database``).
    labels : array-like of {0, 1}, shape (n_items, c)
        Multi-hot labels of the whole dataset.

    Returns
    -------
    dict
        ``label`` label columns with at least one query, sorted by ``(mean_ap, column)``;
        ``mean_ap``, ``n_queries``, ``chance`` (same order); ``empty``: label columns no query
        carries; ``overall``: the mean AP of all queries (the run's mAP in this direction);
        ``overall_chance``.
    """
    Y = np.asarray(labels)[np.asarray(table["index"], dtype=np.int64)] != 0  # (n_q, c)
    ap = np.asarray(table["ap"], dtype=np.float64)  # (n_q,)
    chance_q = _chance_ap(np.asarray(table["n_relevant"]), int(table["n_database"]))  # (n_q,)
    n = Y.sum(axis=0)  # |Q_c|: (c,)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (Y * ap[:, None]).sum(axis=0) / n
        chance = (Y * chance_q[:, None]).sum(axis=0) / n
    has = np.flatnonzero(n > 0)
    order = has[np.lexsort((has, mean[has]))]
    return {
        "label": order,
        "mean_ap": mean[order],
        "n_queries": n[order].astype(np.int64),
        "chance": chance[order],
        "empty": np.flatnonzero(n == 0),
        "overall": float(ap.mean()) if len(ap) else 0.0,
        "overall_chance": float(chance_q.mean()) if len(ap) else 0.0,
    }


def _chance_ap(n_rel: np.ndarray, n_db: int) -> np.ndarray:
    """Expected AP of a uniformly random ranking of ``n_db`` items with ``n_rel`` relevant (0 if none)."""
    if n_db == 0:
        return np.zeros(len(n_rel))
    h = np.sum(1.0 / np.arange(1, n_db + 1)) / n_db  # H_n / n
    c = (n_rel - 1) / (n_db - 1) if n_db > 1 else np.zeros(len(n_rel))
    return np.where(n_rel > 0, h + c * (1 - h), 0.0)
