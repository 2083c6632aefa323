"""How typed queries meet e5-trained hash functions, chosen on a validation split carved from train.

Three choices about the e5 text features are measured here, never on the query set:

- **prefix** (``--study prefix``): captions and typed queries both with e5's ``"query: "``
  prefix (the bundles' rows), captions ``"passage: "`` and queries ``"query: "`` (e5's
  asymmetric retrieval use), or ``"passage: "`` on both sides;
- **query expansion** (``--study expansion``): a typed query's e5 row plus the mean of its k
  nearest training captions (`cmh_core.datasets.e5.expand_queries`), for k in 0, 1, 3, 5, 10;
- **the default text features** (``--study features``): every registered method fitted on
  TF-IDF and on e5 rows, I→T and T→I on the validation items.

For each bundle, 20 % of ``split.train`` (``numpy.random.default_rng(2026)``) is held out as
validation queries; the method is fitted on the other 80 % and ranks their images. Two kinds of
typed query are scored, T→I mAP: on ``openmoji`` the validation captions themselves and their
short names (the text before ":", 1.9 words on average: what people type); on ``tuxpaint`` the
English captions and every non-English translation of them (pooled). Every method of the
cross-lingual table (docs/multilingual.md), 32 bits (JSPSH 24: its K = 20 r must stay below the
504 fitted items), 3 seeds.

``--write`` picks, per bundle, the k with the highest mean over methods of the mean over the two
query kinds (ties at the tables' three decimals go to the smaller k, the smaller change to what
was typed), stores it in the bundle's ``e5.json`` as ``query_expansion_k`` (what
`featurize_text` applies) and writes the tables between the markers
of docs/multilingual.md::

    python scripts/validate_e5_queries.py --study expansion --methods DCH CSMH --out qe.jsonl
    python scripts/validate_e5_queries.py --write qe.jsonl prefix.jsonl --docs docs/multilingual.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cmh_core.datasets import load_dataset  # noqa: E402
from cmh_core.datasets.bundled import bundle_folder  # noqa: E402
from cmh_core.datasets.e5 import embed, expand_queries  # noqa: E402
from cmh_core.evaluation import mean_average_precision_codes  # noqa: E402
from cmh_core.methods import get_method  # noqa: E402
from scripts.build_e5 import write_card  # noqa: E402

METHODS = ["DCH", "HPsEH", "JSPSH", "CSMH", "AMSH", "SDEH"]
KS = [0, 1, 3, 5, 10]
KINDS = {"openmoji": ("caption", "name"), "tuxpaint": ("en", "translated")}
START = "<!-- e5-validation: start (scripts/validate_e5_queries.py) -->"
END = "<!-- e5-validation: end -->"


def validation_split(ds) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, val)`` row indices: 20 % of ``ds.split.train`` held out, seeded (2026)."""
    train = np.asarray(ds.split.train)
    val = np.sort(np.random.default_rng(2026).choice(train, size=len(train) // 5, replace=False))
    return np.setdiff1d(train, val), val


def typed_queries(ds, val: np.ndarray) -> dict[str, tuple[list[str], np.ndarray]]:
    """The two kinds of typed query over the validation items: ``kind -> (texts, label rows)``."""
    if ds.name.startswith("openmoji"):
        names = [ds.texts[i].split(":")[0].strip() for i in val]
        return {"caption": ([ds.texts[i] for i in val], val), "name": (names, val)}
    tr = ds.metadata["translations"]
    pairs = [
        (int(i), t)
        for i in val
        for lang, t in sorted((tr[int(i)] or {}).items())
        if str(t).strip() and not lang.startswith("en")
    ]
    return {
        "en": ([ds.texts[i] for i in val], val),
        "translated": ([t for _, t in pairs], np.array([i for i, _ in pairs])),
    }


def _embed(texts: list[str], prefix: str) -> np.ndarray:
    return np.vstack([embed(texts[s : s + 64], prefix) for s in range(0, len(texts), 64)])


def run(name: str, study: str, methods: list[str], seeds: int, out: Path) -> None:
    ds = load_dataset(name, text_features="e5")
    fit, val = validation_split(ds)
    queries = typed_queries(ds, val)
    Y = ds.labels
    # (scheme, caption rows used for fitting, typed-query rows per kind)
    q_rows = {k: _embed(t, "query") for k, (t, _) in queries.items()}
    schemes = [("query/query", ds.text_features, q_rows)]
    if study == "prefix":
        P = _embed(list(ds.texts), "passage")
        p_rows = {k: _embed(t, "passage") for k, (t, _) in queries.items()}
        schemes += [("passage/query", P, q_rows), ("passage/passage", P, p_rows)]
    ks = KS if study == "expansion" else [0]
    for m in methods:
        for scheme, T, rows in schemes:
            for s in range(seeds):
                bits = 24 if m == "JSPSH" else 32
                model = get_method(m, n_bits=bits, random_state=s).fit(ds.image_features[fit], T[fit], Y[fit])
                B = model.encode(ds.image_features[fit], "image")
                for kind, (_, items) in queries.items():
                    for k in ks:
                        C = model.encode(expand_queries(rows[kind], T[fit], k), "text")
                        rec = {
                            "dataset": name,
                            "study": study,
                            "scheme": scheme,
                            "method": m,
                            "bits": bits,
                            "seed": s,
                            "kind": kind,
                            "k": k,
                            "n_queries": len(items),
                            "mAP": float(mean_average_precision_codes(C, B, Y[items], Y[fit])),
                        }
                        with out.open("a", encoding="utf-8") as f:
                            f.write(json.dumps(rec) + "\n")
            print(f"{name} {study} {scheme} {m}: done", flush=True)


def run_features(name: str, methods: list[str], seeds: int, out: Path) -> None:
    """TF-IDF against e5 text features: both directions on the validation items (``--study features``)."""
    tf, e5 = load_dataset(name), load_dataset(name, text_features="e5")
    fit, val = validation_split(tf)
    Y = tf.labels
    for m in methods:
        for feats, ds in (("tfidf", tf), ("e5", e5)):
            for s in range(seeds):
                bits = 24 if m == "JSPSH" else 32
                model = get_method(m, n_bits=bits, random_state=s)
                model.fit(ds.image_features[fit], ds.text_features[fit], Y[fit])
                enc = {
                    mod: {part: model.encode(X[idx], mod) for part, idx in (("q", val), ("db", fit))}
                    for mod, X in (("image", ds.image_features), ("text", ds.text_features))
                }
                for kind, a, b in (("i2t", "image", "text"), ("t2i", "text", "image")):
                    score = mean_average_precision_codes(enc[a]["q"], enc[b]["db"], Y[val], Y[fit])
                    rec = {
                        "dataset": name,
                        "study": "features",
                        "scheme": feats,
                        "method": m,
                        "bits": bits,
                        "seed": s,
                        "kind": kind,
                        "k": 0,
                        "n_queries": len(val),
                        "mAP": float(score),
                    }
                    with out.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(rec) + "\n")
        print(f"{name} features {m}: done", flush=True)


def features_table(rs: list[dict], name: str) -> str:
    """Markdown: validation mAP per method, TF-IDF against e5, both directions, and the mean row."""
    fr = [r for r in rs if r["dataset"] == name and r["study"] == "features"]
    if not fr:
        return ""
    methods = [
        m
        for m in ["RandomCodes", "CCA-ITQ", "SCM", "CMFH", "DCMH", *METHODS]
        if any(r["method"] == m for r in fr)
    ]
    cols = [(k, f) for k in ("i2t", "t2i") for f in ("tfidf", "e5")]
    names = {"i2t": "I→T", "t2i": "T→I", "tfidf": "TF-IDF", "e5": "e5"}
    out = [
        f"**{name}, TF-IDF against e5** (validation mAP, mean of {len({r['seed'] for r in fr})} seeds, "
        f"{fr[0]['n_queries']} validation queries)",
        "",
        "| method | " + " | ".join(f"{names[k]} {names[f]}" for k, f in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for m in methods:
        out.append(
            f"| {m} | " + " | ".join(f"{_mean(fr, method=m, kind=k, scheme=f):.3f}" for k, f in cols) + " |"
        )
    learnt = [m for m in methods if m != "RandomCodes"]
    means = [np.mean([_mean(fr, method=m, kind=k, scheme=f) for m in learnt]) for k, f in cols]
    out += [f"| **mean of {len(learnt)}** | " + " | ".join(f"**{x:.3f}**" for x in means) + " |", ""]
    return "\n".join(out)


def features_summary(rs: list[dict], name: str) -> dict | None:
    """Mean validation mAP over the learning methods, per feature set and direction (for e5.json)."""
    fr = [r for r in rs if r["dataset"] == name and r["study"] == "features" and r["method"] != "RandomCodes"]
    if not fr:
        return None
    methods = sorted({r["method"] for r in fr})
    mean = {
        f: {
            k: round(float(np.mean([_mean(fr, method=m, kind=k, scheme=f) for m in methods])), 3)
            for k in ("i2t", "t2i")
        }
        for f in ("tfidf", "e5")
    }
    return {**mean, "methods": len(methods), "seeds": len({r["seed"] for r in fr}), "bits": 32}


def _mean(rs: list[dict], **where) -> float:
    return float(np.mean([r["mAP"] for r in rs if all(r[k] == v for k, v in where.items())]))


def choose_k(rs: list[dict], name: str) -> tuple[int, dict[int, float]]:
    """Per bundle: k maximising the mean over methods of the mean over the two query kinds."""
    rs = [r for r in rs if r["dataset"] == name and r["study"] == "expansion"]
    methods = sorted({r["method"] for r in rs})
    score = {
        k: float(np.mean([np.mean([_mean(rs, method=m, kind=q, k=k) for q in KINDS[name]]) for m in methods]))
        for k in KS
    }
    return max(KS, key=lambda k: (round(score[k], 3), -k)), score  # ties at the printed precision


def _rows(rs: list[dict], methods: list[str], kinds, field: str, values: list) -> list[str]:
    """Table rows: one per (method, query kind), one mean-mAP cell per value of ``field``."""
    return [
        f"| {m} | {q} | "
        + " | ".join(f"{_mean(rs, method=m, kind=q, **{field: v}):.3f}" for v in values)
        + " |"
        for m in methods
        for q in kinds
    ]


def tables(rs: list[dict]) -> str:
    out = []
    for name in KINDS:
        ex = [r for r in rs if r["dataset"] == name and r["study"] == "expansion"]
        if ex:
            best, score = choose_k(rs, name)
            methods = [m for m in METHODS if any(r["method"] == m for r in ex)]
            n = {q: next(r["n_queries"] for r in ex if r["kind"] == q) for q in KINDS[name]}
            out += [
                f"**{name}, query expansion** (validation T→I mAP, mean of {len({r['seed'] for r in ex})} "
                f"seeds; queries: {', '.join(f'{q} {n[q]}' for q in KINDS[name])}; chosen: **k = {best}**)",
                "",
                "| method | kind | " + " | ".join(f"k = {k}" for k in KS) + " |",
                "|---|---|" + "---:|" * len(KS),
            ]
            out += _rows(ex, methods, KINDS[name], "k", KS)
            out += ["| **mean** | both | " + " | ".join(f"**{score[k]:.3f}**" for k in KS) + " |", ""]
        pr = [r for r in rs if r["dataset"] == name and r["study"] == "prefix"]
        if pr:
            schemes = ["query/query", "passage/query", "passage/passage"]
            methods = [m for m in METHODS if any(r["method"] == m for r in pr)]
            out += [
                f"**{name}, prefixes** (captions / typed queries; validation T→I mAP, no expansion)",
                "",
                "| method | kind | " + " | ".join(schemes) + " |",
                "|---|---|---:|---:|---:|",
            ]
            out += _rows(pr, methods, KINDS[name], "scheme", schemes)
            out.append("")
    out += [features_table(rs, name) for name in KINDS]
    return "\n".join(out)


def write(paths: list[Path], docs: Path | None) -> None:
    rs = [
        json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for name in KINDS:
        if any(r["dataset"] == name and r["study"] == "expansion" for r in rs):
            best, score = choose_k(rs, name)
            path = bundle_folder(name) / "e5.json"
            info = json.loads(path.read_text(encoding="utf-8"))
            info["query_expansion_k"] = best
            path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
            write_card(bundle_folder(name), info)
            print(f"{name}: k = {best} ({', '.join(f'{k}: {v:.3f}' for k, v in score.items())}) -> {path}")
    for name in KINDS:
        summary = features_summary(rs, name)
        if summary:
            path = bundle_folder(name) / "e5.json"
            info = json.loads(path.read_text(encoding="utf-8"))
            info["text_features_validation"] = summary
            path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
            print(f"{name}: TF-IDF against e5 on validation {summary} -> {path}")
    block = tables(rs)
    print(block)
    if docs is not None:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        head = f"Tables written {when} (load average {load}) by `{cmd}`.\n\n"
        text = docs.read_text(encoding="utf-8")
        pre, rest = text.split(START)
        docs.write_text(pre + START + "\n" + head + block + "\n" + END + rest.split(END)[1], encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--study", choices=["expansion", "prefix", "features"])
    p.add_argument("--datasets", nargs="+", default=list(KINDS))
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, help="JSON lines file the results are appended to")
    p.add_argument("--write", nargs="+", type=Path, help="results files: choose k, write e5.json and tables")
    p.add_argument("--docs", type=Path, help="with --write: the Markdown file whose marked block is replaced")
    a = p.parse_args()
    if a.write:
        write(a.write, a.docs)
        return
    if not a.study or not a.out:
        p.error("give --study and --out, or --write")
    for name in a.datasets:
        if a.study == "features":
            run_features(name, a.methods, a.seeds, a.out)
        else:
            run(name, a.study, a.methods, a.seeds, a.out)


if __name__ == "__main__":
    main()
