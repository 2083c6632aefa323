"""What a reload finds again: each session's run list, saved under a token carried in the URL.

A reload (F5) starts a new Streamlit session with an empty ``st.session_state``. So each session
gets a random token, carried in the URL as ``sid``; its run list (keys only) and current run are
saved under it as a small JSON file in ``$CMH_CACHE_DIR/sessions``. A new session whose URL
holds a known ``sid`` takes a copy of that list, keeps the runs the registry still holds, and gets
a token of its own (two tabs opened from one link never write each other's list). The runs
themselves are in the registry (`ui.registry`); the file holds their keys only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from cmh_core.runcache import RunKey, default_cache_dir
from ui.state import MAX_RUNS, RUNS, TOKEN, RunStore, SessionRuns

__all__ = ["token", "save", "restore", "TOKEN_RE"]

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,32}")
MAX_FILES = 500  # session files kept; the oldest go first
MAX_FILE_BYTES = 64 * 1024  # a list of 10 keys is ~3 kB: anything larger is not ours


def _folder() -> Path:
    return default_cache_dir().parent / "sessions"


def token(state: MutableMapping) -> str:
    """This session's token (made on first use)."""
    if TOKEN not in state:
        state[TOKEN] = secrets.token_urlsafe(12)  # 16 characters, 96 random bits
    return state[TOKEN]


def save(state: MutableMapping) -> None:
    """Write the session's run list under its token (atomically); prune old session files."""
    runs = state.get(RUNS)
    if runs is None:
        return
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "runs": [k.as_dict() for k in runs.runs],
        "current": None if runs.current is None else runs.current.as_dict(),
    }
    path = folder / f"{token(state)}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in files[:-MAX_FILES]:
        old.unlink(missing_ok=True)


def _key(d: object) -> RunKey:
    if not isinstance(d, dict):
        raise TypeError("not a key")
    return RunKey.make(
        str(d["dataset"]), str(d["method"]), int(d["n_bits"]), int(d["seed"]),
        json.loads(d.get("params", "{}")), float(d.get("unpaired", 0.0)), str(d.get("protocol", "learned")),
    )  # fmt: skip


def restore(sid: str, known) -> SessionRuns | None:
    """The run list saved under ``sid``, keeping the keys ``known(key)`` accepts; None if there is none.

    A damaged or foreign file counts as none (the page starts empty rather than failing).
    """
    if not TOKEN_RE.fullmatch(sid or ""):
        return None
    path = _folder() / f"{sid}.json"
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
        keys = [_key(d) for d in record["runs"]][-MAX_RUNS:]
        current = _key(record["current"]) if record.get("current") else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
    keys = [k for k in keys if known(k)]
    store = RunStore(MAX_RUNS, tuple(dict.fromkeys(keys)))
    return SessionRuns(store, current if current in store else (keys[-1] if keys else None))
