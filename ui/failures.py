"""Failures page pieces: the per-query AP table, one query's misses and the per-label chart.

The analysis is `cmh_core.failures` (pure numpy); this module caches it per run and displays it.
The page keeps its own query (`ui.state.FAILURES_QUERY`), not Search's: it opens on the worst
query unless its own URL names one, and "Open this query on Search" carries the query there.
The direction follows the query's modality (an image query ranks captions: I→T).
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from cmh_core import plotting
from cmh_core.datasets import CrossModalDataset
from cmh_core.evaluation import relevance_query_labels
from cmh_core.experiment import Run
from cmh_core.failures import DIRECTIONS, label_ap, query_failures, query_table
from ui.custom_items import plain_markdown
from ui.data import get_dataset, square_thumbnail
from ui.glossary import relevance_words
from ui.results import parse_item_id
from ui.runs import codes_for
from ui.state import FAILURES_QUERY, FAILURES_SEEN, RunKey
from ui.url import run_link

__all__ = [
    "DIRECTION_LABELS",
    "failure_table",
    "relevance_labels",
    "direction_picker",
    "show_table",
    "query_picker",
    "show_query",
    "show_labels",
]

DIRECTION_LABELS = {"i2t": "Image queries → captions (I→T)", "t2i": "Caption queries → images (T→I)"}
SHORT = {"i2t": "I→T", "t2i": "T→I"}
PER_LIST = 10  # items in each of the two lists of one query
DIRECTION_WIDGET = "failures_direction"
QUERY_WIDGET = "failures_query"


def relevance_labels(ds: CrossModalDataset, relevance: str = "any") -> np.ndarray:
    """The dataset's labels as the relevance rule sees them: ``"leaf"`` keeps each query's most specific.

    `cmh_core.failures` counts a database item relevant when it shares a label with the query's
    row; under ``"leaf"`` the query rows keep only their most specific label
    (`cmh_core.evaluation.relevance_query_labels`), the database rows all of theirs.

    Raises
    ------
    ValueError
        If the split's query and database share items (their rows would then differ by role).
    """
    if relevance == "any":
        return ds.labels
    q, db = np.asarray(ds.split.query), np.asarray(ds.split.database)
    if np.intersect1d(q, db).size:
        raise ValueError(
            "relevance 'shares its most specific label' needs a split whose query and database items "
            "differ; this dataset's split shares items between them: use 'shares any label'"
        )
    out = np.array(ds.labels, copy=True)
    out[q] = relevance_query_labels(ds.labels[q], relevance, ds.labels.sum(axis=0))
    return out


@st.cache_data(max_entries=32, show_spinner=False)
def _table(key: RunKey, direction: str, relevance: str, _codes) -> dict[str, Any]:
    ds = get_dataset(key.dataset)
    return query_table(_codes, relevance_labels(ds, relevance), ds.split, direction)


def failure_table(key: RunKey, run: Run, direction: str, relevance: str = "any") -> dict[str, Any]:
    """`cmh_core.failures.query_table` of the run's codes (those Search ranks), cached per run and rule."""
    return _table(key, direction, relevance, codes_for(key, run))


@st.cache_data(max_entries=4096, show_spinner=False)
def thumbnail_url(name: str, i: int, size: int = 48) -> str:
    """Item ``i``'s square thumbnail as a PNG data URL (what `st.column_config.ImageColumn` shows)."""
    buf = io.BytesIO()
    square_thumbnail(name, int(i), size).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _labels(ds: CrossModalDataset, cols) -> str:
    return ", ".join(ds.label_names[int(c)] for c in cols)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _chosen() -> str | None:
    return st.session_state.get(FAILURES_QUERY)


def _set(item: str | None) -> None:
    st.session_state[FAILURES_QUERY] = item


def direction_picker() -> str:
    """Direction control, starting from the page's query modality; switching keeps the item."""
    s = st.session_state
    if s.get(DIRECTION_WIDGET) not in DIRECTION_LABELS:
        try:
            modality, _ = parse_item_id(_chosen() or "image:0")
        except ValueError:
            modality = "image"
        s[DIRECTION_WIDGET] = "t2i" if modality == "text" else "i2t"
    st.segmented_control(
        "Direction",
        list(DIRECTION_LABELS),
        format_func=DIRECTION_LABELS.get,
        key=DIRECTION_WIDGET,
        on_change=_switch_direction,
    )
    return s.get(DIRECTION_WIDGET) or "i2t"


def _switch_direction() -> None:
    """Callback: the same item as a query of the other modality (as Search's modality switch does)."""
    new = st.session_state.get(DIRECTION_WIDGET)
    if new is None:  # the selected option clicked again: keep the direction
        st.session_state[DIRECTION_WIDGET] = "i2t"
        return
    try:
        _, index = parse_item_id(_chosen() or "")
    except ValueError:
        index = -1
    _set(f"{DIRECTIONS[new][0]}:{index}" if index >= 0 else None)


def show_table(ds: CrossModalDataset, table: dict[str, Any]) -> None:
    """Every query, worst AP first; selecting a row makes it the chosen query."""
    key = f"failures_table_{table['direction']}"
    index = [int(i) for i in table["index"]]
    frame = pd.DataFrame(
        {
            "#": np.arange(1, len(index) + 1),
            "query": table["id"],
            "picture": [thumbnail_url(ds.name, i) for i in index],
            "AP": table["ap"],
            "relevant": table["n_relevant"],
            # 0 = no relevant item: shown empty, not as a rank
            "first relevant rank": pd.array(
                [int(r) if r > 0 else None for r in table["first_relevant_rank"]], dtype="Int64"
            ),
            "caption": [_short(ds.texts[i]) for i in index],
            "labels": [_labels(ds, np.flatnonzero(ds.labels[i])) for i in index],
        }
    )
    event = st.dataframe(
        frame,
        key=key,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        height=390,
        column_config={
            "picture": st.column_config.ImageColumn("picture", width="small"),
            "AP": st.column_config.ProgressColumn("AP", format="%.4f", min_value=0.0, max_value=1.0),
            "relevant": st.column_config.NumberColumn("relevant", help="database items sharing a label"),
            "first relevant rank": st.column_config.NumberColumn(
                "first relevant rank", help="1-based rank of the best-ranked relevant item (empty: none)"
            ),
        },
    )
    rows = list(_selection_rows(event))
    seen = st.session_state.setdefault(FAILURES_SEEN, {})
    if rows and rows != seen.get(key) and rows[0] < len(table["id"]):  # a new click, not a leftover
        _set(table["id"][rows[0]])
    seen[key] = rows


def _selection_rows(event: Any) -> list[int]:
    try:
        return [int(r) for r in event["selection"]["rows"]]
    except (KeyError, TypeError):
        return []


def query_picker(ds: CrossModalDataset, table: dict[str, Any]) -> str:
    """Select box of the queries (worst first) showing the page's query (the worst at first)."""
    ids = table["id"]
    chosen = _chosen()
    if chosen not in ids:  # none yet, the other direction's, or another dataset's item: the worst
        chosen = ids[0]
    _set(chosen)
    st.session_state[QUERY_WIDGET] = chosen
    place = {q: t for t, q in enumerate(ids)}
    st.selectbox(
        "Query (worst first)",
        ids,
        key=QUERY_WIDGET,
        format_func=lambda q: (
            f"#{place[q] + 1} · AP {table['ap'][place[q]]:.3f} · {q} · "
            f"{_short(ds.texts[int(table['index'][place[q]])], 50)}"
        ),
        on_change=lambda: _set(st.session_state[QUERY_WIDGET]),
    )
    return chosen


def _list_frame(ds: CrossModalDataset, rows: list[dict[str, Any]], db_modality: str, relevant: bool):
    frame = {
        "rank": [r["rank"] for r in rows],
        "item": [f"{db_modality}:{r['index']}" for r in rows],
        "picture": [thumbnail_url(ds.name, r["index"]) for r in rows],
        "distance": [r["distance"] for r in rows],
        "relevant": [relevant] * len(rows),
        "shared" if relevant else "labels": [
            _labels(ds, r["shared" if relevant else "labels"]) for r in rows
        ],
        "caption": [_short(ds.texts[r["index"]]) for r in rows],
    }
    return pd.DataFrame(frame)


def _show_list(
    ds: CrossModalDataset, title: str, rows: list[dict[str, Any]], db_modality: str, relevant: bool
):
    st.markdown(title)
    st.dataframe(
        _list_frame(ds, rows, db_modality, relevant),
        key="low_rel" if relevant else "high_irr",
        hide_index=True,
        column_config={
            "picture": st.column_config.ImageColumn("picture", width="small"),
            "relevant": st.column_config.CheckboxColumn("relevant", help="shares a label with the query"),
        },
    )


def _query_header(ds: CrossModalDataset, key: RunKey, q_mod: str, query_id: str, f: dict[str, Any]) -> None:
    """The query's picture or caption, labels and the link that opens it on Search."""
    index = f["index"]
    left, right = st.columns([1, 4])
    left.image(square_thumbnail(ds.name, index, 120), width=120)
    what = "the picture" if q_mod == "image" else f"“{plain_markdown(ds.texts[index])}”"  # file text
    labels = _labels(ds, np.flatnonzero(ds.labels[index])) or "none"
    right.markdown(f"**Query {query_id}** ({q_mod}): {what}  \nlabels: {plain_markdown(labels)}")
    page, params = run_link("search", key, query=query_id)  # a new session's URL too
    right.page_link(page, label="Open this query on Search", icon=":material/search:", query_params=params)


def show_query(
    ds: CrossModalDataset, key: RunKey, run: Run, direction: str, query_id: str, relevance: str = "any"
) -> dict[str, Any]:
    """The chosen query: its numbers, the link to Search, and its two lists of misses."""
    q_mod, db_mod = DIRECTIONS[direction]
    _, index = parse_item_id(query_id)
    labels = relevance_labels(ds, relevance)
    f = query_failures(codes_for(key, run), labels, ds.split, direction, index, k=PER_LIST)
    _query_header(ds, key, q_mod, query_id, f)
    c = st.columns(3)
    c[0].metric("AP of this query", f"{f['ap']:.4f}")
    c[1].metric(f"Relevant {db_mod}s in the database", f"{f['n_relevant']} of {f['n_database']}")
    c[2].metric("First relevant rank", f["first_relevant_rank"] or "none")
    if f["n_relevant"] == 0:
        st.info(
            f"This query {'shares no label with any' if relevance == 'any' else 'has no relevant item'} of "
            f"the {f['n_database']} database {db_mod}s (relevant = {relevance_words(relevance)}): its AP "
            "is 0 by convention and no relevant item can be missed. Below: the unrelated items it ranks "
            "first."
        )
    else:
        last = f["lowest_relevant"][0]
        st.markdown(
            f"Lowest-ranked relevant item: **{db_mod}:{last['index']}** "
            f"“{plain_markdown(_short(ds.texts[last['index']]))}” "
            f"at rank **{last['rank']}** of {f['n_database']} (d = {last['distance']}; shared: "
            f"{plain_markdown(_labels(ds, last['shared']))})."
        )
    cols = st.columns(2)
    with cols[0]:
        if f["lowest_relevant"]:
            _show_list(
                ds, "**Relevant items ranked lowest** (last first)", f["lowest_relevant"], db_mod, True
            )
    with cols[1]:
        if f["highest_irrelevant"]:
            _show_list(ds, "**Unrelated items ranked highest**", f["highest_irrelevant"], db_mod, False)
        else:
            st.caption(f"Every database {db_mod} is relevant to this query: nothing unrelated to rank.")
    return f


def show_labels(
    ds: CrossModalDataset, table: dict[str, Any], direction: str, relevance: str = "any"
) -> dict[str, Any]:
    """Mean AP per label (worst on top) with each label's chance level and the overall mean.

    Under ``"leaf"`` a query counts for its most specific label only.
    """
    per = label_ap(table, relevance_labels(ds, relevance))
    names = [ds.label_names[int(c)] for c in per["label"]]
    if names:
        st.markdown(
            f"Worst label: **{names[0]}**, mean AP {per['mean_ap'][0]:.3f} over {per['n_queries'][0]} "
            f"quer{'y' if per['n_queries'][0] == 1 else 'ies'} (chance {per['chance'][0]:.3f}); "
            f"all queries {per['overall']:.3f}."
        )
    fig = plotting.label_ap_figure(
        names, per["mean_ap"], per["n_queries"], per["chance"], per["overall"], SHORT[direction]
    )
    st.plotly_chart(fig, key=f"label_ap_{direction}")
    if len(per["empty"]):
        st.caption(
            f"{len(per['empty'])} label(s) carried by no query are not drawn: "
            f"{_labels(ds, per['empty'][:12])}{' …' if len(per['empty']) > 12 else ''}."
        )
    st.caption("A label's bar is the mean AP of the queries carrying it; few queries make it noisy.")
    return per
