"""Train page: pick a method and a code length, train with live progress, see how good the codes are."""

from ui.frame import page_frame

page_frame(
    "train",
    "Train",
    "Pick a method and a code length, then press Train. The method learns binary codes for the "
    "training images and captions; the scores below say how well an image finds related captions "
    "(I→T) and a caption related images (T→I), against random codes of the same length.",
)

import streamlit as st  # noqa: E402  (title first: the page shows at once on a cold start)

from ui.exports import run_downloads
from ui.frame import dataset_or_stop
from ui.multilingual import text_features_control
from ui.run_view import runs_table, show_run, train_from_form
from ui.runs import current_run
from ui.training import pending, training_panel
from ui.warmup import page_drawn
from ui.widgets import method_card, method_picker, training_form

ds = dataset_or_stop()
text_features_control(ds)  # TF-IDF or e5: switches to <name> or <name>:e5
name = method_picker()
method_card(name)
choice = training_form(name, ds)
if choice is not None:
    train_from_form(ds.name, name, choice)  # in the background; current when done
training_panel()  # this session's trainings: progress, queue, Stop (reattaches after a page change)
page_drawn()  # the server's warm-up may begin (ui/warmup.py)

found = current_run(ds.name)
if found is None:
    st.info(
        "The training above becomes this session's current run when it is done; you may leave the page."
        if pending()
        else "No run yet in this session: choose a method above and press **Train** (DCH takes seconds)."
    )
    st.stop()
show_run(*found)
run_downloads(*found, ds)
runs_table(ds.name)
