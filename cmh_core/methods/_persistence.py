"""Saving and loading fitted models as ``.npz`` files (arrays + embedded JSON, never pickle).

A method declares its fitted attributes in ``_fitted_attributes`` (name → kind, see
`cmh_core.methods._base`); `_split_state` writes exactly those and `_restore_state` restores them,
checking kinds and shapes.
"""

from __future__ import annotations

import json
import numbers
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cmh_core._io import atomic_path, charge_npz, loads_json
from cmh_core._vocab import MODALITIES

if TYPE_CHECKING:
    from cmh_core.methods._base import CrossModalHasher

__all__ = ["FORMAT_VERSION", "load_model"]

FORMAT_VERSION = 1
_FORMAT_TAG = "cmh_core.model"
_META_KEY = "__cmh_meta__"


def _version() -> str:
    import cmh_core

    return str(getattr(cmh_core, "__version__", "unknown"))


def _json_param(v: Any) -> Any:
    """Parameters are JSON scalars or lists of them; a Generator seed is saved as None."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, list | tuple):
        return [_json_param(x) for x in v]
    if isinstance(v, np.random.Generator):
        return None
    raise ValueError(f"parameter value {v!r} cannot be saved; use numbers, strings or None")


def _parse_kind(kind: str) -> tuple[bool, str, tuple[str, ...]]:
    """``"{array(d, r)}"`` → (per_modality=True, "array", ("d", "r")); ``"int"`` → (False, "int", ())."""
    modal = kind.startswith("{") and kind.endswith("}")
    inner = kind[1:-1] if modal else kind
    if inner.startswith("array(") and inner.endswith(")"):
        return modal, "array", tuple(x.strip() for x in inner[6:-1].split(",") if x.strip())
    if inner not in ("int", "float"):
        raise TypeError(f"unknown fitted-attribute kind {kind!r}; use int, float, array(...) or {{...}}")
    return modal, inner, ()


def _split_state(model: CrossModalHasher, declared: dict[str, str]) -> tuple[dict, dict]:
    """Declared fitted attributes → npz arrays + JSON-able attrs.

    Arrays are stored as ``a:<name>``, per-modality dicts of arrays as ``d:<name>:<modality>``;
    ints and floats (and dicts of them) go to the JSON ``attrs``. A fitted attribute missing from
    ``declared`` is a bug of the method, refused here so that `load` can trust the list.
    """
    fitted = [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    undeclared = sorted(set(fitted) - set(declared))
    if undeclared:
        raise TypeError(
            f"{model.name} has fitted attribute(s) {undeclared} missing from its _fitted_attributes; "
            "declare them (name -> kind) in the class so that save/load can check them"
        )
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, Any] = {}
    for k in fitted:
        v = getattr(model, k)
        modal, base, _ = _parse_kind(declared[k])
        if base == "array" and modal:
            for key, x in v.items():
                arrays[f"d:{k}:{key}"] = np.asarray(x)
        elif base == "array":
            arrays[f"a:{k}"] = np.asarray(v)
        else:
            attrs[k] = json.loads(json.dumps(v))
    return arrays, attrs


def _dims_ok(shape: tuple[int, ...], dims: tuple[str, ...], r: int, d: int | None) -> bool:
    if len(shape) != len(dims):
        return False
    size = {"r": r, "b": -(-r // 8), "d": d}
    return all(x == "*" or shape[i] == (size[x] if x in size else int(x)) for i, x in enumerate(dims))


def _restore_state(model: CrossModalHasher, arrays: dict, attrs: Any, where: str) -> None:
    """Set exactly the declared fitted attributes from a file, checking kinds and shapes.

    Raises
    ------
    ValueError
        For a missing, extra or wrongly shaped attribute (the file was damaged or tampered with).
    """
    declared = model._fitted_attributes
    attrs = attrs if isinstance(attrs, dict) else {}
    want_attrs, want_arrays = set(), set()
    for k, kind in declared.items():
        modal, base, _ = _parse_kind(kind)
        if base != "array":
            want_attrs.add(k)
        else:
            want_arrays |= {f"d:{k}:{m}" for m in MODALITIES} if modal else {f"a:{k}"}
    extra = sorted((set(attrs) - want_attrs) | (set(arrays) - want_arrays))
    missing = sorted((want_attrs - set(attrs)) | (want_arrays - set(arrays)))
    if extra or missing:
        raise ValueError(
            f"{where} does not match a saved {model.name} model (unexpected: {extra or 'none'}; "
            f"missing: {missing or 'none'}); the file is damaged or was altered: retrain and save again"
        )
    _restore_scalars(model, attrs, where)
    r = int(model.code_length_)
    if r != model._code_length(int(model.n_bits)):
        raise ValueError(f"{where}: code_length_ = {r} does not follow from n_bits = {model.n_bits}; retrain")
    for k, kind in declared.items():
        modal, base, dims = _parse_kind(kind)
        if base != "array":
            continue
        if modal:
            value = {m: arrays[f"d:{k}:{m}"] for m in MODALITIES}
        else:
            value = {None: arrays[f"a:{k}"]}
        for m, x in value.items():
            d = model.n_features_in_[m] if m else None
            if x.dtype.kind not in "biuf" or not _dims_ok(x.shape, dims, r, d):
                got = f"shape {x.shape}, dtype {x.dtype}"
                raise ValueError(
                    f"{where}: {k}{f'[{m!r}]' if m else ''} should be array({', '.join(dims)}) with "
                    f"r = {r}{f', d = {d}' if d else ''}, got {got}; the file is damaged: retrain"
                )
        setattr(model, k, value if modal else value[None])


def _restore_scalars(model: CrossModalHasher, attrs: dict, where: str) -> None:
    for k, v in attrs.items():
        modal, base, _ = _parse_kind(model._fitted_attributes[k])
        want = int if base == "int" else float
        values = list(v.values()) if modal and isinstance(v, dict) else [v]
        bad = (modal and (not isinstance(v, dict) or set(v) != set(MODALITIES))) or not all(
            isinstance(x, want) and not isinstance(x, bool) for x in values
        )
        if bad or (k in ("code_length_", "n_features_in_") and min(values) < 1):
            raise ValueError(f"{where}: fitted attribute {k} = {v!r} is not a valid {base}; retrain")
        setattr(model, k, v)


def _write_model_file(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write the npz through a temporary file renamed into place: a full disk leaves no half model."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def _read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise ValueError(f"model file {str(path)!r} {what}; pass the path of a .npz written by model.save()")
    not_model = f"{str(path)!r} is not a cmh_core model file (a .npz written by model.save())"
    if path.stat().st_size == 0:
        raise ValueError(f"{not_model}: the file is empty")
    if not zipfile.is_zipfile(path):  # np.load would call a text file "pickled data"
        raise ValueError(f"{not_model}: it is not a zip archive")
    try:  # every member's declared size against the memory budget, before anything is inflated
        charge_npz(path)
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{not_model}: {e}") from e
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{not_model}: {e}") from e
    if _META_KEY not in arrays:
        raise ValueError(f"{not_model} (no metadata)")
    meta = loads_json(str(arrays.pop(_META_KEY)), f"{str(path)!r}: its metadata")
    for k, x in arrays.items():  # NaN or inf weights would hash every input to one code
        if x.dtype.kind in "fc" and not np.isfinite(x).all():
            bad = int(x.size - np.isfinite(x).sum())
            raise ValueError(
                f"{path}: array {k!r} holds {bad} non-finite value{'s' if bad > 1 else ''} (NaN or inf); "
                "a fitted model's arrays are finite, so the file is damaged or was altered: retrain"
            )
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_TAG:
        raise ValueError(not_model)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses model format version {meta.get('format_version')} (written by cmh_core "
            f"{meta.get('cmh_core_version')}), but this cmh_core reads version {FORMAT_VERSION}; "
            "retrain the model with this version and save it again"
        )
    return meta, arrays


def load_model(path: str | Path) -> CrossModalHasher:
    """Load any saved model; the method class is read from the file and looked up in `METHODS`.

    Raises
    ------
    ValueError
        If the file is not a cmh_core model, has another format version, or names a method
        that is not registered.
    """
    from cmh_core.methods import METHODS

    meta, _ = _read_model_file(path)
    cls = METHODS.get(meta.get("class"))
    if cls is None:
        raise ValueError(
            f"{str(path)!r} holds a {meta['class']} model, which is not registered here; "
            f"registered methods: {', '.join(METHODS)}"
        )
    return cls.load(path)
