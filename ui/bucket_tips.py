"""Hover thumbnails of the Code Map's distinct codes: up to 8 pictures and captions per marker, then "+N".

Plotly's hover labels hold text only, so the map's markers hover with ``hoverinfo="none"`` and
``ui/bucket_tips.js`` (an `st.iframe` script, same origin as the app) shows a
panel from plotly's own ``plotly_hover`` event. The chart stays a `st.plotly_chart`, so clicking,
the lasso and a selection that survives recolouring work as before. Nothing is downloaded: the
thumbnails travel as small JPEG data URIs in the element (each item once).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import streamlit as st

from cmh_core.plotting.codemap import HOVER_MEMBERS

__all__ = ["bucket_tips", "tips_data"]

THUMB_PX = 48
_JS = Path(__file__).with_name("bucket_tips.js")


@st.cache_data(max_entries=8192, show_spinner=False)
def _thumb_uri(dataset: str, i: int) -> str:
    """Item ``i``'s picture as a ``THUMB_PX`` square JPEG data URI (~1 KB)."""
    from ui.data import square_thumbnail

    buf = io.BytesIO()
    square_thumbnail(dataset, int(i), THUMB_PX).save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def tips_data(dataset: str, ids: list[str], heads: list[str], members: list[list[int]], texts) -> dict:
    """What the hover panel shows per marker id: head line, up to `HOVER_MEMBERS` (item, caption), "+N".

    Returns
    -------
    dict
        ``{"buckets": {id: {"head", "items": [[item, caption], ...], "more"}}, "thumbs": {item: uri}}``.
    """
    buckets, thumbs = {}, {}
    for bid, head, mem in zip(ids, heads, members, strict=True):
        shown = [int(i) for i in mem[:HOVER_MEMBERS]]
        for i in shown:
            if str(i) not in thumbs:
                thumbs[str(i)] = _thumb_uri(dataset, i)
        caps = [str(texts[i])[:48] + ("…" if len(str(texts[i])) > 48 else "") for i in shown]
        buckets[bid] = {
            "head": head,
            "items": [[str(i), c] for i, c in zip(shown, caps, strict=True)],
            "more": max(len(mem) - HOVER_MEMBERS, 0),
        }
    return {"buckets": buckets, "thumbs": thumbs}


def bucket_tips(data: dict) -> None:
    """Put the hover panel's data and script on the page (a 1-pixel `st.iframe`: same origin, scripts run)."""
    blob = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c")  # no "</script>" or "<!--" inside
    html = f'<script type="application/json" id="cmh-tips-data">{blob}</script>'
    html += f"<script>{_JS.read_text()}</script>"
    st.iframe(html, height=1)
