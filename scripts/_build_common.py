"""Pieces shared by the bundle build scripts (``scripts/build_<name>.py``), one copy each.

The featurisers live in ``cmh_core.datasets.featurize`` and the split in
``cmh_core.datasets.make_split`` (the code the app uses at run time); this module holds only the
build-time glue around them: hashing the source package, the label-frequency rule, the multi-hot
matrix, writing the stored images, computing features from those stored files, writing
``features.npz`` / ``vocabulary.json`` / ``meta.json``, the card's label table and the size check.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cmh_core.datasets import Split, featurize  # noqa: E402

#: Every bundle folder stays under this size (data.md: "Total assets ... under 25 MB").
SIZE_BUDGET = 25 * 1024 * 1024
#: Longest side of the stored images: the featuriser's input size, so no resampling at run time.
IMAGE_SIZE = 224


def sha256(path: Path) -> str:
    """Hex sha256 of a file (the source package's digest, recorded in the dataset card)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def frequent_labels(label_lists: Sequence[Sequence[str]], min_count: int) -> tuple[list[str], list[str]]:
    """Labels carried by at least ``min_count`` items, and the rarer ones.

    Parameters
    ----------
    label_lists : sequence of sequence of str, length n
        Each item's labels (repeats within an item count once).
    min_count : int

    Returns
    -------
    keep : list of str
        Kept labels ordered by frequency (descending), then name: the bundle's column order.
    rare : list of str
        Dropped labels, sorted by name.
    """
    counts = Counter(lab for labels in label_lists for lab in set(labels))
    rare = sorted(lab for lab, c in counts.items() if c < min_count)
    keep = sorted((lab for lab, c in counts.items() if c >= min_count), key=lambda lab: (-counts[lab], lab))
    return keep, rare


def multi_hot(label_lists: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """Y: (n, c) uint8 multi-hot matrix of ``label_lists`` over the columns ``names``."""
    col = {lab: j for j, lab in enumerate(names)}
    Y = np.zeros((len(label_lists), len(names)), dtype=np.uint8)  # (n, c)
    for i, labels in enumerate(label_lists):
        Y[i, [col[lab] for lab in labels]] = 1
    return Y


def write_images(
    items: Sequence[Any],
    render: Callable[[Any], Any],
    item_name: Callable[[Any], str],
    out: Path,
    quality: int,
    skipped: list[str],
    *,
    lossless: bool = False,
) -> list[Any]:
    """Render every item and store it as ``out/images/<k>.webp`` (k = index among the kept items).

    ``render(item)`` returns a PIL image; it goes through ``featurize.prepare_image`` (white
    background, RGB, longest side `IMAGE_SIZE`), the stored form the features are computed from.
    Items whose render raises are logged in ``skipped`` (as ``"<item_name>: could not be rendered
    (...)"``) and left out. The images folder is emptied first, so a rerun leaves no stale file.

    Returns
    -------
    list
        The items that were written, in file order.
    """
    img_dir = out / "images"
    if img_dir.exists():
        shutil.rmtree(img_dir)
    img_dir.mkdir(parents=True)
    kept = []
    for item in items:
        try:
            im = featurize.prepare_image(render(item), IMAGE_SIZE)
        except Exception as e:  # cairosvg / Pillow failures: log and skip the item
            skipped.append(f"{item_name(item)}: could not be rendered ({type(e).__name__}: {e})")
            continue
        kept.append(item)
        if lossless:
            # Lossless effort (quality) 80 at method 4: the same bytes as 100 at 6 on flat icons, 30x faster.
            im.save(img_dir / f"{len(kept) - 1}.webp", "WEBP", lossless=True, quality=quality, method=4)
        else:
            im.save(img_dir / f"{len(kept) - 1}.webp", "WEBP", quality=quality, method=6)
    kind = f"lossless, effort {quality}, method 4" if lossless else f"quality {quality}"
    print(f"wrote {len(kept)} images to {img_dir} (WebP {kind})")
    return kept


def stored_image_features(out: Path, n: int) -> np.ndarray:
    """EfficientNet-Lite0 features of the stored ``out/images/0..n-1.webp``: (n, 1280) float32.

    Computed from the decoded stored files, not from the renders, so that the run-time featuriser
    fed a bundled image reproduces its row.
    """
    from PIL import Image

    print(f"computing EfficientNet-Lite0 features of {n} images ...")
    pics = []
    for k in range(n):
        with Image.open(out / "images" / f"{k}.webp") as im:
            im.load()
            pics.append(im.copy())
    return featurize.image_features_from_pil(pics)  # (n, 1280)


def check_text_rows(X_txt: np.ndarray, names: Sequence[str], texts: Sequence[str]) -> None:
    """Exit if a text has no TF-IDF term (an all-zero row cannot be searched or hashed)."""
    empty = [f"{names[i]} ({texts[i]!r})" for i in np.flatnonzero(~X_txt.any(axis=1))]
    if empty:
        sys.exit(f"captions with no TF-IDF term (all stop words): {empty}; extend featurize.CONTENT_WORDS")


def stored_arrays(
    out: Path,
    label_lists: Sequence[Sequence[str]],
    label_names: Sequence[str],
    texts: Sequence[str],
    names: Sequence[str],
    ngram_range: tuple[int, int] = (1, 2),
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
    """The arrays of the items that survived the render and the label recount.

    Exits if an item was dropped after its image was stored (the images ``0..n-1.webp`` would no
    longer match the rows) or if a text has no TF-IDF term. Returns ``(Y, X_img, vocab, X_txt)``:
    multi-hot (n, c), image features (n, 1280), the TF-IDF vocabulary and text features (n, v).
    """
    n = len(texts)
    if n != len(list((out / "images").glob("*.webp"))):
        sys.exit("an item lost all its labels after a failed render; rerun after fixing the render")
    Y = multi_hot(label_lists, label_names)  # (n, c)
    X_img = stored_image_features(out, n)  # (n, 1280)
    vocab, X_txt = featurize.fit_tfidf(texts, ngram_range=ngram_range)  # (n, v)
    check_text_rows(X_txt, names, texts)
    return Y, X_img, vocab, X_txt


def write_arrays(
    out: Path,
    X_img: np.ndarray,
    X_txt: np.ndarray,
    Y: np.ndarray,
    split: Split,
    vocab: dict,
    *,
    sparse_text: bool = False,
) -> None:
    """Write ``features.npz`` (the arrays `cmh_core.datasets.bundled` reads) and ``vocabulary.json``.

    With ``sparse_text`` the TF-IDF rows are stored as CSR parts (``text_features_data`` float32,
    ``text_features_indices`` int32, ``text_features_indptr`` int64, ``text_features_shape``)
    instead of the dense ``text_features``: a 5,000-term vocabulary is 99.8% zeros, and inflating
    the dense array would take most of the load time. The loader rebuilds the same dense float32.
    """
    query, database = split.query, split.database
    X_txt = X_txt.astype(np.float32)
    if sparse_text:
        rows, cols = np.nonzero(X_txt)  # row-major order: CSR order
        text = {
            "text_features_data": X_txt[rows, cols],
            "text_features_indices": cols.astype(np.int32),
            "text_features_indptr": np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(X_txt)))]),
            "text_features_shape": np.array(X_txt.shape, dtype=np.int64),
        }
    else:
        text = {"text_features": X_txt}
    np.savez_compressed(
        out / "features.npz",
        image_features=X_img.astype(np.float32),
        **text,
        labels=Y,
        split_query=query,
        split_database=database,
        split_train=database.copy(),
    )
    (out / "vocabulary.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")


def write_meta(out: Path, meta: dict) -> None:
    """Write ``meta.json`` (UTF-8, one-space indent)."""
    (out / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def label_rows(names: Sequence[str], Y: np.ndarray) -> str:
    """Markdown rows ``| label | items |`` of the card's label table, in column order."""
    return "\n".join(f"| {name} | {int(f)} |" for name, f in zip(names, Y.sum(0), strict=True))


def skipped_markdown(skipped: Sequence[str]) -> str:
    """The card's "Skipped while building" list."""
    return "\n".join(f"- `{s}`" for s in skipped) or "- none"


def finish(out: Path, n: int, n_labels: int, n_terms: int, split: Split, skipped: Sequence[str]) -> None:
    """Print the skipped items and the summary; exit if the bundle is over `SIZE_BUDGET`."""
    print(f"\nskipped {len(skipped)}:")
    for line in skipped:
        print(f"  {line}")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(
        f"\n{n} items, {n_labels} labels, {n_terms} terms, query {len(split.query)}, "
        f"database {len(split.database)}; {total / 2**20:.1f} MiB in {out}"
    )
    if total > SIZE_BUDGET:
        sys.exit(f"bundle is {total / 2**20:.1f} MiB, over the 25 MiB budget; rerun with a lower --quality")
