"""Write Home's precomputed example (``assets/home/<name>.json``) for every shipped dataset.

Home must not train on a fresh start (docs/app-engine.md, "Warm start"), so the example it
shows (DCH at 32 bits, seed 0, fitted on the training split; `cmh_core.demo`) is fitted here
once and committed. Rerun after rebuilding a bundle: the app refuses a file whose dataset
fingerprint no longer matches. The output is deterministic (same data, same seed, same file);
``tests/test_home_example.py`` checks that a fresh fit reproduces the shipped files.

    python scripts/build_home_examples.py                 # every dataset the app lists
    python scripts/build_home_examples.py tuxpaint        # one
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from cmh_core.datasets import list_datasets, load_dataset  # noqa: E402
from cmh_core.demo import write_example  # noqa: E402


def main(argv: list[str] | None = None) -> list[Path]:
    names = [d["name"] for d in list_datasets()]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=names, help=f"datasets (default: all of {names})")
    a = p.parse_args(argv)
    out = []
    for name in a.names:
        t0 = time.perf_counter()
        path = write_example(load_dataset(name), name)
        print(f"{name}: {path} ({time.perf_counter() - t0:.1f} s)")
        out.append(path)
    return out


if __name__ == "__main__":
    main()
