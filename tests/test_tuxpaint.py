"""The bundled ``tuxpaint`` dataset and the run-time query featurisers (data.md sections 1 and 3)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from cmh_core.datasets import load_dataset
from cmh_core.datasets.featurize import featurize_image, featurize_text, text_query_terms


def _load():
    return load_dataset("tuxpaint")


@pytest.fixture(scope="module")
def ds():
    return _load()


@pytest.fixture(scope="module")
def model_loaded():
    from cmh_core.datasets.featurize import image_feature_extractor

    return image_feature_extractor()


def test_counts_and_shapes(ds):
    n = ds.n_items
    assert n >= 600
    assert ds.image_features.shape == (n, 1280) and ds.image_features.dtype == np.float32
    assert ds.text_features.shape[0] == n and ds.text_features.dtype == np.float32
    assert ds.text_features.shape[1] > 100
    assert ds.labels.dtype == np.uint8 and ds.labels.shape == (n, len(ds.label_names))
    assert len(ds.label_names) >= 20
    assert ds.labels.sum(0).min() >= 5
    assert ds.labels.sum(1).min() >= 1
    assert len(ds.texts) == n and all(isinstance(t, str) and t.strip() for t in ds.texts)
    assert np.isfinite(ds.image_features).all() and np.isfinite(ds.text_features).all()
    assert ds.text_features.any(axis=1).all(), "every caption has at least one TF-IDF term"
    meta = ds.metadata
    assert {len(meta[k]) for k in ("ids", "images", "styles", "translations")} == {n}
    assert set(meta["styles"]) == {"photo", "drawing"}
    assert meta["source"]["package"] == "tuxpaint-stamps-default"
    assert len(meta["source"]["sha256"]) == 64
    assert not any(i.startswith("symbols/alphabets") for i in meta["ids"])
    assert not {"cartoon", "toys", "plastic"} & set(ds.label_names)


def test_split(ds):
    s = ds.split
    q, db, tr = s.query, s.database, s.train
    assert q.dtype == db.dtype == tr.dtype == np.int64
    assert not np.intersect1d(q, db).size
    assert np.union1d(q, db).size == ds.n_items
    assert np.isin(tr, db).all()
    assert 0.15 <= len(q) / ds.n_items <= 0.25
    assert (ds.labels[q].sum(0) >= 1).all(), "every label has a query item"


def test_every_thumbnail_opens(ds):
    for i in range(ds.n_items):
        im = ds.thumbnail(i)
        assert im.mode == "RGB" and max(im.size) == 224


def test_loading_does_not_import_torch():
    code = "import sys; from cmh_core.datasets import load_dataset; load_dataset('tuxpaint')"
    code += "; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.slow
def test_bundled_images_reproduce_stored_features(ds, model_loaded):
    styles = ds.metadata["styles"]
    items = [0, 1, styles.index("drawing"), styles.index("photo"), ds.n_items - 1]
    for i in items:
        path = ds.root / "images" / ds.metadata["images"][i]
        f_path = featurize_image(ds, path)
        f_bytes = featurize_image(ds, path.read_bytes())
        f_pil = featurize_image(ds, Image.open(path))
        assert f_path.shape == (1280,) and f_path.dtype == np.float32
        for f in (f_path, f_bytes, f_pil):
            np.testing.assert_allclose(f, ds.image_features[i], atol=1e-4, rtol=0)


def test_rgba_upload_is_composited_on_white(ds, model_loaded):
    i = ds.metadata["styles"].index("photo")
    rgb = ds.thumbnail(i)
    rgba = rgb.convert("RGBA")
    px = np.asarray(rgba).copy()
    white = (np.asarray(rgb) == 255).all(axis=2)
    px[white] = (0, 0, 0, 0)  # transparent black where the stored image is white
    f = featurize_image(ds, Image.fromarray(px, "RGBA"))
    np.testing.assert_allclose(f, ds.image_features[i], atol=1e-4, rtol=0)


def test_bundled_captions_reproduce_stored_rows(ds):
    for i, caption in enumerate(ds.texts):
        np.testing.assert_allclose(featurize_text(ds, caption), ds.text_features[i], atol=1e-6, rtol=0)


def test_text_query_terms_and_partial_query(ds):
    known, unknown = text_query_terms(ds, "A koala and a flibbertigibbet")
    assert known == ["koala"] and unknown == ["flibbertigibbet"]
    x = featurize_text(ds, "A koala and a flibbertigibbet")
    assert x.shape == (ds.text_features.shape[1],)
    assert np.isclose(np.linalg.norm(x), 1.0)
    koalas = [i for i, t in enumerate(ds.texts) if "koala" in t.lower()]
    assert int(np.argmax(ds.text_features @ x)) in koalas


def test_unknown_words_error_names_them(ds):
    with pytest.raises(ValueError, match="zorblax.*quuxly|quuxly.*zorblax"):
        featurize_text(ds, "zorblax quuxly")


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_query_error(ds, text):
    with pytest.raises(ValueError, match="text query is empty"):
        featurize_text(ds, text)


def test_stop_words_only_query_error(ds):
    with pytest.raises(ValueError, match="stop words"):
        featurize_text(ds, "the and of")


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n garbage"])
def test_corrupt_bytes_are_refused(ds, data):
    with pytest.raises(ValueError, match="is not a readable image.*PNG, JPEG or WebP"):
        featurize_image(ds, data)


def test_text_file_is_refused(ds, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello, I am not a picture\n")
    with pytest.raises(ValueError, match="notes.txt.*is not a readable image"):
        featurize_image(ds, p)


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` pixels (no real pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused(ds):
    with pytest.raises(ValueError, match="decompression bomb"):
        featurize_image(ds, _png_header(100_000, 100_000))


def test_decompression_bomb_warning_is_an_error(ds, monkeypatch):
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), "red").save(buf, "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 400 px: over the limit, under twice it
    with pytest.raises(ValueError, match="decompression bomb"):
        featurize_image(ds, buf.getvalue())
