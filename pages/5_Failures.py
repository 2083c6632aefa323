"""Failures page: which queries the current run gets wrong, why one of them fails, which labels fail."""

from ui.frame import page_frame

page_frame(
    "failures",
    "Failures",
    "Every query of the query set, worst average precision (AP) first: pick one to see the relevant "
    "items it ranked lowest and the unrelated items it ranked highest. The chart shows which labels "
    "fail most, each against the AP a random ranking would get.",
)

import streamlit as st

from ui.failures import (
    direction_picker,
    failure_table,
    query_picker,
    show_labels,
    show_query,
    show_table,
)
from ui.frame import dataset_or_stop
from ui.glossary import relevance_control, relevance_words
from ui.multilingual import language_failures
from ui.runs import ensure_run
from ui.view import sync

ds = dataset_or_stop()
key, run = ensure_run(ds.name)
with st.container(horizontal=True, wrap=True, gap="medium"):  # side by side, wrapped when narrow
    direction = direction_picker()
    relevance = relevance_control("failures_relevance")
language_failures(ds, key, run, direction)  # e5 runs, T→I: the queries in another language
mAP = run.map_i2t if direction == "i2t" else run.map_t2i
st.caption(f"Current run: **{key.label()}** · mAP in this direction {mAP:.3f} (relevant = shares any label)")
try:
    table = failure_table(key, run, direction, relevance)
except ValueError as e:
    st.error(str(e))
    st.stop()
if len(table["id"]) == 0:
    st.info("This dataset's split has no query items, so there is nothing to analyse.")
    st.stop()

st.subheader(f"{len(table['id'])} queries, worst first")
if relevance != "any":
    leaf_map = float(sum(table["ap"]) / len(table["ap"]))
    st.caption(f"Relevant = {relevance_words(relevance)}: mAP in this direction {leaf_map:.3f}.")
st.caption("Select a row (the box on its left) or use the list below to look at one query.")
show_table(ds, table)

st.subheader("One query")
query_id = query_picker(ds, table)
sync("failures")  # the query and direction in the URL
show_query(ds, key, run, direction, query_id, relevance)

st.subheader("Which labels fail most")
show_labels(ds, table, direction, relevance)
