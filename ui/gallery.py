"""Galleries of dataset items: cards with a thumbnail, the caption, labels and marks, sized by their content.

Cards have no fixed height: a long caption wraps and the card grows, so the thumbnail, the
distance and the labels are never clipped (docs/app.md, "Search"). Captions and label names
come from the dataset's files and are shown as plain text (``st.text`` / `plain_markdown`),
never as Markdown or HTML: a caption ``![x](http://host/x.png)`` fetches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from cmh_core.datasets import CrossModalDataset
from ui.custom_items import plain_markdown
from ui.data import square_thumbnail

__all__ = ["item_grid", "result_card", "label_text", "caption_text"]

CAPTION_CHARS = 240  # a card shows this much of a caption (openmoji's tag lists run to ~300 characters)


def label_text(ds: CrossModalDataset, i: int) -> str:
    """Comma-separated label names of item ``i``."""
    return ", ".join(ds.label_names[c] for c in ds.labels[i].nonzero()[0])


def _short(text: str, n: int = CAPTION_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def caption_text(text: str, n: int = CAPTION_CHARS) -> None:
    """A dataset caption as plain text (wrapped by the browser, never Markdown), cut at ``n`` characters."""
    st.text(f"“{_short(str(text), n)}”")


GRID_CARD_WIDTH = 150  # px: fixed-width cards wrap into as many per row as the window holds


def item_grid(ds: CrossModalDataset, idx: Sequence[int], key: str = "grid") -> None:
    """Cards of items (thumbnail, caption, labels) that wrap to the window's width (no squeezed columns).

    ``key`` is kept for the callers that name their grid; the cards need no widget key.
    """
    with st.container(horizontal=True, wrap=True):
        for i in idx:
            with st.container(border=True, width=GRID_CARD_WIDTH):
                st.image(square_thumbnail(ds.name, int(i)), width=112)
                caption_text(ds.texts[i], 80)
                st.caption(plain_markdown(label_text(ds, i)))


def result_card(
    ds: CrossModalDataset, i: int, modality: str, distance: int, relevant: bool | None, shared: list[str]
) -> None:
    """One search result: its thumbnail, its caption, the distance, the relevance mark and its labels.

    An image result shows its picture large and its caption below; a caption result shows the
    caption first and its own item's picture small.
    """
    with st.container(border=True):
        if modality == "image":
            st.image(square_thumbnail(ds.name, int(i)), width=112)
        caption_text(ds.texts[i])
        mark = ""
        if relevant is not None:
            mark = ":green-badge[relevant]" if relevant else ":red-badge[not relevant]"
        st.markdown(f"`d = {distance}` {mark}")
        if modality == "text":
            st.image(square_thumbnail(ds.name, int(i), 48), width=48)
        st.caption(plain_markdown(("shared: " + ", ".join(shared)) if shared else label_text(ds, i)))
