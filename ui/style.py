"""The app's few CSS rules: pages that stay readable in an 800 px window (docs/app.md, Layout).

Streamlit stacks columns only below a 640 px window. Between that and about 1,100 px, with the
sidebar open, the main area is 450-550 px wide, so six columns are ~70 px each: a "Search" button
broke into a column of letters, a 140 px image ran over the caption beside it, and metric values
were cut to "32 …". These rules let a row of columns wrap instead of squeezing (a column is at
least 9rem wide, 20rem when it holds a chart, or the full row when that is less), keep images
inside their column, and let metric values and labels wrap instead of ending in an ellipsis. At
1400 px nothing changes: six columns of the main area are wider than 9rem there, two wider than
20rem. ``tests/test_layout_browser.py`` checks every
page at both sizes.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["apply_style"]

_CSS = """<style>
[data-testid="stHorizontalBlock"] { flex-wrap: wrap; }
[data-testid="stColumn"] { min-width: min(9rem, 100%); }
[data-testid="stColumn"]:has(.stPlotlyChart) { min-width: min(20rem, 100%); }
[data-testid="stImage"] img { max-width: 100%; height: auto; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] *,
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * {
  white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important;
}
</style>"""


# !important on the metric rules: Streamlit's own (generated class) rules for them come later in
# the page and would win a tie of specificity.


def apply_style() -> None:
    """Add the app's CSS to the page (a style-only `st.html` takes no room on the page)."""
    st.html(_CSS)
