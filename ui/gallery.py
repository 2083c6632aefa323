"""Galleries of dataset items: even-height cards with a thumbnail or a caption, labels and marks."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cmh_core.datasets import CrossModalDataset
from ui.data import square_thumbnail

__all__ = ["item_grid", "result_card", "label_text"]

CARD_HEIGHT = 260  # px: every cell of a grid has the same height


def label_text(ds: CrossModalDataset, i: int) -> str:
    """Comma-separated label names of item ``i``."""
    return ", ".join(ds.label_names[c] for c in ds.labels[i].nonzero()[0])


def _short(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def item_grid(ds: CrossModalDataset, idx: Sequence[int], columns: int = 6, key: str = "grid") -> None:
    """Cards of items (thumbnail, caption, labels) in an even grid."""
    cols = st.columns(columns)
    for j, i in enumerate(idx):
        with cols[j % columns].container(height=CARD_HEIGHT, border=True):
            st.image(square_thumbnail(ds.name, int(i)), width=112)
            st.markdown(f"**{_short(ds.texts[i], 40)}**")
            st.caption(label_text(ds, i))


def result_card(
    ds: CrossModalDataset, i: int, modality: str, distance: int, relevant: bool | None, shared: list[str]
) -> None:
    """One search result: its image (or caption plus its own small thumbnail), distance and marks."""
    with st.container(height=CARD_HEIGHT, border=True):
        if modality == "image":
            st.image(square_thumbnail(ds.name, int(i)), width=112)
        else:  # the caption; its own item's picture follows, small
            st.markdown(f"**“{_short(ds.texts[i], 80)}”**")
        mark = ""
        if relevant is not None:
            mark = ":green-badge[relevant]" if relevant else ":red-badge[not relevant]"
        st.markdown(f"`d = {distance}` {mark}")
        if modality == "text":
            st.image(square_thumbnail(ds.name, int(i), 48), width=48)
        st.caption(("shared: " + ", ".join(shared)) if shared else label_text(ds, i))
