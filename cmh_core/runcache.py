"""One identity for a run (`RunKey`) and one on-disk cache of finished runs (`RunCache`).

The app's run registry (a link, a reload or another session gets a trained run at once) and the
benchmark grid's resumable cache (`cmh bench --cache DIR`) are this one cache with this one key.

A cached run is a folder ``<root>/<digest>/`` holding

* ``run.json``: the `cmh_core.experiment.Run` record (``Run.to_dict``) plus the key fields,
* ``model.npz``: the fitted model (``model.save``), when the run kept one.

The digest is the SHA-256 of the canonical JSON of (dataset fingerprint, method, parameters,
bits, seed, protocol, unpaired fraction, package version): the same settings on the same data
with the same code give the same folder, whichever process or machine trained them, so two
caches merge by copying folders. Every file is written to a temporary name in the same folder and
renamed into place, and a folder is renamed into place only once complete, so a kill mid-write
never leaves a half-written entry. The cache is bounded (`max_bytes`); the least recently used
entries are evicted first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cmh_core._io import atomic_write_bytes

if TYPE_CHECKING:
    from cmh_core.datasets import CrossModalDataset
    from cmh_core.experiment import Run

__all__ = ["RunKey", "RunCache", "dataset_fingerprint", "default_cache_dir", "DEFAULT_MAX_BYTES"]

#: Default bound of a run cache: 2 GiB (a shallow run is < 1 MB, a deep one a few MB).
DEFAULT_MAX_BYTES = 2 * 2**30
_RUN_FILE = "run.json"
_MODEL_FILE = "model.npz"


def default_cache_dir() -> Path:
    """``$CMH_CACHE_DIR/runs``, else ``~/.cache/cmh-explorer/runs``."""
    base = os.environ.get("CMH_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "cmh-explorer"
    return root / "runs"


_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def dataset_fingerprint(ds: CrossModalDataset) -> str:
    """SHA-256 (hex, 16 chars) of a dataset's features, labels and split, memoised per object.

    Two datasets with the same arrays and split have the same fingerprint whatever their name or
    path, so a run cached for one is found for the other; a rebuilt bundle with other features
    gets a new one, so stale runs are never served.
    """
    try:
        return _FINGERPRINTS[ds]
    except (KeyError, TypeError):
        pass
    h = hashlib.sha256()
    sp = ds.split
    for a in (ds.image_features, ds.text_features, ds.labels, sp.query, sp.database, sp.train):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    fp = h.hexdigest()[:16]
    try:
        _FINGERPRINTS[ds] = fp
    except TypeError:  # not weak-referenceable: recompute next time
        pass
    return fp


@dataclass(frozen=True)
class RunKey:
    """Primitive identity of a run: what caches are keyed by, and what retrains it exactly.

    ``params`` holds the hyper-parameters that differ from the method's defaults (without
    ``n_bits``/``random_state``) as JSON with sorted keys; ``unpaired`` is the fraction of shuffled
    text rows (0 = paired); ``protocol`` is `cmh_core.evaluation.evaluate`'s protocol.
    """

    dataset: str
    method: str
    n_bits: int
    seed: int
    params: str = "{}"
    unpaired: float = 0.0
    protocol: str = "learned"

    @classmethod
    def make(
        cls,
        dataset: str,
        method: str,
        n_bits: int,
        seed: int,
        params: dict | None = None,
        unpaired: float = 0.0,
        protocol: str = "learned",
    ) -> RunKey:
        """Build a key with the method's registered name and canonical parameters.

        Parameters equal to the method's defaults are dropped, so a form's defaults and a run
        trained without parameters are one run with one cache entry.

        Raises
        ------
        ValueError
            For an unknown method (the registry's message names the registered ones).
        """
        from cmh_core.experiment import _jsonable
        from cmh_core.methods import method_class

        cls_ = method_class(method)
        defaults = cls_().get_params(deep=False)
        given = {k: _jsonable(v) for k, v in (params or {}).items() if k not in defaults or defaults[k] != v}
        return cls(
            str(dataset),
            cls_.name,
            int(n_bits),
            int(seed),
            json.dumps(given, sort_keys=True),
            float(unpaired),
            str(protocol),
        )

    @classmethod
    def from_run(cls, run: Run) -> RunKey:
        """The key of a finished `Run` (its dataset name, method, bits, seed, params, protocol)."""
        return cls.make(run.dataset, run.method, run.n_bits, run.seed, run.params, run.unpaired, run.protocol)

    def param_dict(self) -> dict[str, Any]:
        """The hyper-parameters back as a dict."""
        return json.loads(self.params)

    def label(self) -> str:
        """Short text for lists: ``"DCH · 32 bits · seed 0"``."""
        extra = f" · unpaired {self.unpaired:g}" if self.unpaired else ""
        return f"{self.method} · {self.n_bits} bits · seed {self.seed}{extra}"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for tables and JSON)."""
        return asdict(self)

    def digest(self, fingerprint: str) -> str:
        """SHA-256 (hex, 24 chars) naming this run on data with ``fingerprint``, in this version."""
        import cmh_core

        fields = {k: v for k, v in self.as_dict().items() if k != "dataset"}
        fields["params"] = self.param_dict()
        blob = json.dumps(
            {"data": fingerprint, **fields, "version": cmh_core.__version__}, sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:24]


class RunCache:
    """A bounded folder of finished runs keyed by `RunKey` and the dataset's fingerprint.

    Parameters
    ----------
    root : path, optional
        The cache folder; default `default_cache_dir()` (``$CMH_CACHE_DIR/runs``).
    max_bytes : int, optional
        Size bound; default ``$CMH_RUN_CACHE_MAX_BYTES`` or `DEFAULT_MAX_BYTES` (2 GiB). After
        each `put` the least recently used entries are removed until the cache fits.
    """

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        env = os.environ.get("CMH_RUN_CACHE_MAX_BYTES")
        self.max_bytes = int(max_bytes if max_bytes is not None else (env or DEFAULT_MAX_BYTES))
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}; e.g. 2**30 for 1 GiB")

    def _dir(self, key: RunKey, fingerprint: str) -> Path:
        return self.root / key.digest(fingerprint)

    def __contains__(self, item: tuple[RunKey, str]) -> bool:
        key, fingerprint = item
        return (self._dir(key, fingerprint) / _RUN_FILE).is_file()

    def get(self, key: RunKey, fingerprint: str, *, with_model: bool = True) -> Run | None:
        """The cached run (with ``.model`` loaded when saved and asked for), or None.

        A damaged entry (unreadable JSON or model) is removed and reported as missing, so the
        caller retrains instead of failing.
        """
        from cmh_core.experiment import Run

        d = self._dir(key, fingerprint)
        try:
            record = json.loads((d / _RUN_FILE).read_text(encoding="utf-8"))
            run = Run.from_dict(record["run"])
            if with_model and (d / _MODEL_FILE).is_file():
                from cmh_core.methods import load_model

                run.model = load_model(d / _MODEL_FILE)
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            shutil.rmtree(d, ignore_errors=True)
            return None
        now = time.time()
        os.utime(d, (now, now))  # least recently *used*: a hit refreshes the entry
        return run

    def put(self, key: RunKey, fingerprint: str, run: Run) -> Path:
        """Store ``run`` (and its model, if any) atomically; evict LRU entries past `max_bytes`.

        Returns
        -------
        Path
            The entry's folder.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        final = self._dir(key, fingerprint)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            record = {"key": key.as_dict(), "fingerprint": fingerprint, "run": run.to_dict()}
            atomic_write_bytes(tmp / _RUN_FILE, json.dumps(record).encode("utf-8"))
            if getattr(run, "model", None) is not None:
                run.model.save(tmp / _MODEL_FILE)
            if final.exists():  # same settings trained twice: keep the newer copy
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.evict()
        return final

    def entries(self) -> list[dict[str, Any]]:
        """Every complete entry, most recently used first: ``{"key": RunKey, "fingerprint", "path"}``."""
        out = []
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            if d.name.startswith(".") or not (d / _RUN_FILE).is_file():
                continue
            try:
                rec = json.loads((d / _RUN_FILE).read_text(encoding="utf-8"))
                key = RunKey(**rec["key"])
            except (ValueError, KeyError, TypeError, OSError, RecursionError):
                continue
            out.append(
                {"key": key, "fingerprint": rec.get("fingerprint"), "path": d, "used": d.stat().st_mtime}
            )
        out.sort(key=lambda e: e["used"], reverse=True)
        return out

    def size_bytes(self) -> int:
        """Bytes held by the cache's files."""
        if not self.root.is_dir():
            return 0
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def evict(self) -> list[Path]:
        """Remove stale temporary folders, then least recently used entries until within `max_bytes`."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for d in self.root.glob(".*.tmp"):  # left by a killed writer: never part of an entry
            if time.time() - d.stat().st_mtime > 3600:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
        sizes = {
            d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            for d in self.root.iterdir()
            if d.is_dir() and not d.name.startswith(".")
        }
        total = sum(sizes.values())
        for d in sorted(sizes, key=lambda p: p.stat().st_mtime):
            if total <= self.max_bytes:
                break
            shutil.rmtree(d, ignore_errors=True)
            total -= sizes[d]
            removed.append(d)
        return removed
