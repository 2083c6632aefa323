"""Cross-lingual T→I on Tux Paint: train on English e5 features, query with translated captions.

For every language with at least ``--min-queries`` translated query captions, each method is
trained once per seed on ``tuxpaint:e5`` (English captions, multilingual e5 features) at 32 bits
(JSPSH at 31: its K = 20 r storage bits must stay below the 630 training items) by
`cmh_core.experiment.run_experiment`, and scored by `cross_lingual_t2i` in every language: the
translated query captions, embedded by the same encoder, hashed by the model's text hash
function, ranked against the database images. Each language's translations are embedded once
and reused by every model (the slow part: ~0.02 s a caption on an idle core).

The table gives mAP mean ± std over seeds per language, English on the same queries, the chance
level and the number of translated queries; it is generated, never typed by hand. ``--results``
keeps every (method, seed) as it finishes and ``--embeddings`` every language's embedded
translations, so an interrupted run resumes; ``--docs`` writes the
table between the markers of docs/multilingual.md with the date, load average and command.

    nice -n 15 python benchmarks/bench_crosslingual.py --results xl.json --embeddings xl-e5 \
        --docs docs/multilingual.md
    python benchmarks/bench_crosslingual.py --methods DCH --languages de fr ja --seeds 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets import load_dataset  # noqa: E402
from cmh_core.datasets.e5 import expansion_phrase  # noqa: E402
from cmh_core.datasets.featurize import query_expansion_k  # noqa: E402
from cmh_core.evaluation._crosslingual import (  # noqa: E402
    cross_lingual_t2i,
    translated_queries,
    translated_query_counts,
    translated_query_features,
)
from cmh_core.experiment import run_experiment  # noqa: E402

SEED_METHODS = ["DCH", "HPsEH", "JSPSH", "CSMH", "AMSH", "SDEH"]  # SDEH, the slowest, last
START, END = (
    "<!-- crosslingual-table: start (benchmarks/bench_crosslingual.py) -->",
    "<!-- crosslingual-table: end -->",
)


def _bits(method: str) -> int:
    return 31 if method == "JSPSH" else 32


def table(ds, results: dict, methods: list[str], langs: list[str], seeds: int) -> str:
    """The Markdown table: one row per language, one column per method, plus the mean row."""
    counts = translated_query_counts(ds)
    head = [f"{m} ({_bits(m)} bits)" for m in methods]
    lines = [
        "| language | queries | same as en | chance | " + " | ".join(head) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(methods),
    ]
    means: dict[str, list] = {m: [] for m in methods}
    for lang in langs:
        cells, chance = [], None
        for m in methods:
            rs = [results[f"{m}/{s}"][lang] for s in range(seeds)]
            x, en = np.array([r["mAP"] for r in rs]), np.array([r["mAP_en"] for r in rs])
            chance = rs[0]["chance"]
            means[m].append((x.mean(), en.mean(), chance, lang))
            cells.append(f"{x.mean():.3f} ± {x.std():.3f} / {en.mean():.3f}")
        items, texts = translated_queries(ds, lang)  # a "translation" may be the English text itself
        pairs = zip(items, texts, strict=True)
        same = np.mean([t.strip().lower() == ds.texts[i].strip().lower() for i, t in pairs])
        row = f"| {lang} | {counts[lang]} | {100 * same:.0f}% | {chance:.3f} | "
        lines.append(row + " | ".join(cells) + " |")
    cells = [
        f"{np.mean([r[0] for r in means[m]]):.3f} / {np.mean([r[1] for r in means[m]]):.3f}" for m in methods
    ]
    lines.append(f"| **mean of {len(langs)}** | | | | " + " | ".join(cells) + " |")
    lines.append("")
    for m in methods:  # a generated reading of the table, never typed
        rows = means[m]
        above = sum(x >= c + 0.10 for x, _, c, _ in rows)
        other = [r for r in rows if not r[3].startswith("en")] or rows  # en_AU, en_GB: English variants
        best, worst = max(other), min(other)
        kept = np.mean([x / en for x, en, _, _ in rows])
        lines.append(
            f"- {m}: at least 0.10 above chance in {above} of {len(rows)} languages; English variants "
            f"aside, best {best[3]} ({best[0]:.3f}), worst {worst[3]} ({worst[0]:.3f}); the translated "
            f"queries keep {100 * kept:.0f}% of the English mAP on average."
        )
    return "\n".join(lines)


def _features(ds, lang: str, folder: Path | None) -> np.ndarray:
    """The e5 rows of ``lang``'s translated queries, from ``folder/<lang>.npy`` when it holds them."""
    path = None if folder is None else folder / f"{lang}.npy"
    if path is not None and path.is_file():
        try:
            X = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # unreadable: embed again
            X = None
        if X is not None and X.shape == (translated_query_counts(ds)[lang], ds.text_features.shape[1]):
            return X
    X = translated_query_features(ds, lang)[1]
    if path is not None:  # temporary file + rename: another run reading the folder never sees half
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{lang}.{os.getpid()}.npy"
        np.save(tmp, X, allow_pickle=False)
        os.replace(tmp, path)
    return X


def write_docs(path: Path, block: str) -> None:
    """Replace the text between the crosslingual-table markers of ``path`` with ``block``."""
    doc = path.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        raise ValueError(f"{path} lacks the markers {START} ... {END}")
    head, rest = doc.split(START, 1)
    path.write_text(head + START + "\n" + block + "\n" + END + rest.split(END, 1)[1], encoding="utf-8")


def _command() -> str:
    nice = os.nice(0)  # the niceness this process runs at, part of how it was run
    args = [Path(sys.argv[0]).as_posix(), *sys.argv[1:]]
    return (f"nice -n {nice} " if nice else "") + "python " + " ".join(shlex.quote(x) for x in args)


def _stamp() -> str:
    load = os.getloadavg()
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y-%m-%d %H:%M} UTC, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=SEED_METHODS)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--languages", nargs="*", default=None, help="default: every language with enough queries")
    p.add_argument("--min-queries", type=int, default=50)
    p.add_argument(
        "--results", nargs="+", type=Path, default=[],
        help="JSON files of finished (method, seed) results, merged to resume; new ones go to the first",
    )  # fmt: skip
    p.add_argument("--embeddings", type=Path, help="folder of <language>.npy embedded translations: reuse")
    p.add_argument("--train-first", action="store_true", help="train every model before embedding")
    p.add_argument("--docs", type=Path, help="write the table between this Markdown file's markers")
    a = p.parse_args()
    t0 = time.perf_counter()
    ds = load_dataset("tuxpaint", text_features="e5")
    counts = translated_query_counts(ds)
    langs = a.languages or [k for k, n in counts.items() if n >= a.min_queries]
    results: dict = {"_runs": {}}
    for path in a.results:
        if path.is_file():
            old = json.loads(path.read_text())
            results["_runs"].update(old.pop("_runs", {}))
            results.update(old)
    todo = [(m, s) for m in a.methods for s in range(a.seeds) if f"{m}/{s}" not in results]

    def log(msg: str) -> None:
        print(f"{msg} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    def train(method: str, seed: int):
        run = run_experiment(ds, method, n_bits=_bits(method), seed=seed)
        log(f"{method} seed {seed}: fit {run.fit_seconds:.1f} s, T→I en {run.map_t2i:.3f}")
        return run.model

    models = {(m, s): train(m, s) for m, s in todo} if a.train_first else {}
    feats = {lang: _features(ds, lang, a.embeddings) for lang in (langs if todo else [])}
    if todo:  # each language embedded once, reused by every model
        log(f"embedded {sum(len(x) for x in feats.values())} translated captions in {len(langs)} languages")
    for method, seed in todo:
        model = models.pop((method, seed)) if a.train_first else train(method, seed)
        key = f"{method}/{seed}"
        results[key] = {lang: cross_lingual_t2i(model, ds, lang, feats[lang]) for lang in langs}
        results["_runs"][key] = f"{_stamp()}: `{_command()}`"
        if a.results:  # at once: a stopped run keeps what finished
            path = a.results[0]
            mine = json.loads(path.read_text()) if path.is_file() else {}
            mine.setdefault("_runs", {})[key] = results["_runs"][key]
            path.write_text(json.dumps({**mine, key: results[key]}, indent=0))
    runs = results["_runs"]
    made: dict[str, list[str]] = {}  # command -> "method/seed at time, load average"
    for k in (f"{m}/{s}" for m in a.methods for s in range(a.seeds)):
        if k in runs:
            stamp, cmd = runs[k].split(": `", 1)
            made.setdefault(cmd.rstrip("`"), []).append(f"{k} at {stamp}")
    block = "\n".join([
        f"Table written {_stamp()} (on {os.cpu_count()} cores, a shared machine) by `{_command()}`. "
        f"T→I mAP of models trained on the English e5 features of `tuxpaint`, {a.seeds} seeds: each "
        "cell is the mean ± std with the query captions in that language / the mean with the same "
        "queries' English captions, both hashed as typed queries ("
        + (
            f"each expanded with {expansion_phrase(k)}, the bundle's `query_expansion_k` chosen on validation"
            if (k := query_expansion_k(ds))
            else "raw rows: the bundle's `query_expansion_k` is 0"
        )
        + "); database images encoded by the image hash function; "
        "queries = query captions with a translation (of "
        f"{len(ds.split.query)}); same as en = share of those translations identical to the English "
        "caption (case aside); chance = mean fraction of relevant database items.",
        "",
        table(ds, results, a.methods, langs, a.seeds),
        "",
        "The runs (method/seed, finished at, load average then), by command:",
        "",
        *[f"- `{cmd}`: " + "; ".join(done) for cmd, done in made.items()],
    ])  # fmt: skip
    print(block)
    if a.docs:
        write_docs(a.docs, block)
        print(f"wrote the table into {a.docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
