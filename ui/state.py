"""Every session-state key of the app, the capped run lists, and the one rule for the current run.

Session state (``st.session_state``) is per browser session: two sessions never see each other's
choices. It holds small things only: run identities (`cmh_core.runcache.RunKey`), ids, choices.
The runs themselves live in the server-wide registry (`ui.registry`), so a reload, a link or
another session asking for the same settings gets them without retraining.

The current run follows the user's last action, and `follow` is the only place that says how:
a finished training, a picked run, a compared run made current or an opened link each make their
run current and put it in this session's list (see ``docs/app.md``).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from cmh_core.runcache import RunKey

__all__ = [
    "MAX_RUNS",
    "MAX_COMPARE_RUNS",
    "EVENTS",
    "RunKey",
    "RunStore",
    "SessionRuns",
    "follow",
    "session_runs",
    "apply",
    "current_key",
    "notice",
    "pop_notices",
    "query_choice",
    "set_query_choice",
]

# ---------------------------------------------------------------------------------------------
# Session keys: every key the app's code (not a widget) stores in st.session_state, one prefix
# ---------------------------------------------------------------------------------------------
RUNS = "cmh_runs"  # SessionRuns: this session's run list (RunKeys, oldest first) and the current one
COMPARE_RUNS = "cmh_compare_runs"  # RunStore: runs a comparison trained (their keys), for reuse
COMPARISON = "cmh_comparison"  # Comparison.to_dict() of the last comparison
QUERY = "cmh_query"  # Search's query-set item: "image:12" / "text:12" (a dataset index)
FAILURES_QUERY = "cmh_failures_query"  # Failures' own chosen query (not Search's)
FAILURES_SEEN = "cmh_failures_table_seen"  # the table selection already acted on, per direction
NOTICES = "cmh_notices"  # one-shot messages for the next page draw (a dropped run, a replaced URL value)
TOKEN = "cmh_token"  # this session's token (the URL's ``sid``): a reload finds its runs again
URL_SEEN = "cmh_url_seen"  # (page id, query parameters) as this session last wrote them
JOBS = "cmh_jobs"  # {job id: event} trainings this session asked for and has not taken yet
ASK = "cmh_ask"  # a linked run that needs the user's yes before a long training (RunKey)
UMAP_DONE = "cmh_umap_done"  # RunKeys whose UMAP this session computed
CUSTOM = "cmh_custom"  # {RunKey: [item, ...]}: the user's own pictures and captions (ui.custom_items)
CUSTOM_MESSAGES = "cmh_custom_msg"  # one-shot (kind, text) left by an add callback
DATASET = "cmh_dataset"  # the dataset in use
PAGE = "cmh_page"  # the page id drawn last (ui.url.PAGES)
VIEWS = "cmh_views"  # {page id: {URL parameter: text}}: each page's own view, for links to it
COMPARE_LINKED = "cmh_compare_linked"  # a link asked Compare to show its grid's results
COMPARE_MADE_CURRENT = "cmh_compare_made_current"  # the run Compare just made current (one-shot)
HOME_LANGUAGE_ON = "cmh_home_language_on"  # the user asked Home for its other-language example (a fit)

# widget keys whose identity includes the query's code: dropped when the query changes
PER_QUERY_PREFIXES = ("flips_", "reset_flips_", "bit_result_")

MAX_RUNS = 10
MAX_COMPARE_RUNS = 64  # a comparison's runs kept for reuse (keys only; the runs are in the registry)
DEFAULT_METHOD = "DCH"
DEFAULT_BITS = 32
EVENTS = ("trained", "picked", "compared", "link")


@dataclass(frozen=True)
class RunStore:
    """A capped, ordered set of `RunKey` (oldest first); immutable, so a transition is a pure function.

    Serves both this session's run list (cap `MAX_RUNS`) and the Compare page's store
    (`MAX_COMPARE_RUNS`).
    """

    cap: int = MAX_RUNS
    keys: tuple[RunKey, ...] = ()

    def add(self, key: RunKey, keep: RunKey | None = None) -> tuple[RunStore, RunKey | None]:
        """The store with ``key`` newest (moved there if present) and the key dropped to fit the cap.

        ``keep`` is never dropped (the current run); the oldest other key goes.
        """
        keys = [k for k in self.keys if k != key] + [key]
        dropped = None
        if len(keys) > self.cap:
            dropped = next(k for k in keys if k not in (key, keep))
            keys.remove(dropped)
        return replace(self, keys=tuple(keys)), dropped

    def remove(self, key: RunKey) -> RunStore:
        """The store without ``key``."""
        return replace(self, keys=tuple(k for k in self.keys if k != key))

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def __iter__(self) -> Iterator[RunKey]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class SessionRuns:
    """This session's runs (`RunStore`, oldest first) and the current one (None before any)."""

    runs: RunStore = field(default_factory=RunStore)
    current: RunKey | None = None


def follow(state: SessionRuns, event: str, key: RunKey) -> tuple[SessionRuns, RunKey | None]:
    """The one state transition of the current run: it follows the user's last action.

    Parameters
    ----------
    state : SessionRuns
    event : {"trained", "picked", "compared", "link"}
        What happened: a training finished, a run was picked in the run list, Compare's "make it
        the current run" was pressed, or a link (URL) named a run the registry holds.
    key : RunKey
        That action's run.

    Returns
    -------
    state : SessionRuns
        ``key`` is current and in the list. A picked run keeps its place in the list; the other
        events make it the newest entry.
    dropped : RunKey or None
        The oldest run dropped to keep `MAX_RUNS` (never the new current one).

    Raises
    ------
    ValueError
        For an unknown event, or a picked run that is not in the list.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}; expected one of {', '.join(EVENTS)}")
    if event == "picked":
        if key not in state.runs:
            raise ValueError(f"cannot pick {key.label()}: it is not in this session's runs")
        return replace(state, current=key), None
    runs, dropped = state.runs.add(key, keep=state.current)  # the run on show is never dropped
    return SessionRuns(runs, key), dropped


# ---------------------------------------------------------------------------------------------
# The session's copy, and what pages call
# ---------------------------------------------------------------------------------------------


def _state(state: MutableMapping | None) -> MutableMapping:
    return st.session_state if state is None else state


def session_runs(state: MutableMapping | None = None) -> SessionRuns:
    """This session's `SessionRuns` (empty at first)."""
    s = _state(state)
    if RUNS not in s:
        s[RUNS] = SessionRuns()
    return s[RUNS]


def apply(event: str, key: RunKey, state: MutableMapping | None = None) -> RunKey | None:
    """Run `follow` on this session's runs and store the result; returns the dropped key, if any.

    A dropped run leaves a notice for the page (it stays in the registry: a link reopens it).
    """
    s = _state(state)
    new, dropped = follow(session_runs(s), event, key)
    s[RUNS] = new
    if dropped is not None:
        notice(
            f"This session lists {MAX_RUNS} runs; the oldest ({dropped.label()}) left the list "
            "(it stays on the server: a link to it reopens it at once).",
            s,
        )
    from ui import sessions  # the reload copy of the list (imports ui.registry: keep it lazy)

    sessions.save(s)
    if dropped is not None:  # its background UMAP is no longer wanted by this session
        from ui.registry import registry

        registry().layouts.drop(dropped, sessions.token(s))
    return dropped


def current_key(dataset: str | None = None, state: MutableMapping | None = None) -> RunKey | None:
    """The current run's key, or None (also when it belongs to another dataset)."""
    key = session_runs(state).current
    return key if key is not None and (dataset is None or key.dataset == dataset) else None


def notice(text: str, state: MutableMapping | None = None) -> None:
    """Leave a one-shot message for the page (shown by `ui.frame.show_notices`)."""
    s = _state(state)
    s[NOTICES] = [*s.get(NOTICES, []), text]


def pop_notices(state: MutableMapping | None = None) -> list[str]:
    """The messages left since the last draw, once."""
    return list(_state(state).pop(NOTICES, []))


def query_choice(state: MutableMapping | None = None) -> str | None:
    """Search's query-set item id (``"image:12"``), or None."""
    return _state(state).get(QUERY)


def set_query_choice(item: str | None, state: MutableMapping | None = None) -> None:
    """Remember Search's query; a new query drops the widgets keyed by the old query's code."""
    s = _state(state)
    if s.get(QUERY) != item:
        for k in [k for k in s if isinstance(k, str) and k.startswith(PER_QUERY_PREFIXES)]:
            del s[k]
    s[QUERY] = item


def session_items(prefix: str, state: MutableMapping | None = None) -> dict[str, Any]:
    """Session entries whose key starts with ``prefix`` (tests and clean-ups)."""
    s = _state(state)
    return {k: s[k] for k in s if isinstance(k, str) and k.startswith(prefix)}
