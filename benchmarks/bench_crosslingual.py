"""Cross-lingual T→I on Tux Paint: train on English e5 features, query with translated captions.

For every language with at least ``--min-queries`` translated query captions, each method is
trained on ``tuxpaint:e5`` (English captions, multilingual e5 features) at 32 bits (JSPSH at 31:
its K = 20 r storage bits must stay below the 630 training items) with 3 seeds, and scored by
`cmh_core.evaluation.cross_lingual_t2i`: the translated query captions, embedded by the same
encoder, hashed by the model's text hash function, ranked against the database images. The table
(Markdown, to stdout and ``--out``) gives mAP mean ± std per language beside English on the same
queries and the chance level, with the number of translated queries; it is generated, never
typed by hand. Translations are embedded once per language (the slow part: ~0.1 s a caption).

    python benchmarks/bench_crosslingual.py --out TABLE.md
    python benchmarks/bench_crosslingual.py --methods DCH --languages de fr ja --seeds 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets import load_dataset  # noqa: E402
from cmh_core.evaluation import cross_lingual_t2i, translated_query_counts  # noqa: E402
from cmh_core.methods import get_method  # noqa: E402

SEEDS_METHODS = ["DCH", "HPsEH", "JSPSH", "CSMH", "AMSH", "SDEH"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=SEEDS_METHODS)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--languages", nargs="*", default=None, help="default: every language with enough queries")
    p.add_argument("--min-queries", type=int, default=50)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    ds = load_dataset("tuxpaint", text_features="e5")
    counts = translated_query_counts(ds)
    langs = a.languages or [k for k, n in counts.items() if n >= a.min_queries]
    tr = ds.split.train
    rows, t0 = {}, time.perf_counter()
    for method in a.methods:
        for seed in range(a.seeds):
            model = get_method(method, n_bits=31 if method == "JSPSH" else 32, random_state=seed)
            model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
            for lang in langs:
                r = cross_lingual_t2i(model, ds, lang)
                rows.setdefault((method, lang), []).append(r)
            print(
                f"{method} seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True
            )
    load = os.getloadavg()[0]
    lines = [
        f"T→I mAP at 32 bits (JSPSH 31), trained on English e5 features of `tuxpaint`, {a.seeds} seeds, "
        f"mean ± std; queries = query items with a translation. Load average {load:.1f} on "
        f"{os.cpu_count()} cores; {time.perf_counter() - t0:.0f} s in all.",
        "",
        "| language | queries | chance | " + " | ".join(f"{m} (en → lang)" for m in a.methods) + " |",
        "|---|---:|---:|" + "---:|" * len(a.methods),
    ]
    for lang in langs:
        chance = rows[(a.methods[0], lang)][0]["chance"]
        cells = []
        for m in a.methods:
            x = np.array([r["mAP"] for r in rows[(m, lang)]])
            en = np.array([r["mAP_en"] for r in rows[(m, lang)]])
            cells.append(f"{en.mean():.3f} → {x.mean():.3f} ± {x.std():.3f}")
        lines.append(f"| {lang} | {counts[lang]} | {chance:.3f} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
