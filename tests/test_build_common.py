"""scripts/_build_common.stored_arrays: the arrays both bundle builds (openmoji, tuxpaint) store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import _build_common

    # EfficientNet is not what this tests (and costs seconds): one row per stored image file
    def features(out: Path, n: int) -> np.ndarray:
        assert len(list((out / "images").glob("*.webp"))) == n
        return np.zeros((n, 1280), dtype=np.float32)

    monkeypatch.setattr(_build_common, "stored_image_features", features)
    yield _build_common
    sys.modules.pop("_build_common", None)


def _images(out: Path, n: int) -> Path:
    (out / "images").mkdir()
    for k in range(n):
        (out / "images" / f"{k}.webp").write_bytes(b"")
    return out


def test_stored_arrays_rows_follow_the_items(common, tmp_path):
    out = _images(tmp_path, 3)
    texts = ["red cat", "blue dog", "red dog"]
    Y, X_img, vocab, X_txt = common.stored_arrays(
        out, [["a"], ["b"], ["a", "b"]], ["a", "b"], texts, ["x", "y", "z"], (1, 1)
    )
    assert Y.tolist() == [[1, 0], [0, 1], [1, 1]]
    assert X_img.shape == (3, 1280) and X_txt.shape[0] == 3
    assert tuple(vocab["ngram_range"]) == (1, 1)  # openmoji's unigrams reach the featuriser
    assert sorted(vocab["vocabulary"]) == ["blue", "cat", "dog", "red"]
    _, _, vocab2, _ = common.stored_arrays(out, [["a"]] * 3, ["a"], texts, ["x", "y", "z"])
    assert tuple(vocab2["ngram_range"]) == (1, 2)  # tuxpaint's default: bigrams too
    assert "red cat" in vocab2["vocabulary"]


def test_stored_arrays_exits_when_items_and_stored_images_differ(common, tmp_path):
    out = _images(tmp_path, 3)
    with pytest.raises(SystemExit, match="lost all its labels after a failed render"):
        common.stored_arrays(out, [["a"], ["a"]], ["a"], ["red cat", "blue dog"], ["x", "y"])


def test_stored_arrays_names_a_text_without_terms(common, tmp_path):
    out = _images(tmp_path, 2)
    with pytest.raises(SystemExit, match=r"y \('the'\)"):
        common.stored_arrays(out, [["a"], ["a"]], ["a"], ["red cat", "the"], ["x", "y"])
