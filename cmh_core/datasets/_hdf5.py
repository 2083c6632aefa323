"""HDF5 (and MATLAB v7.3) reading that stays inside the file and inside the memory budget.

HDF5 can make a dataset's bytes come from somewhere else: *external storage* (raw data in
another file, ``create_dataset(..., external=[(path, offset, size)])``), a *virtual layout*
(data mapped from datasets of other files) and *external links* (a name in this file that opens
another file). Any of them would let a benchmark file read arbitrary files of the machine into
features, so every name this reader touches is checked first and refused with the reason.

Sizes come from the headers (shape x itemsize; for a MATLAB sparse matrix the dense size it
will be densified to) and are charged to a `cmh_core._io.SizeBudget` before anything is read.

MATLAB v7.3 sparse matrices are groups with a ``MATLAB_sparse`` attribute (the row count) and
datasets ``jc`` (column pointers), ``ir`` (row indices) and ``data`` (absent when all zero); they
are densified (every method here takes dense features), within the budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cmh_core._io import SizeBudget

__all__ = ["hdf5_entries", "read_hdf5_arrays"]

_MAX_SOFT_LINKS = 8


def _refuse(path: Path, name: str, why: str) -> ValueError:
    return ValueError(
        f"{path}: {name!r} {why}; such data would be read from outside this file, so it is refused. "
        "Copy the data into the file itself (h5py: f.create_dataset(name, data=array)) and try again"
    )


def _resolve(f, name: str, path: Path):
    """The object at ``name``, refusing external links and soft links that lead to one."""
    import h5py

    seen = 0
    target = name
    while True:
        link = f.get(target, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            return None, _refuse(path, name, f"is an external link to {link.filename}:{link.path}")
        if isinstance(link, h5py.SoftLink):
            seen += 1
            if seen > _MAX_SOFT_LINKS:
                return None, _refuse(path, name, "is a chain of more than 8 soft links")
            target = link.path
            continue
        return f[target], None


def _check_dataset(ds, name: str, path: Path) -> ValueError | None:
    """None if ``ds`` keeps its data in this file, else the error to raise."""
    import h5py

    if ds.external:
        files = ", ".join(sorted({str(e[0]) for e in ds.external}))
        return _refuse(path, name, f"has external storage (its bytes live in {files})")
    if ds.id.get_create_plist().get_layout() == h5py.h5d.VIRTUAL or ds.is_virtual:
        return _refuse(path, name, "has a virtual layout (its bytes are mapped from other datasets)")
    return None


def _sparse_parts(group, name: str, path: Path) -> tuple[int, int] | ValueError:
    """(n_rows, n_cols) of a MATLAB sparse group, after checking its parts stay in the file."""
    import h5py

    for part in ("jc", "ir", "data"):
        if part not in group:
            continue
        obj, err = _resolve(group, part, path)
        if err is not None:
            return err
        if not isinstance(obj, h5py.Dataset):
            return ValueError(f"{path}: sparse matrix {name!r} has a {part!r} that is not an array")
        err = _check_dataset(obj, f"{name}/{part}", path)
        if err is not None:
            return err
    if "jc" not in group:
        return ValueError(f"{path}: sparse matrix {name!r} lacks its column pointers 'jc'; re-save it")
    n_rows = int(np.asarray(group.attrs["MATLAB_sparse"]).ravel()[0])
    n_cols = int(group["jc"].shape[0]) - 1
    if n_rows < 0 or n_cols < 0:
        return ValueError(f"{path}: sparse matrix {name!r} declares a negative size; re-save it")
    return n_rows, n_cols


def hdf5_entries(f, path: Path) -> dict[str, tuple[tuple[int, ...], object]]:
    """Top-level arrays of an open HDF5 file: name -> (raw shape, kind).

    kind is ``"dense"`` (a dataset) or ``(n_rows, n_cols)`` for a MATLAB sparse group, whose raw
    shape is reported as MATLAB would store the dense matrix, ``(n_cols, n_rows)``. Links and
    datasets that reach outside the file raise at once.

    Raises
    ------
    ValueError
        Naming the first entry that reaches outside the file and why.
    """
    import h5py

    out: dict[str, tuple[tuple[int, ...], object]] = {}
    for name in f:
        obj, err = _resolve(f, name, path)
        if err is not None:
            raise err
        if isinstance(obj, h5py.Dataset):
            err = _check_dataset(obj, name, path)
            if err is not None:
                raise err
            out[name] = (tuple(int(s) for s in obj.shape), "dense")
        elif isinstance(obj, h5py.Group) and "MATLAB_sparse" in obj.attrs:
            parts = _sparse_parts(obj, name, path)
            if isinstance(parts, ValueError):
                raise parts
            out[name] = ((parts[1], parts[0]), parts)
    return out


def _charge(f, name: str, kind, budget: SizeBudget) -> None:
    if kind == "dense":
        ds = f[name]
        if ds.dtype.kind == "O" or ds.dtype.kind == "V":
            raise ValueError(
                f"{budget.source}: {name!r} is an object/cell or compound array (dtype {ds.dtype}); "
                "save it as a numeric (n_items, n_features) matrix"
            )
        budget.charge(name, ds.shape, ds.dtype.itemsize, f" of {ds.dtype}")
        return
    n_rows, n_cols = kind
    g = f[name]
    item = g["data"].dtype.itemsize if "data" in g else 8
    parts = sum(g[p].size * g[p].dtype.itemsize for p in ("jc", "ir", "data") if p in g)
    budget.charge(
        name, (n_rows, n_cols), item, " (a sparse matrix, densified)", nbytes=n_rows * n_cols * item + parts
    )


def _read_sparse(g, name: str, n_rows: int, n_cols: int, path: Path) -> np.ndarray:
    """Dense (n_cols, n_rows): the layout MATLAB gives a dense matrix in HDF5 (transposed on read)."""
    import scipy.sparse

    jc = g["jc"][()].astype(np.int64)
    ir = g["ir"][()].astype(np.int64) if "ir" in g else np.zeros(0, np.int64)
    data = g["data"][()] if "data" in g else np.zeros(len(ir))
    if data.dtype.kind == "b" or g.attrs.get("MATLAB_class", b"") in (b"logical", "logical"):
        data = data.astype(np.uint8)
    try:
        m = scipy.sparse.csc_array((data, ir, jc), shape=(n_rows, n_cols))
        m.check_format(full_check=True)
    except ValueError as e:
        raise ValueError(f"{path}: sparse matrix {name!r} is damaged ({e}); re-save it") from None
    return m.toarray().T  # a view: transposing on read gives back the contiguous (n_rows, n_cols)


def read_hdf5_arrays(
    path: Path, names: list[str], transpose: bool, budget: SizeBudget | None = None
) -> dict[str, np.ndarray]:
    """Read ``names`` (as listed by `hdf5_entries`) after charging all of them to the budget.

    Parameters
    ----------
    path : Path
    names : list of str
    transpose : bool
        MATLAB-written data: every array is transposed on read (column-major storage).
    budget : SizeBudget, optional
        Default: a fresh one for ``path`` (`cmh_core._io.memory_budget`).

    Returns
    -------
    dict of str to ndarray
    """
    import h5py

    budget = budget or SizeBudget(path)
    with h5py.File(path, "r") as f:
        entries = hdf5_entries(f, path)  # re-checked: the file may have changed since it was listed
        for k in names:
            _charge(f, k, entries[k][1], budget)
        out = {}
        for k in names:
            kind = entries[k][1]
            arr = f[k][()] if kind == "dense" else _read_sparse(f[k], k, *kind, path)
            out[k] = np.ascontiguousarray(arr.T) if transpose else arr
    return out
