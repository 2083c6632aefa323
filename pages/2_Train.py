"""Train page: pick a method and a code length, train with live progress, see how good the codes are."""

from ui.frame import page_frame

page_frame(
    "Train",
    "Pick a method and a code length, then press Train. The method learns binary codes for the "
    "training images and captions; the scores below say how well an image finds related captions "
    "(I→T) and a caption related images (T→I), against random codes of the same length.",
)

import logging

import streamlit as st  # title first: the page shows at once on a cold start

from cmh_core.methods import METHODS
from ui.data import dataset_picker, get_dataset
from ui.exports import run_downloads
from ui.run_view import live_progress, runs_table, show_run
from ui.runs import train
from ui.state import RunKey, current_run, pop_notice
from ui.widgets import method_card, method_picker, training_form

dataset = dataset_picker()
name = method_picker()
method_card(name)
choice = training_form(name)

if choice is not None:
    key = RunKey.make(dataset, name, choice["n_bits"], choice["seed"], choice["params"], choice["unpaired"])
    total = choice["params"].get("n_iter", choice["params"].get("n_epochs"))  # deep methods: epochs
    progress = live_progress(total)
    try:
        train(key, progress)
    except ValueError as e:
        st.error(f"{METHODS[name].name} could not be trained: {e}")
    except Exception as e:  # a bug, not bad input: say so without a traceback (the server logs it)
        logging.getLogger(__name__).exception("training %s failed", key.label())
        st.error(f"{METHODS[name].name} failed on these settings ({type(e).__name__}: {e}); try the defaults")
    progress.holder.empty()  # the run's own curves follow

notice = pop_notice()
if notice:
    st.warning(notice)

found = current_run(dataset)
if found is None:
    st.info(
        "No run yet in this session: choose a method above and press **Train** (DCH takes a few seconds)."
    )
    st.stop()
show_run(*found)
run_downloads(*found, get_dataset(dataset))
runs_table(dataset)
