"""Dataset page: a thumbnail grid with captions and labels, filtered by label."""

import streamlit as st

from ui.data import dataset_picker, get_dataset

st.title("Dataset")
st.write("Every item is a picture paired with a caption; labels say which items count as related.")

try:
    ds = get_dataset(dataset_picker())
except ValueError as e:
    st.error(str(e))
    st.stop()

counts = ds.labels.sum(axis=0)
label = st.selectbox("Show items with label", ["(all)", *ds.label_names])
idx = range(ds.n_items) if label == "(all)" else ds.labels[:, ds.label_names.index(label)].nonzero()[0]
idx = list(idx)
st.caption(f"{len(idx)} items; showing the first 24.")
cols = st.columns(6)
for j, i in enumerate(idx[:24]):
    names = [ds.label_names[c] for c in ds.labels[i].nonzero()[0]]
    cols[j % 6].image(ds.thumbnail(i), caption=f"{ds.texts[i]} [{', '.join(names)}]", width="stretch")
st.subheader("Label frequencies")
st.bar_chart({n: int(c) for n, c in zip(ds.label_names, counts, strict=True)}, horizontal=True)
