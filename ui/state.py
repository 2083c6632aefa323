"""Session-state keys, the bounded list of this session's runs, and the URL mirror of the choices.

Everything here lives in ``st.session_state``, which is per browser session: two sessions never
see each other's runs or selections. Runs hold the fitted model (small: a few projection
matrices); large artefacts (codes, maps) come from the caches in `ui.runs`, keyed by `RunKey`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import streamlit as st

__all__ = [
    "MAX_RUNS",
    "RunKey",
    "add_run",
    "current_run",
    "session_runs",
    "set_current",
    "url_get",
    "url_set",
    "query_choice",
    "set_query_choice",
]

MAX_RUNS = 10
RUNS_KEY = "cmh_runs"  # list of {"key": RunKey, "run": Run}, oldest first
CURRENT_KEY = "cmh_current"  # RunKey of the current run
QUERY_KEY = "cmh_query"  # "image:12" / "text:12": a query-set item (dataset index)
NOTICE_KEY = "cmh_notice"  # one-shot message (e.g. a run was dropped)
DEFAULT_METHOD = "DCH"
DEFAULT_BITS = 32


@dataclass(frozen=True)
class RunKey:
    """Primitive identity of a run: what the caches are keyed by, and what retrains it exactly.

    ``params`` is the hyper-parameters (without ``n_bits``/``random_state``) as a JSON string
    with sorted keys; ``unpaired`` the fraction of shuffled text rows (0 = paired).
    """

    dataset: str
    method: str
    n_bits: int
    seed: int
    params: str = "{}"
    unpaired: float = 0.0

    @classmethod
    def make(
        cls, dataset: str, method: str, n_bits: int, seed: int, params: dict | None = None, unpaired=0.0
    ):
        """Build a key with the parameters serialised canonically (sorted JSON).

        Parameters equal to the method's defaults are dropped, so the form's defaults and a run
        trained without parameters (a URL, the Search page) are one run with one cache entry.
        """
        from cmh_core.methods import method_class

        defaults = method_class(method)().get_params(deep=False)
        given = {k: v for k, v in (params or {}).items() if k not in defaults or defaults[k] != v}
        return cls(
            dataset, method, int(n_bits), int(seed), json.dumps(given, sort_keys=True), float(unpaired)
        )

    def param_dict(self) -> dict[str, Any]:
        """The hyper-parameters back as a dict."""
        return json.loads(self.params)

    def label(self) -> str:
        """Short text for lists: ``"DCH · 32 bits · seed 0"``."""
        extra = f" · unpaired {self.unpaired:g}" if self.unpaired else ""
        return f"{self.method} · {self.n_bits} bits · seed {self.seed}{extra}"

    def as_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for tables)."""
        return asdict(self)


def session_runs() -> list[dict[str, Any]]:
    """This session's runs, oldest first: ``[{"key": RunKey, "run": Run}, ...]``."""
    return st.session_state.setdefault(RUNS_KEY, [])


def add_run(key: RunKey, run: Any) -> str | None:
    """Store a run (replacing one with the same key), make it current; return a notice if one was dropped."""
    runs = [r for r in session_runs() if r["key"] != key]
    runs.append({"key": key, "run": run})
    notice = None
    if len(runs) > MAX_RUNS:
        dropped = runs.pop(0)
        notice = f"This session keeps {MAX_RUNS} runs; the oldest ({dropped['key'].label()}) was dropped."
        st.session_state[NOTICE_KEY] = notice
    st.session_state[RUNS_KEY] = runs
    set_current(key)
    return notice


def current_run(dataset: str | None = None) -> tuple[RunKey, Any] | None:
    """The current ``(key, run)``, or None (also when it belongs to another dataset)."""
    key = st.session_state.get(CURRENT_KEY)
    for r in session_runs():
        if r["key"] == key and (dataset is None or key.dataset == dataset):
            return r["key"], r["run"]
    return None


def set_current(key: RunKey) -> None:
    """Make ``key`` the current run and mirror method, bits and seed in the URL."""
    st.session_state[CURRENT_KEY] = key
    url_set(method=key.method, bits=key.n_bits, seed=key.seed)


def url_get(name: str, default: Any, cast=str) -> Any:
    """A choice from ``st.query_params`` (a shared URL), else ``default`` when absent or malformed."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    try:
        return cast(raw)
    except (TypeError, ValueError):
        return default


def url_set(**values: Any) -> None:
    """Mirror choices in the URL (only when changed, so no rerun loop)."""
    for k, v in values.items():
        if v is None:
            if k in st.query_params:
                del st.query_params[k]
        elif st.query_params.get(k) != str(v):
            st.query_params[k] = str(v)


def query_choice() -> str | None:
    """The current query-set item id (``"image:12"``), from the session or the URL."""
    return st.session_state.get(QUERY_KEY) or url_get("query", None)


def set_query_choice(item: str | None) -> None:
    """Remember the chosen query item in the session and the URL."""
    st.session_state[QUERY_KEY] = item
    url_set(query=item)


def pop_notice() -> str | None:
    """A one-shot notice left by `add_run` (shown once, then cleared)."""
    return st.session_state.pop(NOTICE_KEY, None)
