"""Compare page: methods × code lengths × seeds on one split, one button, mean ± std mAP and curves."""

from ui.frame import page_frame

page_frame(
    "compare",
    "Compare",
    "Train several methods at several code lengths on the same split with one button, then read "
    "which one retrieves best: mean ± std mAP over seeds, mAP against code length with the chance "
    "line, and precision-recall curves side by side. Runs already trained on this server are reused.",
)

import streamlit as st  # noqa: E402  (title first: the page shows at once on a cold start)

from ui.compare import compare_form, last_comparison, linked_comparison, run_grid, show_comparison
from ui.frame import dataset_or_stop
from ui.relevance import leaf_table
from ui.view import sync

ds = dataset_or_stop()
choice = compare_form()
if choice is not None:
    run_grid(ds.name, choice)  # shows its own error and keeps the last good comparison
else:
    linked_comparison(ds.name)  # a link's comparison, shown from the registry without training
sync("compare")

cmp = last_comparison(ds.name)
if cmp is None:
    st.info(
        "No comparison yet in this session: pick methods and code lengths above and press "
        "**Run comparison** (DCH and CCA-ITQ at 16 and 32 bits take a few seconds)."
    )
    st.stop()
show_comparison(ds.name, cmp)
leaf_table(ds.name, cmp, st.session_state.get("compare_relevance") or "any")  # the rule chosen above
