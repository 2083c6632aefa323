"""The Search page's bit playground: flip bits of the query code and see the ranking and the ball change.

The pure work (flipping bits of a packed code, the Hamming ball) is in `cmh_core.playground`;
this module holds the widgets: one pill per bit (a multi-select of the flipped bit numbers, so 128
bits fit in a few rows), a reset, the query's code before and after, and the ball of radius 0, 1, 2.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cmh_core import plotting
from cmh_core.datasets import CrossModalDataset
from cmh_core.playground import flip_bits, hamming_ball
from ui.data import square_thumbnail
from ui.results import differing_bits

__all__ = ["bit_playground", "flips_key", "current_flips"]

RADII = (0, 1, 2)
SHOW_PER_RADIUS = 12  # members shown per ring of the ball; the count says how many there are


def flips_key(code: np.ndarray, n_bits: int) -> str:
    """Widget key of the flipped bits for one query code (a new query starts with nothing flipped)."""
    return f"flips_{n_bits}_{np.asarray(code).tobytes().hex()}"


def current_flips(code: np.ndarray, n_bits: int) -> list[int]:
    """The bits flipped for this query code so far (the playground's pills), before they are drawn.

    The results are drawn above the playground, so they read the flips from the session state
    that the pills' last change left there (a change reruns the page before anything is drawn).
    """
    return sorted(int(j) for j in st.session_state.get(flips_key(code, n_bits)) or [])


def _reset(key: str) -> None:
    st.session_state[key] = []


def _ball_members(ds: CrossModalDataset, db: np.ndarray, rows: np.ndarray, modality: str) -> None:
    if not len(rows):
        st.caption("none")
        return
    shown = [int(db[i]) for i in rows[:SHOW_PER_RADIUS]]
    if modality == "image":
        st.image([square_thumbnail(ds.name, i, 64) for i in shown], width=64)
    else:
        st.text("\n".join(f"“{ds.texts[i]}”" for i in shown))  # dataset captions: plain text, never Markdown
    if len(rows) > SHOW_PER_RADIUS:
        st.caption(f"… and {len(rows) - SHOW_PER_RADIUS} more")


def _ball(ds, code, flipped, db_codes, db_modality: str) -> None:
    """Counts of the closed balls of radius 0, 1, 2 (change against the unflipped code) and their members."""
    db = np.asarray(ds.split.database)
    before = hamming_ball(code, db_codes, max(RADII))
    ball = hamming_ball(flipped, db_codes, max(RADII))
    row = st.container(horizontal=True, wrap=True)  # long labels wrap to a new row, never out of view
    for r in RADII:
        delta = len(ball[r]) - len(before[r])
        row.metric(
            f"Database {db_modality}s within radius {r}",
            len(ball[r]),
            delta=delta if delta else None,
            delta_color="off",  # a bigger ball is neither good nor bad
            help="Items whose code differs from the (flipped) query code in at most this many bits: "
            "what a hash-table lookup of that radius returns.",
            width="content",
        )
    rings = {r: ball[r][len(ball[r - 1]) :] if r else ball[0] for r in RADII}  # exactly at distance r
    tabs = st.tabs([f"At distance {r}: {len(rings[r])}" for r in RADII])
    for tab, r in zip(tabs, RADII, strict=True):
        with tab:
            _ball_members(ds, db, rings[r], db_modality)


def bit_playground(
    ds: CrossModalDataset, code: np.ndarray, db_codes: np.ndarray, db_modality: str, n_bits: int
) -> tuple[np.ndarray, list[int]]:
    """Flip bits of the query code (one pill per bit) with a reset; returns ``(flipped code, flipped bits)``.

    Parameters
    ----------
    code : ndarray of uint8, shape (n_bytes,)
        The query's packed code.
    db_codes : ndarray of uint8, shape (n_db, n_bytes)
        The database (other modality) the ball is counted in.
    """
    key = flips_key(code, n_bits)
    # below the results and closed at first; a constant label keeps it open across a flip's rerun
    with st.expander("Bit playground: flip bits of the query code", expanded=False, key="playground_panel"):
        st.caption(
            "Click bit numbers to invert those bits of the query code. Each flip moves every database "
            "item one step nearer or farther, so the ranking and the AP above change at once, without "
            "retraining. The ball of radius r holds the items at most r bits away."
        )
        flips = st.pills("Flipped bits", list(range(n_bits)), selection_mode="multi", key=key)
        flips = sorted(int(j) for j in flips or [])
        st.button("Reset: flip nothing", key=f"reset_{key}", on_click=_reset, args=(key,), disabled=not flips)
        flipped = flip_bits(code, flips, n_bits)
        bits, _ = differing_bits(code, flipped, n_bits)
        st.plotly_chart(
            plotting.bit_strip_figure(bits[0], bits[1], ("query", "flipped query")), key="playground_strip"
        )
        _ball(ds, code, flipped, db_codes, db_modality)
    return flipped, flips
