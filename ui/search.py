"""Search page pieces: the three query sources and the ranked, tie-grouped result gallery."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from cmh_core import plotting
from cmh_core.datasets import CrossModalDataset
from cmh_core.datasets.e5 import expansion_phrase
from cmh_core.datasets.featurize import (
    expand_typed,
    expansion_neighbours,
    featurize_image,
    featurize_text,
    query_expansion_k,
    text_query_terms,
)
from cmh_core.evaluation import relevance_query_labels
from cmh_core.playground import flip_bits, rank_with_extra
from ui.custom_items import custom_card, display_thumbnail, item_codes, plain_markdown
from ui.data import square_thumbnail
from ui.gallery import caption_text, label_text, result_card
from ui.playground import bit_playground, current_flips
from ui.results import differing_bits, group_by_distance, parse_item_id, rank_query
from ui.state import query_choice, set_query_choice

__all__ = [
    "query_set_picker",
    "typed_query",
    "uploaded_query",
    "search_view",
    "show_results",
    "query_set_code",
    "filter_queries",
]

PER_PAGE = 12
CARD_WIDTH = 150  # px: cards of a fixed width wrap into as many per row as the window holds
RESULT_WIDTH = 170  # px: a result card (a 112 px thumbnail, its caption and labels)
OTHER = {"image": "text", "text": "image"}


def filter_queries(texts, query: list[int], needle: str) -> list[int]:
    """Query-set items whose caption contains ``needle`` (case-insensitive, spaces trimmed); all if empty."""
    n = (needle or "").strip().lower()
    return [i for i in query if not n or n in str(texts[i]).lower()]


def _picker_grid(ds: CrossModalDataset, shown: list[int], modality: str, index: int, needle: str) -> None:
    """One page of query cards (thumbnail, caption, a Search button) that wrap to the window's width."""
    pages = (len(shown) + PER_PAGE - 1) // PER_PAGE
    start = shown.index(index) // PER_PAGE + 1 if index in shown else 1
    # keyed by the filter: a new filter starts at its first page (or the current query's page)
    page = st.pagination(pages, default=start, key=f"query_page_{needle.strip().lower()}")
    with st.container(horizontal=True, wrap=True):
        for i in shown[(page - 1) * PER_PAGE : page * PER_PAGE]:
            with st.container(border=True, width=CARD_WIDTH):
                st.image(square_thumbnail(ds.name, i, 96), width=96)
                caption_text(ds.texts[i], 60)  # a caption from the dataset's file: plain text
                st.button(  # the callback runs before the rerun, so the highlight follows the click
                    "Search",
                    key=f"pick_{i}",
                    type="primary" if i == index else "secondary",
                    on_click=set_query_choice,
                    args=(f"{modality}:{i}",),
                    width="stretch",
                )


def _no_match(ds: CrossModalDataset, needle: str, n_query: int) -> None:
    """Say that no query caption holds ``needle``, and how many database captions do."""
    in_db = filter_queries(ds.texts, [int(i) for i in ds.split.database], needle)
    found = (
        f" {len(in_db)} database caption{'s contain' if len(in_db) > 1 else ' contains'} it: a database "
        "item is a result, not a query; type the words as a query (Query source: Type a text)."
        if in_db
        else ""
    )
    st.info(
        plain_markdown(f"No caption in the query set contains “{needle.strip()[:80]}”.")
        + found
        + f" Clear the box to see all {n_query} queries."
    )


def query_set_picker(ds: CrossModalDataset, modality_slot=None) -> tuple[str, int]:
    """Query modality, then a closed "Choose a query" panel: a caption filter and a paged grid.

    The modality control goes into ``modality_slot`` (a container; default: here). The panel opens
    when a filter is typed and stays closed otherwise, so the results sit right under the query.
    Returns the chosen ``(modality, dataset index)``.
    """
    q = [int(i) for i in ds.split.query]
    chosen = query_choice()
    try:
        modality, index = parse_item_id(chosen) if chosen else ("image", q[0])
    except ValueError:
        modality, index = "image", q[0]
    if index not in q:
        modality, index = "image", q[0]
    labels = {"image": "Image query → captions", "text": "Caption query → images"}
    with modality_slot if modality_slot is not None else st.container():
        pick = st.segmented_control(
            "Query modality", list(labels), default=modality, format_func=labels.get, key="query_modality"
        )
    if pick and pick != modality:
        modality = pick
        set_query_choice(f"{modality}:{index}")
    needle = str(st.session_state.get("query_filter") or "")  # the box inside the panel, last run's text
    shown = filter_queries(ds.texts, q, needle)
    what = f"{len(shown)} of {len(q)} match" if needle.strip() else f"{len(q)} in the query set"
    # a new label is a new panel: a filter opens it, clearing the filter closes it again
    with st.expander(f"Choose a query ({what})", expanded=bool(needle.strip())):
        st.text_input("Find a query by its caption", placeholder="koala", key="query_filter")
        if needle.strip() and not shown:
            _no_match(ds, needle, len(q))
        if shown:
            _picker_grid(ds, shown, modality, index, needle)
    set_query_choice(f"{modality}:{index}")
    return modality, index


def query_set_code(ds: CrossModalDataset, codes: dict, modality: str, index: int) -> np.ndarray:
    """Packed code of a query-set item (``codes`` from `ui.runs.codes_for`)."""
    pos = int(np.flatnonzero(np.asarray(ds.split.query) == index)[0])
    return codes[f"{modality}_query"][pos]


def _has_e5(ds: CrossModalDataset) -> bool:
    """Whether the bundle also ships multilingual e5 text features (``<name>:e5``)."""
    return ds.root is not None and (ds.root / "e5.npz").is_file()


def typed_query(ds: CrossModalDataset, model) -> np.ndarray | None:
    """Text box → packed text code, naming unknown words; None when empty or refused (st.error shown)."""
    spec = (ds.metadata or {}).get("text_featurizer") or {}
    if spec.get("kind") == "e5":  # multilingual sentence features: any language (docs/multilingual.md)
        label, example = (
            "Type a caption in any language to search images",
            "Schildkröte, une pomme rouge, 赤いバス",
        )
        k = query_expansion_k(ds)
        near = expansion_phrase(k)
        expanded = (
            f" A typed query is expanded with {near} before hashing"
            " (chosen on a validation split; docs/multilingual.md)."
            if k
            else ""
        )
        st.caption(
            f"This run's text features: multilingual e5 ({spec.get('package')} {spec.get('version')})."
            + expanded
        )
    else:
        label, example = "Type a caption to search images", "a red apple"
        other = f" pick the dataset {ds.name}:e5 for queries in any language." if _has_e5(ds) else ""
        st.caption(
            "This run's text features: TF-IDF over the dataset's English captions (unknown words are named)."
            + other
        )
    text = st.text_input(label, placeholder=example, key="typed_text")
    if not text.strip():
        return None
    try:
        known, unknown = text_query_terms(ds, text)
        raw = featurize_text(ds, text, expand=0)
        x = expand_typed(ds, raw[None, :])[0]  # the bundle's validated expansion (0: none)
    except ValueError as e:
        st.error(plain_markdown(e))  # the message quotes the typed text: never render it as Markdown
        return None
    if unknown:
        st.warning(
            plain_markdown(
                f"Not in the vocabulary, ignored: {', '.join(unknown)}. Searching with: {', '.join(known)}."
            )
        )
    near = expansion_neighbours(ds, raw)
    if len(near):
        st.caption(plain_markdown("Expanded toward: " + "; ".join(f"“{ds.texts[i][:80]}”" for i in near)))
    return model.encode(x[None, :], "text")[0]


def uploaded_query(ds: CrossModalDataset, model) -> np.ndarray | None:
    """Image upload → packed image code; None when nothing is uploaded or the file is refused."""
    up = st.file_uploader(
        "Upload a picture to search captions", type=["png", "jpg", "jpeg", "webp"], key="upload"
    )
    if up is None:
        return None
    try:
        with st.spinner("Computing image features (EfficientNet-Lite0)…"):
            x = featurize_image(ds, up.getvalue())
            thumb = display_thumbnail(up.getvalue(), 120)  # decoded, 8-bit RGB, at least 1 px high
    except ValueError as e:
        st.error(plain_markdown(e))
        return None
    st.image(thumb, width=120, caption="your query")
    return model.encode(x[None, :], "image")[0]


def search_view(
    ds: CrossModalDataset,
    code: np.ndarray,
    db_codes: np.ndarray,
    db_modality: str,
    n_bits: int,
    query_labels: np.ndarray | None,
    mine: list[dict] | None = None,
    relevance: str = "any",
) -> dict[str, Any]:
    """The results of the (possibly flipped) code with your items, then the bit playground, closed.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,)
        The query's packed code, before any flip.
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
        The database of the other modality (`ui.runs.codes_for`), rows in ``ds.split.database`` order.
    db_modality : {"image", "text"}
    n_bits : int
    query_labels : ndarray of {0, 1}, shape (c,), or None
        None for typed and uploaded queries (no AP).
    mine : list of dict, optional
        This run's added items (`ui.custom_items.custom_items`); those of ``db_modality`` are ranked.
    relevance : {"any", "leaf"}
        Relevant means sharing any label with the query, or its most specific label (docs/evaluation.md).

    Returns
    -------
    dict
        `ui.results.rank_query` of the shown (flipped) code over the database.
    """
    flips = current_flips(code, n_bits)  # the playground is drawn below the results: read its pills first
    shown = flip_bits(code, flips, n_bits)
    extra = [it for it in mine or [] if it["modality"] == db_modality]
    original = code if flips else None
    with st.container(key="search_results"):
        ranked = show_results(
            ds,
            shown,
            db_codes,
            db_modality,
            n_bits,
            query_labels,
            original=original,
            extra=extra,
            relevance=relevance,
        )
    bit_playground(ds, code, db_codes, db_modality, n_bits)
    return ranked


def _ap_metrics(ranked: dict, query_labels, original_ap: float | None) -> None:
    if query_labels is None:
        st.caption(
            "A typed or uploaded query has no labels, so there is no AP and no relevant mark: "
            "the ranking below is all there is."
        )
        return
    row = st.container(horizontal=True, wrap=True)  # side by side, wrapped in a narrow window
    delta = None if original_ap is None else f"{ranked['ap'] - original_ap:+.4f} vs. the unflipped code"
    row.metric("AP of this query", f"{ranked['ap']:.4f}", delta=delta, width="content")
    row.metric("Relevant in the top 10", int(ranked["relevant"][:10].sum()), width="content")
    row.metric("Relevant in the database", int(ranked["relevant"].sum()), width="content")


def _your_ranks(extra: list[dict], order: np.ndarray, dist: np.ndarray, n_db: int) -> None:
    """One line per added item: its distance and rank among database + your items."""
    if not extra:
        return
    lines = []
    for t in np.flatnonzero(order >= n_db):
        it = extra[int(order[t]) - n_db]
        name = plain_markdown(it["name"][:60])  # user text: shown verbatim, never as Markdown
        lines.append(f"“{name}”: distance {int(dist[t])}, rank {t + 1} of {len(order)}")
    st.markdown(":violet-badge[yours] in this ranking: " + " · ".join(lines))


def show_results(
    ds: CrossModalDataset,
    code: np.ndarray,
    db_codes: np.ndarray,
    db_modality: str,
    n_bits: int,
    query_labels: np.ndarray | None,
    limit: int = 30,
    *,
    original: np.ndarray | None = None,
    extra: list[dict] | None = None,
    relevance: str = "any",
) -> dict[str, Any]:
    """Rank the database (and your items), show AP and the gallery grouped by distance, and the bits.

    ``original`` is the unflipped query code when bits were flipped (the AP shows the change);
    ``extra`` your items of the database's modality, ranked with it (after database items at
    equal distance) but without labels, so the AP is the database's alone. ``relevance`` is the
    rule of `cmh_core.evaluation.relevance_query_labels`; the cards still name every shared label.
    """
    extra = extra or []
    db = np.asarray(ds.split.database)
    yq = query_labels if query_labels is not None else np.zeros(ds.labels.shape[1], dtype=np.uint8)
    yr = relevance_query_labels(yq, relevance, ds.labels.sum(axis=0))  # the labels that make relevance
    ranked = rank_query(code, db_codes, yr, ds.labels[db])
    ranked["shared"] = (ds.labels[db] != 0)[ranked["order"]] & (np.asarray(yq) != 0)[None, :]
    ap0 = None if original is None else rank_query(original, db_codes, yr, ds.labels[db])["ap"]
    _ap_metrics(ranked, query_labels, ap0)
    _, extra_codes = item_codes(extra, db_modality, db_codes.shape[1])
    order, dist = rank_with_extra(code, db_codes, extra_codes)  # rows >= len(db): your items
    rank_of = np.empty(len(db), dtype=np.int64)
    rank_of[ranked["order"]] = np.arange(len(db))  # database row -> its rank in `ranked`
    flipped = " of the flipped query code" if original is not None else ""
    mine = f" and {len(extra)} of yours" if extra else ""
    st.caption(
        f"Top {limit} of {len(db)} {db_modality}s{mine}, grouped by Hamming distance{flipped} "
        "(ties by index, your items after the database's)."
    )
    _your_ranks(extra, order, dist, len(db))
    for d, ranks in group_by_distance(dist, limit):
        st.markdown(f"**Distance {d}** · {len(ranks)} item{'s' if len(ranks) > 1 else ''}")
        with st.container(horizontal=True, wrap=True):  # as many cards per row as the window holds
            for t in ranks:
                row = int(order[t])
                with st.container(width=RESULT_WIDTH):
                    if row >= len(db):
                        custom_card(extra[row - len(db)], d)
                        continue
                    s = rank_of[row]
                    shared = [ds.label_names[k] for k in np.flatnonzero(ranked["shared"][s])]
                    rel = bool(ranked["relevant"][s]) if query_labels is not None else None
                    result_card(ds, int(db[row]), db_modality, d, rel, shared)
    name = "query" if original is None else "flipped query"
    _bit_compare(ds, code, db_codes, ranked, db, n_bits, limit, name)
    return ranked


def _bit_compare(ds, code, db_codes, ranked, db, n_bits: int, limit: int, name: str = "query") -> None:
    st.subheader("Bits: the query beside a result")
    top = list(range(min(limit, len(db))))
    t = st.selectbox(
        "Result",
        top,
        format_func=lambda t: (
            f"#{t + 1}: {ds.texts[int(db[ranked['order'][t]])]} (d = {ranked['distance'][t]})"
        ),
        key=f"bit_result_{np.asarray(code).tobytes().hex()}",  # new query, new options: new widget
    )
    bits, differ = differing_bits(code, db_codes[ranked["order"][t]], n_bits)
    st.plotly_chart(plotting.bit_strip_figure(bits[0], bits[1], (name, f"result #{t + 1}")), key="bit_strip")
    st.caption(
        f"{int(differ.sum())} of {n_bits} bits differ (the Hamming distance); "
        f"result labels: {label_text(ds, int(db[ranked['order'][t]]))}."
    )
