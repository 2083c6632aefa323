"""Code lengths offered per method: never one that fit refuses, and every method gets one near 32."""

from __future__ import annotations

import pytest

from cmh_core.methods import METHODS, code_lengths, get_method


def _shape(ds):
    nf = {"image": ds.image_features.shape[1], "text": ds.text_features.shape[1]}
    return nf, len(ds.split.train)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_has_a_length_near_32_on_tuxpaint(tux, name):
    offered = code_lengths(name, *_shape(tux))
    ok = [b for b, why in offered.items() if why is None]
    assert ok and max(b for b in ok if b <= 32) >= 16
    for b, why in offered.items():  # a refusal says why, naming the largest length that works
        assert why is None or ("n_bits" in why and str(b) in why)


@pytest.mark.slow
def test_jspsh_refusal_matches_fit_and_its_offer_trains(tux):
    tr = tux.split.train
    data = (tux.image_features[tr], tux.text_features[tr], tux.labels[tr])
    offered = code_lengths("JSPSH", *_shape(tux))
    assert offered[32] is not None and offered[31] is None  # K = 20 r must stay below n = 630
    with pytest.raises(ValueError) as e:
        get_method("JSPSH", n_bits=32, n_iter=2, random_state=0).fit(*data)
    assert str(e.value) == offered[32]
    m = get_method("JSPSH", n_bits=31, n_iter=2, random_state=0).fit(*data)
    assert m.encode(tux.image_features[:3], "image").shape[0] == 3


def test_params_change_the_limit(tux):
    nf, n = _shape(tux)
    assert code_lengths("JSPSH", nf, n, params={"sparsity": 0.25})[64] is None  # K = 4 r = 256 < 630
