"""Code Map pieces: the projected codes as a selectable scatter and the selection gallery (one fragment)."""

from __future__ import annotations

import csv
import io

import numpy as np
import streamlit as st

from cmh_core import plotting
from cmh_core.datasets import CrossModalDataset
from cmh_core.experiment import Run
from cmh_core.playground import place_near
from ui.bucket_tips import bucket_tips, tips_data
from ui.custom_items import custom_items, plain_markdown
from ui.gallery import item_grid
from ui.registry import registry
from ui.results import map_points, parse_item_id, selected_ids, selection_rows
from ui.runs import codes_for, map_codes, map_coords, mark_umap, umap_layout, umap_ready
from ui.state import RunKey, query_choice
from ui.view import sync

__all__ = ["code_map", "umap_poll"]

POLL_S = 1.0  # how often a page waiting for a background UMAP looks at it

MAP_KEY = "code_map_chart"  # the items view
BUCKETS_KEY = "code_map_buckets"  # the distinct-codes view
COLOUR_BY = {"label": "Label", "modality": "Modality", "relevance": "Relevant to the current query"}
SHOW = {"codes": "Distinct codes", "items": "Every item"}
BUCKET_PREFIX = "bucket:"  # point ids of the bucket view: "bucket:image:3" (modality, bucket number)


def _projection_choice(key: RunKey, run: Run) -> tuple[np.ndarray, str]:
    """PCA at once; the run's UMAP (Hamming) once its background layout is done (`ui.runs.umap_layout`)."""
    lay = umap_layout(key, run)
    ready = lay.state == "done" and lay.coords is not None
    if ready and not umap_ready(key):  # first sight of this run's UMAP: show it, unless a link asked PCA
        if st.session_state.get("map_projection") != "PCA":
            st.session_state["map_projection"] = "UMAP"
        mark_umap(key)
    how = "PCA"
    if ready:
        if st.session_state.get("map_projection") not in ("PCA", "UMAP"):
            st.session_state["map_projection"] = "UMAP"
        how = st.segmented_control("Projection", ["PCA", "UMAP"], key="map_projection") or "UMAP"
    if how == "UMAP":
        xy, secs = lay.coords, float(lay.seconds or 0.0)
    else:
        xy, secs = map_coords(key, run, "pca")
    n_pos = len(np.unique(np.round(xy, 4), axis=0))
    st.caption(
        f"{how} of {len(xy)} codes ({secs:.2f} s when computed); {n_pos} distinct positions: "
        "items with the same code sit on one dot."
    )
    if lay.active:
        where = registry().layouts.queue_position(key)
        st.caption(
            "UMAP with the Hamming metric (keeps neighbourhoods better) is being computed in the background"
            + (f" (number {where} in the queue)" if where else "")
            + "; the map switches to it by itself when it is ready."
        )
    elif not ready:
        st.caption(f"No UMAP for this run ({lay.error}); PCA is shown.")
    return xy, how


@st.fragment(run_every=POLL_S)
def _poll_umap(key: RunKey) -> None:
    """Looks at the background layout every `POLL_S` s without blocking; redraws the page when it is over."""
    lay = registry().layouts.get(key)
    if lay is None or not lay.active:
        st.rerun()


def umap_poll(key: RunKey) -> None:
    """While this run's UMAP is being computed, poll for it (the page swaps PCA for UMAP when done)."""
    lay = registry().layouts.get(key)
    if lay is not None and lay.active:
        _poll_umap(key)


def _query_labels(ds: CrossModalDataset) -> np.ndarray | None:
    chosen = query_choice()
    if not chosen:
        return None
    try:
        return ds.labels[parse_item_id(chosen)[1]]
    except (ValueError, IndexError):
        return None


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "modality", "index", "caption", "labels"])
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


OWN_PREFIX = "yours:"  # point ids of your own items ("yours:<item id>"), never a dataset index


def _own_items(fig, key: RunKey, run: Run, xy: np.ndarray) -> list[dict]:
    """Draw this run's added items as labelled stars beside their nearest database codes; return them."""
    mine = custom_items(key)
    if not mine:
        return []
    codes = np.stack([it["code"] for it in mine])  # (n_mine, n_bytes)
    pos = place_near(codes, map_codes(key, run), xy)
    ids = [f"{OWN_PREFIX}{it['id']}" for it in mine]
    plotting.add_own_items(fig, pos, ids, [it["name"] for it in mine], [it["modality"] for it in mine])
    st.caption(
        f"Stars: your {len(mine)} item{'s' if len(mine) > 1 else ''} (added on the Search page), each drawn "
        "at the mean position of the database codes nearest it in Hamming distance (on a copy of a "
        "database item when their codes are equal): the map itself is not recomputed."
    )
    return mine


def _buckets(ds: CrossModalDataset, key: RunKey, run: Run, xy: np.ndarray) -> dict:
    """Buckets of identical codes per modality, placed where their codes project (rows of `map_codes`)."""
    from cmh_core.buckets import code_buckets

    db = np.asarray(ds.split.database)
    n = len(db)
    codes = map_codes(key, run)
    out: dict[str, list] = {
        "ids": [],
        "xy": [],
        "count": [],
        "modality": [],
        "majority": [],
        "hover": [],
        "head": [],
        "members": [],
    }
    for m, rows in (("image", slice(0, n)), ("text", slice(n, 2 * n))):
        b = code_buckets(codes[rows], ds.labels[db], ds.label_names)
        for k in range(b.n_buckets):
            members = b.members(k)  # positions in the database
            out["ids"].append(f"{BUCKET_PREFIX}{m}:{k}")
            out["xy"].append(xy[rows][b.first[k]])
            out["count"].append(int(b.count[k]))
            out["modality"].append(m)
            out["majority"].append(b.majority[k])
            out["members"].append([int(db[j]) for j in members])
            caps = [ds.texts[db[j]] for j in members]
            out["hover"].append(
                plotting.bucket_hover(int(b.count[k]), m, b.majority[k], float(b.purity[k]), caps)
            )
            c = int(b.count[k])
            out["head"].append(f"{c} {m} code{'s' if c != 1 else ''} · {b.majority[k]} {b.purity[k]:.0%}")
    out["xy"] = np.asarray(out["xy"], dtype=np.float64).reshape(-1, 2)
    return out


def _query_star(
    ds: CrossModalDataset, key: RunKey, run: Run, xy: np.ndarray
) -> tuple[np.ndarray, str] | None:
    """Where the current query's code sits on the map, and its name (None without a query)."""
    chosen = query_choice()
    if not chosen:
        return None
    try:
        modality, i = parse_item_id(chosen)
        row = int(np.flatnonzero(np.asarray(ds.split.query) == i)[0])
    except (ValueError, IndexError):
        return None
    code = codes_for(key, run)[f"{modality}_query"][row : row + 1]
    pos = place_near(code, map_codes(key, run), xy)[0]
    return pos, f"{modality} {i}: {ds.texts[i][:40]}"


def _bucket_view(ds: CrossModalDataset, key: RunKey, run: Run, xy: np.ndarray) -> tuple[object, dict]:
    """The map of distinct codes and its caption; returns the figure and the buckets."""
    bk = _buckets(ds, key, run, xy)
    star = _query_star(ds, key, run, xy)
    fig = plotting.bucket_map_figure(
        bk["xy"], bk["ids"], bk["count"], bk["modality"], bk["majority"], bk["hover"], hoverinfo="none"
    )
    bucket_tips(tips_data(ds.name, bk["ids"], bk["head"], bk["members"], ds.texts))  # hover: thumbnails
    if star is not None:
        plotting.add_own_items(fig, star[0][None, :], ["query"], [f"query: {star[1]}"], ["image"])
    big = int(np.argmax(bk["count"]))
    n_img = sum(m == "image" for m in bk["modality"])
    st.caption(
        f"{len(bk['ids'])} distinct codes for {2 * len(ds.split.database)} items ({n_img} image codes, "
        f"{len(bk['ids']) - n_img} caption codes); each marker is one code, its area the number of items "
        f"that share it, its colour the label most of them carry. The largest holds {bk['count'][big]} "
        f"{bk['modality'][big]} items (mostly {bk['majority'][big]}). Click a marker to list its items "
        "(Lasso or Box Select in the toolbar for several)"
        + (f"; the star is the current query ({star[1]})." if star else ".")
    )
    return fig, bk


@st.fragment
def code_map(ds: CrossModalDataset, key: RunKey, run: Run) -> None:
    """The map (colour choice, optional image–caption lines, lasso/box selection) and its gallery."""
    qlab = _query_labels(ds)
    options = list(COLOUR_BY) if qlab is not None else ["label", "modality"]
    if st.session_state.get("map_colour") not in options:  # a link's colouring is checked by ui.url
        st.session_state["map_colour"] = "modality"
    c1, c2 = st.columns([3, 1])
    colour_by = (
        c1.segmented_control("Colour by", options, format_func=COLOUR_BY.get, key="map_colour") or "modality"
    )
    lines = c2.toggle("Join each image to its caption", key="map_lines")
    if st.session_state.get("map_show") not in SHOW:
        st.session_state["map_show"] = "codes"
    show = st.segmented_control("Show", list(SHOW), format_func=SHOW.get, key="map_show") or "codes"
    xy, how = _projection_choice(key, run)
    sync("code_map")  # a fragment rerun: the colouring, lines and projection go to the URL here
    if show == "codes":
        fig, bk = _bucket_view(ds, key, run, xy)
    else:
        pts = map_points(ds.texts, ds.labels, ds.label_names, ds.split.database, colour_by, qlab)
        fig = plotting.code_map_figure(
            xy, pts["ids"], pts["colour"], pts["symbol"], pts["hover"], pts["pairs"] if lines else None
        )
    mine = _own_items(fig, key, run, xy)  # your items are stars in either view
    # one chart key per view: a selection survives recolouring (Streamlit keys charts by key alone)
    event = st.plotly_chart(
        fig,
        key=MAP_KEY if show == "items" else BUCKETS_KEY,
        on_select="rerun",
        selection_mode=("lasso", "box", "points"),
    )
    ids = selected_ids(event)
    if show == "codes":
        picked = [i for i in ids if i.startswith(BUCKET_PREFIX)]
        where = {b: j for j, b in enumerate(bk["ids"])}
        ids = [
            f"{bk['modality'][where[b]]}:{i}" for b in picked if b in where for i in bk["members"][where[b]]
        ]
    yours = [i for i in ids if i.startswith(OWN_PREFIX)]
    ids = [i for i in ids if not i.startswith(OWN_PREFIX)]
    if yours:
        names = {f"{OWN_PREFIX}{it['id']}": it["name"] for it in mine}
        picked = ", ".join(f"“{plain_markdown(names[i])}”" for i in yours if i in names)  # user text
        st.markdown(f":violet-badge[yours] selected: {picked}")
    if not ids:
        st.info(
            "Click a dot to see its items here. For several, pick Lasso Select or Box Select in the "
            "chart's toolbar (top right) and draw; pick Zoom again to click single dots."
        )
        return
    rows = selection_rows(ids, ds.texts, ds.labels, ds.label_names)
    n_img = sum(r["modality"] == "image" for r in rows)
    st.subheader(f"Selection: {len(rows)} codes ({n_img} images, {len(rows) - n_img} captions)")
    st.download_button("Download the selection (CSV)", _csv(rows), file_name="selection.csv", mime="text/csv")
    shown = list(dict.fromkeys(r["index"] for r in rows))[:48]
    item_grid(ds, shown, key="sel_grid")
    if len(rows) > 48:
        st.caption(f"Showing 48 of {len(set(r['index'] for r in rows))} items; the CSV has them all.")
