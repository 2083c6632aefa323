"""Rank and radius metrics: precision and recall at k, PR curves, radius precision, NDCG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from cmh_core.evaluation._checks import as_ks, check_cutoff, check_inputs, check_ties
from cmh_core.evaluation._ranking import (
    counts,
    expected_dcg,
    expected_hits,
    ideal_dcg,
    row_blocks,
    sorted_take,
)

__all__ = [
    "chance_from_pr_curve",
    "precision_at_k",
    "recall_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "ndcg_at_k",
    "hits_at",
    "radius_counts",
]


def hits_at(L: np.ndarray, R: np.ndarray, V: int, ks: np.ndarray, ties: str) -> np.ndarray:
    """Number of relevant items in the top k, shape (n_query, len(ks)); expected under ties."""
    n_q, n_db = L.shape
    hits = np.zeros((n_q, len(ks)))
    kc = np.minimum(ks, n_db)
    if n_db == 0:
        return hits
    if ties == "stable":
        for s, e, rs in sorted_take(L, R, int(kc.max()), V):
            hits[s:e] = np.cumsum(rs, axis=1, dtype=np.int64)[:, kc - 1]
        return hits
    for s, e in row_blocks(n_q, n_db * 4 + V * 64):
        n, m = counts(L[s:e], R[s:e], V)
        hits[s:e] = expected_hits(n, m, kc)
    return hits


def radius_counts(L: np.ndarray, R: np.ndarray, V: int, max_radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative counts within each radius 0..max_radius: items ``Nr`` and relevant ``Mr``."""
    n_q, n_db = L.shape
    V = max(V, max_radius + 1)
    Nr = np.zeros((n_q, max_radius + 1), dtype=np.int64)
    Mr = np.zeros((n_q, max_radius + 1), dtype=np.int64)
    for s, e in row_blocks(n_q, n_db * 4 + V * 64):
        n, m = counts(L[s:e], R[s:e], V)
        Nr[s:e] = np.cumsum(n, axis=1)[:, : max_radius + 1]
        Mr[s:e] = np.cumsum(m, axis=1)[:, : max_radius + 1]
    return Nr, Mr


def _rank_hits(distances, relevance, ks, ties: str) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
    """Checked inputs of a top-k metric: ``(hits, ks, scalar, R)``.

    ``hits`` (n_query, len(ks)) counts the relevant items in each top k (`hits_at`); ``scalar``
    says that ``ks`` was one int; ``R`` is the checked binary relevance (n_query, n_database).
    """
    check_ties(ties)
    L, R, V = check_inputs(distances, relevance)
    kv, scalar = as_ks(ks)
    return hits_at(L, R, V, kv, ties), kv, scalar, R


def _recall(hits: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Per-query recall ``hits / N_i``, shape of ``hits``; 0 for a query with no relevant item."""
    total = np.count_nonzero(R, axis=1)[:, None]  # N_i
    return np.divide(hits, total, out=np.zeros(hits.shape), where=total > 0)


def precision_at_k(distances, relevance, ks, ties: str = "stable"):
    """Mean precision of the top k, for one or several cut-offs.

    ``P@k = (1/n_query) Σ_i hits_i(k) / k`` with ``hits_i(k)`` the relevant items among the
    first k of query i's ranking (ties as in `mean_average_precision`; ``"expected"`` gives
    ``E[hits]``, which is exact since precision is linear in hits). When ``k > n_database``
    the missing ranks count as non-relevant, so precision keeps dividing by k.

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    ks : int or sequence of int
        Cut-offs ``>= 1`` (e.g. ``range(1, 1001)`` for a top-N precision curve).
    ties : {"stable", "expected"}

    Returns
    -------
    float, or ndarray of float64 with shape (len(ks),) when ``ks`` is a sequence
    """
    hits, kv, scalar, _ = _rank_hits(distances, relevance, ks, ties)
    p = (hits / kv).mean(axis=0)
    return float(p[0]) if scalar else p


def recall_at_k(distances, relevance, ks, ties: str = "stable"):
    """Mean recall of the top k, for one or several cut-offs.

    ``R@k = (1/n_query) Σ_i hits_i(k) / N_i`` with ``N_i`` the relevant items in the whole
    database; a query with ``N_i = 0`` scores 0 and still counts.

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    ks : int or sequence of int
    ties : {"stable", "expected"}

    Returns
    -------
    float, or ndarray of float64 with shape (len(ks),) when ``ks`` is a sequence
    """
    hits, kv, scalar, R = _rank_hits(distances, relevance, ks, ties)
    r = _recall(hits, R).mean(axis=0)
    return float(r[0]) if scalar else r


def precision_recall_curve(
    distances,
    relevance,
    by: Literal["radius", "rank"] = "radius",
    *,
    max_radius: int | None = None,
    ks: Sequence[int] | None = None,
    ties: str = "stable",
) -> dict[str, np.ndarray]:
    """Precision-recall curve of Hamming-ball lookups (by radius) or of top-k lists (by rank).

    ``by="radius"``: for r = 0..max_radius, query i retrieves the ``N_i(r)`` items with
    ``d <= r``, ``M_i(r)`` of them relevant, out of ``N_i`` relevant in all::

        precision(r) = mean over queries with N_i(r) > 0 of M_i(r) / N_i(r)
        recall(r)    = mean over all queries of M_i(r) / N_i          (0 when N_i = 0)

    Queries whose ball is empty are left out of the precision mean (their precision is
    undefined, and counting them as 0 would bend every curve towards 0 at small radii);
    ``"nonempty"`` reports the fraction of queries that do retrieve something. Note the
    difference from `precision_within_radius` (macro), which counts an empty lookup as 0.
    Ties play no role in a ball lookup.

    ``by="rank"``: at each cut-off k, ``precision = precision_at_k`` and
    ``recall = recall_at_k`` (ties as there).

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    by : {"radius", "rank"}
    max_radius : int, optional
        Last radius (by radius); default the largest distance present. Pass the code length
        to get the full 0..n_bits curve.
    ks : sequence of int, optional
        Cut-offs (by rank); default about 50 cut-offs spaced geometrically from 1 to n_database.
    ties : {"stable", "expected"}
        Tie handling of the rank curve.

    Returns
    -------
    dict
        by radius: ``{"radius", "precision", "recall", "nonempty"}``;
        by rank: ``{"k", "precision", "recall"}``; each an ndarray of the same length.
    """
    check_ties(ties)
    L, R, V = check_inputs(distances, relevance, integer=by == "radius")
    n_q, n_db = L.shape
    if by == "rank":
        if ks is None:
            ks = np.unique(np.geomspace(1, max(n_db, 1), num=50).round().astype(np.int64))
        kv, _ = as_ks(ks)
        hits = hits_at(L, R, V, kv, ties)
        return {"k": kv, "precision": (hits / kv).mean(axis=0), "recall": _recall(hits, R).mean(axis=0)}
    if by != "radius":
        raise ValueError(f"by must be 'radius' or 'rank', got {by!r}")
    if max_radius is None:
        max_radius = V - 1
    elif isinstance(max_radius, bool) or not isinstance(max_radius, int | np.integer) or max_radius < 0:
        raise ValueError(f"max_radius must be a non-negative integer, got {max_radius!r}")
    Nr, Mr = radius_counts(L, R, V, int(max_radius))
    total = np.count_nonzero(R, axis=1)[:, None]
    nonempty = Nr > 0
    prec_i = np.divide(Mr, Nr, out=np.zeros(Nr.shape), where=nonempty)
    n_nonempty = nonempty.sum(axis=0)
    precision = np.divide(prec_i.sum(axis=0), n_nonempty, out=np.zeros(len(n_nonempty)), where=n_nonempty > 0)
    recall = np.divide(Mr, total, out=np.zeros(Mr.shape), where=total > 0).mean(axis=0)
    return {
        "radius": np.arange(int(max_radius) + 1),
        "precision": precision,
        "recall": recall,
        "nonempty": n_nonempty / n_q,
    }


def precision_within_radius(
    distances, relevance, radius: int = 2, average: Literal["macro", "micro"] = "macro"
) -> float:
    """Precision of Hamming-ball lookups ``d <= radius`` (hash lookup precision, "P@r=2").

    With ``N_i`` items retrieved by query i and ``M_i`` of them relevant::

        macro = (1/n_query) Σ_i M_i / N_i      (an empty lookup, N_i = 0, counts as 0)
        micro = Σ_i M_i / Σ_i N_i              (0 when nothing at all is retrieved)

    Parameters
    ----------
    distances, relevance : array-like, shape (n_query, n_database)
    radius : int
        Ball radius, ``>= 0`` (inclusive).
    average : {"macro", "micro"}

    Returns
    -------
    float
    """
    L, R, _ = check_inputs(distances, relevance, integer=True)
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    if average not in ("macro", "micro"):
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    inside = L <= radius
    N = np.count_nonzero(inside, axis=1)
    M = np.count_nonzero(inside & R, axis=1)
    if average == "micro":
        return float(M.sum() / N.sum()) if N.sum() else 0.0
    return float(np.divide(M, N, out=np.zeros(len(N)), where=N > 0).mean())


def ndcg_at_k(distances, gains, k: int, return_per_query: bool = False, ties: str = "stable"):
    """Mean normalised discounted cumulative gain of the top k.

    With graded relevance ``g`` (`graded_relevance`: number of shared labels) and the ranking
    of `mean_average_precision`, cut at ``K = min(k, n_database)``::

        DCG_i@k  = Σ_{t=1}^{K} (2^{g_i(t)} - 1) / log2(t + 1)
        NDCG_i@k = DCG_i@k / IDCG_i@k,

    IDCG being the DCG of the ideal ranking (gains sorted in decreasing order). A query with
    no positive gain (IDCG = 0) scores 0 and still counts. ``ties="expected"`` gives the
    expected DCG over uniformly random orders within each group of equal distance: each rank
    of a group holds the group's mean gain (what `sklearn.metrics.ndcg_score` computes with
    ``ignore_ties=False`` from the transformed gains ``2^g - 1``).

    Parameters
    ----------
    distances : array-like, shape (n_query, n_database)
    gains : array-like, shape (n_query, n_database)
        Non-negative graded relevance, any real dtype (bool counts as 0/1).
    k : int
    return_per_query : bool
    ties : {"stable", "expected"}

    Returns
    -------
    float, or (float, ndarray of shape (n_query,)) when ``return_per_query``
    """
    check_ties(ties)
    L, G, V = check_inputs(distances, gains, name="gains", graded=True)  # G: float64
    k = check_cutoff(k)
    n_q, n_db = L.shape
    kk = min(k, n_db)
    nd = np.zeros(n_q)
    if kk > 0:
        T = np.expm1(G * np.log(2.0))  # transformed gains 2^g - 1
        disc = 1.0 / np.log2(np.arange(2, kk + 2))
        for s, e in row_blocks(n_q, n_db * 4 + V * 64):
            if ties == "stable":
                _, _, ts = next(sorted_take(L[s:e], T[s:e], kk, V))
                dcg = ts @ disc
            else:
                n, sg = counts(L[s:e], None, V, weights=T[s:e])
                dcg = expected_dcg(n, sg, kk)
            idcg = ideal_dcg(T[s:e], kk)
            nd[s:e] = np.divide(dcg, idcg, out=np.zeros(e - s), where=idcg > 0)
    mean = float(nd.mean())
    return (mean, nd) if return_per_query else mean


def chance_from_pr_curve(pr_curve: Mapping[str, Sequence[float]]) -> float:
    """Chance precision = mean fraction of relevant items, read off a by-radius PR curve.

    At the largest radius (``n_bits``) every item lies in every query's Hamming ball, so the
    curve's last precision is ``mean_i |relevant_i| / n_database``, the precision of a random
    ranking.

    Parameters
    ----------
    pr_curve : mapping
        ``report[direction]["pr_curve"]`` of `cmh_core.evaluation.evaluate` (radius 0..n_bits).

    Returns
    -------
    float
    """
    precision = pr_curve.get("precision", [])
    if len(precision) == 0:
        raise ValueError("pr_curve has no 'precision' values; pass report['i2t']['pr_curve'] from evaluate()")
    return float(precision[-1])
