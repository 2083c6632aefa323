"""Home's worked example: one query image, its own caption and an unrelated caption, with their codes.

Home shows it on every fresh start, so it must not train anything there (docs/app-engine.md,
"Warm start"). `scripts/build_home_examples.py` fits the example method once per dataset and
writes a small JSON file (``assets/home/<name>.json``: the dataset's fingerprint, the three item
indices and their packed codes as hex). The app reads it with `load_example`; a file whose
fingerprint differs from the loaded dataset (a rebuilt bundle) is refused, never shown as if it
were current. `fit_example` recomputes the same record from a fresh fit, which is what the
build script writes and what ``tests/test_home_example.py`` compares with the shipped files.

Streamlit-free.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cmh_core._io import atomic_write_text, loads_json

__all__ = [
    "EXAMPLE_METHOD",
    "EXAMPLE_BITS",
    "EXAMPLE_SEED",
    "example_from_model",
    "fit_example",
    "example_path",
    "example_record",
    "write_example",
    "load_example",
]

EXAMPLE_METHOD, EXAMPLE_BITS, EXAMPLE_SEED = "DCH", 32, 0
FORMAT = 1
_MAX_BYTES = 64 * 1024  # an example file is ~1 KB; anything far larger is not one
_CHECKOUT_ASSETS = Path(__file__).resolve().parents[1] / "assets"


def example_from_model(ds, model) -> dict[str, Any]:
    """Pick Home's example from a fitted model's codes of the query items.

    Among the query items the one whose image code is nearest its own caption's code is shown (a
    case the method gets right, as Home says), beside the unrelated query caption (no shared label)
    farthest from it; ties go to the first index.

    Parameters
    ----------
    ds : CrossModalDataset
    model : CrossModalHasher
        Fitted; ``encode`` gives packed codes ``(n, n_bytes)``.

    Returns
    -------
    dict
        ``a``, ``b`` (dataset indices of the image / own caption and of the unrelated caption) and
        ``image``, ``own``, ``other``: packed codes ``(n_bytes,)`` uint8.
    """
    from cmh_core.hamming import hamming_distance

    q = np.asarray(ds.split.query)
    img = model.encode(ds.image_features[q], "image")  # (n_q, n_bytes)
    txt = model.encode(ds.text_features[q], "text")
    # D[i, j] = d_H(image of q_i, caption of q_j); signed, so the -1 below cannot wrap around
    D = hamming_distance(img, txt).astype(np.int64)
    a = int(np.argmin(np.diag(D)))
    unrelated = ~(ds.labels[q] & ds.labels[q[a]]).any(axis=1)
    b = int(np.argmax(np.where(unrelated, D[a], -1)))
    return {"a": int(q[a]), "b": int(q[b]), "image": img[a], "own": txt[a], "other": txt[b]}


def fit_example(
    ds, method: str = EXAMPLE_METHOD, n_bits: int = EXAMPLE_BITS, seed: int = EXAMPLE_SEED
) -> dict[str, Any]:
    """Fit ``method`` on the training split (``random_state=seed``) and pick the example from it."""
    from cmh_core.methods import get_method

    tr = ds.split.train
    model = get_method(method, n_bits=n_bits, random_state=seed)
    model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
    return example_from_model(ds, model)


def _file_name(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name).lower())
    if not safe.strip("_"):
        raise ValueError(f"dataset name {name!r} gives no file name; use a name with letters or digits")
    return f"{safe}.json"


def example_path(name: str, assets: str | os.PathLike | None = None) -> Path:
    """``<assets>/home/<name>.json`` (``:`` becomes ``_``).

    Without ``assets``: ``$CMH_ASSETS/home/`` when that file exists (as bundles are found,
    `cmh_core.datasets.bundle_folder`), else the checkout's ``assets/home/``.
    """
    if assets is not None:
        return Path(assets) / "home" / _file_name(name)
    env = os.environ.get("CMH_ASSETS")
    if env and (Path(env).expanduser() / "home" / _file_name(name)).is_file():
        return Path(env).expanduser() / "home" / _file_name(name)
    return _CHECKOUT_ASSETS / "home" / _file_name(name)


def example_record(ds, name: str, ex: dict[str, Any], n_bits: int = EXAMPLE_BITS) -> dict[str, Any]:
    """The JSON-ready record of an example (codes as hex), tied to the dataset's fingerprint."""
    from cmh_core.runcache import dataset_fingerprint

    return {
        "format": FORMAT,
        "dataset": str(name),
        "fingerprint": dataset_fingerprint(ds),
        "method": EXAMPLE_METHOD,
        "n_bits": int(n_bits),
        "seed": EXAMPLE_SEED,
        "a": int(ex["a"]),
        "b": int(ex["b"]),
        **{k: np.asarray(ex[k], dtype=np.uint8).tobytes().hex() for k in ("image", "own", "other")},
    }


def write_example(ds, name: str, path: str | os.PathLike | None = None) -> Path:
    """Fit the example on ``ds`` and write its record (sorted keys, atomically); returns the path."""
    import json

    path = example_path(name) if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = example_record(ds, name, fit_example(ds))
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def load_example(ds, name: str, path: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """The shipped example of dataset ``name``, or None when no file was built for it.

    Returns
    -------
    dict or None
        As `example_from_model` (codes decoded to uint8 arrays), plus ``method`` and ``n_bits``.

    Raises
    ------
    ValueError
        For a damaged file (bad JSON, missing or mistyped field, index out of range) or a stale one
        (built for other features: its fingerprint differs); the message names the file and says
        to run ``scripts/build_home_examples.py``.
    """
    from cmh_core.runcache import dataset_fingerprint

    path = example_path(name) if path is None else Path(path)
    if not path.is_file():
        return None
    fix = f"rebuild it with `python scripts/build_home_examples.py {name}`"
    if path.stat().st_size > _MAX_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes, not a Home example (~1 KB); {fix}")
    rec = loads_json(path.read_bytes(), str(path))
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise ValueError(f"{path} is not a format-{FORMAT} Home example; {fix}")
    if rec.get("fingerprint") != dataset_fingerprint(ds):
        raise ValueError(f"{path} was built for other data than the loaded {name!r} (fingerprint); {fix}")
    n_bytes = (int(rec.get("n_bits", 0)) + 7) // 8 if isinstance(rec.get("n_bits"), int) else -1
    out: dict[str, Any] = {"method": rec.get("method"), "n_bits": rec.get("n_bits")}
    for k in ("a", "b"):
        v = rec.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < ds.n_items:
            raise ValueError(f"{path}: {k!r} must be an item index in 0..{ds.n_items - 1}, got {v!r}; {fix}")
        out[k] = v
    for k in ("image", "own", "other"):
        try:
            code = np.frombuffer(bytes.fromhex(str(rec.get(k))), dtype=np.uint8)
        except ValueError:
            raise ValueError(f"{path}: {k!r} is not a hex code; {fix}") from None
        if len(code) != n_bytes:
            raise ValueError(f"{path}: {k!r} has {len(code)} bytes, expected {n_bytes}; {fix}")
        out[k] = code.copy()
    if not isinstance(out["method"], str):
        raise ValueError(f"{path}: 'method' must be a method name; {fix}")
    return out
