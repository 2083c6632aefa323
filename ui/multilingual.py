"""Multilingual pieces of the pages: the text feature set, a language's worst queries, Home's example.

A bundle with multilingual e5 text features is a second dataset, ``<name>:e5``
(docs/multilingual.md): the Train page's text feature control switches between the two, so every
page keys runs, codes and caches by that name as for any dataset. On e5 runs of a bundle with
caption translations (Tux Paint), Failures ranks the T→I queries with their captions in another
language, and Home's example shows its caption in another language finding its picture. The
computing is `cmh_core.evaluation._crosslingual`; this module caches it and displays it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from cmh_core.datasets import CrossModalDataset
from cmh_core.experiment import Run
from ui.custom_items import plain_markdown
from ui.data import PICKER, get_dataset
from ui.state import DATASET, DEFAULT_BITS, DEFAULT_METHOD, HOME_LANGUAGE_ON, RunKey

__all__ = [
    "ENGLISH",
    "FEATURE_LABELS",
    "home_language_example",
    "is_e5",
    "language_failures",
    "text_features_control",
]

FEATURE_LABELS = {
    "tfidf": "TF-IDF (English words)",
    "e5": "multilingual e5 (any language)",
}
FEATURES_WIDGET = "text_features"
LANGUAGE_WIDGET = "failures_language"
HOME_LANGUAGE_WIDGET = "home_language"
HOME_LANGUAGE_BUTTON = "home_language_show"
ENGLISH = "en (the bundle's captions)"
TOP = 5  # pictures shown for Home's translated caption


def is_e5(ds: CrossModalDataset) -> bool:
    """Whether ``ds`` carries multilingual e5 text features."""
    return ((ds.metadata or {}).get("text_featurizer") or {}).get("kind") == "e5"


def _has_e5(ds: CrossModalDataset) -> bool:
    return is_e5(ds) or (ds.root is not None and (ds.root / "e5.npz").is_file())


def _base(name: str) -> str:
    return name.split(":")[0]


def _switch_features() -> None:
    """Callback: the same bundle with the other text features (a dataset of its own name)."""
    s = st.session_state
    base = _base(s[DATASET])
    s[DATASET] = f"{base}:e5" if s.get(FEATURES_WIDGET) == "e5" else base
    s[PICKER] = s[DATASET]


def text_features_control(ds: CrossModalDataset) -> None:
    """Train page: TF-IDF or multilingual e5 text features, for a bundle that ships both.

    Choosing switches the session's dataset to ``<name>`` or ``<name>:e5`` (as the sidebar's
    picker would), so the run trained next uses those features. Nothing is shown otherwise.
    """
    if not _has_e5(ds):
        return
    st.session_state[FEATURES_WIDGET] = "e5" if is_e5(ds) else "tfidf"
    st.radio(
        "Text features",
        list(FEATURE_LABELS),
        format_func=FEATURE_LABELS.get,
        key=FEATURES_WIDGET,
        horizontal=True,
        on_change=_switch_features,
        help="e5 embeds each caption with multilingual-e5-small, so a model trained on it can be "
        "queried in any language (docs/multilingual.md); TF-IDF knows only the captions' English words.",
    )
    note = feature_comparison(ds)
    if note:
        st.caption(note)


def _expanded_note(ds: CrossModalDataset) -> str:
    """A sentence saying both captions are typed queries with the bundle's expansion, or ''."""
    from cmh_core.datasets.e5 import expansion_phrase
    from cmh_core.datasets.featurize import query_expansion_k

    k = query_expansion_k(ds)
    return (
        f" Both captions are hashed as typed queries, each expanded with {expansion_phrase(k)} "
        "(docs/multilingual.md)."
        if k
        else ""
    )


@lru_cache(maxsize=8)
def _e5_record(root: str) -> dict:
    """The bundle's ``e5.json`` (read once per process: the Train page renders on every click)."""
    return json.loads((Path(root) / "e5.json").read_text(encoding="utf-8"))


def feature_comparison(ds: CrossModalDataset) -> str | None:
    """One line: TF-IDF against e5 on the bundle's validation split (``e5.json``), or None."""
    try:
        v = _e5_record(str(ds.root))["text_features_validation"]
        tf, e5 = v["tfidf"], v["e5"]
        line = (
            f"Measured on a validation split carved from train (mean of {int(v['methods'])} methods, "
            f"{int(v['bits'])} bits, {int(v['seeds'])} seeds): TF-IDF mAP I→T {tf['i2t']:.3f} / T→I "
            f"{tf['t2i']:.3f}, e5 {e5['i2t']:.3f} / {e5['t2i']:.3f}."
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if e5["t2i"] + e5["i2t"] > tf["t2i"] + tf["i2t"]:
        line += " e5 scores higher here; TF-IDF stays the default (docs/multilingual.md says why)."
    return line


def _languages(ds: CrossModalDataset) -> dict[str, int]:
    from cmh_core.evaluation._crosslingual import translated_query_counts

    return translated_query_counts(ds) if is_e5(ds) else {}


@st.cache_data(max_entries=16, show_spinner="Embedding the translated captions (multilingual e5)…")
def _features(dataset: str, language: str) -> tuple[np.ndarray, np.ndarray]:
    from cmh_core.evaluation._crosslingual import translated_query_features

    return translated_query_features(get_dataset(dataset), language)


@st.cache_data(max_entries=32, show_spinner=False)
def _language_table(key: RunKey, language: str, _model, _codes) -> dict[str, Any]:
    from cmh_core.evaluation._crosslingual import translated_query_table

    ds = get_dataset(key.dataset)
    return translated_query_table(_model, _codes, ds, language, _features(key.dataset, language)[1])


def language_failures(ds: CrossModalDataset, key: RunKey, run: Run, direction: str) -> dict[str, Any] | None:
    """Failures page, T→I on an e5 run: the queries with their captions in a chosen language.

    A language selector (English first: the page's own table); for another language the
    translated queries, worst AP first, with the AP of the same query in English. Returns the
    table shown, or None.
    """
    langs = _languages(ds)
    if direction != "t2i" or not langs:
        return None
    options = [ENGLISH, *sorted(langs)]
    if st.session_state.get(LANGUAGE_WIDGET) not in options:
        st.session_state[LANGUAGE_WIDGET] = ENGLISH
    lang = st.selectbox(
        "Query captions in",
        options,
        key=LANGUAGE_WIDGET,
        format_func=lambda x: x if x == ENGLISH else f"{x} ({langs[x]} translated queries)",
        help="Tux Paint's caption translations: each query caption replaced by its translation, "
        "embedded by the same e5 encoder and hashed by this run (docs/multilingual.md).",
    )
    if lang == ENGLISH:
        return None
    from ui.failures import thumbnail_url
    from ui.runs import codes_for

    t = _language_table(key, lang, run.model, codes_for(key, run))
    st.subheader(f"{len(t['id'])} queries in {lang}, worst first")
    st.caption(
        f"T→I mAP over the {len(t['id'])} of {t['n_total']} queries with a {lang!r} translation: "
        f"**{t['mAP']:.3f}** with the translated captions, {t['mAP_en']:.3f} with the same queries' "
        "English captions (same database image codes). The tables below are English." + _expanded_note(ds)
    )
    index = [int(i) for i in t["index"]]
    import pandas as pd  # 0.6 s to import: only where a table is drawn, not on Home

    frame = pd.DataFrame(
        {
            "#": np.arange(1, len(index) + 1),
            "query": t["id"],
            "picture": [thumbnail_url(ds.name, i) for i in index],
            f"AP ({lang})": t["ap"],
            "AP (en)": t["ap_en"],
            f"caption ({lang})": t["caption"],
            "caption (en)": [ds.texts[i] for i in index],
        }
    )
    st.dataframe(
        frame,
        key=f"failures_language_table_{lang}",
        hide_index=True,
        height=390,
        column_config={
            "picture": st.column_config.ImageColumn("picture", width="small"),
            f"AP ({lang})": st.column_config.ProgressColumn(format="%.4f", min_value=0.0, max_value=1.0),
            "AP (en)": st.column_config.NumberColumn(format="%.4f"),
        },
    )
    return t


@st.cache_resource(max_entries=2, show_spinner="Learning example codes (DCH, 32 bits)…")
def _demo_model(dataset: str):
    """The Home example's model: DCH at 32 bits, seed 0, on the training split (as `demo_example`)."""
    from cmh_core.methods import get_method

    ds = get_dataset(dataset)
    tr = ds.split.train
    model = get_method(DEFAULT_METHOD, n_bits=DEFAULT_BITS, random_state=0)
    return model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])


@st.cache_data(max_entries=64, show_spinner="Embedding the caption (multilingual e5)…")
def caption_finds_picture(dataset: str, item: int, language: str) -> dict[str, Any]:
    """Rank of query item ``item``'s picture among the query pictures for its translated caption.

    Returns ``text`` (the caption in ``language``), ``rank`` (1 + pictures strictly nearer),
    ``ties`` (other pictures at the same distance), ``distance`` and ``distance_en`` (Hamming
    distance of the picture's code to the translated and the English caption's code),
    ``n`` (query pictures) and ``top`` (``[(dataset index, distance)]`` of the nearest pictures,
    ties by index).
    """
    from cmh_core.datasets.e5 import embed
    from cmh_core.datasets.featurize import expand_typed
    from cmh_core.hamming import hamming_distance

    ds = get_dataset(dataset)
    model = _demo_model(dataset)
    q = np.asarray(ds.split.query)
    text = str(ds.metadata["translations"][item][language])
    imgs = model.encode(ds.image_features[q], "image")  # (n_q, n_bytes)
    caps = model.encode(expand_typed(ds, np.vstack([embed([text]), ds.text_features[[item]]])), "text")
    D = hamming_distance(caps, imgs).astype(np.int64)  # (2, n_q): translated, English
    pos = int(np.flatnonzero(q == item)[0])
    d = D[0]
    order = np.lexsort((q, d))[:TOP]
    return {
        "text": text,
        "rank": int((d < d[pos]).sum()) + 1,
        "ties": int((d == d[pos]).sum()) - 1,
        "distance": int(d[pos]),
        "distance_en": int(D[1, pos]),
        "n": len(q),
        "top": [(int(q[j]), int(d[j])) for j in order],
    }


def home_language_example(ds: CrossModalDataset, item: int) -> dict[str, Any] | None:
    """Home page: item ``item``'s caption in another language finding its picture (e5 runs).

    On a TF-IDF bundle that also ships e5 features, a line says where to find this. Returns the
    `caption_finds_picture` result shown, or None.
    """
    tr = (ds.metadata or {}).get("translations") or []
    langs = sorted(tr[item]) if item < len(tr) and isinstance(tr[item], dict) else []
    if not langs:
        return None
    if not is_e5(ds):
        if _has_e5(ds):
            st.caption(
                f"With multilingual e5 text features (dataset {_base(ds.name)}:e5, or the Train page's "
                "text feature control) this caption also finds its picture in other languages."
            )
        return None
    st.markdown("**The same caption in another language**")
    if not st.session_state.get(HOME_LANGUAGE_ON):
        # Home never waits on a training nobody asked for: this example needs a model that encodes new
        # text (the shipped example holds codes only), so it fits DCH when the user asks, once per server.
        if not st.button(
            "Show it in another language",
            key=HOME_LANGUAGE_BUTTON,
            help="Fits the example's DCH (32 bits) on the e5 features once per server, a few seconds.",
        ):
            return None
        st.session_state[HOME_LANGUAGE_ON] = True
    if st.session_state.get(HOME_LANGUAGE_WIDGET) not in langs:
        st.session_state[HOME_LANGUAGE_WIDGET] = "de" if "de" in langs else langs[0]
    cols = st.columns([1, 3])
    lang = cols[0].selectbox("Caption language", langs, key=HOME_LANGUAGE_WIDGET)
    r = caption_finds_picture(ds.name, int(item), lang)
    with cols[1]:
        text = plain_markdown(r["text"])  # a translation is data: never rendered as Markdown
        st.markdown(f"“{text}” ({lang}) finds its picture at rank **{r['rank']}** of {r['n']}")
        shown = st.columns(TOP)
        for c, (j, d) in zip(shown, r["top"], strict=False):
            c.image(ds.thumbnail(j), width=80, caption=("its picture, " if j == item else "") + f"{d} bits")
    ties = f" ({r['ties']} other pictures at the same distance)" if r["ties"] else ""
    st.caption(
        f"The {lang} caption, embedded by multilingual e5 and hashed by the same DCH codes, is "
        f"{r['distance']} bits from its picture (the English caption: {r['distance_en']}); its picture "
        f"ranks {r['rank']} of the {r['n']} query pictures{ties}. The model never saw {lang} text."
        + _expanded_note(ds)
    )
    return r
