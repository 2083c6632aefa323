"""Writing a dataset as a benchmark file, and checking an output path before any work.

`check_output_path` is what every writer of the library calls first (CLI ``export``, ``train
--out``, ``report``): besides the suffix and the folder it writes and removes a small probe, so a
full or read-only disk is reported before training. `save_benchmark_file` writes through a
temporary file renamed into place (`cmh_core._io.atomic_path`): a full disk leaves no partial file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cmh_core._io import atomic_path, check_writable_folder
from cmh_core.datasets._types import CrossModalDataset

__all__ = ["EXPORT_SUFFIXES", "as_path", "check_output_path", "save_benchmark_file"]


def as_path(source: object, what: str) -> Path:
    """``source`` as a Path, or a ValueError that describes a non-path (no object reprs).

    Parameters
    ----------
    source : str or os.PathLike
    what : str
        What the path should point to, for the message (``"a benchmark file"``).
    """
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    if hasattr(source, "read"):
        kind = f"an in-memory file ({type(source).__name__})"
    else:
        kind = f"a {type(source).__name__}"
    raise ValueError(f"expected the path of {what}, got {kind}; save the data to a file and pass its path")


EXPORT_SUFFIXES = (".npz", ".mat")


def check_output_path(path: object, suffixes: tuple[str, ...], what: str) -> Path:
    """Check before any work that ``path`` can be written: known suffix, existing folder, not a folder.

    Parameters
    ----------
    path : str or os.PathLike
    suffixes : tuple of str
        Accepted suffixes (lower case, with the dot); empty accepts any.
    what : str
        What will be written, for the message (``"the benchmark file"``).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Naming the path and what is wrong with it.
    """
    path = as_path(path, what)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(
            f"cannot write {what} {str(path)!r}: unsupported suffix {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(suffixes)}"
        )
    if path.is_dir():
        raise ValueError(f"cannot write {what} {str(path)!r}: it is a directory; give a file name inside it")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {what} {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"cannot write {what} {str(path)!r}: permission denied")
    check_writable_folder(folder, what)  # a full disk shows only when something is written
    return path


def save_benchmark_file(dataset: CrossModalDataset, path) -> Path:
    """Write a dataset as a benchmark file that `read_benchmark_file` reads back identically.

    ``.npz`` is the documented exchange format: ``image_features``, ``text_features``, ``labels``,
    ``label_names``, ``texts`` and the split arrays ``split_query``, ``split_database``,
    ``split_train`` in their stored order, all rows in dataset order. ``.mat`` is the HSCH/JSPSH
    layout (MATLAB v5, via ``scipy.io.savemat``): ``I_tr, T_tr, L_tr`` are the database rows (in
    ``split.database`` order, = train), ``I_te, T_te, L_te`` the query rows (in ``split.query``
    order), all stored as double because MATLAB cannot multiply integer matrices; it holds no
    names or captions, and items in neither query nor database are left out. So the authors'
    MATLAB code can run on exactly this data and split.

    Parameters
    ----------
    dataset : CrossModalDataset
    path : str or Path
        Ends in ``.npz`` or ``.mat``; the format follows the suffix.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        For another suffix, a folder that does not exist, or (``.mat`` only) a training set that
        is not the database, which the layout cannot express.
    """
    path = check_output_path(path, EXPORT_SUFFIXES, "the benchmark file")
    s = dataset.split
    if path.suffix.lower() == ".npz":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                image_features=dataset.image_features,
                text_features=dataset.text_features,
                labels=dataset.labels,
                label_names=np.array(dataset.label_names, dtype=str),
                texts=np.array(dataset.texts, dtype=str),
                split_query=s.query,
                split_database=s.database,
                split_train=s.train,
            )
        return path
    import scipy.io

    if len(s.train) != len(s.database) or not np.isin(s.train, s.database).all():
        raise ValueError(
            f"the .mat layout (I_tr/I_te ...) trains on the whole database, but dataset {dataset.name!r} "
            f"trains on {len(s.train)} of its {len(s.database)} database items; save it as .npz instead"
        )
    parts = {"tr": s.database, "te": s.query}  # _tr = database (= train), _te = query
    variables = {}
    for tag, rows in parts.items():
        variables[f"I_{tag}"] = dataset.image_features[rows].astype(np.float64)
        variables[f"T_{tag}"] = dataset.text_features[rows].astype(np.float64)
        variables[f"L_{tag}"] = dataset.labels[rows].astype(np.float64)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        scipy.io.savemat(f, variables, format="5", do_compression=True, oned_as="column")
    return path
