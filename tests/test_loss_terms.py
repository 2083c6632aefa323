"""Loss terms: methods may report the parts of their objective; callbacks opt in with a 4th parameter."""

from __future__ import annotations

import math

import pytest

from cmh_core import methods
from cmh_core.experiment import run_experiment
from cmh_core.methods.random_codes import RandomCodes


class _TermsCodes(RandomCodes):
    """RandomCodes that reports two epochs with named loss parts (stands in for a deep method)."""

    name = "TermsCodes"

    def _fit(self, X_img, X_txt, Y, Y_txt, rng, callback):
        out = super()._fit(X_img, X_txt, Y, Y_txt, rng, callback)
        callback(1, 3.0, terms={"L_sim": 2.0, "L_q": 1.0})
        callback(2, 1.5, terms={"L_sim": 1.0, "L_q": 0.5})
        return out


@pytest.fixture()
def registered(monkeypatch):
    monkeypatch.setitem(methods.METHODS, "TermsCodes", _TermsCodes)
    return "TermsCodes"


def test_four_parameter_callback_gets_terms(synthetic_ds):
    tr = synthetic_ds.split.train
    got = []

    def cb(it, obj, elapsed, terms):
        got.append((it, obj, terms))

    _TermsCodes(n_bits=8, random_state=0).fit(
        synthetic_ds.image_features[tr], synthetic_ds.text_features[tr], synthetic_ds.labels[tr], callback=cb
    )
    assert got == [(1, 3.0, {"L_sim": 2.0, "L_q": 1.0}), (2, 1.5, {"L_sim": 1.0, "L_q": 0.5})]


def test_three_value_and_star_args_callbacks_keep_three(synthetic_ds):
    tr = synthetic_ds.split.train
    X = (synthetic_ds.image_features[tr], synthetic_ds.text_features[tr], synthetic_ds.labels[tr])
    star, three = [], []
    _TermsCodes(n_bits=8, random_state=0).fit(*X, callback=lambda *a: star.append(a))
    _TermsCodes(n_bits=8, random_state=0).fit(*X, callback=lambda i, o, e: three.append((i, o, e)))
    assert [len(a) for a in star] == [3, 3]
    assert [t[:2] for t in three] == [(1, 3.0), (2, 1.5)]


def test_methods_without_terms_send_an_empty_dict(synthetic_ds):
    tr = synthetic_ds.split.train
    got = []
    methods.get_method("RandomCodes", n_bits=8, random_state=0).fit(
        synthetic_ds.image_features[tr],
        synthetic_ds.text_features[tr],
        synthetic_ds.labels[tr],
        callback=lambda it, obj, el, terms: got.append(terms),
    )
    assert got == [{}]  # the base's single end-of-fit call, objective NaN


def test_run_records_terms_beside_history(registered, synthetic_ds):
    seen = []
    run = run_experiment(synthetic_ds, registered, n_bits=8, callback=lambda i, o, e, t: seen.append(t))
    assert run.loss_terms == [{"L_sim": 2.0, "L_q": 1.0}, {"L_sim": 1.0, "L_q": 0.5}]
    assert [h[1] for h in run.history] == [3.0, 1.5]
    assert seen == run.loss_terms
    # a three-argument callback still works on the same run path
    run3 = run_experiment(synthetic_ds, registered, n_bits=8, callback=lambda i, o, e: None)
    assert run3.loss_terms == run.loss_terms
    assert run.from_dict(run.to_dict()).loss_terms == run.loss_terms
    assert not math.isnan(run.history[0][1])
