"""Dataset page: a thumbnail grid with captions and labels, filtered by label and caption text."""

from ui.frame import page_frame

page_frame(
    "dataset",
    "Dataset",
    "Every item is a picture paired with a caption; labels say which items count as related "
    "(a query and a result are relevant when they share a label).",
)

import streamlit as st

from ui.data import dataset_sample, dataset_sizes, label_chart
from ui.frame import dataset_or_stop
from ui.gallery import item_grid

PER_PAGE = 24

ds = dataset_or_stop()

dataset_sizes(ds, train=True)

left, right = st.columns([1, 2])
counts = ds.labels.sum(axis=0)
by_freq = sorted(ds.label_names, key=lambda n: -int(counts[ds.label_names.index(n)]))
label = left.selectbox(
    "Show items with label",
    ["(all)", *by_freq],
    format_func=lambda n: n if n == "(all)" else f"{n} ({int(counts[ds.label_names.index(n)])})",
    key="ds_label",
)
search = right.text_input("Search captions", placeholder="e.g. apple", key="ds_search")
idx = dataset_sample(ds.name, None if label == "(all)" else label, search)
if not idx:
    st.warning(f"No item matches label {label!r} and caption search {search!r}; clear the search box.")
else:
    pages = (len(idx) + PER_PAGE - 1) // PER_PAGE
    st.caption(f"{len(idx)} items, a seeded mix across labels, {PER_PAGE} per page.")
    page = st.pagination(pages, key=f"ds_page_{label}_{search}") if pages > 1 else 1
    item_grid(ds, idx[(page - 1) * PER_PAGE : page * PER_PAGE])
st.plotly_chart(label_chart(ds, None if label == "(all)" else label), key="label_chart")
