"""Pure result logic behind the pages (no streamlit): ranking, tie groups, AP, samples, selections.

Kept free of streamlit so that it is unit-tested directly (``tests/test_app_results.py``); the
pages only display what these functions return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cmh_core.evaluation import average_precision
from cmh_core.hamming import hamming_distance, unpack_bits

__all__ = [
    "rank_query",
    "group_by_distance",
    "representative_sample",
    "filter_items",
    "selected_ids",
    "parse_item_id",
    "item_id",
    "differing_bits",
    "map_points",
    "selection_rows",
]


def rank_query(query_code: np.ndarray, db_codes: np.ndarray, query_labels, db_labels) -> dict[str, Any]:
    """Rank a database for one query by Hamming distance (ties by database index) and score it.

    Parameters
    ----------
    query_code : ndarray of uint8, shape (n_bytes,) or (1, n_bytes)
        Packed code of the query.
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
        Packed codes of the database (the other modality).
    query_labels : array-like of {0, 1}, shape (c,)
    db_labels : array-like of {0, 1}, shape (n_db, c)

    Returns
    -------
    dict
        ``order`` (n_db,) database rows by rank; ``distance`` (n_db,) their distances;
        ``relevant`` (n_db,) bool, shares a label with the query; ``shared`` (n_db, c) bool
        shared labels, in rank order; ``ap`` float, the query's average precision over the whole
        ranking, the definition of `cmh_core.evaluation.per_query_ap` (0 without relevant items).
    """
    q = np.atleast_2d(np.asarray(query_code, dtype=np.uint8))
    if q.shape[0] != 1:
        raise ValueError(f"query_code must be one packed code, got shape {np.shape(query_code)}")
    yq = np.asarray(query_labels).reshape(-1) != 0  # (c,)
    ydb = np.asarray(db_labels) != 0  # (n_db, c)
    if ydb.ndim != 2 or ydb.shape[1] != yq.shape[0] or ydb.shape[0] != len(db_codes):
        raise ValueError(
            f"db_labels must be (n_db={len(db_codes)}, c={yq.shape[0]}), got shape {np.shape(db_labels)}"
        )
    d = hamming_distance(q, db_codes)[0]  # d_H(q, db_j): (n_db,)
    shared = ydb & yq[None, :]
    rel = shared.any(axis=1)
    order = np.argsort(d, kind="stable")  # (distance, index), the order of hamming.search
    ap = float(average_precision(d[None, :], rel[None, :])[0])
    return {"order": order, "distance": d[order], "relevant": rel[order], "shared": shared[order], "ap": ap}


def group_by_distance(distances: Sequence[int], limit: int) -> list[tuple[int, list[int]]]:
    """Group the first ``limit`` ranks into tie groups of equal Hamming distance.

    Parameters
    ----------
    distances : sequence of int, non-decreasing
        Distances in rank order (``rank_query(...)["distance"]``).
    limit : int
        How many ranks to show.

    Returns
    -------
    list of (distance, ranks)
        One entry per distinct distance among the shown ranks, in order.
    """
    groups: list[tuple[int, list[int]]] = []
    for t, v in enumerate(np.asarray(distances)[: max(int(limit), 0)].tolist()):
        if groups and groups[-1][0] == v:
            groups[-1][1].append(t)
        else:
            groups.append((int(v), [t]))
    return groups


def representative_sample(labels, candidates: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """A seeded sample of ``candidates`` that mixes labels (round robin over shuffled label pools).

    Parameters
    ----------
    labels : array-like of {0, 1}, shape (n_items, c)
    candidates : sequence of int
        Item indices to draw from.
    n : int
        How many items to return (all candidates when fewer).
    seed : int

    Returns
    -------
    list of int
        Distinct candidates: first one item of each label in a shuffled label order, then a
        second of each, and so on, so the first page is not dominated by the largest labels.
    """
    rng = np.random.default_rng(seed)
    cand = np.asarray(list(candidates), dtype=np.int64)
    if len(cand) == 0 or n <= 0:
        return []
    first = np.asarray(labels)[cand].argmax(axis=1)  # the item's first label
    pools = [list(rng.permutation(cand[first == c])) for c in rng.permutation(np.unique(first))]
    out: list[int] = []
    while len(out) < min(n, len(cand)):
        for pool in pools:
            if pool and len(out) < n:
                out.append(int(pool.pop()))
    return out


def filter_items(texts: Sequence[str], labels, label: int | None, search: str) -> list[int]:
    """Items having label column ``label`` (None: any) whose caption contains ``search`` (any case)."""
    Y = np.asarray(labels)
    needle = (search or "").strip().lower()
    return [
        i
        for i in range(len(texts))
        if (label is None or Y[i, label]) and (not needle or needle in texts[i].lower())
    ]


def item_id(modality: str, index: int) -> str:
    """Stable id of a point on the code map: ``"image:12"`` / ``"text:12"`` (dataset index)."""
    return f"{modality}:{int(index)}"


def parse_item_id(pid: str) -> tuple[str, int]:
    """Inverse of `item_id`; a ValueError names a malformed id."""
    modality, _, idx = str(pid).partition(":")
    if modality not in ("image", "text") or not idx.isdigit():
        raise ValueError(f"point id {pid!r} is not 'image:<index>' or 'text:<index>'")
    return modality, int(idx)


def selected_ids(event: Any) -> list[str]:
    """Point ids of a plotly selection event read dict-style (``ev["selection"]["points"][k]["id"]``).

    Points without an ``id`` (e.g. the image–caption line trace) are skipped; order is kept and
    duplicates dropped. ``None`` or an empty event gives ``[]``.
    """
    if not event:
        return []
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    ids = [p["id"] for p in points or [] if _has_id(p)]
    return list(dict.fromkeys(str(i) for i in ids))


def _has_id(p: Any) -> bool:
    try:
        return p["id"] is not None
    except (KeyError, TypeError, IndexError):
        return False


def differing_bits(code_a: np.ndarray, code_b: np.ndarray, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Unpacked bits of two packed codes: ``(bits (2, r) uint8, differ (r,) bool)``."""
    bits = unpack_bits(np.stack([np.asarray(code_a).reshape(-1), np.asarray(code_b).reshape(-1)]), n_bits)
    return bits, bits[0] != bits[1]


def map_points(
    texts: Sequence[str],
    labels,
    label_names: Sequence[str],
    database: Sequence[int],
    colour_by: str = "label",
    query_labels=None,
) -> dict[str, list]:
    """Point attributes of the code map for the rows of `ui.runs.map_codes` (images, then texts).

    Parameters
    ----------
    texts, labels, label_names
        The dataset's captions, multi-hot labels (n_items, c) and label names.
    database : sequence of int, length n_db
        Dataset indices of the database items; row t (image) and row n_db + t (text) are item
        ``database[t]``.
    colour_by : {"label", "modality", "relevance"}
        Colour group: the item's first label, its modality, or whether it shares a label with
        ``query_labels`` ("relevant" / "not relevant").
    query_labels : array-like (c,), optional
        Needed for ``colour_by="relevance"``.

    Returns
    -------
    dict
        ``ids``, ``colour``, ``symbol``, ``hover`` (lists of length 2 n_db) and ``pairs``: the
        (image row, text row) pairs of each item, for the image–caption lines.
    """
    if colour_by not in ("label", "modality", "relevance"):
        raise ValueError(f"colour_by must be 'label', 'modality' or 'relevance', got {colour_by!r}")
    if colour_by == "relevance" and query_labels is None:
        raise ValueError("colour_by='relevance' needs query_labels (the current query's labels)")
    Y = np.asarray(labels) != 0
    db = [int(i) for i in database]
    names = [", ".join(label_names[c] for c in np.flatnonzero(Y[i])) for i in db]
    if colour_by == "label":
        group = [label_names[int(np.argmax(Y[i]))] for i in db] * 2
    elif colour_by == "modality":
        group = ["image"] * len(db) + ["text"] * len(db)
    else:
        rel = (Y[db] & (np.asarray(query_labels).reshape(-1) != 0)[None, :]).any(axis=1)
        group = ["relevant" if r else "not relevant" for r in rel] * 2
    out: dict[str, list] = {"ids": [], "colour": group, "symbol": [], "hover": []}
    for modality in ("image", "text"):
        for i, lab in zip(db, names, strict=True):
            out["ids"].append(item_id(modality, i))
            out["symbol"].append(modality)
            out["hover"].append(f"{modality} #{i}: {texts[i]}<br>{lab}")
    out["pairs"] = [(t, len(db) + t) for t in range(len(db))]
    return out


def selection_rows(
    ids: Sequence[str], texts: Sequence[str], labels, label_names: Sequence[str]
) -> list[dict]:
    """Table rows of selected map points: ``id, modality, index, caption, labels`` (for the CSV)."""
    Y = np.asarray(labels) != 0
    rows = []
    for pid in ids:
        modality, i = parse_item_id(pid)
        if not 0 <= i < len(texts):
            raise ValueError(f"point id {pid!r} names item {i}, outside 0..{len(texts) - 1}")
        lab = ", ".join(label_names[c] for c in np.flatnonzero(Y[i]))
        rows.append({"id": pid, "modality": modality, "index": i, "caption": texts[i], "labels": lab})
    return rows
