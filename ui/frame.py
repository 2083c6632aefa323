"""The frame every page shares: title at once, the URL applied, notices, sidebar links, the guard.

`page_frame` draws the title before importing anything heavy (a cold start shows it at once),
then applies what the URL changed (`ui.view.begin`), shows the notices (a replaced link value, a
run that left the list), the question a linked long training needs, the session's trainings, and
the sidebar links, each carrying the current view (`ui.view.view_params`).
"""

from __future__ import annotations

import functools

import streamlit as st

from ui.style import apply_style

__all__ = ["PAGES", "page_frame", "dataset_or_stop"]

PAGES = (  # (script, label, icon, page id of ui.url.PAGES); tests/test_state_pages.py checks pages/*.py
    ("app.py", "Home", ":material/home:", "home"),
    ("pages/1_Dataset.py", "Dataset", ":material/photo_library:", "dataset"),
    ("pages/2_Train.py", "Train", ":material/model_training:", "train"),
    ("pages/3_Search.py", "Search", ":material/search:", "search"),
    ("pages/4_Code_Map.py", "Code Map", ":material/scatter_plot:", "code_map"),
    ("pages/5_Failures.py", "Failures", ":material/report:", "failures"),
    ("pages/6_Compare.py", "Compare", ":material/compare_arrows:", "compare"),
)

# Streamlit pushes a history entry for every change of st.query_params. A change of the query
# alone (same page: a widget, a rerun writing its view) replaces the entry instead, so Back goes
# back a page (ui/url.py's rule); a page change (a new path) still pushes. Constant text, no input.
_REPLACE_QUERY_CHANGES = """<script>
(function () {
  if (window.__cmhReplaceQuery) return;
  window.__cmhReplaceQuery = true;
  const push = window.history.pushState.bind(window.history);
  window.history.pushState = function (state, title, url) {
    try {
      if (new URL(url, window.location.href).pathname === window.location.pathname) {
        return window.history.replaceState(state, title, url);
      }
    } catch (e) {}
    return push(state, title, url);
  };
})();
</script>"""


# Streamlit loads its Plotly chunk (4.7 MB of JavaScript in streamlit 1.67) when the first chart
# arrives, after the script has run up to it, and Chromium then spends about a second parsing it.
# Importing the same module as soon as the title is drawn overlaps that with the script's run
# (docs/performance.md, "Warm start"). The URL is the one the frontend's own lazy import resolves
# (next to its index module), so the frontend finds the module already loaded. Constant text.
_PRELOAD_PLOTLY = """<script>
(function () {
  if (window.__cmhPlotlyPreload) return;
  window.__cmhPlotlyPreload = true;
  const main = document.querySelector("script[type='module'][src*='/static/js/index.']");
  if (main) import(main.src.replace(/index\\.[^/]*\\.js$/, "%s")).catch(function () {});
})();
</script>"""


@functools.cache
def _plotly_chunk() -> str | None:
    """File name of the installed Streamlit's Plotly chunk (``PlotlyChart.<hash>.js``), or None."""
    from pathlib import Path

    found = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None  # none or several: preload nothing


def page_frame(page: str, title: str, intro: str) -> None:
    """Title and intro at once, then the URL, notices, the session's trainings and the sidebar links.

    Parameters
    ----------
    page : str
        The page id (a key of `ui.url.PAGES`).
    """
    st.set_page_config(page_title=f"{title} · cmh-explorer", layout="wide")
    apply_style()  # readable at 800 px too
    st.title(title)
    st.write(intro)
    chunk = _plotly_chunk()
    scripts = _REPLACE_QUERY_CHANGES + (_PRELOAD_PLOTLY % chunk if chunk else "")
    st.sidebar.html(scripts, unsafe_allow_javascript=True, width=1)  # the sidebar's first element
    from ui.data import dataset_names, get_dataset
    from ui.glossary import glossary_sidebar
    from ui.state import DATASET, DEFAULT_BITS, pop_notices
    from ui.training import collect, linked_run_question, sidebar_trainings
    from ui.view import begin, sync, view_params
    from ui.warmup import start

    begin(page, dataset_names(), get_dataset)
    # once per server, in the background: BLAS limit, methods, numba kernels, chance level (ui/warmup.py)
    start(st.session_state.get(DATASET) or dataset_names()[0], DEFAULT_BITS)
    collect()  # a training of this session that finished meanwhile becomes current before the links
    with st.sidebar:
        for path, label, icon, pid in PAGES:
            st.page_link(path, label=label, icon=icon, query_params=view_params(pid))
        glossary_sidebar()  # mAP, I→T / T→I, Hamming distance, chance, relevant (ui/glossary.py)
        st.divider()
    for text in pop_notices():
        st.warning(text, icon=":material/link:")
    linked_run_question()
    if page != "train":  # the Train page shows its trainings itself (ui.training.training_panel)
        sidebar_trainings()
    sync(page)


def dataset_or_stop():
    """The sidebar's dataset picker and the loaded dataset; a dataset that fails to load stops the page."""
    from ui.data import dataset_picker, get_dataset

    name = dataset_picker()
    try:
        return get_dataset(name)
    except ValueError as e:
        st.error(str(e))
        st.stop()
