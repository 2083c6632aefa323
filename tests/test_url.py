"""The one URL parser (`ui.url.parse`): every bad value is replaced and named in a notice."""

from __future__ import annotations

import pytest

from cmh_core.runcache import RunKey
from ui.url import PAGE_PARAMS, RUN_PARAMS, decode_list, encode_list, parse, run_link, run_params

DATASETS = ["tuxpaint", "openmoji"]


@pytest.fixture(scope="module")
def check(tux):
    def run(page: str = "search", **raw):
        return parse(raw, page, DATASETS, lambda name: tux)

    return run


def test_good_values_pass_typed(check, tux):
    q = int(tux.split.query[3])
    c = check(dataset="tuxpaint", method="cca-itq", bits="64", seed="7", query=f"text:{q}")
    assert c.notices == []
    assert c.values == {
        "dataset": "tuxpaint", "method": "CCA-ITQ", "bits": 64, "seed": 7, "params": {},
        "unpaired": 0.0, "query": f"text:{q}",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "named", "shown"),
    [
        ({"method": "NoSuch"}, "method NoSuch", "showing DCH"),
        ({"dataset": "nowhere"}, "dataset nowhere", "showing tuxpaint"),
        ({"bits": "-1"}, "code length of -1", "showing 32 bits"),
        ({"bits": "0"}, "code length of 0", "showing 32 bits"),
        ({"bits": "999999"}, "code length of 999999", "showing 32 bits"),
        ({"bits": "abc"}, "code length of abc", "showing 32 bits"),
        ({"seed": "-1"}, "seed -1", "showing seed 0"),
        ({"seed": "9" * 30}, "seed " + "9" * 30, "showing seed 0"),
        ({"seed": "abc"}, "seed abc", "showing seed 0"),
        ({"query": "image:999999"}, "query image:999999", "showing the first query"),
        ({"query": "<b>x</b>"}, "query <b>x</b>", "showing the first query"),
        ({"params": '{"n_iter": -3}'}, "n_iter = -3", "showing the default 5"),  # method's own bounds
        ({"params": '{"n_iter": "abc"}'}, "n_iter = abc", "showing the default 5"),
        ({"params": '{"nope": 1}'}, "parameter nope", "without it"),
        ({"params": "[[[[" * 10}, "parameters", "defaults"),
        ({"unpaired": "0.5"}, "unpaired fraction 0.5", "paired"),  # DCH has no unpaired training
        ({"direction": "sideways"}, "direction sideways", "showing i2t"),
        ({"colour": "plaid"}, "colour plaid", "showing modality"),
        ({"cmp_methods": "DCH,NoSuch"}, "methods NoSuch", "showing DCH"),
        ({"cmp_bits": "16,7"}, "code lengths 16,7", "showing 16"),
        ({"cmp_seeds": "99"}, "seeds per cell 99", "showing 1"),
    ],
)
def test_bad_values_are_replaced_and_named(check, raw, named, shown):
    c = check(**raw)
    assert len(c.notices) == 1, c.notices
    assert named in c.notices[0] and shown in c.notices[0], c.notices[0]


def test_failures_falls_back_to_the_worst_query(check):
    assert "showing the worst query" in check("failures", query="text:-3").notices[0]


def test_long_values_are_quoted_short(check):
    c = check(method="x" * 5000)
    assert len(c.notices[0]) < 200 and "…" in c.notices[0]


def test_unknown_parameters_are_named(check):
    assert check(foo="1").notices == ["The link has an unknown parameter foo; it was ignored."]


def test_run_links_round_trip(check):
    key = RunKey.make("tuxpaint", "DCH", 64, 3, {"n_iter": 7})
    script, params = run_link("search", key, query="image:12")
    assert script == "pages/3_Search.py" and params["params"] == '{"n_iter": 7}'
    c = check(**{k: v for k, v in params.items() if k != "query"})
    assert c.notices == []
    v = c.values
    assert RunKey.make(v["dataset"], v["method"], v["bits"], v["seed"], v["params"], v["unpaired"]) == key
    assert run_params(RunKey.make("tuxpaint", "DCH", 32, 0)) == {"method": "DCH", "bits": "32", "seed": "0"}


def test_list_encoding():
    assert encode_list([16, 32]) == "16,32" and decode_list("16,,32 ") == ["16", "32"]


def test_every_page_and_run_parameter_is_known():
    from ui.url import KNOWN

    assert set(RUN_PARAMS) <= KNOWN and all(set(p) <= KNOWN for p in PAGE_PARAMS.values())
