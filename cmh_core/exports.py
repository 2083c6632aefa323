"""Exports of one run: metrics (CSV / JSON text), codes (``.npz``), the model, a FAISS index.

Everything here returns ``str`` or ``bytes`` (ready for a download button or ``Path.write_bytes``);
`write_exports` writes them all into a folder. Files are plain formats that reload without this
package's help and without pickle:

* metrics JSON = `Run.to_dict` (``Run.from_dict(json.loads(text))`` rebuilds the record);
* metrics CSV = one row per number, columns ``section, metric, at, value`` (`metrics_rows`);
* codes ``.npz`` = packed query / database codes per modality with item ids
  (``np.load(f, allow_pickle=False)``, keys in `codes_npz`);
* model ``.npz`` = ``model.save`` (`cmh_core.methods.load_model` reloads it);
* FAISS index = `cmh_core.hamming.write_faiss_index` of one modality's database codes
  (``faiss.read_index_binary``; row ``i`` is the ``i``-th id of ``<modality>_database_ids``);
* Milvus Lite database = both modalities' database codes (`milvus_lite_bytes`, optional extra).
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cmh_core.experiment import Run

__all__ = [
    "CODES_FORMAT",
    "item_ids",
    "metrics_rows",
    "metrics_csv",
    "metrics_json",
    "run_codes",
    "protocol_codes",
    "codes_npz",
    "model_bytes",
    "faiss_index_bytes",
    "milvus_lite_bytes",
    "write_exports",
]

CODES_FORMAT = "cmh_core.codes/1"  # the ``format`` entry of a codes file
_ROLES = ("image_query", "text_query", "image_database", "text_database")
_CURVE_X = {"precision_at_k": "k", "pr_curve": "radius"}  # curve -> the key holding its x values


def item_ids(modality: str, rows) -> np.ndarray:
    """Ids of dataset items as the app names them: ``"image:12"`` / ``"text:12"`` (dataset row).

    Parameters
    ----------
    modality : {"image", "text"}
    rows : array-like of int, shape (n,)
        Dataset row indices.

    Returns
    -------
    ndarray of str, shape (n,)
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
    return np.array([f"{modality}:{int(i)}" for i in np.asarray(rows).ravel()], dtype=str)


def _need_model(run: Run) -> Any:
    if getattr(run, "model", None) is None:
        raise ValueError(
            f"the {run.method} run has no fitted model (a record read back from JSON keeps only "
            "its numbers); rerun it with cmh_core.experiment.run_experiment to export codes or the model"
        )
    return run.model


# ------------------------------------------------------------------------------------------ metrics
def _direction_rows(section: str, rep: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name, value in rep.items():
        if isinstance(value, dict) and name in _CURVE_X:  # a curve: one row per point and quantity
            xs = value[_CURVE_X[name]]
            for part, ys in value.items():
                if part != _CURVE_X[name]:
                    rows += [
                        {"section": section, "metric": f"{name}.{part}", "at": x, "value": y}
                        for x, y in zip(xs, ys, strict=True)
                    ]
        elif isinstance(value, list):  # per-query values: "at" is the query's position in split.query
            rows += [{"section": section, "metric": name, "at": j, "value": v} for j, v in enumerate(value)]
        else:
            rows.append({"section": section, "metric": name, "at": "", "value": value})
    return rows


def metrics_rows(run: Run) -> list[dict[str, Any]]:
    """Every number of a run as tidy rows ``{"section", "metric", "at", "value"}``.

    Sections: ``"run"`` (dataset, method, n_bits, seed, protocol, unpaired, fit and evaluation
    seconds, report header), ``"param"`` (hyper-parameters), ``"i2t"`` / ``"t2i"`` (mAP,
    mAP_expected, mAP@k, NDCG@k, radius precision; curves one row per point with ``at`` = k of
    ``precision_at_k.*`` or the radius of ``pr_curve.*``).

    Parameters
    ----------
    run : Run

    Returns
    -------
    list of dict
    """
    head = {
        "dataset": run.dataset,
        "method": run.method,
        "n_bits": run.n_bits,
        "seed": run.seed,
        "protocol": run.protocol,
        "unpaired": run.unpaired,
        "fit_seconds": run.fit_seconds,
        "eval_seconds": run.eval_seconds,
    }
    head.update({k: v for k, v in run.report.items() if not isinstance(v, dict) and k not in head})
    rows = [{"section": "run", "metric": k, "at": "", "value": v} for k, v in head.items()]
    params = run.to_dict()["params"]  # JSON-safe values
    rows += [{"section": "param", "metric": k, "at": "", "value": v} for k, v in params.items()]
    for direction in ("i2t", "t2i"):
        if isinstance(run.report.get(direction), dict):
            rows += _direction_rows(direction, run.report[direction])
    return rows


def metrics_csv(run: Run) -> str:
    """`metrics_rows` as CSV text (header ``section,metric,at,value``; floats written exactly)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["section", "metric", "at", "value"], lineterminator="\n")
    w.writeheader()
    w.writerows({**r, "value": "" if r["value"] is None else r["value"]} for r in metrics_rows(run))
    return buf.getvalue()


def metrics_json(run: Run) -> str:
    """The run record as indented JSON (`Run.to_dict`: params, report with curves, timings, history)."""
    return run.to_json(indent=1, ensure_ascii=False)


# -------------------------------------------------------------------------------------------- codes
def run_codes(run: Run, dataset) -> dict[str, np.ndarray]:
    """Packed codes of the run's query and database items under its protocol.

    The same codes `cmh_core.evaluation.evaluate` scored: an unpaired run's training rows are
    rebuilt with `cmh_core.datasets.unpair` (its fraction and seed).

    Returns
    -------
    dict
        ``"image_query"``, ``"text_query"`` (n_query, n_bytes) and ``"image_database"``,
        ``"text_database"`` (n_database, n_bytes), uint8 (`retrieval_codes`).
    """
    return protocol_codes(_need_model(run), dataset, run.protocol, run.unpaired, run.seed)


def protocol_codes(model, dataset, protocol: str, unpaired: float, seed: int) -> dict[str, np.ndarray]:
    """`cmh_core.evaluation.retrieval_codes` of a fitted ``model`` under ``protocol``.

    An unpaired run (``unpaired > 0``) learned its training codes in `cmh_core.datasets.unpair`'s
    row orders (what `cmh_core.experiment.run_experiment` fitted on, with ``random_state=seed``),
    so those orders map them back to items.

    Returns
    -------
    dict
        ``"image_query"``, ``"text_query"`` (n_query, n_bytes) and ``"image_database"``,
        ``"text_database"`` (n_database, n_bytes), packed uint8.
    """
    from cmh_core.datasets import unpair
    from cmh_core.evaluation import retrieval_codes

    index = unpair(dataset, unpaired, random_state=seed) if unpaired else None
    return retrieval_codes(model, dataset, protocol, train_index=index)


def codes_npz(run: Run, dataset, codes: dict[str, np.ndarray] | None = None) -> bytes:
    """The run's codes with item ids as ``.npz`` bytes (reload with ``np.load(f, allow_pickle=False)``).

    Keys: ``image_query``, ``text_query``, ``image_database``, ``text_database`` (packed uint8
    codes, big-endian bits as `cmh_core.hamming.pack_bits`); ``<same>_ids`` (str, one per code
    row: ``"image:12"`` = dataset row 12, the app's item ids); ``n_bits`` (int), ``method``,
    ``dataset``, ``protocol``, ``format`` (str).

    Parameters
    ----------
    run : Run
        With its fitted model.
    dataset : CrossModalDataset
        The dataset the run was trained on.
    codes : dict, optional
        `run_codes` output when the caller already has it.

    Returns
    -------
    bytes
    """
    codes = run_codes(run, dataset) if codes is None else codes
    q, db = np.asarray(dataset.split.query), np.asarray(dataset.split.database)
    arrays: dict[str, np.ndarray] = {role: np.ascontiguousarray(codes[role]) for role in _ROLES}
    for role in _ROLES:
        modality, part = role.split("_")
        arrays[f"{role}_ids"] = item_ids(modality, q if part == "query" else db)
    arrays["n_bits"] = np.array(int(run.model.code_length) if run.model is not None else run.n_bits)
    arrays["method"], arrays["dataset"] = np.array(run.method), np.array(run.dataset)
    arrays["protocol"], arrays["format"] = np.array(run.protocol), np.array(CODES_FORMAT)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ------------------------------------------------------------------------------------ model, FAISS
def model_bytes(run: Run) -> bytes:
    """The fitted model as ``.npz`` bytes written by ``model.save`` (no pickle; `load_model` reads it)."""
    model = _need_model(run)
    with tempfile.TemporaryDirectory() as tmp:
        return model.save(Path(tmp) / "model.npz").read_bytes()


def faiss_index_bytes(codes) -> bytes:
    """A FAISS binary flat index of ``codes`` as file bytes (`cmh_core.hamming.write_faiss_index`).

    Parameters
    ----------
    codes : ndarray of uint8, shape (n, n_bytes)
        Packed codes; row ``i`` gets id ``i``.

    Returns
    -------
    bytes
        What ``faiss.read_index_binary`` reads back (dimension ``8 * n_bytes``).
    """
    from cmh_core.hamming import write_faiss_index

    with tempfile.TemporaryDirectory() as tmp:
        return write_faiss_index(codes, Path(tmp) / "codes.index").read_bytes()


def milvus_lite_bytes(codes: dict[str, np.ndarray], database_rows) -> bytes:
    """A Milvus Lite database of the run's database codes, both modalities, as file bytes.

    Open it with ``cmh_core.serving.MilvusStore("codes.db")`` (or ``pymilvus.MilvusClient``,
    collection ``cmh_codes``: fields ``seq``, ``item`` = dataset row, ``modality``, ``code``).
    Needs the optional extra: ``pip install '.[milvus]'``.

    Parameters
    ----------
    codes : dict
        `run_codes` output (``"image_database"``, ``"text_database"``: (n_database, n_bytes) uint8).
    database_rows : array-like of int, shape (n_database,)
        Dataset rows of the database items (``dataset.split.database``), stored as ids.
    """
    from cmh_core.serving import MilvusStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.db"
        with MilvusStore(path, 8 * codes["image_database"].shape[1]) as store:
            for m in ("image", "text"):
                store.add(np.asarray(database_rows), codes[f"{m}_database"], m)
        return path.read_bytes()


def write_exports(run: Run, dataset, folder: str | Path) -> dict[str, Path]:
    """Write every export of a run into an existing folder.

    Files: ``metrics.csv``, ``metrics.json``, ``codes.npz``, ``model.npz``,
    ``text_database.faissindex`` (search it with image query codes: I→T) and
    ``image_database.faissindex`` (T→I).

    Returns
    -------
    dict
        ``{file name: path written}``.
    """
    from cmh_core._io import atomic_write_bytes, check_writable_folder

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"cannot write exports into {str(folder)!r}: no such folder; create it first")
    check_writable_folder(folder, "the exports")  # a full or read-only disk, before any work
    codes = run_codes(run, dataset)
    payloads: dict[str, str | bytes] = {
        "metrics.csv": metrics_csv(run),
        "metrics.json": metrics_json(run),
        "codes.npz": codes_npz(run, dataset, codes),
        "model.npz": model_bytes(run),
        "text_database.faissindex": faiss_index_bytes(codes["text_database"]),
        "image_database.faissindex": faiss_index_bytes(codes["image_database"]),
    }
    out: dict[str, Path] = {}
    try:  # each file atomically; on a failure the ones already written go too (no half export)
        for name, data in payloads.items():
            raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
            out[name] = atomic_write_bytes(folder / name, raw)
    except BaseException:
        for path in out.values():
            path.unlink(missing_ok=True)
        raise
    return out
