"""Your own items (`ui.custom_items`): the out-of-sample codes and the bounded per-run store."""

import numpy as np
import pytest

from ui.custom_items import (
    MAX_ITEMS,
    STORE_KEY,
    add_item,
    clear_items,
    code_caption,
    code_image,
    custom_items,
    item_codes,
    recode_items,
    remove_item,
    runs_with_items,
)
from ui.state import RunKey

KEY = RunKey("tuxpaint", "DCH", 32, 0)
OTHER = RunKey("tuxpaint", "DCH", 64, 0)


def _image_file(ds, i: int) -> bytes:
    return (ds.root / "images" / ds.metadata["images"][i]).read_bytes()


def test_uploaded_copy_of_a_bundled_image_gets_exactly_its_code(tux, tux_fitted):
    models = [tux_fitted("DCH", n_bits=b, random_state=0) for b in (32, 128)]
    db = np.asarray(tux.split.database)
    for i in db[:: len(db) // 5][:5]:  # five database items across the bundle
        code, x, thumb = code_image(tux, models[0], _image_file(tux, int(i)))
        assert thumb.startswith(b"\x89PNG")
        np.testing.assert_allclose(x, tux.image_features[i], atol=1e-4)  # featurize reproduces the row
        np.testing.assert_array_equal(code, models[0].encode(tux.image_features[[i]], "image")[0])
        for model in models[1:]:  # ... so every method codes the copy exactly as the original
            np.testing.assert_array_equal(
                model.encode(x[None], "image"), model.encode(tux.image_features[[i]], "image")
            )


def test_a_bundled_caption_gets_its_stored_code(tux, tux_fitted):
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    i = int(tux.split.database[3])
    code, x, unknown = code_caption(tux, model, tux.texts[i])
    assert unknown == []
    np.testing.assert_array_equal(code, model.encode(tux.text_features[[i]], "text")[0])


def test_bad_uploads_and_captions_name_the_problem(tux, tux_fitted):
    model = tux_fitted("DCH", n_bits=32, random_state=0)
    with pytest.raises(ValueError, match="not a readable image.*upload a PNG, JPEG or WebP"):
        code_image(tux, model, b"GIF89a broken")
    with pytest.raises(ValueError, match="empty"):
        code_caption(tux, model, "   ")
    with pytest.raises(ValueError, match="zzqxv.*try words"):
        code_caption(tux, model, "zzqxv")
    code, _, unknown = code_caption(tux, model, "a red apple zzqxv")
    assert unknown == ["zzqxv"] and code.dtype == np.uint8 and code.shape == (4,)


def _add(state, key=KEY, modality="text", name="x", code=(1, 2, 3, 4)):
    return add_item(key, modality, name, np.array(code, dtype=np.uint8), np.zeros(5), state=state)


def test_store_is_per_run_ordered_and_removable_one_by_one_or_all():
    state: dict = {}
    a, b = _add(state, name="a"), _add(state, modality="image", name="b", code=(9, 9, 9, 9))
    _add(state, key=OTHER, name="elsewhere")
    assert [it["name"] for it in custom_items(KEY, state)] == ["a", "b"]
    assert [it["name"] for it in custom_items(OTHER, state)] == ["elsewhere"]  # keyed by run
    chosen, codes = item_codes(custom_items(KEY, state), "image", 4)
    assert [it["name"] for it in chosen] == ["b"] and codes.tolist() == [[9, 9, 9, 9]]
    remove_item(KEY, a["id"], state)
    assert [it["name"] for it in custom_items(KEY, state)] == ["b"]
    c = _add(state, name="c")
    assert c["id"] > b["id"]  # ids are not reused while items remain
    clear_items(KEY, state)
    assert custom_items(KEY, state) == [] and len(custom_items(OTHER, state)) == 1
    assert set(state) == {STORE_KEY}  # one session-state entry holds it all


def test_store_keeps_small_copies_and_refuses_past_the_cap():
    state: dict = {}
    code = np.array([1, 2, 3, 4], dtype=np.uint8)
    item = add_item(KEY, "text", "x", code, np.ones(3, dtype=np.float64), state=state)
    code[0] = 99  # the caller's array is copied, not kept
    assert item["code"][0] == 1 and item["feature"].dtype == np.float32
    for _ in range(MAX_ITEMS - 1):
        _add(state)
    with pytest.raises(ValueError, match=f"already holds {MAX_ITEMS} items.*remove one"):
        _add(state)
    assert len(custom_items(KEY, state)) == MAX_ITEMS
    with pytest.raises(ValueError, match="modality must be 'image' or 'text'"):
        add_item(OTHER, "audio", "x", code, np.zeros(1), state=state)


def test_items_of_another_run_are_recoded_from_their_features(tux, tux_fitted):
    state: dict = {}
    m32, m64 = tux_fitted("DCH", n_bits=32, random_state=0), tux_fitted("DCH", n_bits=64, random_state=0)
    i = int(tux.split.database[0])
    x_img, x_txt = tux.image_features[i], tux.text_features[i]
    add_item(KEY, "image", "pic", m32.encode(x_img[None], "image")[0], x_img, b"png", state=state)
    add_item(KEY, "text", "cap", m32.encode(x_txt[None], "text")[0], x_txt, state=state)
    assert runs_with_items(OTHER, state) == [KEY] and runs_with_items(KEY, state) == []
    assert recode_items(OTHER, KEY, m64, state) == 2
    img, txt = custom_items(OTHER, state)
    np.testing.assert_array_equal(img["code"], m64.encode(tux.image_features[[i]], "image")[0])
    np.testing.assert_array_equal(txt["code"], m64.encode(tux.text_features[[i]], "text")[0])
    assert img["thumb"] == b"png" and img["code"].shape == (8,)
    assert len(custom_items(KEY, state)) == 2  # the source run keeps its own
