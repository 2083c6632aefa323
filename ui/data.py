"""Cached access to datasets for the pages; keyed by primitive arguments only."""

from __future__ import annotations

import streamlit as st

from cmh_core.datasets import CrossModalDataset, list_datasets, load_dataset
from ui.state import DATASET

PICKER = "dataset_pick"  # the widget; the choice itself is ui.state.DATASET


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def get_dataset(name: str) -> CrossModalDataset:
    """Load a dataset once per process; the returned object is shared, never mutate it."""
    return load_dataset(name)


def dataset_names() -> list[str]:
    """Names offered in the dataset picker (bundled sets first)."""
    return [d["name"] for d in list_datasets()]


def _picked() -> None:
    st.session_state[DATASET] = st.session_state[PICKER]


def dataset_picker() -> str:
    """Sidebar select box for the dataset (the session's, set from a link by `ui.view.begin`)."""
    names = dataset_names()
    if st.session_state.get(DATASET) not in names:
        st.session_state[DATASET] = names[0]
    st.session_state[PICKER] = st.session_state[DATASET]
    st.sidebar.selectbox("Dataset", names, key=PICKER, on_change=_picked)
    return st.session_state[DATASET]


@st.cache_data(max_entries=16, show_spinner=False)
def dataset_sample(name: str, label: str | None, search: str, seed: int = 0) -> list[int]:
    """Items to show on the Dataset page: those matching the filter, in a seeded label-mixed order."""
    from ui.results import filter_items, representative_sample

    ds = get_dataset(name)
    col = None if label is None else ds.label_names.index(label)
    idx = filter_items(ds.texts, ds.labels, col, search)
    return representative_sample(ds.labels, idx, len(idx), seed)


def label_chart(ds: CrossModalDataset, selected: str | None):
    """Horizontal bars of label frequencies, most frequent on top, the selected label highlighted."""
    import plotly.graph_objects as go

    counts = ds.labels.sum(axis=0)
    order = sorted(range(len(counts)), key=lambda c: (int(counts[c]), ds.label_names[c]))
    names = [ds.label_names[c] for c in order]
    colours = ["#d62728" if n == selected else "#4c78a8" for n in names]
    fig = go.Figure(go.Bar(x=[int(counts[c]) for c in order], y=names, orientation="h", marker_color=colours))
    fig.update_layout(
        height=max(300, 16 * len(names)),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        title="Items per label (selected label in red)",
        xaxis_title="items",
    )
    return fig


def dataset_sizes(ds: CrossModalDataset, *, train: bool = False) -> None:
    """The dataset's sizes as a row of metrics, then its feature sizes (Home and the Dataset page).

    Parameters
    ----------
    ds : CrossModalDataset
    train : bool
        Also show the training set's size, and say that it is part of the database.
    """
    sizes = ds.split.sizes()
    shown = {
        "Items": ds.n_items,
        "Labels": len(ds.label_names),
        "Query set": sizes["query"],
        "Database": sizes["database"],
    }
    if train:
        shown["Training set"] = sizes["train"]
    for col, (label, value) in zip(st.columns(len(shown)), shown.items(), strict=True):
        col.metric(label, value)
    note = " The training set is part of the database; queries are held out." if train else ""
    d_img, d_txt = ds.image_features.shape[1], ds.text_features.shape[1]
    st.caption(f"Features: {d_img}-d per image, {d_txt}-d per caption.{note}")


def dataset_card(ds: CrossModalDataset) -> str | None:
    """The dataset's README (source, licence, how it was built), or None when it cannot be read."""
    if ds.root is None:
        return None
    from cmh_core.datasets.bundled import dataset_card as read_card

    try:  # a README.md linking out of the bundle is refused (ValueError), never read
        return read_card(ds.root)
    except (OSError, ValueError):  # no card shipped: the page says so, without the raw error
        return None


@st.cache_data(max_entries=4096, show_spinner=False)
def square_thumbnail(name: str, i: int, size: int = 112):
    """Item ``i``'s picture letterboxed on a white ``size`` x ``size`` square (even gallery cells)."""
    from PIL import Image, ImageOps

    im = get_dataset(name).thumbnail(i).convert("RGB")
    return ImageOps.pad(im, (size, size), color=(255, 255, 255), method=Image.Resampling.BICUBIC)
