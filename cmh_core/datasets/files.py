"""Readers for cross-modal hashing benchmark files a user brings (``load_dataset(path)``).

Recognised layouts (variable names matched case-insensitively):

``.npz`` (the documented exchange format)
    ``image_features`` (n, d_img), ``text_features`` (n, d_txt), ``labels`` (n, c) 0/1; optional
    ``label_names`` (c,) str, ``texts`` (n,) str, ``split_query``, ``split_database``,
    ``split_train`` (int row indices; database defaults to the rows not in the query set, train
    to the database). Read with ``np.load(path, allow_pickle=False)``: object arrays are refused,
    never unpickled.
``.mat`` / ``.h5`` / ``.hdf5`` split layout (HSCH, JSPSH and other MATLAB releases)
    ``I_tr, I_te`` image features, ``T_tr, T_te`` text features, ``L_tr, L_te`` labels, rows are
    items. ``_te`` rows become the query set, ``_tr`` rows the database (= train); rows are stored
    as ``[tr; te]``.
``.mat`` / ``.h5`` / ``.hdf5`` all-in-one layout (DCMH, DJSRH style releases)
    image features: one of ``ImgAll, IAll, XAll, I_all, image_features, images``;
    text features: one of ``TagAll, YAll, TAll, T_all, text_features, tags``;
    labels: one of ``LAll, L_all, labels`` (first name present wins). There is no split in such
    files, so `make_split` makes the seeded one (20% query). Raw image tensors (DCMH's ``IAll``
    or ``images``, 4-D) are refused with a hint to extract features first.

MATLAB v5 files are read with ``scipy.io`` (variables listed with ``whosmat`` first); MATLAB v7.3
files are HDF5 (detected by the HDF5 signature, or scipy's ``NotImplementedError``) and read with
``h5py``, every array transposed on read because MATLAB writes column-major. A plain ``.h5`` is
transposed when it carries MATLAB marks (``MATLAB_class`` attributes or a user block) or when its
arrays only agree on the number of items along their last axis.

Every problem raises one ``ValueError`` naming the array and the fix.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cmh_core._checks import check_same_rows
from cmh_core._io import SizeBudget, charge_npz
from cmh_core.datasets._export import EXPORT_SUFFIXES, as_path, check_output_path, save_benchmark_file
from cmh_core.datasets._hdf5 import hdf5_entries, read_hdf5_arrays
from cmh_core.datasets._types import CrossModalDataset, Split
from cmh_core.datasets._validate import _check_ndim, _features, _labels, _split_from_arrays, _strings
from cmh_core.datasets.split import make_split

__all__ = [
    "EXPORT_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "as_path",
    "check_output_path",
    "read_benchmark_file",
    "save_benchmark_file",
]

SUPPORTED_SUFFIXES = (".npz", ".mat", ".h5", ".hdf5")
NPZ_REQUIRED = ("image_features", "text_features", "labels")
NPZ_SPLIT = ("split_query", "split_database", "split_train")
SPLIT_LAYOUT = {"image": ("I_tr", "I_te"), "text": ("T_tr", "T_te"), "labels": ("L_tr", "L_te")}
ALL_LAYOUT = {
    "image": ("ImgAll", "IAll", "XAll", "I_all", "image_features", "images"),
    "text": ("TagAll", "YAll", "TAll", "T_all", "text_features", "tags"),
    "labels": ("LAll", "L_all", "labels"),
}
LAYOUTS_HELP = (
    "supported layouts: .npz with image_features, text_features, labels "
    "(+ optional label_names, texts, split_query, split_database, split_train); "
    ".mat/.h5 with I_tr, I_te, T_tr, T_te, L_tr, L_te (HSCH/JSPSH); "
    ".mat/.h5 with one image array of "
    + "/".join(ALL_LAYOUT["image"])
    + ", one text array of "
    + "/".join(ALL_LAYOUT["text"])
    + " and labels "
    + "/".join(ALL_LAYOUT["labels"])
    + " (DCMH/DJSRH)"
)
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

Loader = Callable[[], np.ndarray]


def _dataset(
    path: Path,
    X_img: np.ndarray,
    X_txt: np.ndarray,
    Y: np.ndarray,
    split: Split | None,
    metadata: dict,
    *,
    label_names: list[str] | None = None,
    texts: list[str] | None = None,
    query_fraction: float = 0.2,
    random_state: int | None = 0,
) -> CrossModalDataset:
    """Assemble the dataset, filling default names, captions and split."""
    n = Y.shape[0]
    if split is None:
        split = make_split(Y, query_fraction=query_fraction, random_state=random_state)
        metadata["split"] = f"make_split(query_fraction={query_fraction}, random_state={random_state})"
    return CrossModalDataset(
        name=path.stem,
        image_features=X_img,
        text_features=X_txt,
        labels=Y,
        label_names=label_names or [f"label_{j}" for j in range(Y.shape[1])],
        texts=texts or [f"item {i}" for i in range(n)],
        split=split,
        metadata=metadata,
    )


# ----------------------------------------------------------------------------------------- .npz
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
_NPY_SIGNATURE = b"\x93NUMPY"


def _head(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _check_npz_signature(path: Path) -> None:
    """Refuse a file that is not a zip archive, saying what it looks like instead."""
    head = _head(path)
    if head.startswith(_ZIP_SIGNATURES):
        return
    fix = "save it with np.savez(path, image_features=..., text_features=..., labels=...)"
    if head.startswith(_NPY_SIGNATURE):
        raise ValueError(f"{path} holds a single .npy array, not an .npz archive; {fix}")
    if head[:1] == b"\x80":  # pickle protocol 2+ opcode PROTO
        what = "it looks like a Python pickle, which this loader never unpickles"
    elif all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        what = f"it is a text file (starts with {head.decode('ascii')!r})"
    else:
        what = f"it starts with bytes {head[:8]!r}, not the zip signature 'PK'"
    raise ValueError(f"{path} is not a plain .npz archive: {what}; {fix}")


def _npz_get(npz, names: list[str], key: str, path: Path) -> np.ndarray | None:
    """One array of the archive, or None; object arrays are refused, never unpickled."""
    if key not in names:
        return None
    try:
        return npz[key]
    except ValueError as e:  # "Object arrays cannot be loaded when allow_pickle=False"
        raise ValueError(
            f"array '{key}' in {path} is an object array, which would need unpickling ({e}); "
            "this loader never unpickles: save plain numeric arrays, and str arrays for "
            "label_names/texts (np.array(list_of_str))"
        ) from None


def _read_npz(path: Path, query_fraction: float, random_state: int | None) -> CrossModalDataset:
    _check_npz_signature(path)
    wanted = (*NPZ_REQUIRED, "label_names", "texts", *NPZ_SPLIT)
    try:  # declared sizes against the memory budget, before anything is inflated
        charge_npz(path, wanted)
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} could not be read as .npz ({e}); re-save it with np.savez") from None
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} could not be read as .npz ({e}); re-save it with np.savez") from None
    with npz:
        names = list(npz.files)
        missing = [k for k in NPZ_REQUIRED if k not in names]
        if missing:
            raise ValueError(
                f"{path} lacks {', '.join(missing)}; arrays found: {', '.join(names) or 'none'}; "
                + LAYOUTS_HELP
            )
        raw = {k: _npz_get(npz, names, k, path) for k in wanted}
    for k in ("image_features", "text_features"):
        _check_ndim(k, np.shape(raw[k]))
    if np.ndim(raw["labels"]) == 0:
        raise ValueError("labels must be a 2-D multi-hot matrix (n_items, n_labels), got a single number")
    # Row counts first: a mismatch explains most other symptoms (e.g. apparently empty label rows).
    n = check_same_rows(**{k: raw[k] for k in NPZ_REQUIRED})
    X_img = _features(raw["image_features"], "image_features")
    X_txt = _features(raw["text_features"], "text_features")
    Y = _labels(raw["labels"], "labels")
    label_names = raw["label_names"]
    label_names = None if label_names is None else _strings(label_names, "label_names", Y.shape[1], "label")
    texts = None if raw["texts"] is None else _strings(raw["texts"], "texts", n, "item")
    parts = [raw[k] for k in NPZ_SPLIT]
    split = None if all(p is None for p in parts) else _split_from_arrays(n, *parts)
    meta = {"source": str(path), "format": "npz", "layout": "npz", "arrays": names}
    return _dataset(
        path, X_img, X_txt, Y, split, meta, label_names=label_names, texts=texts,
        query_fraction=query_fraction, random_state=random_state,
    )  # fmt: skip


# ------------------------------------------------------------------------------ .mat / .h5 vars
def _is_hdf5(path: Path) -> bool:
    """True if the file has the HDF5 signature at offset 0, 512, 1024, ... (MATLAB v7.3 uses 512)."""
    with open(path, "rb") as f:
        offset = 0
        while True:
            f.seek(offset)
            head = f.read(8)
            if len(head) < 8:
                return False
            if head == _HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2


#: bytes per element of each MATLAB class (sparse: the double it is densified to)
_MAT_ITEMSIZE = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4,
                 "uint32": 4, "int64": 8, "uint64": 8, "logical": 1, "sparse": 8, "char": 4}  # fmt: skip


def _mat5_vars(path: Path) -> tuple[dict[str, tuple], Callable[[list[str]], dict[str, np.ndarray]]]:
    """List a MATLAB v5 file's variables (name -> shape) and return a reader for chosen names.

    The reader charges the header sizes to the memory budget first and densifies sparse
    matrices (real benchmark releases store tags sparse; every method takes dense features).
    """
    import scipy.io
    import scipy.sparse

    try:
        info = scipy.io.whosmat(str(path))
    except NotImplementedError:  # v7.3 without a detectable signature offset
        raise
    except Exception as e:  # scipy raises MatReadError, ValueError, TypeError on junk
        raise ValueError(f"{path} could not be read as a MATLAB file ({e}); {LAYOUTS_HELP}") from None
    shapes = {name: tuple(shape) for name, shape, _cls in info}
    classes = {name: cls for name, _shape, cls in info}

    def read(names: list[str]) -> dict[str, np.ndarray]:
        budget = SizeBudget(path)
        for k in names:
            if classes[k] in ("cell", "struct", "object", "function"):
                raise ValueError(
                    f"{k} is a MATLAB {classes[k]} array; save it as a numeric (n_items, n_features) matrix"
                )
            note = " (a sparse matrix, densified)" if classes[k] == "sparse" else f" of {classes[k]}"
            budget.charge(k, shapes[k], _MAT_ITEMSIZE.get(classes[k], 8), note)
        data = scipy.io.loadmat(str(path), variable_names=names)
        return {k: data[k].toarray() if scipy.sparse.issparse(data[k]) else data[k] for k in names}

    return shapes, read


def _hdf5_vars(path: Path, force_transpose: bool) -> tuple[dict[str, tuple], Callable, bool]:
    """List an HDF5 file's top-level arrays (raw shapes) and whether it is MATLAB-written.

    Links and datasets whose bytes live outside the file are refused here (`hdf5_entries`).
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path} could not be read as HDF5 ({e}); {LAYOUTS_HELP}") from None
    with f:
        entries = hdf5_entries(f, path)
        shapes = {k: shape for k, (shape, _kind) in entries.items()}
        matlab = force_transpose or f.userblock_size > 0 or any("MATLAB_class" in f[k].attrs for k in shapes)

    def read(names: list[str], transpose: bool) -> dict[str, np.ndarray]:
        return read_hdf5_arrays(path, names, transpose)

    return shapes, read, matlab


def _resolve(shapes: dict[str, tuple], path: Path) -> tuple[str, dict[str, tuple[str, ...]]]:
    """Map the file's variable names to a layout: ("split", role -> (tr, te)) or ("all", role -> (x,))."""
    names = list(shapes)
    lower = {k.lower(): k for k in names}
    split_found = {role: tuple(lower.get(v.lower()) for v in pair) for role, pair in SPLIT_LAYOUT.items()}
    present = [v for pair in split_found.values() for v in pair if v is not None]
    if len(present) == 6:
        return "split", split_found  # type: ignore[return-value]
    chosen = {}
    for role, options in ALL_LAYOUT.items():
        hit = next((lower[o.lower()] for o in options if o.lower() in lower), None)
        if hit is not None:
            chosen[role] = (hit,)
    if len(chosen) == 3:
        return "all", chosen
    found = ", ".join(f"{k} {shapes[k]}" for k in names)
    hint = ""
    if present:
        wanted = [v for pair in SPLIT_LAYOUT.values() for v in pair]
        hint = f" (split layout incomplete: missing {', '.join(w for w in wanted if w.lower() not in lower)})"
    elif chosen:
        hint = (
            f" (all-in-one layout incomplete: no {', '.join(r for r in ALL_LAYOUT if r not in chosen)} array)"
        )
    raise ValueError(f"{path}: unrecognised variable names {found or 'none'}{hint}; {LAYOUTS_HELP}")


def _needs_transpose(shapes: list[tuple]) -> bool:
    """True if 2-D arrays that should share their row count only share their last dimension."""
    if not shapes or any(len(s) != 2 for s in shapes):
        return False
    return len({s[0] for s in shapes}) > 1 and len({s[1] for s in shapes}) == 1


def _validated_parts(data: dict[str, np.ndarray], roles: dict[str, tuple[str, ...]]) -> list[tuple]:
    """Check and convert each part's (image, text, labels) arrays; row counts are checked first."""
    img, txt, lab = roles["image"], roles["text"], roles["labels"]
    for i in range(len(img)):  # a row mismatch explains most other symptoms, so it is reported first
        if np.ndim(data[lab[i]]) == 0:
            raise ValueError(f"{lab[i]} must be a 2-D multi-hot matrix (n_items, n_labels), got one number")
        check_same_rows(**{img[i]: data[img[i]], txt[i]: data[txt[i]], lab[i]: data[lab[i]]})
    parts = []
    for i in range(len(img)):
        first = parts[0] if parts else None
        X = _features(data[img[i]], img[i], n_features=None if first is None else first[0].shape[1])
        T = _features(data[txt[i]], txt[i], n_features=None if first is None else first[1].shape[1])
        L = _labels(data[lab[i]], lab[i])
        if first is not None and L.shape[1] != first[2].shape[1]:
            raise ValueError(
                f"{lab[i]} has {L.shape[1]} label columns but {lab[0]} has {first[2].shape[1]}; "
                "both must use the same label set"
            )
        parts.append((X, T, L))
    return parts


def _open_matlab_like(path: Path) -> tuple[str, dict[str, tuple], Callable[[list[str]], dict]]:
    """Detect the format and return (format, raw shapes, reader of chosen names)."""
    suffix = path.suffix.lower()
    hdf5 = _is_hdf5(path)
    if not hdf5 and suffix in (".h5", ".hdf5"):
        raise ValueError(
            f"{path} is not an HDF5 file (no HDF5 signature; it starts with {_head(path, 8)!r}); "
            "write it with h5py or MATLAB's save -v7.3, or use a .npz"
        )
    if not hdf5:
        try:
            shapes, read5 = _mat5_vars(path)
            return "mat-v5", shapes, read5
        except NotImplementedError:  # scipy: "Please use HDF reader for matlab v7.3 files"
            pass
    is_mat = suffix == ".mat"
    shapes, read_h5, matlab = _hdf5_vars(path, force_transpose=is_mat)
    layout, roles = _resolve(shapes, path)
    groups = list(zip(*roles.values(), strict=True))  # [(image, text, labels)] per part
    transpose = matlab or any(_needs_transpose([shapes[k] for k in g]) for g in groups)
    if transpose:
        shapes = {k: s[::-1] for k, s in shapes.items()}
    return ("mat-v7.3" if is_mat else "hdf5"), shapes, lambda names: read_h5(names, transpose)


def _read_matlab_like(path: Path, query_fraction: float, random_state: int | None) -> CrossModalDataset:
    """Read .mat (v5 or v7.3) and .h5/.hdf5 files in the split or all-in-one layout."""
    fmt, shapes, read = _open_matlab_like(path)
    layout, roles = _resolve(shapes, path)
    for role in ("image", "text"):  # refuse raw image tensors before reading gigabytes
        for v in roles[role]:
            _check_ndim(v, shapes[v])
    parts = _validated_parts(read([v for names in roles.values() for v in names]), roles)
    meta = {"source": str(path), "format": fmt, "layout": layout, "variables": dict(roles)}
    if layout == "split":  # rows [tr; te]: te = query, tr = database = train
        n_tr, n_te = len(parts[0][2]), len(parts[1][2])
        db = np.arange(n_tr, dtype=np.int64)
        split = Split(query=np.arange(n_tr, n_tr + n_te, dtype=np.int64), database=db, train=db.copy())
        X_img, X_txt, Y = (np.vstack(arrays) for arrays in zip(*parts, strict=True))
    else:
        split = None
        X_img, X_txt, Y = parts[0]
    return _dataset(
        path, X_img, X_txt, Y, split, meta, query_fraction=query_fraction, random_state=random_state
    )


# ----------------------------------------------------------------------------------------- API
def read_benchmark_file(
    path, *, query_fraction: float = 0.2, random_state: int | None = 0
) -> CrossModalDataset:
    """Read a benchmark file (.npz, .mat v5/v7.3, .h5/.hdf5) into a `CrossModalDataset`.

    Parameters
    ----------
    path : str or Path
        The file; see the module docstring for the recognised layouts and variable names.
    query_fraction : float, default 0.2
        Query fraction for `make_split` when the file carries no split.
    random_state : int or None, default 0
        Seed for `make_split` when the file carries no split.

    Returns
    -------
    CrossModalDataset
        ``name`` is the file stem; ``image_features`` (n, d_img) and ``text_features`` (n, d_txt)
        float32, ``labels`` (n, c) uint8; ``label_names`` default ``label_0..``, ``texts`` default
        ``item i``; ``metadata`` records the format, layout and variable names. Thumbnails are
        label glyphs.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Unsupported suffix, unrecognised variable names (the message lists those found and the
        supported layouts), wrong shapes, NaN/Inf, labels not 0/1, rows without labels,
        mismatched row counts, bad split indices, or arrays that would need unpickling. The
        message names the array and the fix.
    """
    path = as_path(path, "a benchmark file")
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory, not a benchmark file; pass the path of a "
            f"{'/'.join(SUPPORTED_SUFFIXES)} file inside it"
        )
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(
            f"unsupported file type {suffix or '(none)'!r} for {path}; "
            f"use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such benchmark file: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); was it fully written or downloaded?")
    if suffix == ".npz":
        return _read_npz(path, query_fraction, random_state)
    return _read_matlab_like(path, query_fraction, random_state)
