"""A page's view in the URL and back: what each page writes, and what a link changes in the session.

`begin` runs first on every page (`ui.frame.page_frame`): it restores a reloaded session's runs
(``sid``), applies the parameters the URL changed (checked by `ui.url.parse`, notices for
replaced values), and opens a linked run from the registry, or asks before a long training.
`sync` writes the page's full view back (`ui.url.write`); pages call it again after a choice that
changes the view (the query, the direction, the colouring).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from ui import url
from ui.state import (
    ASK,
    COMPARE_LINKED,
    COMPARISON,
    DATASET,
    FAILURES_QUERY,
    PAGE,
    QUERY,
    RUNS,
    TOKEN,
    VIEWS,
    RunKey,
    apply,
    current_key,
    notice,
)

__all__ = ["begin", "sync", "view_params", "WIDGETS"]

# page parameters held by widgets: URL name -> (widget key, to widget value, to URL text)
WIDGETS: dict[str, tuple[str, Any, Any]] = {
    "label": ("ds_label", str, str),
    "text": ("ds_search", str, str),
    "colour": ("map_colour", str, str),
    "lines": ("map_lines", lambda v: v == "1", lambda v: "1" if v else "0"),
    "projection": ("map_projection", str.upper, str.lower),
    "direction": ("failures_direction", str, str),
    "cmp_methods": ("compare_methods", list, url.encode_list),
    "cmp_bits": ("compare_bits", list, url.encode_list),
    "cmp_seeds": ("compare_seeds", int, str),
    "cmp_protocol": ("compare_protocol", str, str),
    "cmp_unpaired": ("compare_unpaired", float, lambda v: f"{v:g}"),
}


def _page_values(page: str, s: MutableMapping) -> dict[str, str]:
    """The page's own parameters from the session (widgets and state), as URL text."""
    out: dict[str, str] = {}
    for name in url.PAGE_PARAMS[page]:
        if name == "query":
            value = s.get(QUERY if page == "search" else FAILURES_QUERY)
            if value:
                out[name] = value
        elif name == "cmp_show":
            if s.get(COMPARISON):
                out[name] = "1"
        elif name in WIDGETS and s.get(WIDGETS[name][0]) is not None:
            text = WIDGETS[name][2](s[WIDGETS[name][0]])
            if text != "":  # an empty list or text: left out of the URL
                out[name] = text
    return out


def view_params(page: str, state: MutableMapping | None = None) -> dict[str, str]:
    """The full URL of ``page`` for this session: dataset, current run, page values, token."""
    s = st.session_state if state is None else state
    dataset = s.get(DATASET)
    params: dict[str, str] = {"dataset": dataset} if dataset else {}
    params.update(url.run_params(current_key(dataset, s)))
    here = s.get(PAGE)
    own = _page_values(page, s) if page == here else s.get(VIEWS, {}).get(page, {})
    params.update(own)
    if TOKEN in s:
        params["sid"] = s[TOKEN]
    return params


def sync(page: str | None = None) -> None:
    """Write the page's full view into the URL (replacing the history entry) and remember it."""
    s = st.session_state
    page = page or s.get(PAGE, "home")
    s.setdefault(VIEWS, {})[page] = _page_values(page, s)
    url.write(page, view_params(page, s), s)


def _apply_widgets(values: dict[str, Any], s: MutableMapping) -> None:
    for name, (key, to_widget, _) in WIDGETS.items():
        if name in values:
            s[key] = to_widget(values[name])


def _open_link(key: RunKey, s: MutableMapping) -> None:
    """A linked run: current at once when the registry has it; else trained or asked about."""
    from ui.registry import registry
    from ui.runs import ASK_ABOVE_S, expected_seconds

    if key == current_key(None, s):
        return
    if registry().has(key):
        apply("link", key, s)
        return
    s[ASK] = {"key": key, "auto": expected_seconds(key) <= ASK_ABOVE_S}


def begin(page: str, datasets: list[str], load) -> None:
    """Restore a reloaded session, apply what the URL changed, open a linked run (see the module)."""
    from ui import sessions
    from ui.registry import registry

    s = st.session_state
    s[PAGE] = page
    if s.get(DATASET) not in datasets:
        s[DATASET] = datasets[0]
    incoming = url.changed(page, s)
    if not incoming:
        return
    if any(p in incoming for p in url.RUN_PARAMS):  # the run is read whole: method, bits, seed, ...
        full = url.read()
        incoming.update({p: full[p] for p in url.RUN_PARAMS if p in full})
    checked = url.parse(incoming, page, datasets, load, s.get(DATASET))
    for text in checked.notices:
        notice(text, s)
    v = checked.values
    if TOKEN not in s and "sid" in v:  # a reload (or a copied link): that session's runs again
        restored = sessions.restore(v["sid"], registry().has)
        if restored is not None:
            s[RUNS] = restored
            sessions.token(s)
            sessions.save(s)  # under this session's own token: the next reload finds it too
    sessions.token(s)
    if "dataset" in v:
        s[DATASET] = v["dataset"]
    if "method" in v:
        key = RunKey.make(s[DATASET], v["method"], v["bits"], v["seed"], v["params"], v["unpaired"])
        _open_link(key, s)
    if "query" in v:
        s[QUERY if page == "search" else FAILURES_QUERY] = v["query"]
    if v.get("cmp_show"):
        s[COMPARE_LINKED] = True
    _apply_widgets(v, s)
