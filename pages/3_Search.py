"""Search page: an image finds captions, a caption finds images, ranked by Hamming distance."""

from ui.frame import page_frame

page_frame(
    "search",
    "Search",
    "Pick a query: the nearest codes of the other modality follow right below, by Hamming distance.",
)

import streamlit as st

from ui.custom_items import custom_items, custom_items_ui, plain_markdown
from ui.frame import dataset_or_stop
from ui.gallery import label_text
from ui.glossary import relevance_control
from ui.runs import codes_for, ensure_run
from ui.search import OTHER, query_set_code, query_set_picker, search_view, typed_query, uploaded_query
from ui.view import sync

ds = dataset_or_stop()
key, run = ensure_run(ds.name)
st.caption(f"Current run: **{key.label()}** · mAP I→T {run.map_i2t:.3f} · T→I {run.map_t2i:.3f}")
codes = codes_for(key, run)
n_bits = int(run.model.code_length)
mine = custom_items(key)  # your own items (added by callbacks before this run) join the database

controls = st.container(horizontal=True, wrap=True, gap="medium")  # side by side, or wrapped when narrow
with controls:
    sources = ["Query set", "Type a text", "Upload an image"]
    source = st.segmented_control("Query source", sources, default="Query set", key="query_source")
if source == "Type a text":
    code = typed_query(ds, run.model)
    if code is not None:
        search_view(ds, code, codes["image_database"], "image", n_bits, None, mine)
elif source == "Upload an image":
    code = uploaded_query(ds, run.model)
    if code is not None:
        search_view(ds, code, codes["text_database"], "text", n_bits, None, mine)
else:
    modality, index = query_set_picker(ds, modality_slot=controls)
    sync("search")  # the chosen query in the URL
    thumb, text, rule = st.columns([2, 5, 3])  # each >= 9rem at 1400 px, so ui/style.py keeps one row
    thumb.image(ds.thumbnail(index), width=72)
    text.markdown(f"**Query ({modality})**: {'the picture' if modality == 'image' else 'the caption'}")
    text.text(f"“{ds.texts[index]}”")  # the dataset's caption: plain text, never Markdown
    text.caption(f"labels: {plain_markdown(label_text(ds, index))}")
    with rule:
        relevance = relevance_control("search_relevance")
    other = OTHER[modality]
    code = query_set_code(ds, codes, modality, index)
    search_view(ds, code, codes[f"{other}_database"], other, n_bits, ds.labels[index], mine, relevance)
custom_items_ui(ds, key, run)  # below the results, closed
