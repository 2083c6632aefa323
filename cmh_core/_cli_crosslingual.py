"""``cmh bench --query-language L``: the bench's T→I with the query captions in language L.

The bench trains its grid as usual (`cmh_core.comparison.run_comparison`); this module then asks
every trained model the query captions translated into L (`cmh_core.evaluation._crosslingual`,
docs/multilingual.md): each language's translations are embedded once and reused by every run.
Only queries with a translation count, and their number is printed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json

__all__ = ["check", "report"]

HELP = (
    "T→I with the query captions replaced by their translation in this language (e.g. de, fr, ja); "
    "needs e5 text features (--dataset tuxpaint:e5)"
)


def check(ds, language: str) -> int:
    """Fail before any training when ``ds`` cannot be queried in ``language``; return the count."""
    from cmh_core.evaluation._crosslingual import check_query_language

    return check_query_language(ds, language)


def report(args: argparse.Namespace, ds, cmp) -> int:
    """Score every run of ``cmp`` with the queries in ``args.query_language``; print the table."""
    from cmh_core._io import atomic_write_text
    from cmh_core.evaluation._crosslingual import (
        cross_lingual_t2i,
        format_cross_lingual_table,
        translated_query_features,
    )

    lang = args.query_language
    _, X = translated_query_features(ds, lang)  # embedded once for every run
    results: dict[tuple[str, int], list[dict]] = {}
    records = []
    for run in cmp.runs:
        if run.model is None:
            raise ValueError(
                f"the run cache holds {run.method} {run.n_bits} bits seed {run.seed} without its model; "
                "rerun without --cache"
            )
        r = cross_lingual_t2i(run.model, ds, lang, X)
        results.setdefault((run.method, run.n_bits), []).append(r)
        records.append({"method": run.method, "n_bits": run.n_bits, "seed": run.seed, **r})
    first = records[0]
    print(
        f"dataset {ds.name}: T→I with the query captions in {lang!r}: {first['n_queries']} of "
        f"{first['n_total']} queries have a translation and only they count; "
        f"{len(ds.split.database)} database images (encoded by the image hash function), "
        f"{args.seeds} seed(s); {_expansion_note(ds)}\n"
    )
    print(format_cross_lingual_table(results))
    if args.csv:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        atomic_write_text(args.csv, out.getvalue())
        print(f"\nwrote {len(records)} rows to {args.csv}")
    if args.json:
        atomic_write_text(args.json, json.dumps(records, indent=1))
        print(f"wrote {len(records)} run records to {args.json}")
    return 0


def _expansion_note(ds) -> str:
    """How both columns' typed queries are featurised (the bundle's validated query expansion)."""
    from cmh_core.datasets.e5 import expansion_phrase
    from cmh_core.datasets.featurize import query_expansion_k

    k = query_expansion_k(ds)
    if not k:
        return "queries hashed from their raw e5 rows"
    return (
        f"both columns' queries are typed queries, each expanded with {expansion_phrase(k)} "
        "(docs/multilingual.md), so English differs from the bench's plain T→I"
    )
