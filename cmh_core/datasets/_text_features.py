"""Text features of the bundled datasets: TF-IDF fitted at build time, recomputed in numpy at run time.

Split out of `cmh_core.datasets.featurize` (which re-exports every public name here); the full
description of both featurisers is that module's docstring.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cmh_core._io import loads_json, quote_user_text

if TYPE_CHECKING:
    from cmh_core.datasets._types import CrossModalDataset

__all__ = [
    "CONTENT_WORDS",
    "expand_typed",
    "expansion_neighbours",
    "featurize_text",
    "fit_tfidf",
    "query_expansion_k",
    "stop_words",
    "text_query_terms",
    "tfidf_transform",
]

_EMPTY_QUERY = "text query is empty; type a few words such as 'a koala'"


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

#: Words of scikit-learn's English stop-word list that are content words in short captions
#: ("One.", "Less than.", "A mine.", "A US 25 cent piece", "A fire."): kept as terms. Without
#: this, captions such as "One." would get an all-zero text feature.
CONTENT_WORDS = frozenset(
    {
        *"one two three four five six eight nine ten eleven twelve fifteen twenty forty fifty sixty".split(),
        *"hundred first third".split(),
        *"less more mine fire bill us mill thick thin top bottom front back side full empty cry".split(),
    }
)


def stop_words() -> list[str]:
    """scikit-learn's ``ENGLISH_STOP_WORDS`` minus ``CONTENT_WORDS``, sorted."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS - CONTENT_WORDS)


def fit_tfidf(
    captions: Sequence[str], *, ngram_range: tuple[int, int] = (1, 2)
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit the TF-IDF vocabulary on captions (build time).

    Parameters
    ----------
    captions : sequence of str, length n
    ngram_range : (int, int), default (1, 2)
        Word n-gram lengths; ``(1, 1)`` for texts that are tag lists, where bigrams would mostly
        join neighbouring tags. Saved in the vocabulary, so `tfidf_transform` uses the same.

    Returns
    -------
    vocab : dict
        JSON-serialisable: ``vocabulary`` (term -> column), ``idf`` (list, length v) and the
        tokeniser settings (``token_pattern``, ``stop_words`` list, ``ngram_range``, ``lowercase``,
        ``norm``, ``smooth_idf``, ``sublinear_tf``).
    X : ndarray of float32, shape (n, v)
        L2-normalised TF-IDF rows.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    stop = stop_words()
    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=_TOKEN_PATTERN,
        stop_words=stop,
        ngram_range=tuple(ngram_range),
        min_df=1,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=False,
        dtype=np.float64,
    )
    X = vec.fit_transform(list(captions)).toarray().astype(np.float32)
    vocab = {
        "vocabulary": {t: int(j) for t, j in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])},
        "idf": [float(v) for v in vec.idf_],
        "token_pattern": _TOKEN_PATTERN,
        "lowercase": True,
        "stop_words": "scikit-learn ENGLISH_STOP_WORDS minus number and content words (stop_words_list)",
        "stop_words_list": stop,
        "ngram_range": [int(ngram_range[0]), int(ngram_range[1])],
        "min_df": 1,
        "norm": "l2",
        "use_idf": True,
        "smooth_idf": True,
        "sublinear_tf": False,
        "fitted_with": "sklearn.feature_extraction.text.TfidfVectorizer",
    }
    return vocab, X


def _unigrams(vocab: dict[str, Any], text: str) -> list[str]:
    """Tokens of ``text`` after lower-casing and stop-word removal (sklearn's word analyzer)."""
    if vocab.get("lowercase", True):
        text = text.lower()
    stop = _stop_set(tuple(vocab["stop_words_list"]))
    return [t for t in re.findall(vocab["token_pattern"], text) if t not in stop]


@functools.lru_cache(maxsize=8)
def _stop_set(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(words)


def _ngrams(tokens: list[str], ngram_range: Sequence[int]) -> list[str]:
    """Word n-grams exactly as sklearn's ``_word_ngrams`` (after stop-word removal)."""
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def tfidf_transform(vocab: dict[str, Any], text: str) -> np.ndarray:
    """TF-IDF row of one text with a saved vocabulary (sklearn's ``transform``, recomputed).

    Parameters
    ----------
    vocab : dict
        As returned by ``fit_tfidf`` / stored in ``vocabulary.json``.
    text : str

    Returns
    -------
    ndarray of float32, shape (v,)
        All zeros when no term is known.
    """
    terms = vocab["vocabulary"]
    idf = np.asarray(vocab["idf"], dtype=np.float64)  # (v,)
    counts = Counter(g for g in _ngrams(_unigrams(vocab, text), vocab["ngram_range"]) if g in terms)
    x = np.zeros(len(idf), dtype=np.float64)  # (v,)
    for term, c in counts.items():
        j = terms[term]
        x[j] = (np.log1p(c) + 1.0 if vocab.get("sublinear_tf") else float(c)) * idf[j]
    if vocab.get("norm", "l2") == "l2":
        norm = np.sqrt(np.dot(x, x))
        if norm > 0:
            x /= norm
    return x.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _read_vocab(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            vocab = loads_json(f.read(), path)  # depth-limited: a nested file is refused, not recursed
        if not isinstance(vocab, dict) or not {"vocabulary", "idf", "token_pattern"} <= set(vocab):
            raise ValueError("not a TF-IDF vocabulary (needs vocabulary, idf, token_pattern)")
        return vocab
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        name = Path(path).parent.name
        raise ValueError(
            f"vocabulary file {path!r} is corrupted ({type(e).__name__}: {e}); rebuild it with "
            f"`python scripts/build_{name}.py` or restore it with `git checkout assets/datasets/{name}`"
        ) from None


def _vocab_for(dataset: CrossModalDataset) -> dict[str, Any]:
    spec = (dataset.metadata or {}).get("text_featurizer") or {}
    file = spec.get("vocabulary_file")
    if dataset.root is None or not file:
        raise ValueError(
            f"dataset {dataset.name!r} has no saved TF-IDF vocabulary; "
            "typed text queries work on bundled datasets such as 'tuxpaint'"
        )
    from cmh_core.datasets.bundled import check_file_name

    path = Path(dataset.root) / check_file_name(file, "text_featurizer.vocabulary_file", Path(dataset.root))
    if not path.is_file():
        raise ValueError(
            f"vocabulary file {str(path)!r} is missing; rebuild it with scripts/build_{dataset.name}.py"
        )
    return _read_vocab(str(path.resolve()))


def text_query_terms(dataset: CrossModalDataset, text: str) -> tuple[list[str], list[str]]:
    """Split a typed query's words into those in the dataset's vocabulary and the unknown ones.

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset with ``metadata["text_featurizer"]["vocabulary_file"]``.
    text : str

    Returns
    -------
    known, unknown : list of str
        Distinct lower-cased words in query order; stop words and one-letter words are in neither.
    """
    if _is_e5(dataset):  # a sentence encoder has no vocabulary: every word counts, in any language
        return list(dict.fromkeys((text or "").lower().split())), []
    vocab = _vocab_for(dataset)
    terms = vocab["vocabulary"]
    words = list(dict.fromkeys(_unigrams(vocab, text or "")))
    return [w for w in words if w in terms], [w for w in words if w not in terms]


def _is_e5(dataset: CrossModalDataset) -> bool:
    return ((dataset.metadata or {}).get("text_featurizer") or {}).get("kind") == "e5"


def query_expansion_k(dataset: CrossModalDataset) -> int:
    """k of the typed-query expansion of an e5 dataset (0: none; always 0 for TF-IDF).

    Chosen per bundle on a validation split carved from train by
    ``scripts/validate_e5_queries.py`` and stored in its ``e5.json`` (docs/multilingual.md).
    """
    if not _is_e5(dataset):
        return 0
    k = dataset.metadata["text_featurizer"].get("query_expansion_k", 0)
    return int(k) if isinstance(k, int) and not isinstance(k, bool) and k >= 0 else 0


def expand_typed(dataset: CrossModalDataset, X: np.ndarray, expand: int | None = None) -> np.ndarray:
    """Typed-query rows (n, 384) of an e5 dataset after its query expansion (`query_expansion_k`).

    The neighbours are the training captions' rows (``split.train``), the rows every run of the
    dataset is fitted on. ``expand`` overrides the dataset's k (0 turns expansion off).
    """
    from cmh_core.datasets.e5 import expand_queries

    k = query_expansion_k(dataset) if expand is None else expand
    if k and not _is_e5(dataset):
        raise ValueError(f"query expansion needs e5 text features; dataset {dataset.name!r} has TF-IDF")
    if not k:
        return np.asarray(X, dtype=np.float32)
    return expand_queries(X, dataset.text_features[np.asarray(dataset.split.train)], k)


def expansion_neighbours(dataset: CrossModalDataset, x: np.ndarray, expand: int | None = None) -> np.ndarray:
    """Dataset rows of the training captions a typed query's raw e5 row ``x`` (384,) is expanded with.

    Nearest first (cosine), as many as the dataset's k (`query_expansion_k`) or ``expand``; empty
    when there is no expansion. The app shows their captions so the expansion is never hidden.
    """
    from cmh_core.datasets.e5 import nearest_rows

    k = query_expansion_k(dataset) if expand is None else int(expand)
    if not k or not _is_e5(dataset):
        return np.zeros(0, dtype=np.int64)
    train = np.asarray(dataset.split.train)
    return train[nearest_rows(np.asarray(x)[None, :], dataset.text_features[train], k)[0]].astype(np.int64)


def featurize_text(dataset: CrossModalDataset, text: str, *, expand: int | None = None) -> np.ndarray:
    """Text query feature in the space of ``dataset.text_features``.

    Unknown words are ignored as long as at least one word is known; list them with
    ``text_query_terms``.

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset with a saved vocabulary.
    text : str
    expand : int, optional
        e5 datasets only: the query expansion's k (`cmh_core.datasets.e5.expand_queries`);
        None applies the dataset's validated k (`query_expansion_k`), 0 gives the raw e5 row.

    Returns
    -------
    ndarray of float32, shape (v,)
        L2-normalised TF-IDF row, or the 384-d e5 row for a dataset loaded with
        ``text_features="e5"`` (any language), expanded by the dataset's k; with ``expand=0``
        a bundled caption gives its stored row.

    Raises
    ------
    ValueError
        If the text is not a str, is empty, has only stop words, or none of its words is in the
        vocabulary.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"text query must be a str, got {type(text).__name__} {text!r:.40}; "
            "type a few words such as 'a koala'"
        )
    if not text.strip():
        raise ValueError(_EMPTY_QUERY)
    if _is_e5(dataset):  # multilingual e5 rows (cmh_core.datasets.e5): any language
        from cmh_core.datasets.e5 import embed

        return expand_typed(dataset, embed([text]), expand)[0]
    if expand:
        raise ValueError(f"query expansion needs e5 text features; dataset {dataset.name!r} has TF-IDF")
    vocab = _vocab_for(dataset)
    known, unknown = text_query_terms(dataset, text)
    if not known and not unknown:
        raise ValueError(
            f"text query {quote_user_text(text)} has only stop words or one-letter words; "
            "type a few words such as 'a koala'"
        )
    if not known:
        listed = ", ".join(repr(w) for w in unknown)
        if len(listed) > 80:  # quote at most ~80 characters of what the user typed
            listed = f"{listed[:80]}… ({len(unknown)} words)"
        raise ValueError(
            f"no word of text query {quote_user_text(text)} is in the {dataset.name!r} vocabulary "
            f"(unknown: {listed}); try words from the captions such as 'koala', 'apple' or 'car'"
        )
    x = tfidf_transform(vocab, text)
    if x.shape[0] != dataset.text_features.shape[1]:
        raise ValueError(
            f"vocabulary has {x.shape[0]} terms but dataset {dataset.name!r} has "
            f"{dataset.text_features.shape[1]}-d text features; "
            f"rebuild it with scripts/build_{dataset.name}.py"
        )
    return x
