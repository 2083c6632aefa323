"""Local image tokens for deep methods: the EfficientNet-Lite0 feature maps of a bundle's images.

SDEH's local branch (docs/methods/sdeh.md) attends over image regions. The backbone is the one
`cmh_core.datasets.featurize` uses for the stored features (EfficientNet-Lite0, the same
preprocessing, letterboxed to 224 x 224): its last feature map ``model.extract_features`` is
1280 x 7 x 7, and the mean of its 49 region tokens is the stored 1280-d feature.

* Token count: the letterbox makes every input 224 x 224, so the map is always 7 x 7 = 49 tokens,
  whatever the image's aspect ratio; a map of another size (a changed backbone) is average-pooled
  to 7 x 7 with ``adaptive_avg_pool2d``, so the token count is fixed at `N_REGION_TOKENS`.
* Cache: computing 788 maps takes about a minute on 2 CPU cores, so they are computed once per
  dataset and stored OUTSIDE the repository, in ``$CMH_CACHE_DIR/feature_maps`` (default
  ``~/.cache/cmh-explorer/feature_maps``), as ``<dataset>-<hash of its image features>.npz``
  (float16, ``(n, 49, 1280)``, about 100 MB for tuxpaint). The file is written atomically (a
  temporary file renamed into place); a damaged or mismatching file is recomputed with a warning.
  Temporary files a killed writer left (``*.tmp`` untouched for an hour) are removed on the next
  load, and a cache file is sized from its header against the memory budget before it is read.
* Lookup by feature row: a fitted model only ever sees feature vectors. `region_tokens` finds,
  for each row of an image-feature matrix, the bundled image whose stored feature has exactly
  those bytes and returns its map; rows of no bundled image (uploaded pictures, synthetic data,
  benchmark files) are reported as missing, and the caller falls back to chunks of the vector.

torch is imported lazily, only when maps are computed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cmh_core._io import atomic_path, charge_npz, remove_stale_temps

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from cmh_core.datasets._types import CrossModalDataset

__all__ = [
    "N_REGION_TOKENS",
    "cache_dir",
    "compute_feature_maps",
    "feature_map_path",
    "load_feature_maps",
    "region_tokens",
]

N_REGION_TOKENS = 49  # 7 x 7 regions
_GRID = 7
_BATCH = 16
_FORMAT = 1
Progress = Callable[[int, int], None]


def cache_dir() -> Path:
    """Folder of the feature-map cache: ``$CMH_CACHE_DIR/feature_maps`` or ``~/.cache/cmh-explorer/...``."""
    root = os.environ.get("CMH_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "cmh-explorer"
    return base / "feature_maps"


def _features_hash(features: np.ndarray) -> str:
    """Short hash of an image-feature matrix: names the cache file and ties it to those features."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    return hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()[:16]


def feature_map_path(dataset: CrossModalDataset) -> Path:
    """Cache file of ``dataset``'s maps: ``cache_dir() / f"{name}-{hash}.npz"``."""
    return cache_dir() / f"{dataset.name}-{_features_hash(dataset.image_features)}.npz"


def _tqdm_progress(total: int) -> tuple[Progress, Callable[[], None]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="EfficientNet-Lite0 feature maps", unit="img", leave=False)

    def update(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    return update, bar.close


def compute_feature_maps(
    images: Sequence[PILImage.Image], progress: Progress | bool | None = None
) -> np.ndarray:
    """EfficientNet-Lite0 region tokens of PIL images, preprocessed exactly as `featurize_image`.

    Parameters
    ----------
    images : sequence of PIL.Image.Image, length n
    progress : callable, bool or None
        ``progress(done, total)`` after every batch (for an app's progress bar); None or True
        shows a tqdm bar on stderr; False shows nothing.

    Returns
    -------
    ndarray of float32, shape (n, 49, 1280)
        Token ``t = 7 * row + col`` of image i is the 1280-d map entry at that grid cell; the
        mean over tokens is the image's stored 1280-d feature.
    """
    import torch
    import torch.nn.functional as F

    from cmh_core.datasets.featurize import IMAGE_FEATURE_DIM, _model, _to_array

    images = list(images)
    n = len(images)
    out = np.zeros((n, N_REGION_TOKENS, IMAGE_FEATURE_DIM), dtype=np.float32)
    close = None
    if progress is None or progress is True:
        progress, close = _tqdm_progress(n)
    model = _model()
    try:
        with torch.inference_mode():
            for start in range(0, n, _BATCH):
                batch = np.stack([_to_array(im) for im in images[start : start + _BATCH]])  # (b, 224, 224, 3)
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()  # (b, 3, 224, 224)
                fmap = model.extract_features(x)  # (b, 1280, 7, 7)
                if fmap.shape[-2:] != (_GRID, _GRID):  # another input size: fixed token count
                    fmap = F.adaptive_avg_pool2d(fmap, _GRID)
                out[start : start + len(batch)] = fmap.flatten(2).transpose(1, 2).numpy()  # (b, 49, 1280)
                if progress:
                    progress(min(start + _BATCH, n), n)
    finally:
        if close is not None:
            close()
    return out


def _read_cache(path: Path, key: str, n: int) -> np.ndarray | None:
    """The cached maps if ``path`` holds a complete, matching file; None (with a warning) otherwise."""
    if not path.is_file():
        return None
    try:
        charge_npz(path, ("maps", "meta"))  # a damaged header must not make us allocate terabytes
        with np.load(path, allow_pickle=False) as z:
            maps, meta = z["maps"], z["meta"]
        ok = maps.shape[:2] == (n, N_REGION_TOKENS) and list(meta) == [_FORMAT, int(key, 16) % 2**31]
    except Exception as e:  # noqa: BLE001 -- any damage (truncated zip, bad header) means recompute
        warnings.warn(f"feature-map cache {path} is unreadable ({e}); recomputing it", stacklevel=3)
        return None
    if not ok or not np.isfinite(maps).all():
        warnings.warn(f"feature-map cache {path} does not match the dataset; recomputing it", stacklevel=3)
        return None
    return maps


def _write_atomic(path: Path, maps: np.ndarray, key: str) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, maps=maps, meta=np.array([_FORMAT, int(key, 16) % 2**31], dtype=np.int64))


def load_feature_maps(dataset: CrossModalDataset, progress: Progress | bool | None = None) -> np.ndarray:
    """``dataset``'s region tokens, from the cache or computed once (and cached).

    Parameters
    ----------
    dataset : CrossModalDataset
        A bundled dataset with EfficientNet-Lite0 image features and its images (``tuxpaint``).
    progress : callable, bool or None
        As in `compute_feature_maps`; only used when the maps have to be computed.

    Returns
    -------
    ndarray of float16, shape (n, 49, 1280)

    Raises
    ------
    ValueError
        If the dataset has no EfficientNet-Lite0 features or no images.
    """
    from cmh_core.datasets.featurize import _check_image_featurizer

    _check_image_featurizer(dataset)
    if dataset._thumbnail_loader is None:
        raise ValueError(
            f"dataset {dataset.name!r} has no images, so it has no feature maps; "
            "local image tokens fall back to chunks of the feature vector"
        )
    path = feature_map_path(dataset)
    remove_stale_temps(path.parent)  # left by killed writers (35 MB after three kills, once)
    key = path.stem.rsplit("-", 1)[-1]
    held = _LOADED.get("maps")
    if held is not None and held[0] == _stamp(path):  # encode calls come often: keep one in memory
        return held[1]
    maps = _read_cache(path, key, dataset.n_items)
    if maps is None:
        images = (dataset.thumbnail(i) for i in range(dataset.n_items))
        maps = compute_feature_maps(list(images), progress).astype(np.float16)
        try:
            _write_atomic(path, maps, key)
        except OSError as e:  # a read-only home still trains; it just recomputes next time
            warnings.warn(f"cannot write the feature-map cache {path} ({e}); set CMH_CACHE_DIR", stacklevel=2)
    maps.setflags(write=False)  # shared by every caller
    _LOADED["maps"] = (_stamp(path), maps)
    return maps


_LOADED: dict[str, tuple] = {}


def _stamp(path: Path) -> tuple:
    """Identity of a cache file's content: path, size and modification time (None if absent)."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _row_index(name: str) -> tuple[dict[bytes, int], CrossModalDataset]:
    """Stored image-feature row bytes -> item index of bundled dataset ``name`` (built once)."""
    from cmh_core.datasets import load_dataset

    ds = load_dataset(name)
    X = np.ascontiguousarray(ds.image_features, dtype=np.float32)
    return {row.tobytes(): i for i, row in enumerate(X)}, ds


def _eligible_bundles() -> list[str]:
    from cmh_core.datasets.bundled import BUNDLED

    return list(BUNDLED)


def region_tokens(
    X: np.ndarray, progress: Progress | bool | None = None
) -> tuple[np.ndarray | None, np.ndarray]:
    """Region tokens of image-feature rows that are stored features of a bundled image.

    Parameters
    ----------
    X : ndarray of float32, shape (n, 1280)
        Image features (any other width matches nothing).
    progress : callable, bool or None
        Passed to `load_feature_maps` if a bundle's maps must be computed.

    Returns
    -------
    tokens : ndarray of float16, shape (n, 49, 1280), or None
        Maps of the matched rows (zeros elsewhere); None when no row matches.
    found : ndarray of bool, shape (n,)
        Which rows matched a bundled image exactly (byte-identical float32 feature).
    """
    from cmh_core.datasets.featurize import IMAGE_FEATURE_DIM

    X = np.ascontiguousarray(X, dtype=np.float32)
    found = np.zeros(len(X), dtype=bool)
    if X.ndim != 2 or X.shape[1] != IMAGE_FEATURE_DIM or len(X) == 0:
        return None, found
    tokens = None
    for name in _eligible_bundles():
        try:
            index, ds = _row_index(name)
        except (ValueError, OSError):  # bundle missing or not built here: nothing to match
            continue
        rows = np.array([index.get(row.tobytes(), -1) for row in X])
        hit = (rows >= 0) & ~found
        if not hit.any():
            continue
        maps = load_feature_maps(ds, progress)
        if tokens is None:
            tokens = np.zeros((len(X), N_REGION_TOKENS, IMAGE_FEATURE_DIM), dtype=np.float16)
        tokens[hit] = maps[rows[hit]]
        found |= hit
    return tokens, found
