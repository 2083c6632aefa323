"""Code Map page: every database image and caption code in one 2-D picture."""

from ui.frame import page_frame

page_frame(
    "code_map",
    "Code Map",
    "Each dot is one binary code: rings are images, diamonds captions. Codes that are close in "
    "Hamming distance land close together. PCA is drawn at once; UMAP with the Hamming metric keeps "
    "neighbourhoods better and replaces it by itself once computed in the background. Click a dot "
    "to see its items below; for several, pick Lasso or Box Select in the chart's toolbar.",
)

import streamlit as st

from ui.codemap import code_map, umap_poll
from ui.frame import dataset_or_stop
from ui.runs import ensure_run

ds = dataset_or_stop()
key, run = ensure_run(ds.name)
st.caption(f"Current run: **{key.label()}** · database of {len(ds.split.database)} items, two codes each.")
code_map(ds, key, run)
umap_poll(key)  # PCA now; the page redraws with UMAP when its background layout is done
