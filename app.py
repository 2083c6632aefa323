"""cmh-explorer home page: what cross-modal hashing is, and the dataset in use."""

import streamlit as st

from ui.data import dataset_picker, get_dataset

st.set_page_config(page_title="cmh-explorer", layout="wide")
st.title("cmh-explorer: cross-modal hashing")
st.write(
    "Cross-modal hashing learns short binary codes for images and for texts, so that an image "
    "query finds related captions (and the other way round) by counting differing bits: the "
    "Hamming distance. Pick a dataset here; the pages on the left show it."
)

name = dataset_picker()
try:
    ds = get_dataset(name)
except ValueError as e:
    st.error(str(e))
    st.stop()

sizes = ds.split.sizes()
cols = st.columns(4)
cols[0].metric("Items", ds.n_items)
cols[1].metric("Labels", len(ds.label_names))
cols[2].metric("Queries", sizes["query"])
cols[3].metric("Database", sizes["database"])
st.caption(f"Image features: {ds.image_features.shape[1]}-d · text features: {ds.text_features.shape[1]}-d")
if ds.root is not None and (ds.root / "README.md").exists():
    with st.expander("Dataset card (source, licence, how it was built)"):
        st.markdown((ds.root / "README.md").read_text(encoding="utf-8"))
st.info("Training, search, the code map and comparisons arrive with the next releases of the app.")
