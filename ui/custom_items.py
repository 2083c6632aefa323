"""Your own items: an uploaded picture or a typed caption, coded by the current run, in this session only.

An added item goes through the run's hash function exactly as a new item would in a deployed
system (the out-of-sample step): `featurize_image` / `featurize_text` give its feature row in the
dataset's feature space and ``run.model.encode`` its packed code. It then joins the database of
its modality on the Search page (marked "yours") and appears on the Code Map (a star).

The store lives in ``st.session_state`` keyed by the run (`RunKey`, which names the dataset too),
holds only small things per item (a packed code, a feature row, a 96 px thumbnail) and at most
`MAX_ITEMS` items per run; nothing is written to the bundle. The store functions take the state
mapping as an argument (default: the session's) so that they are unit-tested without a page.
"""

from __future__ import annotations

import io
import re
from collections.abc import MutableMapping
from typing import Any

import numpy as np
import streamlit as st

from cmh_core.datasets import CrossModalDataset
from cmh_core.datasets.featurize import featurize_image, featurize_text, load_image, text_query_terms
from ui.state import CUSTOM, CUSTOM_MESSAGES, RunKey

__all__ = [
    "MAX_ITEMS",
    "custom_items",
    "add_item",
    "remove_item",
    "clear_items",
    "item_codes",
    "runs_with_items",
    "recode_items",
    "code_image",
    "code_caption",
    "custom_items_ui",
    "custom_card",
    "display_thumbnail",
    "plain_markdown",
]

MAX_ITEMS = 20  # per run: each item keeps a code, a feature row (<= 8 KB) and a small thumbnail
STORE_KEY = CUSTOM  # {RunKey: [item, ...]} in st.session_state
THUMB = 96  # px, the stored thumbnail of an uploaded picture


# Every ASCII punctuation character a Markdown or Streamlit directive could use (CommonMark lets a
# backslash escape any of them): ``![b](http://host/x.png)`` stays text and fetches nothing.
_MARKDOWN_SPECIAL = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def plain_markdown(text: object) -> str:
    """``text`` escaped so that ``st.markdown`` / ``st.error`` show it verbatim (no image, link, HTML).

    For user text inside a message; a card shows user text with ``st.text`` instead.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def display_thumbnail(data: bytes, size: int = THUMB) -> bytes:
    """PNG bytes of an uploaded picture for display: decoded, 8-bit RGB, letterboxed to ``size`` px.

    The browser never gets the upload itself: a 16-bit grey PNG (mode ``I;16``, which
    ``st.image`` cannot re-encode) is scaled to 8 bits, and a 20000 x 1 strip keeps at least one
    pixel of height on a ``size`` x ``size`` white square (the minimum thumbnail size).

    Raises
    ------
    ValueError
        If ``data`` is not a readable image (`load_image`).
    """
    from PIL import Image

    im = load_image(data)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit greys: to 8 bits before RGB
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        im = Image.fromarray(np.clip(a * (255.0 / hi), 0, 255).astype(np.uint8), mode="L")
    if im.mode in ("RGBA", "LA", "PA", "P"):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    im = im.convert("RGB")
    scale = size / max(im.width, im.height)
    w, h = max(1, round(im.width * scale)), max(1, round(im.height * scale))
    small = im.resize((w, h), Image.Resampling.BICUBIC if min(w, h) > 1 else Image.Resampling.BOX)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(small, ((size - w) // 2, (size - h) // 2))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _state(state: MutableMapping | None) -> MutableMapping:
    return st.session_state if state is None else state


def custom_items(key: RunKey, state: MutableMapping | None = None) -> list[dict[str, Any]]:
    """The items added under run ``key``, oldest first (``id, modality, name, code, feature, thumb``)."""
    return list(_state(state).get(STORE_KEY, {}).get(key, []))


def add_item(
    key: RunKey,
    modality: str,
    name: str,
    code: np.ndarray,
    feature: np.ndarray,
    thumb: bytes | None = None,
    state: MutableMapping | None = None,
) -> dict[str, Any]:
    """Store one coded item under run ``key`` and return it.

    Raises
    ------
    ValueError
        If ``modality`` is not "image"/"text" or the run already holds `MAX_ITEMS` items.
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    s = _state(state)
    store = dict(s.get(STORE_KEY, {}))
    items = list(store.get(key, []))
    if len(items) >= MAX_ITEMS:
        raise ValueError(
            f"this session already holds {MAX_ITEMS} items of your own for {key.label()}; "
            "remove one (or all) before adding another"
        )
    item = {
        "id": 1 + max((it["id"] for it in items), default=-1),
        "modality": modality,
        "name": str(name),
        "code": np.asarray(code, dtype=np.uint8).reshape(-1).copy(),  # (n_bytes,)
        "feature": np.asarray(feature, dtype=np.float32).reshape(-1).copy(),  # (d_modality,)
        "thumb": thumb,
    }
    store[key] = [*items, item]
    s[STORE_KEY] = store
    return item


def remove_item(key: RunKey, item_id: int, state: MutableMapping | None = None) -> None:
    """Drop the item ``item_id`` of run ``key`` (nothing happens when it is already gone)."""
    s = _state(state)
    store = dict(s.get(STORE_KEY, {}))
    store[key] = [it for it in store.get(key, []) if it["id"] != int(item_id)]
    s[STORE_KEY] = store


def clear_items(key: RunKey, state: MutableMapping | None = None) -> None:
    """Drop every item of run ``key``."""
    s = _state(state)
    store = dict(s.get(STORE_KEY, {}))
    store.pop(key, None)
    s[STORE_KEY] = store


def runs_with_items(key: RunKey, state: MutableMapping | None = None) -> list[RunKey]:
    """Other runs on ``key``'s dataset that hold items (whose feature rows this run can code)."""
    store = _state(state).get(STORE_KEY, {})
    return [k for k, items in store.items() if k != key and k.dataset == key.dataset and items]


def recode_items(key: RunKey, source: RunKey, model, state: MutableMapping | None = None) -> int:
    """Code the items of run ``source`` with ``model`` (run ``key``'s) from their feature rows.

    The out-of-sample step again, for another hash function: no file is read twice. Items beyond
    the cap are left out. Returns how many were added.
    """
    room = MAX_ITEMS - len(custom_items(key, state))
    todo = custom_items(source, state)[: max(room, 0)]
    for it in todo:
        code = model.encode(it["feature"][None, :], it["modality"])[0]
        add_item(key, it["modality"], it["name"], code, it["feature"], it["thumb"], state)
    return len(todo)


def item_codes(items: list[dict[str, Any]], modality: str, n_bytes: int) -> tuple[list[dict], np.ndarray]:
    """The items of one modality and their packed codes stacked: ``(items, codes (n, n_bytes) uint8)``."""
    chosen = [it for it in items if it["modality"] == modality]
    codes = np.zeros((len(chosen), int(n_bytes)), dtype=np.uint8)
    for row, it in enumerate(chosen):
        codes[row] = it["code"]
    return chosen, codes


def code_image(ds: CrossModalDataset, model, data: bytes) -> tuple[np.ndarray, np.ndarray, bytes]:
    """An uploaded picture through the run's hash function: ``(code, feature, thumbnail PNG)``.

    Raises
    ------
    ValueError
        If the file is not a readable image or the dataset has no image featurizer.
    """
    x = featurize_image(ds, data)  # (1280,): the stored features' space
    code = model.encode(x[None, :], "image")[0]  # (n_bytes,): out-of-sample code
    return code, x, display_thumbnail(data, THUMB)


def code_caption(ds: CrossModalDataset, model, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A typed caption through the run's hash function: ``(code, feature, unknown words)``.

    Raises
    ------
    ValueError
        If the caption is empty, has only stop words, or none of its words is in the vocabulary.
    """
    x = featurize_text(ds, text)  # raises on empty / all-unknown, naming the words
    _, unknown = text_query_terms(ds, text)
    return model.encode(x[None, :], "text")[0], x, unknown


MESSAGE_KEY = CUSTOM_MESSAGES  # one-shot (kind, text) left by an add callback for the next run


def _say(kind: str, text: str) -> None:
    """Queue a message; it quotes user text (captions, file names), so it is shown as plain text."""
    st.session_state.setdefault(MESSAGE_KEY, []).append((kind, plain_markdown(text)))


def _add_picture(ds: CrossModalDataset, key: RunKey, model) -> None:
    """Button callback (runs before the rerun, so the count, results and map already include it)."""
    up = st.session_state.get("custom_upload")
    if up is None:
        _say("error", "No picture uploaded; drop a PNG, JPEG or WebP file above, then add it.")
        return
    try:
        code, x, thumb = code_image(ds, model, up.getvalue())
        add_item(key, "image", up.name, code, x, thumb)
    except ValueError as e:
        _say("error", str(e))
        return
    _say("success", f"Added your picture {up.name!r}: it now ranks and is found like a database image.")


def _add_caption(ds: CrossModalDataset, key: RunKey, model) -> None:
    """Button callback for a typed caption."""
    text = str(st.session_state.get("custom_text") or "")
    if not text.strip():
        _say("error", "The caption is empty; type a few words such as 'a koala in a tree', then add it.")
        return
    try:
        code, x, unknown = code_caption(ds, model, text)
        add_item(key, "text", text.strip(), code, x)
    except ValueError as e:
        _say("error", str(e))
        return
    if unknown:
        _say("warning", f"Not in the vocabulary, ignored: {', '.join(unknown)}.")
    _say("success", f"Added your caption “{text.strip()}”.")


def _messages() -> None:
    show = {"error": st.error, "warning": st.warning, "success": st.success}
    for kind, text in st.session_state.pop(MESSAGE_KEY, []):
        show[kind](text)


def _item_list(key: RunKey, items: list[dict]) -> None:
    for it in items:
        c1, c2 = st.columns([5, 1])
        what = "picture" if it["modality"] == "image" else "caption"
        c1.markdown(f":violet-badge[yours] {what} #{it['id']}: {plain_markdown(it['name'])}")
        c2.button("Remove", key=f"custom_rm_{it['id']}", on_click=remove_item, args=(key, it["id"]))
    st.button("Remove all", key="custom_clear", on_click=clear_items, args=(key,))


def custom_items_ui(ds: CrossModalDataset, key: RunKey, run) -> list[dict[str, Any]]:
    """Expander to add a picture or a caption of your own and to remove them; returns the run's items."""
    items = custom_items(key)
    # keyed: the count in the label changes, the open panel stays open
    with st.expander(f"Add your own item ({len(items)} of {MAX_ITEMS} for this run)", key="custom_panel"):
        st.caption(
            "Your picture or caption is coded by this run's hash function, as a new item would be "
            "without retraining, and joins the database: it shows in the results (marked yours) and on "
            "the Code Map. It stays in this browser session only and is never saved."
        )
        args = (ds, key, run.model)  # callbacks run before the rerun: the count and results include the item
        left, right = st.columns(2)
        up = left.file_uploader(
            "A picture of your own", type=["png", "jpg", "jpeg", "webp"], key="custom_upload"
        )
        left.button(
            "Add this picture",
            key="custom_add_image",
            disabled=up is None,
            on_click=_add_picture,
            args=args,
        )
        right.text_input("A caption of your own", placeholder="a koala in a tree", key="custom_text")
        right.button("Add this caption", key="custom_add_text", on_click=_add_caption, args=args)
        _messages()
        if items:
            _item_list(key, items)
        others = runs_with_items(key)
        if others and not items:  # items added under another run: code them with this one
            other = others[-1]
            n = len(custom_items(other))
            st.button(
                f"Code your {n} item{'s' if n > 1 else ''} from {other.label()} with this run",
                key="custom_recode",
                on_click=recode_items,
                args=(key, other, run.model),
            )
    return custom_items(key)


def custom_card(item: dict[str, Any], distance: int) -> None:
    """A result card for one of your items: its picture or caption, distance and a "yours" badge."""
    with st.container(border=True):  # sized by its content, as the dataset's result cards
        if item["modality"] == "image" and item.get("thumb"):
            st.image(item["thumb"], width=112)
        else:
            st.text(f"“{item['name'][:80]}”")  # user text: never Markdown or HTML
        st.markdown(f"`d = {int(distance)}` :violet-badge[yours]")
        st.caption(f"your item #{item['id']} (no labels)")
