"""cmh-explorer home page: what cross-modal hashing is, shown on real items, and the dataset in use."""

from ui.frame import page_frame

page_frame(
    "home",
    "cmh-explorer: cross-modal hashing",
    "Cross-modal hashing learns short binary codes for images and for texts, so that an image "
    "query finds related captions (and the other way round) by counting differing bits: the "
    "Hamming distance. Below, two real items of the dataset go through a trained method.",
)

import streamlit as st  # noqa: E402

from cmh_core import plotting  # noqa: E402
from ui.data import dataset_card, dataset_sizes  # noqa: E402
from ui.frame import PAGES, dataset_or_stop  # noqa: E402
from ui.multilingual import home_language_example  # noqa: E402
from ui.results import differing_bits  # noqa: E402
from ui.runs import current_run, demo_example, missing_example_reason  # noqa: E402
from ui.view import view_params  # noqa: E402
from ui.warmup import page_drawn  # noqa: E402

ds = dataset_or_stop()
name = ds.name

ex = demo_example(name)  # shipped per dataset (assets/home/): Home never trains
if ex is not None:
    a, b, n_bits = ex["a"], ex["b"], ex["n_bits"]
    cols = st.columns([1, 1, 3])
    cols[0].image(ds.thumbnail(a), width=140, caption="an image")
    cols[1].markdown(f"its caption: **“{ds.texts[a]}”**  \nan unrelated caption: **“{ds.texts[b]}”**")
    with cols[2]:
        for other, text in ((ex["own"], "its own caption"), (ex["other"], "an unrelated caption")):
            bits, differ = differing_bits(ex["image"], other, n_bits)
            st.plotly_chart(plotting.bit_strip_figure(bits[0], bits[1], ("image", text)), key=f"home_{text}")
            st.caption(f"Hamming distance to {text}: **{int(differ.sum())}** of {n_bits} bits.")
    st.caption(
        f"Codes from {ex['method']} at {n_bits} bits trained on the training split; the image is the query "
        "item whose code is nearest its own caption's, so this is a case the method gets right. "
        "Search shows all cases."
    )
    home_language_example(ds, a)  # e5 bundles: the caption in another language finds its picture
else:
    st.info(
        f"No worked example for this dataset ({missing_example_reason(name)}). "
        "Train DCH at 32 bits on the Train page to see one here."
    )

st.subheader("The dataset")
dataset_sizes(ds)
card = dataset_card(ds)
if card:
    with st.expander("Dataset card (source, licence, how it was built)"):
        st.markdown(card)
elif ds.root is not None:
    st.caption("This dataset ships no card.")

st.subheader("This session")
found = current_run(name)
if found:
    key, run = found
    st.write(f"Current run: **{key.label()}**, mAP I→T {run.map_i2t:.3f}, T→I {run.map_t2i:.3f}.")
else:
    st.write("No run yet: train one on the Train page (Search and Code Map train DCH if you go there first).")
for path, label, icon, page in PAGES[1:]:
    st.page_link(path, label=label, icon=icon, query_params=view_params(page))
page_drawn()  # the server's warm-up (ui/warmup.py) may begin now: Home did not wait for it
