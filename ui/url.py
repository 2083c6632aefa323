"""Every URL read and write of the app: one validating parser, the page views, the list encodings.

A page's URL carries its whole view (dataset, run, non-default parameters, query, direction,
colouring, the comparison grid), so a copied link reopens it. Three rules:

* `parse` checks every query parameter; a value it cannot use is replaced and the page shows a
  notice naming it ("The link asked for method NoSuch; showing DCH"). Nothing from the URL reaches
  a widget unchecked.
* Only what the URL changed is read (`begin`): the parameters that differ from what this session
  last wrote. So a page's own rerun never fights the user, and a link, a reload, an edited URL or
  Back is applied once.
* `sync` writes the view on every rerun. Streamlit pushes a browser-history entry for each change
  of ``st.query_params``; `ui.frame` installs a small script that turns a change of the query
  alone (same page) into a replacement, so Back goes back a page, not a widget click.

Parameters (see ``docs/app.md``): ``dataset``, ``method``, ``bits``, ``seed``, ``params`` (JSON of
the non-default hyper-parameters), ``unpaired``, ``query`` (``image:12``), ``direction``
(``i2t``/``t2i``), ``colour``, ``lines``, ``projection``, ``label``, ``text``, ``cmp_methods``,
``cmp_bits`` (comma lists), ``cmp_seeds``, ``cmp_protocol``, ``cmp_unpaired``, ``cmp_show`` and
``sid`` (the session token, `ui.sessions`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cmh_core.runcache import RunKey
from ui.state import URL_SEEN

__all__ = [
    "PAGES",
    "RUN_PARAMS",
    "PAGE_PARAMS",
    "BIT_CHOICES",
    "Checked",
    "parse",
    "encode_list",
    "decode_list",
    "run_params",
    "run_link",
    "read",
    "changed",
    "write",
]

BIT_CHOICES = (16, 32, 64, 128)
DEFAULT_METHOD = "DCH"
DEFAULT_BITS = 32
MAX_SEED = 2**31 - 1
MAX_QUOTE = 80  # characters of a user's value quoted back in a notice
PROTOCOLS = ("learned", "encoded")
DIRECTIONS = ("i2t", "t2i")
COLOURS = ("label", "modality", "relevance")
PROJECTIONS = ("pca", "umap")
MAX_CMP_SEEDS = 5

PAGES = {  # page id -> its script (ui.frame.PAGES lists the same files)
    "home": "app.py",
    "dataset": "pages/1_Dataset.py",
    "train": "pages/2_Train.py",
    "search": "pages/3_Search.py",
    "code_map": "pages/4_Code_Map.py",
    "failures": "pages/5_Failures.py",
    "compare": "pages/6_Compare.py",
}
RUN_PARAMS = ("method", "bits", "seed", "params", "unpaired")
PAGE_PARAMS = {
    "home": (),
    "dataset": ("label", "text"),
    "train": (),
    "search": ("query",),
    "code_map": ("colour", "lines", "projection"),
    "failures": ("query", "direction"),
    "compare": ("cmp_methods", "cmp_bits", "cmp_seeds", "cmp_protocol", "cmp_unpaired", "cmp_show"),
}
KNOWN = {"dataset", "sid", *RUN_PARAMS, *(p for ps in PAGE_PARAMS.values() for p in ps)}
_ITEM = re.compile(r"(image|text):(\d{1,9})")


def quote(value: Any) -> str:
    """A user's value for a message: at most `MAX_QUOTE` characters, control characters removed."""
    text = "".join(c if c.isprintable() else "?" for c in str(value))
    return text if len(text) <= MAX_QUOTE else text[: MAX_QUOTE - 1] + "…"


def encode_list(values: Sequence[Any]) -> str:
    """``[16, 32]`` -> ``"16,32"`` (the URL's list encoding)."""
    return ",".join(str(v) for v in values)


def decode_list(raw: str) -> list[str]:
    """``"16,32"`` -> ``["16", "32"]`` (empty items dropped)."""
    return [x.strip() for x in str(raw).split(",") if x.strip()]


@dataclass
class Checked:
    """`parse`'s result: the usable values (typed) and one notice per replaced or dropped value."""

    values: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def replaced(self, what: str, raw: Any, shown: str, why: str = "") -> None:
        self.notices.append(f"The link asked for {what} {quote(raw)}{why}; showing {shown}.")


def _int(raw: str, low: int, high: int) -> int | None:
    s = str(raw).strip()
    if not s.isdigit() or len(s) > 12:  # "-1", "abc", "1e3", 30 digits
        return None
    v = int(s)
    return v if low <= v <= high else None


def _float(raw: str, low: float, high: float) -> float | None:
    try:
        v = float(str(raw)[:32])
    except ValueError:
        return None
    return v if low <= v <= high else None  # NaN fails both comparisons


def _method(raw: str) -> str | None:
    from cmh_core.methods import method_class

    try:
        return method_class(str(raw)[:64]).name
    except (ValueError, KeyError, TypeError):
        return None


def _params(method: str, raw: str, out: Checked) -> dict[str, Any]:
    """Non-default hyper-parameters from JSON, each checked against the method's constraints."""
    from cmh_core.methods import method_class

    cls = method_class(method)
    try:
        given = json.loads(str(raw)) if len(str(raw)) <= 2000 else None
    except (ValueError, RecursionError):
        given = None
    if not isinstance(given, dict):
        out.replaced("parameters", raw, f"{method}'s defaults", " (not a JSON object of parameters)")
        return {}
    defaults = cls().get_params(deep=False)
    kept: dict[str, Any] = {}
    for name, value in given.items():
        if name not in defaults or name in ("n_bits", "random_state"):
            out.replaced("parameter", name, f"{method} without it", f" (not a parameter of {method})")
            continue
        try:
            cls(**{name: value})._validate_hyperparams()
        except (ValueError, TypeError) as e:
            why = f" ({quote(e)})"
            out.replaced(f"{name} =", value, f"the default {defaults[name]!r}", why)
            continue
        kept[name] = value
    return kept


def _run(raw: Mapping[str, str], out: Checked) -> None:
    from cmh_core.methods import method_class

    method = DEFAULT_METHOD
    if "method" in raw:
        method = _method(raw["method"]) or DEFAULT_METHOD
        if method != _method(raw["method"]):
            out.replaced("method", raw["method"], method)
    bits = DEFAULT_BITS
    if "bits" in raw:
        b = _int(raw["bits"], 1, 10**6)
        if b not in BIT_CHOICES:
            out.replaced("a code length of", raw["bits"], f"{DEFAULT_BITS} bits", f" (one of {BIT_CHOICES})")
        else:
            bits = b
    seed = 0
    if "seed" in raw:
        s = _int(raw["seed"], 0, MAX_SEED)
        if s is None:
            out.replaced("seed", raw["seed"], "seed 0", f" (a whole number from 0 to {MAX_SEED})")
        else:
            seed = s
    params = _params(method, raw["params"], out) if "params" in raw else {}
    unpaired = 0.0
    if "unpaired" in raw:
        u = _float(raw["unpaired"], 0.0, 1.0)
        if u is None or (u > 0 and not method_class(method).supports_unpaired):
            out.replaced("unpaired fraction", raw["unpaired"], "paired training", f" ({method}, 0 to 1)")
        else:
            unpaired = u
    out.values.update(method=method, bits=bits, seed=seed, params=params, unpaired=unpaired)


def _query(raw: str, ds, fallback: str, out: Checked) -> None:
    m = _ITEM.fullmatch(str(raw))
    queries = {int(i) for i in ds.split.query}
    if m is None or int(m.group(2)) not in queries:
        why = " (not an item of the query set)" if m else " (expected e.g. image:12)"
        out.replaced("query", raw, fallback, why)
        return
    out.values["query"] = f"{m.group(1)}:{int(m.group(2))}"


def _choice(name: str, raw: str, options: Sequence[str], default: str, out: Checked) -> None:
    if raw in options:
        out.values[name] = raw
    else:
        out.replaced(name, raw, default, f" (one of {', '.join(options)})")


def _compare(raw: Mapping[str, str], out: Checked) -> None:
    if "cmp_methods" in raw:
        names = decode_list(raw["cmp_methods"])[:32]
        ok = [m for m in (_method(n) for n in names) if m]
        bad = [n for n in names if not _method(n)]
        if bad:
            out.replaced("methods", ", ".join(bad), ", ".join(ok) or "none", " (not registered)")
        out.values["cmp_methods"] = list(dict.fromkeys(ok))
    if "cmp_bits" in raw:
        vals = decode_list(raw["cmp_bits"])[:32]
        ok = [b for b in (_int(v, 1, 10**6) for v in vals) if b in BIT_CHOICES]
        if len(ok) != len(vals):
            out.replaced("code lengths", raw["cmp_bits"], encode_list(ok) or "none", f" (from {BIT_CHOICES})")
        out.values["cmp_bits"] = list(dict.fromkeys(ok))
    if "cmp_seeds" in raw:
        s = _int(raw["cmp_seeds"], 1, MAX_CMP_SEEDS)
        if s is None:
            out.replaced("seeds per cell", raw["cmp_seeds"], "1", f" (1 to {MAX_CMP_SEEDS})")
        out.values["cmp_seeds"] = s or 1
    if "cmp_protocol" in raw:
        _choice("cmp_protocol", raw["cmp_protocol"], PROTOCOLS, PROTOCOLS[0], out)
    if "cmp_unpaired" in raw:
        u = _float(raw["cmp_unpaired"], 0.0, 1.0)
        if u is None:
            out.replaced("unpaired fraction", raw["cmp_unpaired"], "0 (paired)", " (0 to 1)")
        out.values["cmp_unpaired"] = u or 0.0
    if "cmp_show" in raw:
        out.values["cmp_show"] = raw["cmp_show"] == "1"


def parse(
    raw: Mapping[str, str],
    page: str,
    datasets: Sequence[str],
    load: Callable[[str], Any],
    default_dataset: str | None = None,
) -> Checked:
    """Check every query parameter of a link; return the usable values and the notices.

    Parameters
    ----------
    raw : mapping of str to str
        The URL's query parameters (all of them, or those that changed).
    page : str
        A key of `PAGES`: ``query`` means Search's query on "search" and Failures' on "failures".
    datasets : sequence of str
        The dataset names the app offers.
    load : callable
        ``load(name) -> CrossModalDataset`` (cached), for the query set and the label names.
    default_dataset : str, optional
        The dataset kept when the link's is unknown (default: the first of ``datasets``).

    Returns
    -------
    Checked
        ``values`` holds typed values: ``dataset``, ``method``/``bits``/``seed``/``params``/
        ``unpaired`` (all five when any run parameter was given), ``query``, ``direction``,
        ``colour``, ``lines``, ``projection``, ``label``, ``text``, ``cmp_*``, ``sid``.
    """
    out = Checked()
    for name in raw:
        if name not in KNOWN:
            out.notices.append(f"The link has an unknown parameter {quote(name)}; it was ignored.")
    dataset = default_dataset if default_dataset in datasets else datasets[0]
    if "dataset" in raw:
        if raw["dataset"] in datasets:
            dataset = raw["dataset"]
            out.values["dataset"] = dataset
        else:
            out.replaced("dataset", raw["dataset"], dataset)
    if any(p in raw for p in RUN_PARAMS):
        _run(raw, out)
    if "sid" in raw:
        from ui.sessions import TOKEN_RE

        if TOKEN_RE.fullmatch(str(raw["sid"])):
            out.values["sid"] = str(raw["sid"])
        else:
            out.notices.append(f"The link's session token {quote(raw['sid'])} is malformed; it was ignored.")
    needs_ds = "query" in raw or "label" in raw
    ds = load(dataset) if needs_ds else None
    if "query" in raw:
        _query(raw["query"], ds, "the worst query" if page == "failures" else "the first query", out)
    if "direction" in raw:
        _choice("direction", raw["direction"], DIRECTIONS, "i2t", out)
    if "colour" in raw:
        _choice("colour", raw["colour"], COLOURS, "modality", out)
    if "projection" in raw:
        _choice("projection", raw["projection"], PROJECTIONS, "pca", out)
    if "lines" in raw:
        _choice("lines", raw["lines"], ("0", "1"), "0", out)
    if "label" in raw:
        if raw["label"] in ds.label_names or raw["label"] == "(all)":
            out.values["label"] = raw["label"]
        else:
            out.replaced("label", raw["label"], "all items", " (not a label of this dataset)")
    if "text" in raw:
        text = str(raw["text"])
        if len(text) > 200:
            out.replaced("caption search", text, "its first 200 characters", " (too long)")
        out.values["text"] = text[:200]
    _compare(raw, out)
    return out


def run_params(key: RunKey | None) -> dict[str, str]:
    """The URL parameters naming a run (defaults left out, so links stay short)."""
    if key is None:
        return {}
    out = {"method": key.method, "bits": str(key.n_bits), "seed": str(key.seed)}
    if key.params != "{}":
        out["params"] = key.params
    if key.unpaired:
        out["unpaired"] = f"{key.unpaired:g}"
    return out


def run_link(page: str, key: RunKey, **extra: str) -> tuple[str, dict[str, str]]:
    """``(script, query_params)`` of a link opening ``key`` on ``page`` (for ``st.page_link``)."""
    return PAGES[page], {"dataset": key.dataset, **run_params(key), **extra}


# ---------------------------------------------------------------------------------------------
# The only reads and writes of st.query_params
# ---------------------------------------------------------------------------------------------


def read() -> dict[str, str]:
    """The URL's query parameters now (the last value of a repeated one)."""
    import streamlit as st

    return st.query_params.to_dict()


def changed(page: str, state: MutableMapping) -> dict[str, str]:
    """The parameters that differ from what this session last wrote (all, for a new session).

    On another page than the last written one, the page's own parameters all count as changed:
    ``query`` on Failures is not Search's ``query``.
    """
    last_page, seen = state.get(URL_SEEN, (None, {}))
    own = PAGE_PARAMS[page] if page != last_page else ()
    return {k: v for k, v in read().items() if seen.get(k) != v or k in own}


def write(page: str, params: dict[str, str], state: MutableMapping) -> None:
    """Make the URL exactly ``params`` (one message, only when it differs) and remember it."""
    import streamlit as st

    if read() != params:
        st.query_params.from_dict(params)
    state[URL_SEEN] = (page, dict(params))
