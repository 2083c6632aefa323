"""Shared pieces for reading and writing files safely: one memory budget, safe JSON, atomic writes.

Everything a user or a tampered download can hand to the library (benchmark files, bundles, model
files) is sized from its headers BEFORE anything is allocated, against ONE memory budget:

* `memory_budget()`: ``$CMH_MEMORY_BUDGET_BYTES`` if set (a positive integer number of bytes),
  else half of the RAM available when asked (``MemAvailable`` of ``/proc/meminfo``, psutil
  elsewhere), at least 256 MiB. A reader refuses a file whose declared arrays add up to more,
  with a ValueError naming the file, the array, its size and the budget (`SizeBudget`).
* `loads_json`: JSON with a nesting-depth limit (Python's parser recurses and raises
  ``RecursionError`` on a few thousand brackets).
* `atomic_write_bytes` / `atomic_write_text` / `atomic_path`: every file the library writes goes
  to a temporary file in the destination folder (``.<name>.<random>.tmp``), is flushed to disk
  and renamed into place; on any error the temporary file is removed and the destination is
  untouched, so no reader ever sees half a file.
* `check_writable_folder`: creates, fills and removes a small probe file, so a read-only or full
  disk is reported before hours of training rather than after.
* `remove_stale_temps`: removes temporary files a killed writer left behind.

docs/security.md lists what is refused and why.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "MEMORY_BUDGET_ENV",
    "JSON_MAX_DEPTH",
    "SizeBudget",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_inside",
    "check_writable_folder",
    "format_bytes",
    "loads_json",
    "memory_budget",
    "remove_stale_temps",
]

#: Environment variable overriding the read budget (bytes, a positive integer).
MEMORY_BUDGET_ENV = "CMH_MEMORY_BUDGET_BYTES"
_BUDGET_FRACTION = 0.5  # of the RAM available when a file is opened
_BUDGET_FLOOR = 256 * 2**20  # a nearly full machine still opens the bundled datasets (< 100 MB)
#: Deepest nesting of arrays/objects `loads_json` accepts (real files here nest 4 levels).
JSON_MAX_DEPTH = 64
_TEMP_SUFFIX = ".tmp"


# ------------------------------------------------------------------------------------ memory budget
def format_bytes(n: float) -> str:
    """``3.2 GB`` style size for messages (decimal units, like ``ls -h --si``)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def _available_ram() -> int:
    """Bytes of RAM available now (``MemAvailable``), or psutil's figure off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:  # pragma: no cover - not Linux
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover
        return 8 * 2**30


def memory_budget() -> int:
    """The most bytes a reader may allocate for one file's arrays.

    ``$CMH_MEMORY_BUDGET_BYTES`` when set, else half of the RAM available now (at least 256 MiB).

    Raises
    ------
    ValueError
        If the environment variable is set but not a positive integer.
    """
    raw = os.environ.get(MEMORY_BUDGET_ENV, "").strip()
    if raw:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(
                f"{MEMORY_BUDGET_ENV}={raw[:40]!r} is not a positive number of bytes; "
                f"set e.g. {MEMORY_BUDGET_ENV}={4 * 2**30} (4 GiB) or unset it"
            )
        return value
    return max(_BUDGET_FLOOR, int(_BUDGET_FRACTION * _available_ram()))


class SizeBudget:
    """Adds up the declared sizes of the arrays one file will produce, refusing past the budget.

    Parameters
    ----------
    source : str or Path
        The file, for messages.
    budget : int, optional
        Bytes; `memory_budget()` by default.
    """

    def __init__(self, source: str | os.PathLike, budget: int | None = None):
        self.source = str(source)
        self.budget = memory_budget() if budget is None else int(budget)
        self.used = 0

    def charge(
        self, array: str, shape: tuple, itemsize: int, note: str = "", nbytes: int | None = None
    ) -> int:
        """Count ``prod(shape) * itemsize`` bytes (or ``nbytes``) for ``array``; refuse past the budget.

        Called before anything is allocated, with the sizes a file declares.

        Returns
        -------
        int
            The bytes charged.

        Raises
        ------
        ValueError
            Naming the file, the array, its declared shape and size, the budget and the fix.
        """
        dims = tuple(int(s) for s in shape)
        if any(s < 0 for s in dims):
            raise ValueError(f"{self.source}: array {array!r} declares a negative shape {dims}")
        if nbytes is None:
            nbytes = int(np.prod(dims, dtype=object)) * int(itemsize)  # Python ints: no overflow
        if self.used + nbytes > self.budget:
            already = f" (after {format_bytes(self.used)} for earlier arrays)" if self.used else ""
            raise ValueError(
                f"{self.source}: array {array!r} declares shape {dims}{note} = {format_bytes(nbytes)}"
                f"{already}, over the memory budget of {format_bytes(self.budget)}; nothing was read. "
                f"If the file is genuine, raise the budget with {MEMORY_BUDGET_ENV}=<bytes> (default: "
                "half the available RAM), or use a smaller file"
            )
        self.used += nbytes
        return nbytes


# ------------------------------------------------------------------------------------------ JSON
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str | bytes) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (brackets inside strings do not count)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    raw = _JSON_STRING.sub(b'""', raw)
    codes = np.frombuffer(raw, dtype=np.uint8)
    step = np.zeros(len(codes), dtype=np.int32)
    step[(codes == ord("[")) | (codes == ord("{"))] = 1
    step[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def loads_json(text: str | bytes, what: str, max_depth: int = JSON_MAX_DEPTH):
    """``json.loads`` that refuses nesting deeper than ``max_depth`` before parsing.

    Parameters
    ----------
    text : str or bytes
    what : str
        The file or field, for messages (``"…/meta.json"``).
    max_depth : int, default 64

    Raises
    ------
    ValueError
        For nesting deeper than ``max_depth`` or invalid JSON, naming ``what``.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(
            f"{what} nests arrays/objects {depth} levels deep; at most {max_depth} are read "
            "(a deeper file is damaged or hostile); restore or rewrite it"
        )
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} is not valid JSON ({e})") from None


# ---------------------------------------------------------------------------------------- writing
def _temp_in(folder: Path, name: str) -> tuple[int, Path]:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=_TEMP_SUFFIX)
    return fd, Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, else removed.

    For writers that need a file name (``np.savez``, ``scipy.io.savemat``, FAISS). The folder
    must exist. The temporary file is flushed to disk before the rename.

    Example (it writes a file, so it is not a doctest)::

        with atomic_path("out.npz") as tmp:
            np.savez(tmp, x=x)
    """
    path = Path(path)
    fd, tmp = _temp_in(path.parent, path.name)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    Returns
    -------
    Path
    """
    path = Path(path)
    fd, tmp = _temp_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """`atomic_write_bytes` of ``text`` encoded; a lone surrogate becomes U+FFFD instead of failing."""
    return atomic_write_bytes(path, text.encode(encoding, "replace"))


_PROBE_BYTES = 64 * 1024


def check_writable_folder(folder: str | os.PathLike, what: str) -> Path:
    """Check that ``folder`` exists and takes a new file, by writing and removing a small probe.

    ``os.access`` says nothing about a full disk; a 64 kB probe flushed to disk does.

    Raises
    ------
    ValueError
        Naming the folder, ``what`` was to be written and the system's reason (e.g. "No space
        left on device").
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"cannot write {what}: folder {str(folder)!r} does not exist; create it first")
    try:
        fd, tmp = _temp_in(folder, "write-probe")
    except OSError as e:
        raise ValueError(f"cannot write {what} into {str(folder)!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"\0" * _PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        reason = e.strerror or str(e)
        if e.errno == errno.ENOSPC:
            reason += " (the disk is full)"
        raise ValueError(
            f"cannot write {what} into {str(folder)!r}: {reason}; free space or pick another folder"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return folder


def remove_stale_temps(folder: str | os.PathLike, older_than_s: float = 3600.0) -> list[Path]:
    """Remove ``*.tmp`` files in ``folder`` untouched for ``older_than_s`` seconds (killed writers).

    A younger file may belong to a writer still at work, so it is kept.

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for p in folder.glob(f"*{_TEMP_SUFFIX}"):
        try:
            if p.is_file() and not p.is_symlink() and now - p.stat().st_mtime > older_than_s:
                p.unlink()
                removed.append(p)
        except OSError:  # another process removed or renamed it first
            continue
    return removed


# --------------------------------------------------------------------------------------- symlinks
def check_inside(path: str | os.PathLike, root: str | os.PathLike, what: str) -> Path:
    """``path`` resolved, if it stays inside ``root`` after following symlinks; else a ValueError.

    Raises
    ------
    ValueError
        Naming ``what``, where the link points and the fix.
    """
    path, root = Path(path), Path(root).resolve()
    real = path.resolve()
    if real != root and root not in real.parents:
        raise ValueError(
            f"{what} {str(path)!r} is a link to {str(real)!r}, outside {str(root)!r}; links that "
            "leave the folder are refused so that nothing outside it is read: replace it by the file"
        )
    return real


# -------------------------------------------------------------------------------------- npz / npy
def npz_headers(path: str | os.PathLike, names=None) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """Declared ``(shape, dtype, uncompressed member size)`` of the arrays of an ``.npz``, unread.

    Only each member's ``.npy`` header (at most a few kB) is decompressed; the data is not.
    ``names`` limits the members looked at (default: all).

    Raises
    ------
    ValueError
        For a member whose header cannot be parsed (names the member).
    zipfile.BadZipFile, OSError
        For a file that is not a readable zip archive.
    """
    import zipfile

    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if names is not None and name not in names:
                continue
            try:
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    else:
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise ValueError(f"{path}: member {name!r} is not a readable .npy array ({e})") from None
            out[name] = (tuple(int(s) for s in shape), dtype, int(info.file_size))
    return out


def charge_npz(path: str | os.PathLike, names=None, budget: SizeBudget | None = None) -> SizeBudget:
    """Charge the npz members ``names`` (those present; None: all) to a budget before loading.

    The larger of ``prod(shape) * itemsize`` (what ``np.load`` allocates) and the member's
    declared uncompressed size counts, so neither a header nor a zip entry can understate it.
    """
    budget = budget or SizeBudget(path)
    heads = npz_headers(path, None if names is None else set(names))
    for name in heads if names is None else [n for n in names if n in heads]:
        shape, dtype, zip_size = heads[name]
        data = int(np.prod(shape, dtype=object)) * dtype.itemsize
        note = f" of {dtype}" + (
            f", a zip entry inflating to {zip_size} bytes" if zip_size > data + 4096 else ""
        )
        budget.charge(name, shape, dtype.itemsize, note, nbytes=max(data, zip_size))
    return budget


def quote_user_text(text: object, limit: int = 80) -> str:
    """``repr`` of user input for a message, cut to about ``limit`` characters (``'abc…' (+N chars)``)."""
    s = str(text)
    if len(s) <= limit:
        return repr(s)
    return f"{s[:limit]!r}… (+{len(s) - limit} characters)"
