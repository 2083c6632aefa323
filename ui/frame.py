"""The frame every page shares: wide layout, the title at once, the sidebar's page links.

Imports nothing but streamlit, so a page calls it before loading anything heavier and a cold
start shows the title immediately.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["PAGES", "page_frame"]

PAGES = (
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Dataset.py", "Dataset", ":material/photo_library:"),
    ("pages/2_Train.py", "Train", ":material/model_training:"),
    ("pages/3_Search.py", "Search", ":material/search:"),
    ("pages/4_Code_Map.py", "Code Map", ":material/scatter_plot:"),
    ("pages/5_Failures.py", "Failures", ":material/report:"),
    ("pages/6_Compare.py", "Compare", ":material/compare_arrows:"),
)


def page_frame(title: str, intro: str) -> None:
    """Wide layout, the title at once (before any loading), the intro and the sidebar page links."""
    st.set_page_config(page_title=f"{title} · cmh-explorer", layout="wide")
    st.title(title)
    st.write(intro)
    with st.sidebar:
        for path, label, icon in PAGES:
            st.page_link(path, label=label, icon=icon)
        st.divider()
