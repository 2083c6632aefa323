"""Add multilingual e5 text features to a built bundle: ``assets/datasets/<name>/e5.npz`` + ``e5.json``.

Run once by a developer after ``scripts/build_<name>.py`` (the output is committed)::

    python scripts/build_e5.py tuxpaint openmoji

Each caption of the bundle's ``meta.json`` is embedded with `cmh_core.datasets.e5.embed` (the
code the app uses for typed queries), so a query equal to a caption reproduces its row exactly.
``e5.json`` records the package, its version, the model file's SHA-256, the prefix and the build
time; the bundle's ``README.md`` card gains a section saying the same.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets.bundled import bundle_folder  # noqa: E402
from cmh_core.datasets.e5 import embed, expansion_phrase, model_info  # noqa: E402

CARD_HEADER = "## Multilingual text features (e5)"


def card_section(info: dict, n: int, seconds: float) -> str:
    k = int(info.get("query_expansion_k", 0))
    near = expansion_phrase(k)
    chosen = "chosen on a validation split carved from train by `scripts/validate_e5_queries.py`"
    expansion = (
        f" A typed query is expanded with {near} before hashing (`query_expansion_k` in `e5.json`, {chosen})."
        if k
        else f" Typed queries are not expanded (`query_expansion_k` 0, {chosen})."
        if "query_expansion_k" in info
        else ""
    )
    return (
        f"{CARD_HEADER}\n\n"
        f"`e5.npz` holds `text_features` ({n} x {info['dim']} float32): every caption embedded by "
        f"{info['model']} through the PyPI package `{info['package']}` {info['version']} (MIT; model "
        f"file `{info['model_file']}`, SHA-256 `{info['sha256']}`), with the `{info['prefix']}` prefix "
        "on every text (captions and typed queries alike; a symmetric caption-to-caption task), "
        f"L2-normalised. Built by `scripts/build_e5.py` in {seconds:.0f} s. Load them with "
        '`load_dataset("<name>", text_features="e5")`.' + expansion + "\n"
    )


def write_card(folder: Path, info: dict) -> None:
    """Replace the e5 section of the bundle's ``README.md`` card with one built from ``info``."""
    card = (folder / "README.md").read_text(encoding="utf-8")
    section = card_section(info, int(info["n_items"]), float(info["build_seconds"]))
    (folder / "README.md").write_text(
        card.split(CARD_HEADER)[0].rstrip() + "\n\n" + section, encoding="utf-8"
    )


def build(name: str) -> None:
    folder = bundle_folder(name)
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    X = np.vstack([embed(meta["texts"][s : s + 64]) for s in range(0, len(meta["texts"]), 64)])
    seconds = time.perf_counter() - t0
    buf = io.BytesIO()
    np.savez_compressed(buf, text_features=X)
    (folder / "e5.npz").write_bytes(buf.getvalue())
    info = {**model_info(), "n_items": int(len(X)), "build_seconds": round(seconds, 1)}
    old = folder / "e5.json"
    if old.is_file():  # the validated query expansion is a choice about the rows, kept across rebuilds
        k = json.loads(old.read_text(encoding="utf-8")).get("query_expansion_k")
        if k is not None:
            info["query_expansion_k"] = k
    (folder / "e5.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    write_card(folder, info)
    size = (folder / "e5.npz").stat().st_size
    print(f"{name}: {X.shape} in {seconds:.1f} s -> {folder / 'e5.npz'} ({size:,} B)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="bundled dataset names (tuxpaint, openmoji)")
    for name in parser.parse_args().names:
        build(name)


if __name__ == "__main__":
    main()
