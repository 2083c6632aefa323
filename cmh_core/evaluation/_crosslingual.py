"""Cross-lingual retrieval: text-to-image with the query captions in another language.

Tux Paint ships each stamp's caption translated into up to 77 languages (``metadata
["translations"]`` of the bundle). A model trained on English e5 features is asked the same
questions in language L: each query caption is replaced by its translation, embedded by the same
multilingual encoder (`cmh_core.datasets.e5`), hashed by the model's text hash function and
ranked against the database image codes. Only queries that have a translation in L count, and
their number is reported; the English captions of the same queries give the reference figure.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

__all__ = ["cross_lingual_t2i", "translated_query_counts"]


def translated_query_counts(dataset) -> dict[str, int]:
    """``{language: number of query items with a translation}``, most covered first."""
    tr = (dataset.metadata or {}).get("translations") or []
    counts: Counter = Counter()
    for i in np.asarray(dataset.split.query):
        if int(i) < len(tr) and isinstance(tr[int(i)], dict):
            counts.update(k for k, v in tr[int(i)].items() if isinstance(v, str) and v.strip())
    return dict(counts.most_common())


def cross_lingual_t2i(model, dataset, language: str) -> dict[str, Any]:
    """T→I mAP with the query captions in ``language``, beside English on the same queries.

    Parameters
    ----------
    model : fitted CrossModalHasher
        Trained on ``dataset`` with e5 text features (``load_dataset(name, text_features="e5")``).
    dataset : CrossModalDataset
        The e5 variant of a bundle with ``metadata["translations"]``.
    language : str
        A translation key such as ``"de"``, ``"fr"``, ``"ja"`` (see `translated_query_counts`).

    Returns
    -------
    dict
        ``language``, ``n_queries`` (queries with a translation), ``n_total`` (all queries),
        ``mAP`` (translated), ``mAP_en`` (the same queries' English captions) and ``chance``
        (mean fraction of relevant database items of those queries).

    Raises
    ------
    ValueError
        When the dataset's text features are not e5 (a TF-IDF vocabulary cannot read another
        language), or no query has a translation in ``language``.
    """
    from cmh_core.datasets.e5 import embed
    from cmh_core.evaluation._average_precision import mean_average_precision_codes

    spec = (dataset.metadata or {}).get("text_featurizer") or {}
    if spec.get("kind") != "e5":
        raise ValueError(
            f"dataset {dataset.name!r} has {spec.get('kind', 'TF-IDF')} text features, which read English "
            "only; load it with text_features='e5' and train on that"
        )
    tr = (dataset.metadata or {}).get("translations") or []
    q = np.asarray(dataset.split.query)
    keep = [int(i) for i in q if int(i) < len(tr) and str((tr[int(i)] or {}).get(language, "")).strip()]
    if not keep:
        known = ", ".join(list(translated_query_counts(dataset))[:12])
        raise ValueError(f"no query of {dataset.name!r} has a {language!r} translation; try one of: {known}")
    db = np.asarray(dataset.split.database)
    B_db = model.encode(dataset.image_features[db], "image")
    Y_q, Y_db = dataset.labels[keep], dataset.labels[db]
    B_l = model.encode(embed([tr[i][language] for i in keep]), "text")
    B_en = model.encode(dataset.text_features[keep], "text")
    chance = float(((Y_q.astype(np.int64) @ Y_db.T.astype(np.int64)) > 0).mean())
    return {
        "language": language,
        "n_queries": len(keep),
        "n_total": int(len(q)),
        "mAP": mean_average_precision_codes(B_l, B_db, Y_q, Y_db),
        "mAP_en": mean_average_precision_codes(B_en, B_db, Y_q, Y_db),
        "chance": chance,
    }
