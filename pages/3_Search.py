"""Search page: an image finds captions, a caption finds images, ranked by Hamming distance."""

from ui.frame import page_frame

page_frame(
    "search",
    "Search",
    "Choose a query: a picture or a caption from the query set, your own words, or your own picture. "
    "Results come from the other modality, nearest codes first; items at the same Hamming distance "
    "are grouped. A result is relevant when it shares a label with the query. Flip bits of the query "
    "code in the bit playground, or add a picture or caption of your own to the database.",
)

import streamlit as st

from ui.custom_items import custom_items_ui
from ui.frame import dataset_or_stop
from ui.runs import codes_for, ensure_run
from ui.search import OTHER, query_set_code, query_set_picker, search_view, typed_query, uploaded_query
from ui.view import sync

ds = dataset_or_stop()
key, run = ensure_run(ds.name)
st.caption(f"Current run: **{key.label()}** · mAP I→T {run.map_i2t:.3f} · T→I {run.map_t2i:.3f}")
codes = codes_for(key, run)
n_bits = int(run.model.code_length)
mine = custom_items_ui(ds, key, run)  # your own items, coded by this run, join the database

source = st.segmented_control(
    "Query source", ["Query set", "Type a text", "Upload an image"], default="Query set", key="query_source"
)
if source == "Type a text":
    code = typed_query(ds, run.model)
    if code is not None:
        search_view(ds, code, codes["image_database"], "image", n_bits, None, mine)
elif source == "Upload an image":
    code = uploaded_query(ds, run.model)
    if code is not None:
        search_view(ds, code, codes["text_database"], "text", n_bits, None, mine)
else:
    modality, index = query_set_picker(ds)
    sync("search")  # the chosen query in the URL
    left, right = st.columns([1, 4])
    left.image(ds.thumbnail(index), width=120)
    right.markdown(
        f"**Query ({modality})**: {'the picture' if modality == 'image' else '“' + ds.texts[index] + '”'}"
    )
    right.caption(f"labels: {', '.join(ds.label_names[c] for c in ds.labels[index].nonzero()[0])}")
    other = OTHER[modality]
    code = query_set_code(ds, codes, modality, index)
    search_view(ds, code, codes[f"{other}_database"], other, n_bits, ds.labels[index], mine)
