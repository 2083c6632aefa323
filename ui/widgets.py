"""Widgets that return the user's choice (method, code length, hyper-parameters, seed)."""

from __future__ import annotations

import inspect
from typing import Any

import streamlit as st

from cmh_core.methods import METHODS, code_lengths, param_help
from ui.state import ASK, DEFAULT_BITS, DEFAULT_METHOD, current_key
from ui.url import BIT_CHOICES

__all__ = ["method_picker", "method_card", "offered_lengths", "training_form"]

_FIDELITY_COLOUR = {
    "reference-code": "green",
    "reconstructed from abstract": "orange",
    "classic baseline": "blue",
}


def method_picker() -> str:
    """Select box of the registered methods (first shown: the current run's, else DCH); returns the name."""
    names = list(METHODS)
    if st.session_state.get("train_method") not in names:
        ask = st.session_state.get(ASK)  # a link's run waiting for the user's yes, else the current one
        current = ask["key"] if ask else current_key()
        st.session_state["train_method"] = current.method if current else DEFAULT_METHOD
    return st.selectbox("Method", names, key="train_method")


def method_card(name: str) -> None:
    """Paper title, venue, year, fidelity badge and one-line idea of a method."""
    cls = METHODS[name]
    paper = cls.paper or {}
    colour = _FIDELITY_COLOUR.get(cls.fidelity, "gray")
    st.badge(cls.fidelity, color=colour)
    if paper.get("title"):
        link = f"https://doi.org/{paper['doi']}" if paper.get("doi") else paper.get("url")
        title = f"[{paper['title']}]({link})" if link else paper["title"]
        st.markdown(
            f"**{title}** — {paper.get('authors', '')}, *{paper.get('venue', '')}*, {paper.get('year', '')}"
        )
    if paper.get("idea"):
        st.caption(f"Idea: {paper['idea']}.")
    if cls.on_our_data:  # what this project measured, losses included
        st.caption(f"Measured here: {cls.on_our_data}")


def _defaults(cls) -> dict[str, Any]:
    """Constructor defaults except the code length and the seed (asked separately)."""
    sig = inspect.signature(cls.__init__)
    return {
        k: p.default
        for k, p in sig.parameters.items()
        if k not in ("self", "n_bits", "random_state") and p.default is not inspect.Parameter.empty
    }


def _bounds(cls, name: str) -> dict[str, Any]:
    """``min_value``/``max_value`` from the class's closed sklearn ``Interval`` constraint, if any.

    Open ends (``closed="neither"`` at 0) are left to the library's own check, which names the fix.
    """
    out: dict[str, Any] = {}
    for c in getattr(cls, "_parameter_constraints", {}).get(name, []):
        left, right, closed = (getattr(c, a, None) for a in ("left", "right", "closed"))
        if left is not None and closed in ("left", "both"):
            out["min_value"] = left
        if right is not None and closed in ("right", "both"):
            out["max_value"] = right
    return out


def _param_widget(cls, name: str, default: Any, key: str) -> Any:
    """A widget chosen from the default's type: checkbox, integer, float or text.

    Its help is the parameter's line of the method's docstring (`cmh_core.methods.param_help`), so
    a raw name such as ``lam`` comes with its symbol and meaning; a blank box says what blank means.
    """
    helps = param_help(cls)
    h = helps.get(name)
    if isinstance(default, bool):
        return st.checkbox(name, value=default, key=key, help=h)
    if isinstance(default, int):
        b = {k: int(v) for k, v in _bounds(cls, name).items()}
        return int(st.number_input(name, value=default, step=1, key=key, help=h, **b))
    if isinstance(default, float):
        b = {k: float(v) for k, v in _bounds(cls, name).items()}
        step = abs(default) / 10 if default else 0.01
        return float(st.number_input(name, value=default, step=step, format="%g", key=key, help=h, **b))
    blank = "blank = automatic (see ?)" if default is None else None
    text = st.text_input(
        name, value="" if default is None else str(default), key=key, help=h, placeholder=blank
    )
    return None if default is None and not text else text


def offered_lengths(name: str, ds) -> tuple[list[int], dict[int, str]]:
    """Code lengths the method accepts on ``ds`` (`cmh_core.methods.code_lengths`) and the refused ones.

    Returns
    -------
    offered : list of int
        Accepted lengths, increasing (JSPSH on ``tuxpaint`` adds its largest, 31).
    refused : dict
        ``{n_bits: reason}`` of the usual lengths the method refuses on this data.
    """
    nf = {"image": ds.image_features.shape[1], "text": ds.text_features.shape[1]}
    lengths = code_lengths(name, nf, len(ds.split.train))
    return [b for b, why in lengths.items() if why is None], {b: why for b, why in lengths.items() if why}


def _bits_caption(cls, n_bits: int) -> str | None:
    try:
        length = cls(n_bits=n_bits).code_length
    except ValueError:
        return None
    return None if length == n_bits else f"{cls.name} at n_bits={n_bits} gives {length}-bit codes."


def training_form(name: str, ds=None) -> dict[str, Any] | None:
    """The training form (code length, hyper-parameters, seed, unpaired); the values once submitted.

    With ``ds``, only the code lengths the method accepts on that dataset are offered, and the
    refused ones are named with the method's reason.

    Returns
    -------
    dict or None
        ``{"n_bits", "seed", "params", "unpaired"}`` when "Train" was pressed, else None.
    """
    cls = METHODS[name]
    choices, refused = offered_lengths(name, ds) if ds is not None else (list(BIT_CHOICES), {})
    fallback = max([b for b in choices if b <= DEFAULT_BITS] or choices[:1] or [DEFAULT_BITS])
    notes = [n for b in choices if (n := _bits_caption(cls, b))]
    if refused:
        why = next(iter(refused.values())).split("; use")[0]
        notes.append(f"{cls.name} refuses {', '.join(map(str, refused))} bits on {ds.name}: {why}.")
    if notes:
        st.caption(" ".join(notes))
    current = current_key()  # the form starts from the run on show (a link's, say)
    if st.session_state.get("bits") not in choices:  # another method's length, or a link's
        st.session_state["bits"] = current.n_bits if current and current.n_bits in choices else fallback
    with st.form(f"train_form_{name}"):
        n_bits = st.segmented_control("Code length (bits)", choices, key="bits")
        params = {}
        defaults = _defaults(cls)
        if defaults:
            st.caption("Hyper-parameters (the method's defaults):")
            cols = st.columns(min(len(defaults), 4))
            for j, (p, d) in enumerate(defaults.items()):
                with cols[j % len(cols)]:
                    params[p] = _param_widget(cls, p, d, key=f"hp_{name}_{p}")
        seed = int(
            st.number_input("Seed", value=current.seed if current else 0, step=1, min_value=0, key="seed")
        )
        unpaired = 0.0
        if cls.supports_unpaired:
            on = st.toggle("Unpaired training data", key="unpaired_switch")
            frac = st.slider(
                "Fraction of captions shuffled when unpaired", 0.05, 1.0, 0.5, 0.05, key="unpaired_frac"
            )
            unpaired = float(frac) if on else 0.0
        if not st.form_submit_button("Train", type="primary"):
            return None
    n_bits = int(n_bits or fallback)  # a click on the selected length deselects it: keep the fallback
    return {"n_bits": n_bits, "seed": seed, "params": params, "unpaired": unpaired}
