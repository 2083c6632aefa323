"""The cross-modal protocol: codes for a model on a dataset, and the evaluation report.

`evaluate` ranks each query once (`rank_rows`: a counting-sort pass, stable ties) and derives
every metric of the report from that ranking and its per-distance counts, query block by
query block, so memory stays bounded by the block, not by n_query x n_database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from cmh_core.evaluation._average_precision import (
    ap_expected,
    ap_from_top,
    as_words,
    average_precision,
    rank_codes,
)
from cmh_core.evaluation._checks import check_cutoff, check_ties
from cmh_core.evaluation._ranking import (
    expected_dcg,
    expected_hits,
    harmonic,
    ideal_dcg_from_hist,
    relevance_from_labels,
    row_blocks,
)
from cmh_core.evaluation._relevance import check_relevance, relevance_query_labels
from cmh_core.hamming import check_codes, hamming_distance

__all__ = ["retrieval_codes", "evaluate", "per_query_ap"]

_DEFAULT_KS = (1, 5, 10, 20, 50, 100, 200, 500, 1000)
_BLOCK = 1 << 24  # query rows x database items per block: outputs O(rows x (n_bits + k)), no matrix
_MAX_BITS = 65535  # distances fit uint16 levels; the per-distance counts stay small


def _n_bytes(model) -> int:
    n_bits = int(model.code_length)
    if n_bits < 1:
        raise ValueError(f"model.code_length must be a positive integer, got {model.code_length!r}")
    return -(-n_bits // 8)


def _encode(model, X: np.ndarray, modality: str, n_bytes: int) -> np.ndarray:
    codes = check_codes(model.encode(X, modality=modality), f"model.encode(..., modality={modality!r})")
    if codes.shape != (X.shape[0], n_bytes):
        raise ValueError(
            f"model.encode(..., modality={modality!r}) returned shape {codes.shape}, expected "
            f"({X.shape[0]}, {n_bytes}) for {X.shape[0]} items at code_length={model.code_length}"
        )
    return codes


def _train_index(dataset, train_index, modality: str) -> np.ndarray:
    """Dataset rows of ``model.train_codes_[modality]``: ``train_index[modality]`` or split.train."""
    if train_index is None:
        return np.asarray(dataset.split.train)
    if not isinstance(train_index, dict) or modality not in train_index:
        raise ValueError(
            f"train_index must be a dict with 'image' and 'text' row orders (as datasets.unpair "
            f"returns), got {type(train_index).__name__} without {modality!r}"
        )
    idx = np.asarray(train_index[modality])
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"train_index[{modality!r}] must be 1-D integer rows, got {idx.dtype} {idx.shape}")
    return idx


def _database_codes(model, dataset, modality: str, protocol: str, n_bytes: int, train_index) -> np.ndarray:
    feats = dataset.image_features if modality == "image" else dataset.text_features
    db = np.asarray(dataset.split.database)
    if protocol == "encoded":
        return _encode(model, feats[db], modality, n_bytes)
    learned_all = getattr(model, "train_codes_", None)
    if learned_all is None or modality not in learned_all:
        raise ValueError(
            f"protocol='learned' needs model.train_codes_[{modality!r}] (the codes learned for the "
            "training items); fit the model first, or evaluate with protocol='encoded'"
        )
    train = _train_index(dataset, train_index, modality)
    learned = check_codes(learned_all[modality], f"model.train_codes_[{modality!r}]")
    if learned.shape != (len(train), n_bytes):
        raise ValueError(
            f"model.train_codes_[{modality!r}] has shape {learned.shape} but there are {len(train)} "
            f"training items at {n_bytes} bytes per code; fit on dataset rows split.train in that order, "
            "or pass the rows you fitted on as train_index"
        )
    codes = np.empty((len(db), n_bytes), dtype=np.uint8)
    sorter = np.argsort(train, kind="stable")
    pos = np.minimum(np.searchsorted(train, db, sorter=sorter), max(len(train) - 1, 0))
    in_train = (train[sorter[pos]] == db) if len(train) else np.zeros(len(db), dtype=bool)
    codes[in_train] = learned[sorter[pos[in_train]]]
    if not in_train.all():
        codes[~in_train] = _encode(model, feats[db[~in_train]], modality, n_bytes)
    return codes


def retrieval_codes(
    model,
    dataset,
    protocol: Literal["learned", "encoded"] = "learned",
    *,
    train_index: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Packed codes of the query and database items under an evaluation protocol.

    Queries are always encoded by the hash functions. Database items are encoded too under
    ``"encoded"``; under ``"learned"`` the training items (a subset of the database) take the
    codes the method learned for them, ``model.train_codes_[m][t]`` for dataset row
    ``train_index[m][t]`` (default ``split.train`` for both modalities; pass the orders of
    `cmh_core.datasets.unpair` for a model fitted on unpaired rows), and only the others are
    encoded.

    Returns
    -------
    dict
        ``"image_query"``, ``"text_query"`` of shape (n_query, n_bytes) and
        ``"image_database"``, ``"text_database"`` of shape (n_database, n_bytes), uint8.
    """
    if protocol not in ("learned", "encoded"):
        raise ValueError(f"protocol must be 'learned' or 'encoded', got {protocol!r}")
    n_bytes = _n_bytes(model)
    q = np.asarray(dataset.split.query)
    return {
        "image_query": _encode(model, dataset.image_features[q], "image", n_bytes),
        "text_query": _encode(model, dataset.text_features[q], "text", n_bytes),
        "image_database": _database_codes(model, dataset, "image", protocol, n_bytes, train_index),
        "text_database": _database_codes(model, dataset, "text", protocol, n_bytes, train_index),
    }


def _direction(codes: dict[str, np.ndarray], direction: str) -> tuple[np.ndarray, np.ndarray]:
    if direction == "i2t":
        return codes["image_query"], codes["text_database"]
    if direction == "t2i":
        return codes["text_query"], codes["image_database"]
    raise ValueError(f"direction must be 'i2t' or 't2i', got {direction!r}")


def _block_metrics(ranked, n_db, map_at, ks, kt, ties, H, tab) -> dict[str, np.ndarray]:
    """Every per-query number of one block of queries, from the one ranking of each query."""
    ap_s, top, n, m, sg, gh = ranked  # stable AP@all, ranked top gains, per-level counts
    out = {"ap_stable": ap_s, "ap_expected": ap_expected(n, m, None, H)}
    for k in map_at:
        kk = min(k, n_db)
        if ties == "stable":
            out[f"ap@{k}"] = ap_from_top(top, kk)
            dcg = tab[top[:, :kk]] @ (1.0 / np.log2(np.arange(2, kk + 2)))
        else:
            out[f"ap@{k}"] = ap_expected(n, m, kk, H)
            dcg = expected_dcg(n, sg, kk)
        idcg = ideal_dcg_from_hist(gh, kk, tab)
        out[f"ndcg@{k}"] = np.divide(dcg, idcg, out=np.zeros(len(n)), where=idcg > 0)
    kc = np.minimum(np.asarray(ks, dtype=np.int64), n_db)
    if len(kc):
        out["hits"] = np.cumsum(top > 0, axis=1)[:, kc - 1] if ties == "stable" else expected_hits(n, m, kc)
    out["Nr"], out["Mr"] = np.cumsum(n, axis=1), np.cumsum(m, axis=1)  # within radius 0..V-1
    return out


def _direction_report(
    Q, DB, Yq, Ydb, *, n_bits, map_at, precision_ks, radius, ties, return_per_query, n_jobs=1
):
    n_q, n_db = len(Q), len(DB)
    ks = [int(k) for k in precision_ks if k <= n_db]
    kt = min(max([*map_at, *ks, 1]), n_db)
    H = harmonic(n_db)
    n_labels = Yq.shape[1]
    tab = np.expm1(np.arange(n_labels + 1) * np.log(2.0))  # NDCG gains 2^g - 1
    Qw, Dw = as_words(Q), as_words(DB)
    Ql, Dl = (as_words(np.packbits(Y != 0, axis=1)) for Y in (Yq, Ydb))
    parts: dict[str, list[np.ndarray]] = {}

    def block(se: tuple[int, int]) -> dict[str, np.ndarray]:
        ranked = rank_codes(Qw[se[0] : se[1]], Dw, Ql[se[0] : se[1]], Dl, n_db, n_bits + 1, kt, n_labels)
        return _block_metrics(ranked, n_db, map_at, ks, kt, ties, H, tab)

    blocks = list(row_blocks(n_q, n_db, chunk=_BLOCK))
    if n_jobs > 1 and len(blocks) > 1:  # the compiled kernel releases the GIL: threads run it in parallel
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_jobs) as pool:
            results = list(pool.map(block, blocks))
    else:
        results = [block(se) for se in blocks]
    for res in results:
        for key, v in res.items():
            parts.setdefault(key, []).append(v)
    P = {key: np.concatenate(v) for key, v in parts.items()}
    ap = P["ap_stable"] if ties == "stable" else P["ap_expected"]
    out: dict[str, Any] = {"mAP": float(ap.mean()), "mAP_expected": float(P["ap_expected"].mean())}
    for k in map_at:
        out[f"mAP@{k}"] = float(P[f"ap@{k}"].mean())
        out[f"NDCG@{k}"] = float(P[f"ndcg@{k}"].mean())
    Nr, Mr = P["Nr"], P["Mr"]
    total = Mr[:, -1:]
    if ks:
        rec = np.divide(P["hits"], total, out=np.zeros(P["hits"].shape), where=total > 0)
        out["precision_at_k"] = {
            "k": ks,
            "precision": (P["hits"] / np.asarray(ks)).mean(axis=0).tolist(),
            "recall": rec.mean(axis=0).tolist(),
        }
    out["pr_curve"] = _pr_curve(Nr, Mr, total)
    r = min(radius, n_bits)
    N, M = Nr[:, r], Mr[:, r]
    out[f"precision_within_radius{radius}"] = float(np.divide(M, N, out=np.zeros(n_q), where=N > 0).mean())
    out[f"precision_within_radius{radius}_micro"] = float(M.sum() / N.sum()) if N.sum() else 0.0
    if return_per_query:
        out["per_query_ap"] = ap.tolist()
    return out


def _pr_curve(Nr: np.ndarray, Mr: np.ndarray, total: np.ndarray) -> dict[str, list]:
    """Radius PR curve (`precision_recall_curve` by radius) from cumulative counts per query."""
    nonempty = Nr > 0
    n_nonempty = nonempty.sum(axis=0)
    prec_sum = np.divide(Mr, Nr, out=np.zeros(Nr.shape), where=nonempty).sum(axis=0)
    precision = np.divide(prec_sum, n_nonempty, out=np.zeros(len(n_nonempty)), where=n_nonempty > 0)
    recall = np.divide(Mr, total, out=np.zeros(Mr.shape), where=total > 0).mean(axis=0)
    return {
        "radius": list(range(Nr.shape[1])),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "nonempty": (n_nonempty / len(Nr)).tolist(),
    }


def evaluate(
    model,
    dataset,
    protocol: Literal["learned", "encoded"] = "learned",
    *,
    map_at: Sequence[int] = (50,),
    precision_ks: Sequence[int] = _DEFAULT_KS,
    radius: int = 2,
    ties: Literal["stable", "expected"] = "stable",
    return_per_query: bool = False,
    train_index: dict[str, np.ndarray] | None = None,
    n_jobs: int = 1,
    relevance: Literal["any", "leaf"] = "any",
) -> dict[str, Any]:
    """Evaluate a fitted cross-modal hasher on a dataset's query/database split.

    I→T: image queries (``split.query``) against the text codes of ``split.database``;
    T→I: text queries against the image codes. Codes come from `retrieval_codes` under
    ``protocol``; relevance from shared labels (`relevance_from_labels`, or the query's most
    specific label under ``relevance="leaf"``), graded relevance (shared-label counts) for NDCG;
    distances are Hamming distances. Each query is ranked
    once and every metric derived from that ranking, in blocks of queries (bounded memory).

    Parameters
    ----------
    model : fitted hasher
        Needs ``encode(X, modality=...)`` returning packed codes, ``code_length`` (at most
        65,535 bits) and, for ``protocol="learned"``, ``train_codes_``.
    dataset : CrossModalDataset
    protocol : {"learned", "encoded"}
    map_at : sequence of int
        Cut-offs k reported as ``"mAP@k"`` and ``"NDCG@k"``.
    precision_ks : sequence of int
        Cut-offs of the ``"precision_at_k"`` curve (those above n_database are dropped).
    radius : int
        Radius of the ``"precision_within_radius{radius}"`` entries (macro and ``_micro``).
    ties : {"stable", "expected"}
        Tie rule of ``"mAP"``, ``"mAP@k"``, ``"NDCG@k"``, ``"precision_at_k"`` and
        ``"per_query_ap"``; ``"mAP_expected"`` is always the tie-expected mAP.
    return_per_query : bool
        Add ``"per_query_ap"`` (one AP per query, in ``split.query`` order) to each direction.
    train_index : dict, optional
        ``{"image": rows, "text": rows}``: the dataset rows of ``model.train_codes_`` (see
        `retrieval_codes`); default ``split.train`` for both.
    n_jobs : int
        Threads ranking blocks of queries in parallel (the compiled kernel releases the GIL);
        the result does not depend on it.
    relevance : {"any", "leaf"}
        ``"any"``: a database item is relevant when it shares any label with the query.
        ``"leaf"``: when it carries the query's most specific label, the query's label that the
        fewest items of the dataset carry (`most_specific_label`); NDCG grades are then 0/1.

    Returns
    -------
    dict
        Plain JSON (``json.dumps`` works)::

            {"protocol", "n_bits", "ties", "relevance", "n_query", "n_database",
             "i2t": {"mAP", "mAP_expected", "mAP@50", "NDCG@50",
                     "precision_at_k": {"k", "precision", "recall"},
                     "pr_curve": {"radius", "precision", "recall", "nonempty"},
                     "precision_within_radius2", "precision_within_radius2_micro"[, "per_query_ap"]},
             "t2i": {...}, "mean_mAP", "mean_mAP_expected", "mean_NDCG@50"}

        ``"NDCG@k"`` is graded NDCG (`ndcg_at_k`): the grade of a database item is the number
        of labels it shares with the query (`graded_relevance`), its gain ``2^g - 1``; the
        ``mean_`` keys average I→T and T→I. Definitions: ``docs/evaluation.md``.
    """
    check_ties(ties)
    check_relevance(relevance)
    n_bits = int(model.code_length)
    if n_bits > _MAX_BITS:
        raise ValueError(
            f"evaluate supports codes up to {_MAX_BITS} bits, got code_length={n_bits}; use a "
            "shorter code (distances of longer codes can still go to mean_average_precision)"
        )
    map_at = [check_cutoff(k, "map_at") for k in map_at]
    n_jobs = check_cutoff(n_jobs, "n_jobs")
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    codes = retrieval_codes(model, dataset, protocol, train_index=train_index)
    Yq = _query_labels(dataset, relevance)
    Ydb = dataset.labels[np.asarray(dataset.split.database)]
    report: dict[str, Any] = {
        "protocol": protocol,
        "n_bits": n_bits,
        "ties": ties,
        "relevance": relevance,
        "n_query": int(len(Yq)),
        "n_database": int(len(Ydb)),
    }
    for direction in ("i2t", "t2i"):
        report[direction] = _direction_report(
            *_direction(codes, direction),
            Yq,
            Ydb,
            n_bits=n_bits,
            map_at=map_at,
            precision_ks=precision_ks,
            radius=radius,
            ties=ties,
            return_per_query=return_per_query,
            n_jobs=n_jobs,
        )
    for key in ("mAP", "mAP_expected", *(f"NDCG@{k}" for k in map_at)):
        report[f"mean_{key}"] = (report["i2t"][key] + report["t2i"][key]) / 2
    return report


def _query_labels(dataset, relevance: str) -> np.ndarray:
    """Labels of the queries under ``relevance`` (leaf: each query's most specific label only)."""
    Yq = dataset.labels[np.asarray(dataset.split.query)]
    return relevance_query_labels(Yq, relevance, np.asarray(dataset.labels).sum(axis=0))


def per_query_ap(
    model,
    dataset,
    direction: Literal["i2t", "t2i"] = "i2t",
    protocol: Literal["learned", "encoded"] = "learned",
    k: int | None = None,
    ties: Literal["stable", "expected"] = "stable",
    *,
    train_index: dict[str, np.ndarray] | None = None,
    relevance: Literal["any", "leaf"] = "any",
) -> np.ndarray:
    """Average precision of every query of ``split.query`` in one direction (Failures page).

    Same protocol, AP definition and ``relevance`` rules as `evaluate` / `mean_average_precision`.

    Returns
    -------
    ap : ndarray of float64, shape (n_query,)
    """
    check_relevance(relevance)
    codes = retrieval_codes(model, dataset, protocol, train_index=train_index)
    Q, DB = _direction(codes, direction)
    R = relevance_from_labels(
        _query_labels(dataset, relevance), dataset.labels[np.asarray(dataset.split.database)]
    )
    return average_precision(hamming_distance(Q, DB), R, k=k, ties=ties)
