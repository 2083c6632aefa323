"""Cached access to datasets for the pages; keyed by primitive arguments only."""

from __future__ import annotations

import streamlit as st

from cmh_core.datasets import CrossModalDataset, list_datasets, load_dataset

DATASET_KEY = "dataset"


@st.cache_resource(max_entries=4, show_spinner="Loading dataset…")
def get_dataset(name: str) -> CrossModalDataset:
    """Load a dataset once per process; the returned object is shared, never mutate it."""
    return load_dataset(name)


def dataset_names() -> list[str]:
    """Names offered in the dataset picker (bundled sets first)."""
    return [d["name"] for d in list_datasets()]


def dataset_picker() -> str:
    """Sidebar select box for the dataset, mirrored in the URL (``?dataset=...``); returns the name."""
    names = dataset_names()
    current = st.query_params.get(DATASET_KEY, st.session_state.get(DATASET_KEY, names[0]))
    if current not in names:
        current = names[0]
    choice = st.sidebar.selectbox("Dataset", names, index=names.index(current))
    st.session_state[DATASET_KEY] = choice
    st.query_params[DATASET_KEY] = choice
    return choice
