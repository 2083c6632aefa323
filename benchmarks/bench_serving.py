"""Serving codes: `hamming.search` (in-memory array) against FaissStore and MilvusStore (Milvus Lite).

For each database size N (random 64-bit codes), the table gives the build/insert time of each
store, queries per second at k = 10 and k = 100 (a batch of ``--queries`` random queries per
call), and recall@k against exact search (`cmh_core.hamming.search`; ties count by id, so an
engine that returned other ids at the same k-th distance would show recall < 1). Timing rounds
are interleaved (every engine and k once per round, so a burst of load hits all of them) and the
median with the min-max spread over rounds is printed. Milvus Lite insertion is slow (tens of
thousands of rows per second); sizes above ``--milvus-max-n`` skip Milvus and say so.

    nice -n 5 python benchmarks/bench_serving.py                        # N = 1e5, 1e6, 1e7
    python benchmarks/bench_serving.py --n 100000 --rounds 3 --queries 100
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core import hamming  # noqa: E402
from cmh_core.serving import FaissStore, MilvusStore  # noqa: E402

KS = (10, 100)


def _spread(x: list[float], digits: int = 0) -> str:
    a = np.asarray(x)
    return f"{np.median(a):,.{digits}f} ({a.min():,.{digits}f}-{a.max():,.{digits}f})"


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _recall(I: np.ndarray, I_ref: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(I, I_ref, strict=True)]))


def one_size(n: int, args, tmp: Path) -> list[str]:
    rng = np.random.default_rng(n)
    db = rng.integers(0, 256, (n, args.bits // 8), dtype=np.uint8)
    q = rng.integers(0, 256, (args.queries, args.bits // 8), dtype=np.uint8)
    ids = np.arange(n, dtype=np.int64)
    engines: dict[str, object] = {"hamming.search": None}
    build: dict[str, str] = {"hamming.search": "none (the array)"}
    t0 = time.perf_counter()
    fs = FaissStore(args.bits)
    fs.add(ids, db, "image")
    build["FaissStore (flat)"] = f"{time.perf_counter() - t0:.2f} s"
    engines["FaissStore (flat)"] = fs
    notes = []
    if n <= args.milvus_max_n:
        t0 = time.perf_counter()
        ms = MilvusStore(tmp / f"bench_{n}.db", args.bits)
        ms.add(ids, db, "image")
        dt = time.perf_counter() - t0
        build["MilvusStore (Lite, BIN_FLAT)"] = f"{dt:.1f} s ({n / dt:,.0f} rows/s)"
        engines["MilvusStore (Lite, BIN_FLAT)"] = ms
    else:
        notes.append(f"MilvusStore not run at N = {n:,} (above --milvus-max-n {args.milvus_max_n:,})")
    exact = {k: hamming.search(q, db, k) for k in KS}
    times: dict[tuple[str, int], list[float]] = {(e, k): [] for e in engines for k in KS}
    recall: dict[tuple[str, int], float] = {}
    for _ in range(args.rounds):
        for name, store in engines.items():
            for k in KS:
                t0 = time.perf_counter()
                D, I = hamming.search(q, db, k) if store is None else store.search(q, k)
                times[(name, k)].append(args.queries / (time.perf_counter() - t0))
                recall[(name, k)] = _recall(I, exact[k][1])
                assert np.array_equal(D, exact[k][0]), f"{name} distances differ at k={k}"
    rows = []
    for name in engines:
        cells = [_spread(times[(name, k)]) for k in KS] + [f"{recall[(name, k)]:.3f}" for k in KS]
        rows.append(f"| {n:,} | {name} | {build[name]} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    for store in engines.values():
        if store is not None:
            store.close()
    return rows + [f"| {n:,} | *{note}* | | | | | |" for note in notes]


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--queries", type=int, default=200, help="queries per timed call")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument("--milvus-max-n", type=int, default=1_000_000, help="skip Milvus above this N")
    args = p.parse_args(argv)
    head = [
        f"{args.bits}-bit random codes, {args.queries} random queries per call, median (min-max) of "
        f"{args.rounds} interleaved rounds; load average at start {_load()} on {os.cpu_count()} cores.",
        "",
        "| N | engine | build / insert | QPS, k = 10 | QPS, k = 100 | recall@10 | recall@100 |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            rows += one_size(n, args, Path(tmp))
    table = "\n".join([*head, *rows, "", f"Load average at the end: {_load()}."])
    print()
    print(table)
    return table


if __name__ == "__main__":
    main()
