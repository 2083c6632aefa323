"""Cross-lingual retrieval: text-to-image with the query captions in another language.

Tux Paint ships each stamp's caption translated into up to 77 languages (``metadata
["translations"]`` of the bundle). A model trained on English e5 features is asked the same
questions in language L: each query caption is replaced by its translation, embedded by the same
multilingual encoder (`cmh_core.datasets.e5`), hashed by the model's text hash function and
ranked against the database image codes. Only queries that have a translation in L count, and
their number is reported; the English captions of the same queries give the reference figure.
Both are typed queries, so both go through the dataset's query expansion
(`cmh_core.datasets.featurize.expand_typed`; k = 0, none, unless the bundle's validated k says
otherwise, docs/multilingual.md).

Embedding is the slow part (~0.02 s a caption on an idle core), so `translated_query_features`
embeds a language's translations once and `cross_lingual_t2i` takes them back for every model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

__all__ = [
    "check_query_language",
    "cross_lingual_t2i",
    "format_cross_lingual_table",
    "translated_queries",
    "translated_query_table",
    "translated_query_counts",
    "translated_query_features",
]


def translated_query_counts(dataset) -> dict[str, int]:
    """``{language: number of query items with a translation}``, most covered first."""
    tr = (dataset.metadata or {}).get("translations") or []
    counts: Counter = Counter()
    for i in np.asarray(dataset.split.query):
        if int(i) < len(tr) and isinstance(tr[int(i)], dict):
            counts.update(k for k, v in tr[int(i)].items() if isinstance(v, str) and v.strip())
    return dict(counts.most_common())


def check_query_language(dataset, language: str) -> int:
    """Check that ``dataset`` can be queried in ``language``; return its translated-query count.

    Raises
    ------
    ValueError
        When the text features are not e5 (a TF-IDF vocabulary reads English only), or no query
        has a ``language`` translation (the message names every language that has some).
    """
    spec = (dataset.metadata or {}).get("text_featurizer") or {}
    if spec.get("kind") != "e5":
        base = str(dataset.name).split(":")[0]
        raise ValueError(
            f"dataset {dataset.name!r} has {spec.get('kind', 'TF-IDF')} text features, which read English "
            f"only; load it with text_features='e5' ({base}:e5) and train on that"
        )
    counts = translated_query_counts(dataset)
    if counts.get(language, 0) == 0:
        if not counts:
            raise ValueError(f"dataset {dataset.name!r} ships no caption translations (tuxpaint:e5 does)")
        known = ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))
        raise ValueError(
            f"no query of {dataset.name!r} has a {language!r} translation; languages with translated "
            f"queries (count): {known}"
        )
    return counts[language]


def translated_queries(dataset, language: str) -> tuple[np.ndarray, list[str]]:
    """Query items with a ``language`` translation, and those translations.

    Returns
    -------
    items : ndarray of int, shape (n,)
        Dataset rows of the translated queries, in the split's query order.
    texts : list of str, length n
        Their captions in ``language``.
    """
    check_query_language(dataset, language)
    tr = dataset.metadata["translations"]
    keep = [
        int(i)
        for i in np.asarray(dataset.split.query)
        if int(i) < len(tr) and str((tr[int(i)] or {}).get(language, "")).strip()
    ]
    return np.asarray(keep, dtype=np.int64), [str(tr[i][language]) for i in keep]


def translated_query_features(dataset, language: str) -> tuple[np.ndarray, np.ndarray]:
    """``(items, X)``: the translated queries' rows and their e5 features, shape (n, 384).

    Embed once per language and pass ``X`` to `cross_lingual_t2i` for every model.
    """
    from cmh_core.datasets.e5 import embed

    items, texts = translated_queries(dataset, language)
    return items, embed(texts)


def cross_lingual_t2i(
    model, dataset, language: str, query_features: np.ndarray | None = None
) -> dict[str, Any]:
    """T→I mAP with the query captions in ``language``, beside English on the same queries.

    Parameters
    ----------
    model : fitted CrossModalHasher
        Trained on ``dataset`` with e5 text features (``load_dataset(name, text_features="e5")``).
    dataset : CrossModalDataset
        The e5 variant of a bundle with ``metadata["translations"]``.
    language : str
        A translation key such as ``"de"``, ``"fr"``, ``"ja"`` (see `translated_query_counts`).
    query_features : ndarray, shape (n, 384), optional
        The translated queries' e5 rows from `translated_query_features` (embedded here when
        omitted).

    Returns
    -------
    dict
        ``language``, ``n_queries`` (queries with a translation), ``n_total`` (all queries),
        ``mAP`` (translated), ``mAP_en`` (the same queries' English captions) and ``chance``
        (mean fraction of relevant database items of those queries).

    Raises
    ------
    ValueError
        When the dataset's text features are not e5, no query has a translation in ``language``
        (see `check_query_language`), or ``query_features`` has the wrong shape.
    """
    from cmh_core.evaluation._average_precision import mean_average_precision_codes

    if query_features is None:
        keep, X_l = translated_query_features(dataset, language)
    else:
        keep, _ = translated_queries(dataset, language)
        X_l = np.asarray(query_features, dtype=np.float32)
        want = (len(keep), dataset.text_features.shape[1])
        if X_l.shape != want:
            raise ValueError(
                f"query_features has shape {X_l.shape}, expected {want} "
                f"(the {language!r} rows of translated_query_features)"
            )
    db = np.asarray(dataset.split.database)
    B_db = model.encode(dataset.image_features[db], "image")
    Y_q, Y_db = dataset.labels[keep], dataset.labels[db]
    from cmh_core.datasets.featurize import expand_typed

    B_l = model.encode(expand_typed(dataset, X_l), "text")  # typed queries: the dataset's expansion
    B_en = model.encode(expand_typed(dataset, dataset.text_features[keep]), "text")
    chance = float(((Y_q.astype(np.int64) @ Y_db.T.astype(np.int64)) > 0).mean())
    return {
        "language": language,
        "n_queries": len(keep),
        "n_total": int(len(dataset.split.query)),
        "mAP": mean_average_precision_codes(B_l, B_db, Y_q, Y_db),
        "mAP_en": mean_average_precision_codes(B_en, B_db, Y_q, Y_db),
        "chance": chance,
    }


def translated_query_table(
    model, codes: dict[str, np.ndarray], dataset, language: str, query_features: np.ndarray | None = None
) -> dict[str, Any]:
    """`cmh_core.failures.query_table` of T→I with the query captions in ``language``, worst first.

    Only the translated queries are ranked, against the same database image codes as the run's
    English table (``codes``, e.g. `cmh_core.evaluation.retrieval_codes`), so the two compare.

    Parameters
    ----------
    model : fitted CrossModalHasher
        Trained on the e5 features of ``dataset``.
    codes : dict
        The run's packed codes; ``"image_database"`` (n_db, n_bytes) is used.
    dataset : CrossModalDataset
        An e5 dataset with translations.
    language : str
        A translation key (see `translated_query_counts`).
    query_features : ndarray, shape (n, 384), optional
        From `translated_query_features` (embedded here when omitted).

    Returns
    -------
    dict
        The columns of `query_table` (direction ``"t2i"``) over the n translated queries, plus
        ``caption`` (the translated caption of each row), ``ap_en`` (the AP of the same query's
        English caption), ``language``, ``mAP``, ``mAP_en`` and ``n_total`` (all queries).
    """
    from types import SimpleNamespace

    from cmh_core.failures import query_table

    items, texts = translated_queries(dataset, language)
    X = translated_query_features(dataset, language)[1] if query_features is None else query_features
    db = {"image_database": codes["image_database"]}
    sub = SimpleNamespace(query=items, database=np.asarray(dataset.split.database))
    from cmh_core.datasets.featurize import expand_typed

    X = expand_typed(dataset, np.asarray(X, np.float32))
    X_en = expand_typed(dataset, dataset.text_features[items])
    t = query_table({**db, "text_query": model.encode(X, "text")}, dataset.labels, sub, "t2i")
    en = query_table({**db, "text_query": model.encode(X_en, "text")}, dataset.labels, sub, "t2i")
    ap_en = dict(zip(en["index"].tolist(), en["ap"].tolist(), strict=True))
    caption = dict(zip(items.tolist(), texts, strict=True))
    t["caption"] = [caption[int(i)] for i in t["index"]]
    t["ap_en"] = np.array([ap_en[int(i)] for i in t["index"]])
    t.update(language=language, mAP=float(t["ap"].mean()), mAP_en=float(t["ap_en"].mean()))
    t["n_total"] = int(len(dataset.split.query))
    return t


def format_cross_lingual_table(results: dict[tuple[str, int], list[dict[str, Any]]]) -> str:
    """A Markdown table of `cross_lingual_t2i` results of one language, mean ± std over seeds.

    Parameters
    ----------
    results : dict
        ``{(method, bits): [result of each seed]}``, all for the same language and dataset.
    """
    first = next(iter(results.values()))[0]
    lang = first["language"]
    lines = [
        f"| method | bits | seeds | T→I mAP, queries in {lang} | T→I mAP, same queries in English | chance |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for (method, bits), rs in results.items():
        x = np.array([r["mAP"] for r in rs])
        en = np.array([r["mAP_en"] for r in rs])
        lines.append(
            f"| {method} | {bits} | {len(rs)} | {x.mean():.3f} ± {x.std():.3f} | {en.mean():.3f} ± "
            f"{en.std():.3f} | {rs[0]['chance']:.3f} |"
        )
    return "\n".join(lines)
