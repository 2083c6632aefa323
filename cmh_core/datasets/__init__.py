"""Datasets: bundled data, the synthetic generator, benchmark-file readers, query featurisers.

>>> from cmh_core.datasets import load_dataset, list_datasets
>>> ds = load_dataset("synthetic", n=500)
>>> ds.image_features.shape, ds.labels.dtype
((500, 512), dtype('uint8'))

Importing this package never imports torch, streamlit or umap; the featurisers import torch
lazily when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmh_core.datasets._types import CrossModalDataset, Split
from cmh_core.datasets.bundled import BUNDLED, bundle_folder, load_bundle, with_text_features
from cmh_core.datasets.featurize import featurize_image, featurize_text
from cmh_core.datasets.files import SUPPORTED_SUFFIXES, as_path, read_benchmark_file, save_benchmark_file
from cmh_core.datasets.split import make_split, unpair, validation_dataset, validation_split
from cmh_core.datasets.synthetic import make_synthetic

__all__ = [
    "CrossModalDataset",
    "Split",
    "featurize_image",
    "featurize_text",
    "with_text_features",
    "list_datasets",
    "load_dataset",
    "make_split",
    "make_synthetic",
    "read_benchmark_file",
    "save_benchmark_file",
    "unpair",
    "validation_dataset",
    "validation_split",
]

_DESCRIPTIONS = {
    "tuxpaint": "Tux Paint stamps: photo cut-outs and drawings, English captions, folder labels (GPL-2+)",
    "openmoji": "OpenMoji emoji: colour icons, annotation + tags, group and subgroup labels (CC BY-SA 4.0)",
    "synthetic": "generated paired features with correlated multi-hot labels, any size (make_synthetic)",
}


def list_datasets() -> list[dict[str, str]]:
    """List the datasets `load_dataset` accepts by name.

    Returns
    -------
    list of dict
        One ``{"name": ..., "description": ...}`` per dataset: the bundled ones (in `BUNDLED`
        order), their e5 variants (``"tuxpaint:e5"``: the same bundle with multilingual text
        features), then ``"synthetic"``. Benchmark files are loaded by path and not listed.
    """
    names = [*BUNDLED, *(f"{b}:e5" for b in BUNDLED if (BUNDLED[b] / "e5.npz").is_file()), "synthetic"]
    return [{"name": k, "description": _describe(k)} for k in names]


def _describe(name: str) -> str:
    if name.endswith(":e5"):
        return (
            f"{name[:-3]} with multilingual e5 text features: queries in any language (docs/multilingual.md)"
        )
    return _DESCRIPTIONS.get(name, "bundled dataset")


def load_dataset(name_or_path: str | Path, **kw: Any) -> CrossModalDataset:
    """Load a dataset by name or from a benchmark file.

    Parameters
    ----------
    name_or_path : str or Path
        A bundled name (``"tuxpaint"``, ``"openmoji"``), ``"synthetic"`` (names are
        case-insensitive), or a path to a ``.npz``, ``.mat``, ``.h5`` or ``.hdf5`` file (see
        `read_benchmark_file` for the layouts). Bundles are looked up as `bundle_folder`
        describes (``CMH_ASSETS``). ``"tuxpaint:e5"`` is ``"tuxpaint"`` with
        ``text_features="e5"``.
    **kw
        Passed on: to `make_synthetic` (``n``, ``d_img``, ``random_state``, ...) for
        ``"synthetic"``, to `read_benchmark_file` (``query_fraction``, ``random_state``) for a
        path. Bundled datasets take ``text_features``: ``"tfidf"`` (default; the bundle's
        English vocabulary) or ``"e5"`` (multilingual sentence features, `with_text_features`).

    Returns
    -------
    CrossModalDataset

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid names), a directory, an unreadable or
        malformed file, or a bundle that cannot be found.
    FileNotFoundError
        For a path with a supported suffix that does not exist.
    """
    key = str(name_or_path).strip().lower() if isinstance(name_or_path, str) else None
    if key is not None and key.endswith(":e5") and key[:-3] in BUNDLED:  # the e5 variant by name
        key, kw = key[:-3], {**kw, "text_features": "e5"}
    if key in BUNDLED:
        text_features = kw.pop("text_features", "tfidf")
        if kw:
            raise ValueError(f"bundled dataset {key!r} takes only text_features, got {sorted(kw)}")
        ds = load_bundle(bundle_folder(key), key)
        return ds if text_features == "tfidf" else with_text_features(ds, text_features)
    path = as_path(name_or_path, "a benchmark file, or a dataset name")
    if key == "synthetic":
        return make_synthetic(**kw)
    if path.suffix.lower() in SUPPORTED_SUFFIXES or path.exists():
        return read_benchmark_file(path, **kw)
    valid = ", ".join(repr(d["name"]) for d in list_datasets())
    raise ValueError(
        f"unknown dataset {str(name_or_path)!r}; use one of {valid}, "
        f"or a path to a {'/'.join(SUPPORTED_SUFFIXES)} benchmark file"
    )
