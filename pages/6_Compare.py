"""Compare page: methods × code lengths × seeds on one split, one button, mean ± std mAP and curves."""

from ui.frame import page_frame

page_frame(
    "Compare",
    "Train several methods at several code lengths on the same split with one button, then read "
    "which one retrieves best: mean ± std mAP over seeds, mAP against code length with the chance "
    "line, and precision-recall curves side by side. Runs already trained in this session are reused.",
)

import streamlit as st  # title first: the page shows at once on a cold start

from ui.compare import compare_form, last_comparison, run_grid, show_comparison
from ui.data import dataset_picker, get_dataset

dataset = dataset_picker()
try:
    get_dataset(dataset)
except ValueError as e:
    st.error(str(e))
    st.stop()

choice = compare_form()
if choice is not None:
    run_grid(dataset, choice)  # shows its own error and keeps the last good comparison

cmp = last_comparison(dataset)
if cmp is None:
    st.info(
        "No comparison yet in this session: pick methods and code lengths above and press "
        "**Run comparison** (DCH and CCA-ITQ at 16 and 32 bits take a few seconds)."
    )
    st.stop()
show_comparison(dataset, cmp)
