"""Retrieval metrics for binary codes and the cross-modal evaluation protocol.

Every metric takes a distance matrix ``D`` of shape (n_query, n_database), usually the
integer Hamming distances of `cmh_core.hamming.hamming_distance`, and a relevance matrix of
the same shape (`relevance_from_labels`: a query and an item are relevant when their label
vectors share at least one label; `evaluate(..., relevance="leaf")` instead asks for the query's
most specific label, `most_specific_label`). The conventions, stated once for all functions:

* **Ranking.** Each query ranks the whole database by ascending distance. With
  ``ties="stable"`` (default) equal distances are ordered by database index, the order of
  `cmh_core.hamming.search`. With ``ties="expected"`` a metric is the expectation over all
  orders within each group of equal distance, each equally likely (McSherry & Najork, "Computing
  information retrieval performance measures efficiently in the presence of tied scores",
  ECIR 2008), computed exactly from per-distance counts.
* **Queries without a relevant item** score 0 (AP, recall, NDCG) and still count in the mean:
  a method is not rewarded for queries it cannot answer.
* **Distances** may be any real numbers; only their order and their ties matter. Integer
  distances in 0..65535 (Hamming distances) take the fast counting paths directly; other
  values are first replaced by their dense rank within each row.

`evaluate` runs the protocol of ``docs/evaluation.md`` for a fitted model on a
`CrossModalDataset`: I→T (image queries, text database) and T→I, returning plain JSON.

Layout (as `sklearn.metrics`): ``_checks`` (input checks), ``_ranking`` (relevance and the
ranking primitives), ``_average_precision`` (AP, its compiled kernel and fallbacks),
``_metrics`` (P@k, recall, PR curves, radius precision, NDCG), ``_relevance`` (the relevance
rules), ``_protocol`` (the protocol).
"""

from cmh_core.evaluation._average_precision import (
    average_precision,
    mean_average_precision,
    mean_average_precision_codes,
)
from cmh_core.evaluation._crosslingual import cross_lingual_t2i, translated_query_counts
from cmh_core.evaluation._metrics import (
    chance_from_pr_curve,
    ndcg_at_k,
    precision_at_k,
    precision_recall_curve,
    precision_within_radius,
    recall_at_k,
)
from cmh_core.evaluation._protocol import evaluate, per_query_ap, retrieval_codes
from cmh_core.evaluation._ranking import graded_relevance, relevance_from_labels
from cmh_core.evaluation._relevance import RELEVANCE_RULES, most_specific_label, relevance_query_labels

__all__ = [
    "relevance_from_labels",
    "graded_relevance",
    "RELEVANCE_RULES",
    "most_specific_label",
    "relevance_query_labels",
    "mean_average_precision",
    "mean_average_precision_codes",
    "average_precision",
    "precision_at_k",
    "recall_at_k",
    "precision_recall_curve",
    "precision_within_radius",
    "ndcg_at_k",
    "retrieval_codes",
    "evaluate",
    "per_query_ap",
    "chance_from_pr_curve",
    "cross_lingual_t2i",
    "translated_query_counts",
]
