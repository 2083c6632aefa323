"""Command line: ``python -m cmh_core`` (or ``cmh``) with the commands bench, train, report, index, query,
export, datasets and methods.

``bench`` trains every chosen method at every code length and seed on one dataset and prints a
paper-style table: mAP for I→T and T→I (mean ± std over seeds; the stable-tie mAP and, where the
report has it, the tie-expected mAP), graded NDCG@50 (gain from the number of shared labels,
``docs/evaluation.md``) and training seconds; with ``--query-language L`` (an e5 dataset) it
scores T→I with the query captions in language L instead (docs/multilingual.md). ``report``
trains one run (or a comparison grid) and writes the one-file HTML report of `cmh_core.report`.

Every error is one line ``error: ...`` on stderr with exit status 2, never a traceback (set
``CMH_DEBUG=1`` to see one). Output paths are checked before any work starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from cmh_core import _cli_crosslingual
from cmh_core._catalogue import _catalogue_from_source, method_catalogue  # noqa: F401 (tests use it)

__all__ = ["format_table", "main", "method_catalogue"]

_DESCRIPTION = (
    "Cross-modal hashing from the shell: benchmark methods, train one, write an HTML report of a run "
    "or a comparison, export a dataset as a benchmark file, list the datasets and methods."
)
_EXIT_USAGE = 2
_UNPAIRED = (
    "fraction in [0, 1] of training texts shuffled away from their images (0 = paired, default; "
    "1 = fully unpaired); only for methods that support unpaired data"
)
_PROTOCOL = "database codes: 'learned' training codes (default) or 'encoded' by the hash functions"


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``error: ...`` line (the shared CLI error format)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(_EXIT_USAGE)


# ------------------------------------------------------------------------------------------ parser
def _parser(prog: str = "python -m cmh_core") -> argparse.ArgumentParser:
    names = ", ".join(m["name"] for m in method_catalogue())
    p = _Parser(prog=prog, description=_DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    b = sub.add_parser(
        "bench",
        help="train and evaluate methods × code lengths × seeds; print a table",
        description="Train and evaluate every method × code length × seed on one dataset and print "
        "paper-style tables of mAP and graded NDCG@50 (mean ± std over seeds) and training seconds.",
        epilog=f"methods: {names} (case-insensitive)",
    )
    b.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a .npz/.mat/.h5 path")
    b.add_argument("--methods", nargs="+", default=["all"], help="method names, or 'all' (default)")
    b.add_argument("--bits", nargs="+", type=int, default=[16, 32, 64, 128], help="code lengths")
    b.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1); default 3")
    b.add_argument("--protocol", choices=["learned", "encoded"], default="learned", help=_PROTOCOL)
    b.add_argument("--unpaired", type=float, default=0.0, metavar="FRACTION", help=_UNPAIRED)
    b.add_argument("--csv", type=Path, help="write one row per run to this CSV file")
    b.add_argument("--json", type=Path, help="write every run record (with curves) to this JSON file")
    b.add_argument("--no-progress", action="store_true", help="print no progress on stderr")
    b.add_argument("--jobs", type=int, default=1, help="local processes (one BLAS thread each); default 1")
    b.add_argument("--scheduler", help="'local' (a Dask LocalCluster of --jobs workers) or tcp://host:8786")
    b.add_argument("--cache", type=Path, help="run cache folder: skip finished runs, store new ones")
    b.add_argument("--query-language", metavar="LANG", help=_cli_crosslingual.HELP)

    t = sub.add_parser(
        "train",
        help="train one method, print its mAP, optionally save the model (.npz, no pickle)",
        description="Train one method on a dataset's training split, evaluate it and print its mAP.",
        epilog=f"methods: {names} (case-insensitive; '-' and '_' ignored)",
    )
    t.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a .npz/.mat/.h5 path")
    t.add_argument("--method", required=True, help="the method to train (see the list below)")
    t.add_argument("--bits", type=int, default=32, help="code length in bits; default 32")
    t.add_argument("--seed", type=int, default=0, help="random_state of the method; default 0")
    t.add_argument("--protocol", choices=["learned", "encoded"], default="learned", help=_PROTOCOL)
    t.add_argument("--unpaired", type=float, default=0.0, metavar="FRACTION", help=_UNPAIRED)
    t.add_argument("--out", type=Path, help="save the trained model here (.npz appended if missing)")

    _report_parser(sub, names)
    e = sub.add_parser(
        "export",
        help="write a dataset as a .npz or .mat benchmark file",
        description="Write a dataset with its split as a benchmark file: .npz (the exchange format) or "
        ".mat (HSCH/JSPSH layout I_tr, I_te, T_tr, T_te, L_tr, L_te; train = database, te = query), "
        "for example to run the authors' MATLAB code on exactly this data and split.",
    )
    e.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a benchmark file")
    e.add_argument("--out", type=Path, required=True, help="the file to write; the format follows its suffix")

    from cmh_core._cli_serving import add_parsers

    add_parsers(sub, names)
    sub.add_parser("datasets", help="list the datasets that load by name")
    m = sub.add_parser("methods", help="list the registered methods with their fidelity and idea")
    m.add_argument("--markdown", action="store_true", help="print the README's methods table (Markdown)")
    return p


def _report_parser(sub, names: str) -> None:
    r = sub.add_parser(
        "report",
        help="train one run or a comparison and write a one-file HTML report (opens offline)",
        description="Train and evaluate one method (--method) or a methods × bits × seeds grid "
        "(--methods, several --bits, or --seeds) and write a self-contained HTML report: parameters, "
        "dataset, metric tables, interactive plotly figures and the best and worst queries.",
        epilog=f"methods: {names} (case-insensitive). Lists take spaces or commas: "
        "--methods DCH,CCA-ITQ --bits 32,64",
    )
    r.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a .npz/.mat/.h5 path")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--method", help="one method: a report of one run")
    who.add_argument("--methods", nargs="+", help="methods (or 'all') of a comparison report")
    r.add_argument("--bits", nargs="+", default=["32"], help="code length(s); several make a comparison")
    r.add_argument("--seed", type=int, help="random_state of a one-run report; default 0")
    r.add_argument("--seeds", type=int, help="number of seeds (0..N-1) of a comparison; default 1")
    r.add_argument("--protocol", choices=["learned", "encoded"], default="learned", help=_PROTOCOL)
    r.add_argument("--unpaired", type=float, default=0.0, metavar="FRACTION", help=_UNPAIRED)
    r.add_argument("--out", type=Path, required=True, help="the .html file to write")
    r.add_argument("--no-progress", action="store_true", help="print no progress on stderr")


# --------------------------------------------------------------------------------------- commands
def format_table(rows: list[dict], bits: Sequence[int]) -> str:
    """The bench tables; see `cmh_core.comparison.format_table` (imported lazily: fast ``--help``)."""
    from cmh_core.comparison import format_table as _format_table

    return _format_table(rows, bits)


def _check_bench_args(args: argparse.Namespace) -> list[str]:
    """Every check that can fail before training: counts, code lengths, names, output paths."""
    from cmh_core.datasets.files import check_output_path
    from cmh_core.methods import METHODS, method_class

    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    bad = [b for b in args.bits if b < 1]
    if bad:
        raise ValueError(f"--bits must be positive code lengths, got {bad[0]}")
    for opt in ("csv", "json"):
        if getattr(args, opt) is not None:
            check_output_path(getattr(args, opt), (), f"the --{opt} file")
    if [m.lower() for m in args.methods] == ["all"]:
        return list(METHODS)
    return [method_class(m).name for m in args.methods]  # fails on a bad name before any training


def _check_fraction(fraction: float) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"--unpaired must be a fraction in [0, 1], got {fraction}; use e.g. --unpaired 1")


def _progress(jobs: list, quiet: bool):
    """Progress on stderr: a bar on a terminal (cleared at the end), headed log lines otherwise."""
    if quiet or not sys.stderr.isatty():
        return jobs, (None if quiet else print)
    from tqdm import tqdm

    return tqdm(jobs, desc="bench", unit="run", file=sys.stderr, leave=False), None


def _bench(args: argparse.Namespace) -> int:
    from cmh_core._io import atomic_write_text
    from cmh_core.comparison import plan_comparison, run_comparison
    from cmh_core.datasets import load_dataset

    methods = _check_bench_args(args)
    _check_fraction(args.unpaired)
    ds = load_dataset(args.dataset)
    if args.query_language:  # e5 features and translations checked before any training
        _cli_crosslingual.check(ds, args.query_language)
    combos, skipped = plan_comparison(ds, methods, args.bits, args.unpaired)
    if not combos:
        raise ValueError("nothing to run: " + "; ".join(skipped))
    for note in skipped:
        print(f"skipped: {note}", file=sys.stderr)
    total = len(combos) * args.seeds
    bar, log = _progress(list(range(total)), args.no_progress)
    if log:
        log(f"progress ({total} runs; the tables follow on stdout): run, method, bits, seed, "
            "mAP I→T, mAP T→I, fit s", file=sys.stderr)  # fmt: skip

    def _step(i: int, n: int, run, _reused: bool) -> None:
        if log:
            log(f"  {i}/{n}  {run.method} {run.n_bits} {run.seed}  {run.map_i2t:.3f}  {run.map_t2i:.3f}  "
                f"{run.fit_seconds:.2f}", file=sys.stderr)  # fmt: skip
        elif hasattr(bar, "update"):
            bar.update(1)

    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    cmp = run_comparison(
        ds, list(dict.fromkeys(m for m, _ in combos)), args.bits, args.seeds,
        protocol=args.protocol, unpaired=args.unpaired, progress=_step,
        n_jobs=args.jobs, scheduler=args.scheduler, cache=args.cache,
    )  # fmt: skip
    if hasattr(bar, "close"):
        bar.close()
    if args.query_language:
        return _cli_crosslingual.report(args, ds, cmp)
    rows = cmp.rows()
    print(
        f"dataset {ds.name}: {len(ds.split.query)} queries, {len(ds.split.database)} database items, "
        f"protocol '{args.protocol}', {args.seeds} seed(s)\n"
    )
    print(cmp.table())
    if args.cache is not None:
        print(f"\nrun cache {args.cache}: {cmp.reused} run(s) reused, {len(cmp.runs) - cmp.reused} trained")
    if skipped:
        print("\nnot run (the method refuses these settings):\n" + "\n".join(f"- {n}" for n in skipped))
    if args.csv:
        atomic_write_text(args.csv, cmp.to_csv())  # temporary file + rename: never half a CSV
        print(f"\nwrote {len(rows)} rows to {args.csv}")
    if args.json:
        records = [r.to_dict() for r in cmp.runs]
        atomic_write_text(args.json, json.dumps(records, indent=1))
        print(f"wrote {len(records)} run records to {args.json}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from cmh_core.datasets.files import check_output_path
    from cmh_core.experiment import run_experiment
    from cmh_core.methods import method_class

    method_class(args.method)  # a bad name fails before the data is loaded
    if args.bits < 1:
        raise ValueError(f"--bits must be a positive code length, got {args.bits}")
    if args.out is not None:  # save() appends .npz when missing: check the path it will write
        out = args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")
        check_output_path(out, (), "the model file")
    _check_fraction(args.unpaired)
    run = run_experiment(
        args.dataset,
        args.method,
        n_bits=args.bits,
        seed=args.seed,
        protocol=args.protocol,
        unpaired=args.unpaired,
    )
    print(
        f"{run.method} on {run.dataset}, {run.n_bits} bits, seed {run.seed}: "
        f"mAP I→T {run.map_i2t:.4f}, T→I {run.map_t2i:.4f}, trained in {run.fit_seconds:.2f} s"
    )
    if args.out:
        path = run.model.save(args.out)
        print(f"saved model to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cmh_core.datasets import load_dataset, save_benchmark_file
    from cmh_core.datasets.files import EXPORT_SUFFIXES, check_output_path

    check_output_path(args.out, EXPORT_SUFFIXES, "the benchmark file")
    ds = load_dataset(args.dataset)
    path = save_benchmark_file(ds, args.out)
    sizes = ds.split.sizes()
    print(
        f"wrote {ds.name} to {path}: {sizes['query']} query and {sizes['database']} database items "
        f"({sizes['train']} train), {ds.image_features.shape[1]}-d image and "
        f"{ds.text_features.shape[1]}-d text features, {ds.labels.shape[1]} labels"
    )
    return 0


def _split_list(values: Sequence[str], what: str, cast=str) -> list:
    """``["DCH,CCA-ITQ", "SCM"]`` -> ``["DCH", "CCA-ITQ", "SCM"]``; a bad item names the option."""
    out = []
    for item in (v.strip() for value in values for v in value.split(",")):
        if not item:
            continue
        try:
            out.append(cast(item))
        except ValueError:
            raise ValueError(f"{what} takes a list of {cast.__name__}s, got {item!r}") from None
    if not out:
        raise ValueError(f"{what} needs at least one value")
    return out


def _check_report_args(args: argparse.Namespace) -> tuple[list[str], list[int], bool]:
    """Methods, bits and whether it is a comparison; every check before any work (path first)."""
    from cmh_core.datasets.files import check_output_path
    from cmh_core.methods import METHODS, method_class

    check_output_path(args.out, (".html", ".htm"), "the HTML report")
    bits = _split_list(args.bits, "--bits", int)
    if any(b < 1 for b in bits):
        raise ValueError(f"--bits must be positive code lengths, got {min(bits)}")
    _check_fraction(args.unpaired)
    comparison = args.methods is not None or len(bits) > 1 or args.seeds is not None
    if comparison and args.seed is not None:
        raise ValueError("--seed is for a one-run report; a comparison takes --seeds N (seeds 0..N-1)")
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    names = _split_list(args.methods or [args.method], "--methods")
    if [n.lower() for n in names] == ["all"]:
        return list(METHODS), bits, True
    return [method_class(n).name for n in names], bits, comparison  # a bad name fails here


def _report_comparison(args: argparse.Namespace, ds, methods: list[str], bits: list[int]):
    from cmh_core.comparison import run_comparison

    def _step(i: int, n: int, run, _reused: bool) -> None:
        if not args.no_progress:
            print(f"  {i}/{n}  {run.method} {run.n_bits} bits seed {run.seed}: "
                  f"mAP I→T {run.map_i2t:.3f}, T→I {run.map_t2i:.3f}", file=sys.stderr)  # fmt: skip

    n_seeds = args.seeds or 1
    cmp = run_comparison(
        ds, methods, bits, n_seeds, protocol=args.protocol, unpaired=args.unpaired, progress=_step
    )
    for note in cmp.skipped:
        print(f"skipped: {note}", file=sys.stderr)
    return (
        cmp,
        f"comparison of {', '.join(cmp.methods)} at {', '.join(map(str, bits))} bits, {n_seeds} seed(s)",
    )


def _report(args: argparse.Namespace) -> int:
    from cmh_core.datasets import load_dataset
    from cmh_core.experiment import run_experiment
    from cmh_core.report import write_report

    methods, bits, comparison = _check_report_args(args)
    ds = load_dataset(args.dataset)
    if comparison:
        obj, what = _report_comparison(args, ds, methods, bits)
    else:
        seed = args.seed or 0
        obj = run_experiment(
            ds, methods[0], n_bits=bits[0], seed=seed, protocol=args.protocol, unpaired=args.unpaired
        )
        what = (
            f"{obj.method} at {obj.n_bits} bits, seed {obj.seed} "
            f"(mAP I→T {obj.map_i2t:.3f}, T→I {obj.map_t2i:.3f})"
        )
    path = write_report(obj, ds, args.out)
    print(f"wrote the report of {what} to {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _datasets() -> int:
    from cmh_core.datasets import list_datasets

    for d in list_datasets():
        print(f"{d['name']:<12} {d['description']}")
    return 0


def methods_markdown() -> str:
    """The README's methods table, built from the registered classes (a test keeps them equal)."""
    from cmh_core.methods import METHODS

    rows = ["| method | paper | fidelity | unpaired | idea |", "|---|---|---|---|---|"]
    for name, cls in METHODS.items():
        p, doc = cls.paper, f"docs/methods/{cls.__module__.rsplit('.', 1)[1]}.md"
        authors = [a.split()[-1] for a in p.get("authors", "").split(", ") if a]
        venue = " ".join(w for w in str(p.get("venue") or "").split() if not w[0].isdigit())
        cite = f"{authors[0]}{' et al.' if len(authors) > 2 else ''}, {venue} {p['year']}" if authors else "—"
        cite = cite.replace(",", f" & {authors[-1]},", 1) if len(authors) == 2 else cite
        unpaired = "yes" if cls.supports_unpaired else "no"
        rows.append(f"| [`{name}`]({doc}) | {cite} | {cls.fidelity} | {unpaired} | {p.get('idea', '')} |")
    return "\n".join(rows)


def _methods(markdown: bool = False) -> int:
    if markdown:
        print(methods_markdown())
        return 0
    entries = method_catalogue()
    width = max(len("method"), *(len(e["name"]) for e in entries))
    fid = max(len("fidelity"), *(len(e["fidelity"]) for e in entries))
    print(f"{'method':<{width}}  {'fidelity':<{fid}}  idea")
    for e in entries:
        print(f"{e['name']:<{width}}  {e['fidelity']:<{fid}}  {e['idea'] or e['title']}")
    return 0


def _serving(args: argparse.Namespace) -> int:
    from cmh_core import _cli_serving

    return (_cli_serving.index_command if args.command == "index" else _cli_serving.query_command)(args)


_COMMANDS = {"bench": _bench, "train": _train, "report": _report, "export": _export}
_COMMANDS.update(index=_serving, query=_serving)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; 2 after a one-line ``error: ...`` on stderr for bad input (usage, names,
        files, paths); 130 when interrupted; 1 for an unexpected internal error (one line too,
        the traceback only with ``CMH_DEBUG=1``).
    """
    prog = "cmh" if Path(sys.argv[0]).name == "cmh" else "python -m cmh_core"
    try:
        args = _parser(prog).parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error already printed as one line (2)
        return int(e.code or 0)
    try:
        if args.command in _COMMANDS:
            return _COMMANDS[args.command](args)
        return _datasets() if args.command == "datasets" else _methods(args.markdown)
    except BrokenPipeError:  # e.g. `cmh methods | head`: the reader left; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (ValueError, OSError, EOFError, MemoryError, ImportError) as e:  # ImportError: a missing extra
        print(f"error: {' '.join(str(e).split()) or type(e).__name__}", file=sys.stderr)
        return _EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, unless the user asks for the traceback
        if os.environ.get("CMH_DEBUG"):
            raise
        print(f"error: internal error ({type(e).__name__}: {e}); rerun with CMH_DEBUG=1 and report it",
              file=sys.stderr)  # fmt: skip
        return 1
