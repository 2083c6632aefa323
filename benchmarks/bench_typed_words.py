"""One-word typed queries on openmoji:e5: animal names in three languages, raw and expanded.

For ten animals with a picture in OpenMoji, DCH is trained on the English e5 features (32 bits,
seeds 0-4 by default) and each name is typed as a query, raw (``expand=0``) and through the
bundle's validated query expansion (`cmh_core.datasets.featurize.query_expansion_k`). Printed per
word: the share of the top 10 database pictures that share a label with the animal's picture
(mean over seeds), and the picture's own rank (median). These are query-set measurements made
after k was chosen on validation (scripts/validate_e5_queries.py); nothing is chosen here.

    python benchmarks/bench_typed_words.py --seeds 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets import featurize_text, load_dataset  # noqa: E402
from cmh_core.datasets.featurize import query_expansion_k  # noqa: E402
from cmh_core.hamming import search  # noqa: E402
from cmh_core.methods import get_method  # noqa: E402

# caption name in OpenMoji -> names typed (en, fr, de)
ANIMALS = {
    "turtle": ("turtle", "tortue", "Schildkröte"),
    "crocodile": ("crocodile", "crocodile", "Krokodil"),
    "hedgehog": ("hedgehog", "hérisson", "Igel"),
    "flamingo": ("flamingo", "flamant", "Flamingo"),
    "snail": ("snail", "escargot", "Schnecke"),
    "whale": ("whale", "baleine", "Wal"),
    "elephant": ("elephant", "éléphant", "Elefant"),
    "butterfly": ("butterfly", "papillon", "Schmetterling"),
    "penguin": ("penguin", "manchot", "Pinguin"),
    "owl": ("owl", "hibou", "Eule"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--method", default="DCH")
    a = p.parse_args()
    ds = load_dataset("openmoji:e5")
    k = query_expansion_k(ds)
    tr, db = ds.split.train, np.asarray(ds.split.database)
    Y = ds.labels[db].astype(bool)
    rows = {}
    for s in range(a.seeds):
        model = get_method(a.method, n_bits=a.bits, random_state=s).fit(
            ds.image_features[tr], ds.text_features[tr], ds.labels[tr]
        )
        B = model.encode(ds.image_features[db], "image")
        for animal, names in ANIMALS.items():
            pic = next(j for j, i in enumerate(db) if ds.texts[i].lower().startswith(animal + ":"))
            shares = (Y & Y[pic]).any(axis=1)
            for lang, word in zip(("en", "fr", "de"), names, strict=True):
                for kk in (0, k):
                    code = model.encode(featurize_text(ds, word, expand=kk)[None, :], "text")
                    _, order = search(code, B, len(db))
                    rank = int(np.flatnonzero(order[0] == pic)[0]) + 1
                    rows.setdefault((animal, lang, word, kk), []).append((shares[order[0, :10]].mean(), rank))
    print(f"{a.method} {a.bits} bits, seeds 0-{a.seeds - 1}, openmoji:e5 (database {len(db)}), k = {k}")
    print(
        f"| animal | lang | typed | top-10 share, raw | top-10 share, k = {k} | rank, raw | rank, k = {k} |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    tot = {}
    for animal, names in ANIMALS.items():
        for lang, word in zip(("en", "fr", "de"), names, strict=True):
            r0, r1 = np.array(rows[(animal, lang, word, 0)]), np.array(rows[(animal, lang, word, k)])
            tot.setdefault(lang, []).append((r0[:, 0].mean(), r1[:, 0].mean()))
            print(f"| {animal} | {lang} | {word} | {r0[:, 0].mean():.2f} | {r1[:, 0].mean():.2f} | "
                  f"{np.median(r0[:, 1]):.0f} | {np.median(r1[:, 1]):.0f} |")  # fmt: skip
    for lang, v in tot.items():
        v = np.array(v)
        print(f"mean top-10 share, {lang}: raw {v[:, 0].mean():.2f}, k = {k} {v[:, 1].mean():.2f}")


if __name__ == "__main__":
    main()
