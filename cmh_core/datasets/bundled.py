"""Datasets bundled with the repository under ``assets/datasets/<name>/``.

A bundle folder holds (written by ``scripts/build_<name>.py``):

- ``features.npz`` (no object arrays): ``image_features`` (n, d_img) float32, ``text_features``
  (n, d_txt) float32 (or its CSR parts ``text_features_data/indices/indptr/shape``), ``labels``
  (n, c) uint8, ``split_query``, ``split_database``, ``split_train`` int64;
- ``meta.json``: name, title, description, source, ``label_names``, ``texts``, ``ids``, ``images``
  (file names under ``images/``), ``styles``, ``translations``, ``image_featurizer``,
  ``text_featurizer``;
- ``vocabulary.json`` (TF-IDF vocabulary and idf), ``images/<k>.webp``, ``README.md``, ``LICENSE``.

Loading reads the arrays and the JSON only; thumbnails are opened on demand. File names read
from ``meta.json`` must be plain names (no folder part, no ``..``), and a file that is a symlink
leading out of the bundle folder is refused: a tampered bundle cannot make the loader read outside
its folder. ``features.npz`` is sized from its headers against the memory budget before it is
inflated, and the JSON files are parsed with a depth limit (`cmh_core._io`).

Where bundles are found: ``assets/`` is part of the repository checkout, not of the installed
package. `bundle_folder` looks in ``$CMH_ASSETS/datasets/<name>`` first (set ``CMH_ASSETS`` to the
checkout's ``assets`` folder when ``cmh_core`` is installed with ``pip install .``), then in the
checkout the package was imported from (always right after ``pip install -e .`` or from a clone).
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cmh_core._io import charge_npz, check_inside, loads_json
from cmh_core.datasets._types import CrossModalDataset, Split

__all__ = [
    "ASSETS_ENV",
    "BUNDLED",
    "bundle_folder",
    "check_file_name",
    "dataset_card",
    "load_bundle",
    "with_text_features",
]

TEXT_FEATURES = ("tfidf", "e5")

#: Environment variable naming the ``assets`` folder (holding ``datasets/<name>/``).
ASSETS_ENV = "CMH_ASSETS"
_CHECKOUT_ASSETS = Path(__file__).resolve().parents[2] / "assets"
_NAMES = ("tuxpaint", "openmoji")


def _candidates(name: str) -> list[Path]:
    """Bundle folders to try, in order: ``$CMH_ASSETS/datasets/<name>``, then the checkout's."""
    roots = [Path(os.environ[ASSETS_ENV]).expanduser()] if os.environ.get(ASSETS_ENV) else []
    return [root / "datasets" / name for root in [*roots, _CHECKOUT_ASSETS]]


def bundle_folder(name: str) -> Path:
    """The folder of bundled dataset ``name`` (see the module docstring for the search order).

    Raises
    ------
    ValueError
        If no candidate folder exists; the message lists where it looked and how to point to it.
    """
    tried = _candidates(name)
    root = os.environ.get(ASSETS_ENV)
    if root and not Path(root).expanduser().is_dir():  # a typo would silently use the checkout's
        warnings.warn(
            f"{ASSETS_ENV}={root!r} does not exist (or is not a folder); it is ignored and the "
            "bundles are looked for in the checkout; fix or unset it",
            UserWarning,
            stacklevel=2,
        )
    for folder in tried:
        if folder.is_dir():
            return folder
    looked = ", ".join(str(t) for t in tried)
    raise ValueError(
        f"bundled dataset {name!r} not found (looked in {looked}); the data lives in the repository's "
        f"assets/ folder, not in the installed package: set {ASSETS_ENV}=/path/to/cmh-explorer/assets, "
        "or install from a checkout with `pip install -e .`"
    )


#: Bundled dataset name -> bundle folder as found at import time (`bundle_folder` re-checks).
BUNDLED: dict[str, Path] = {
    n: next((c for c in _candidates(n) if c.is_dir()), _candidates(n)[-1]) for n in _NAMES
}

_ARRAYS = ("image_features", "text_features", "labels", "split_query", "split_database", "split_train")
#: ``text_features`` may be stored as CSR parts instead (sparse TF-IDF rows load much faster).
_CSR = ("text_features_data", "text_features_indices", "text_features_indptr", "text_features_shape")


def _dense_from_csr(
    data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape: np.ndarray
) -> np.ndarray:
    """X: (n, d) float32 from CSR parts (data (nnz,), indices (nnz,), indptr (n + 1,), shape (2,)).

    Raises ValueError (reported as a corrupted file) when the parts do not fit together.
    """
    if shape.shape != (2,) or shape.min() < 0:
        raise ValueError(f"text_features_shape is {shape.tolist()}, not (n, d)")
    n, d = int(shape[0]), int(shape[1])
    counts = np.diff(indptr)  # (n,) stored terms per row
    if indptr.shape != (n + 1,) or indptr[0] != 0 or (counts < 0).any():
        raise ValueError(f"text_features_indptr has shape {indptr.shape} or is not increasing from 0")
    if (
        data.shape != indices.shape
        or data.shape != (int(indptr[-1]),)
        or (indices.size and (indices.min() < 0 or indices.max() >= d))
    ):
        raise ValueError("text_features_data / _indices do not match text_features_indptr and _shape")
    X = np.zeros((n, d), dtype=np.float32)
    X[np.repeat(np.arange(n), counts), indices] = data  # row i holds data[indptr[i]:indptr[i + 1]]
    return X


def _rebuild_hint(name: str) -> str:
    return (
        f"rebuild it with `python scripts/build_{name}.py` "
        f"or restore it with `git checkout assets/datasets/{name}`"
    )


def check_file_name(file: object, what: str, folder: Path) -> str:
    """Return ``file`` if it is a plain file name; refuse folder parts, absolute paths and ``..``.

    Parameters
    ----------
    file : object
        A name read from ``meta.json`` (should be e.g. ``"17.webp"``).
    what : str
        What it names, for the message (``"image of item 17"``).
    folder : Path
        The bundle folder it will be joined to.
    """
    ok = (
        isinstance(file, str)
        and file not in ("", ".", "..")
        and "/" not in file
        and "\\" not in file
        and Path(file).name == file
        and not Path(file).is_absolute()
    )
    if not ok:
        raise ValueError(
            f"{what} in {folder / 'meta.json'} is {file!r}, not a plain file name; names with a folder "
            "part, an absolute path or '..' are refused so that a bundle cannot read outside its folder; "
            "restore meta.json with `git checkout assets/datasets`"
        )
    return file


def bundle_file(folder: Path, file: str) -> Path:
    """``folder / file``, refused (ValueError) if it is a symlink that leads out of the bundle."""
    return check_inside(Path(folder) / file, folder, f"bundle file {file}")


def dataset_card(folder: Path) -> str | None:
    """The bundle's ``README.md`` (source, licence, how it was built), or None when it has none.

    Raises
    ------
    ValueError
        If ``README.md`` is a symlink that leads out of the bundle folder.
    """
    path = bundle_file(folder, "README.md")
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _read_meta(folder: Path, name: str) -> dict:
    path = bundle_file(folder, "meta.json")
    if not path.is_file():
        raise ValueError(f"bundled dataset {name!r} has no {folder / 'meta.json'}; {_rebuild_hint(name)}")
    try:
        meta = loads_json(path.read_bytes(), str(folder / "meta.json"))
    except (OSError, ValueError) as e:
        raise ValueError(
            f"bundled dataset {name!r}: {path} is corrupted ({type(e).__name__}: {e}); {_rebuild_hint(name)}"
        ) from None
    missing = [k for k in ("label_names", "texts", "images") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ValueError(f"bundled dataset {name!r}: {path} lacks {missing}; {_rebuild_hint(name)}")
    return meta


def _read_arrays(folder: Path, name: str) -> dict[str, np.ndarray]:
    path = bundle_file(folder, "features.npz")
    if not path.is_file():
        raise ValueError(f"bundled dataset {name!r} has no {path}; {_rebuild_hint(name)}")
    try:
        charge_npz(path, (*_ARRAYS, *_CSR))  # declared sizes against the memory budget first
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(
            f"bundled dataset {name!r}: {path} is corrupted ({type(e).__name__}: {e}); {_rebuild_hint(name)}"
        ) from None
    try:
        with np.load(path, allow_pickle=False) as z:
            files = sorted(z.files)
            arrays = {k: z[k] for k in (*_ARRAYS, *_CSR) if k in files}
        if "text_features" not in arrays and all(k in arrays for k in _CSR):
            arrays["text_features"] = _dense_from_csr(*(arrays.pop(k) for k in _CSR))
    # A truncated or overwritten file fails in zipfile / zlib; object arrays fail with ValueError.
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(
            f"bundled dataset {name!r}: {path} is corrupted ({type(e).__name__}: {e}); {_rebuild_hint(name)}"
        ) from None
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks arrays {missing} (has {files}); {_rebuild_hint(name)}")
    return arrays


def _check(arrays: dict[str, np.ndarray], meta: dict, name: str, folder: Path) -> None:
    n = arrays["image_features"].shape[0]
    lengths = {
        "text_features": arrays["text_features"].shape[0],
        "labels": arrays["labels"].shape[0],
        "meta.json texts": len(meta.get("texts", [])),
        "meta.json images": len(meta.get("images", [])),
    }
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ValueError(
            f"bundled dataset {name!r} is inconsistent: image_features has {n} rows but {bad}; "
            f"{_rebuild_hint(name)}"
        )
    for i, file in enumerate(meta.get("images", [])):
        check_file_name(file, f"image of item {i}", folder)
    if len(meta.get("label_names", [])) != arrays["labels"].shape[1]:
        raise ValueError(
            f"bundled dataset {name!r} has {arrays['labels'].shape[1]} label columns but "
            f"{len(meta.get('label_names', []))} label_names; {_rebuild_hint(name)}"
        )


def _thumbnails(folder: Path, files: list[str], name: str):
    """Return ``i -> PIL.Image`` (RGB) reading ``folder / "images" / files[i]`` on demand."""

    def load(i: int):
        from PIL import Image

        path = bundle_file(folder, f"images/{files[i]}")
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (FileNotFoundError, OSError) as e:
            raise ValueError(
                f"thumbnail {path} of item {i} cannot be read ({e}); {_rebuild_hint(name)}"
            ) from None

    return load


def load_bundle(folder: Path, name: str) -> CrossModalDataset:
    """Load a bundled dataset folder.

    Parameters
    ----------
    folder : Path
        Bundle folder, e.g. ``bundle_folder("tuxpaint")``.
    name : str
        Dataset name used in messages and as ``dataset.name``.

    Returns
    -------
    CrossModalDataset
        ``image_features`` (n, d_img) float32, ``text_features`` (n, d_txt) float32, ``labels``
        (n, c) uint8, ``texts`` (n captions), ``split`` from the stored index arrays,
        ``metadata`` = meta.json content, ``root`` = ``folder``; thumbnails load lazily.

    Raises
    ------
    ValueError
        If a file is missing, the arrays and meta.json disagree, or meta.json names a file
        outside the bundle folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"bundled dataset {name!r} folder {folder} does not exist; {_rebuild_hint(name)}")
    meta = _read_meta(folder, name)
    arrays = _read_arrays(folder, name)
    _check(arrays, meta, name, folder)
    split = Split(
        query=arrays["split_query"].astype(np.int64, copy=False),
        database=arrays["split_database"].astype(np.int64, copy=False),
        train=arrays["split_train"].astype(np.int64, copy=False),
    )
    return CrossModalDataset(
        name=name,
        image_features=arrays["image_features"].astype(np.float32, copy=False),
        text_features=arrays["text_features"].astype(np.float32, copy=False),
        labels=arrays["labels"].astype(np.uint8, copy=False),
        label_names=list(meta["label_names"]),
        texts=list(meta["texts"]),
        split=split,
        metadata=meta,
        root=folder,
        _thumbnail_loader=_thumbnails(folder, list(meta["images"]), name),
    )


def with_text_features(ds: CrossModalDataset, kind: str) -> CrossModalDataset:
    """A bundled dataset with another text feature set: ``"e5"`` reads ``e5.npz`` / ``e5.json``.

    The copy is named ``"<name>:e5"`` (so runs, caches and links tell the two apart) and its
    ``metadata["text_featurizer"]`` is the e5 record, which `featurize_text` follows.

    Raises
    ------
    ValueError
        For an unknown kind, or a bundle without (or with damaged) e5 files, naming the fix.
    """
    import dataclasses

    if kind not in TEXT_FEATURES:
        raise ValueError(f"text_features must be one of {TEXT_FEATURES}, got {kind!r}")
    if kind == "tfidf":
        return ds
    fix = f"rebuild them with: python scripts/build_e5.py {ds.name}"
    root = Path(ds.root) if ds.root is not None else None
    if root is None or not (root / "e5.npz").is_file() or not (root / "e5.json").is_file():
        raise ValueError(f"dataset {ds.name!r} has no e5 text features (e5.npz, e5.json); {fix}")
    try:
        info = loads_json((root / "e5.json").read_bytes(), str(root / "e5.json"))
        charge_npz(root / "e5.npz", ("text_features",))  # declared size against the memory budget first
        with np.load(root / "e5.npz", allow_pickle=False) as z:
            X = np.asarray(z["text_features"], dtype=np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"e5 features of {ds.name!r} are damaged ({type(e).__name__}: {e}); {fix}") from e
    if X.ndim != 2 or len(X) != ds.n_items or not np.isfinite(X).all() or not isinstance(info, dict):
        raise ValueError(f"e5 features of {ds.name!r} do not match its {ds.n_items} items; {fix}")
    meta = {**ds.metadata, "text_featurizer": {**info, "kind": "e5"}}
    return dataclasses.replace(ds, name=f"{ds.name}:e5", text_features=X, metadata=meta)
