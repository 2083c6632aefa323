"""Download buttons for a run's exports (Train page) and a comparison's report (Compare page).

Every file is built only when its button is pressed: Streamlit runs a callable ``data`` on its
own thread at the click, so drawing the Train page costs nothing. Files are not kept after the
download (a report is ~5 MB; rebuilding takes about a second); only the run's codes, which three
files share, are kept, per `RunKey` in Streamlit's resource cache (the last four runs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from cmh_core import exports
from cmh_core.comparison import Comparison, Lookup
from cmh_core.datasets import CrossModalDataset
from cmh_core.experiment import Run
from ui.chance import chance_level
from ui.state import RunKey

__all__ = ["run_downloads", "comparison_downloads"]

_BIN = "application/octet-stream"


@st.cache_resource(max_entries=4, show_spinner=False)
def _run_codes(key: RunKey, _run: Run, _ds: CrossModalDataset) -> dict[str, Any]:
    """The run's packed codes, which three exports share: built at the first click, kept per `RunKey`."""
    return exports.run_codes(_run, _ds)


def _stem(*parts: Any) -> str:
    """A safe file name stem: ``tuxpaint_DCH_32bits_seed0``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "_".join(str(p) for p in parts)).strip("-")


def _button(col, label: str, data: Callable[[], Any], name: str, mime: str, key: str, hint: str) -> None:
    col.download_button(label, data, file_name=name, mime=mime, key=key, help=hint, on_click="ignore")


def run_downloads(key: RunKey, run: Run, ds: CrossModalDataset) -> None:
    """Download buttons of a run: metrics CSV / JSON, codes, model, FAISS indexes, Milvus Lite, HTML report.

    Parameters
    ----------
    key : RunKey
        The run's key (widget keys and the chance level's cache).
    run : Run
        The session's run, with its fitted model.
    ds : CrossModalDataset
        Its dataset.
    """
    chance = chance_level(key.dataset, key.n_bits)  # cached: the Train page computed it already
    stem = _stem(ds.name, run.method, f"{run.n_bits}bits", f"seed{run.seed}")

    def codes() -> dict[str, Any]:
        return _run_codes(key, run, ds)

    files = [
        ("csv", "Metrics CSV", lambda: exports.metrics_csv(run), f"{stem}_metrics.csv", "text/csv",
         "every number of the run, one row each: section, metric, at (k or radius), value"),
        ("json", "Metrics JSON", lambda: exports.metrics_json(run), f"{stem}_metrics.json",
         "application/json", "the run record: parameters, report with curves, timings, loss curve"),
        ("codes_npz", "Codes .npz", lambda: exports.codes_npz(run, ds, codes()), f"{stem}_codes.npz",
         _BIN, "packed query and database codes per modality with item ids "
         "('image:12' = dataset row 12); np.load(f, allow_pickle=False)"),
        ("model", "Model .npz", lambda: exports.model_bytes(run), f"{stem}_model.npz", _BIN,
         "the trained model (no pickle): cmh_core.methods.load_model(path)"),
        ("faiss_text", "FAISS index (texts)", lambda: exports.faiss_index_bytes(codes()["text_database"]),
         f"{stem}_text_database.faissindex", _BIN,
         "database caption codes as a FAISS binary index (faiss.read_index_binary); search them with "
         "image codes"),
        ("faiss_image", "FAISS index (images)", lambda: exports.faiss_index_bytes(codes()["image_database"]),
         f"{stem}_image_database.faissindex", _BIN,
         "database image codes as a FAISS binary index; search it with caption codes"),
        ("milvus", "Milvus Lite database", lambda: exports.milvus_lite_bytes(codes(), ds.split.database),
         f"{stem}_codes.db", _BIN, "image and caption database codes in one Milvus Lite file (ids = dataset "
         "rows): cmh_core.serving.MilvusStore(path); needs pip install '.[milvus]'"),
        ("html", "HTML report", lambda: _report(run, ds, chance), f"{stem}_report.html", "text/html",
         "one self-contained file (about 5 MB) with the figures and a query gallery; opens offline"),
    ]  # fmt: skip
    st.subheader("Download this run")
    cols = st.columns(4)
    for j, (kind, label, make, name, mime, hint) in enumerate(files):
        _button(cols[j % 4], label, make, name, mime, f"dl_run_{kind}", hint)


def _report(run: Run, ds: CrossModalDataset, chance: dict[str, float]) -> str:
    from cmh_core.report import run_report_html

    return run_report_html(run, ds, chance=chance)


def _comparison_report(comparison: Comparison, ds: CrossModalDataset, lookup: Lookup | None = None) -> str:
    from cmh_core.report import comparison_report_html

    # chance of this very dataset (``ds`` need not be loadable by its name), at the click
    return comparison_report_html(comparison, ds, lookup=lookup)


def comparison_downloads(
    comparison: Comparison, ds: CrossModalDataset, key: str = "cmp", lookup: Lookup | None = None
) -> None:
    """Download buttons of a comparison: the HTML report, the per-run CSV and the JSON records.

    Parameters
    ----------
    comparison : Comparison
        `cmh_core.comparison.run_comparison` output (at least one run).
    ds : CrossModalDataset
        Its dataset.
    key : str
        Prefix of the buttons' widget keys (two comparisons on one page need two prefixes).
    lookup : callable, optional
        ``lookup(method, n_bits, seed) -> Run or None`` with its model: the report's query gallery.
    """
    stem = _stem(ds.name, "comparison", "-".join(comparison.methods), "-".join(map(str, comparison.bits)))
    files = [
        ("HTML report", lambda: _comparison_report(comparison, ds, lookup), f"{stem}.html",
         "text/html", "one self-contained file with the tables, figures and a query gallery; opens offline"),
        ("Runs CSV", comparison.to_csv, f"{stem}.csv", "text/csv", "one row per run"),
        ("Runs JSON", lambda: comparison.to_json(indent=1), f"{stem}.json", "application/json",
         "every run record with its curves (Comparison.from_dict reads it back)"),
    ]  # fmt: skip
    cols = st.columns(len(files))
    for col, (label, make, name, mime, hint) in zip(cols, files, strict=True):
        kind = name.rsplit(".", 1)[-1]
        _button(col, label, make, name, mime, f"{key}_dl_{kind}", hint)
