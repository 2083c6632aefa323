"""DCMH on the bundled data: quality against chance, loss decrease, determinism, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmh_core.evaluation import evaluate
from cmh_core.methods import get_method, load_model
from cmh_core.methods.dcmh import dcmh_batch_terms

torch.set_num_threads(1)  # 8 helpers share 2 cores; timing is not the point here

FAST = {"n_epochs": 3, "n_hidden": 64, "device": "cpu"}  # small settings where quality is not asserted


@pytest.fixture(scope="module")
def tux_run(tux):
    """DCMH at 32 bits, seed 0, on tuxpaint, with the callback's history: its defaults but 30 of
    the 110 epochs (a quarter of the time; the defaults' scores are in docs/methods/sdeh.md)."""
    tr = tux.split.train
    calls = []
    m = get_method("DCMH", n_bits=32, n_epochs=30, random_state=0, device="cpu")
    m.fit(
        tux.image_features[tr],
        tux.text_features[tr],
        tux.labels[tr],
        callback=lambda it, obj, t, terms: calls.append((it, obj, terms)),
    )
    return m, calls


@pytest.mark.slow
def test_beats_random_codes_on_tuxpaint(tux, tux_run, tux_fitted):
    rep = evaluate(tux_run[0], tux)
    chance = evaluate(tux_fitted("RandomCodes", n_bits=32, random_state=0), tux)
    for d in ("i2t", "t2i"):
        assert rep[d]["mAP"] >= chance[d]["mAP"] + 0.10, (d, rep[d]["mAP"], chance[d]["mAP"])


@pytest.mark.slow
def test_loss_decreases_and_terms_add_up(tux_run):
    m, calls = tux_run
    assert [c[0] for c in calls] == list(range(1, m.n_epochs + 1))
    for _, total, terms in calls:
        assert set(terms) == {"likelihood", "quantization", "balance"}
        assert total == pytest.approx(sum(terms.values()))
    assert calls[-1][1] < calls[0][1]
    assert calls[-1][2]["likelihood"] < calls[0][2]["likelihood"]


@pytest.mark.slow
def test_training_codes_are_shared(tux_run):
    m = tux_run[0]  # B = sgn(F + G): one code per training item for both modalities
    np.testing.assert_array_equal(m.train_codes_["image"], m.train_codes_["text"])


def test_same_seed_same_codes(synthetic_ds):
    tr = synthetic_ds.split.train
    train = (synthetic_ds.image_features[tr], synthetic_ds.text_features[tr], synthetic_ds.labels[tr])
    a, b = (get_method("DCMH", n_bits=16, random_state=5, **FAST).fit(*train) for _ in range(2))
    X = synthetic_ds.text_features
    np.testing.assert_array_equal(a.encode(X, "text"), b.encode(X, "text"))
    np.testing.assert_array_equal(a.train_codes_["image"], b.train_codes_["image"])
    np.testing.assert_array_equal(a.network_weights_, b.network_weights_)


@pytest.mark.slow
def test_save_load_round_trip(tux, tux_run, tmp_path):
    m = tux_run[0]
    path = m.save(tmp_path / "dcmh")
    loaded = load_model(path)
    assert loaded.get_params() == m.get_params()
    for mod, X in (("image", tux.image_features), ("text", tux.text_features)):
        np.testing.assert_array_equal(loaded.encode(X, mod), m.encode(X, mod))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["a:network_weights_"] = arrays["a:network_weights_"][:-5]
    np.savez(tmp_path / "cut.npz", **arrays)
    with pytest.raises(ValueError, match="network_weights_ holds .* values"):
        load_model(tmp_path / "cut.npz")


def test_batch_terms_match_a_loop():
    """The vectorised terms against the formula written out pair by pair."""
    g = torch.Generator().manual_seed(0)
    out, other = torch.randn(4, 3, generator=g), torch.randn(6, 3, generator=g)
    S = (torch.rand(4, 6, generator=g) > 0.5).float()
    B = torch.sign(torch.randn(4, 3, generator=g))
    col = torch.randn(3, generator=g)
    got = dcmh_batch_terms(out, other, S, B, col)
    nll = 0.0
    for i in range(4):
        for j in range(6):
            theta = 0.5 * float(out[i] @ other[j])
            nll += -(float(S[i, j]) * theta - np.log1p(np.exp(theta)))
    assert float(got["likelihood"]) == pytest.approx(nll, rel=1e-5)
    assert float(got["quantization"]) == pytest.approx(float(((B - out) ** 2).sum()), rel=1e-6)
    assert float(got["balance"]) == pytest.approx(float((col**2).sum()), rel=1e-6)
    big = dcmh_batch_terms(out * 100, other * 100, S, B, col)["likelihood"]
    assert torch.isfinite(big)  # softplus: no overflow of e^θ


def test_memory_scales_with_batch_not_n():
    """max_n_bits grows as n shrinks (banks are n×r), and nothing in it is n×n."""
    m = get_method("DCMH")
    nf = {"image": 1280, "text": 1791}
    small, large = m.max_n_bits(nf, 1_000), m.max_n_bits(nf, 1_000_000)
    assert small > large >= 64  # a million items still fit at 64 bits in the budget


# ---------------------------------------------------------------- Train page: loss terms
def test_loss_terms_figure_draws_each_term_and_the_total():
    from cmh_core.plotting import loss_terms_figure

    history = [[1, 3.0, 0.1], [2, 2.0, 0.2], [3, 1.5, 0.3]]
    terms = [{"a": 2.0, "b": 1.0}, {"a": 1.5, "b": 0.5}, {"a": 1.0}]
    fig = loss_terms_figure(history, terms)
    assert [t.name for t in fig.data] == ["a", "b", "total"]
    assert list(fig.data[1].y[:2]) == [1.0, 0.5] and np.isnan(fig.data[1].y[2])  # missing: a gap
    assert list(fig.data[2].y) == [3.0, 2.0, 1.5]
    assert fig.layout.yaxis.type == "log"  # all positive
    assert loss_terms_figure(history, [{"a": -1.0}, {"a": 1.0}, {}]).layout.yaxis.type == "linear"
    empty = loss_terms_figure(history, [{}, {}, {}])
    assert not empty.data and "no loss terms" in empty.layout.annotations[0].text
    with pytest.raises(ValueError, match="history has 3 rows but loss_terms has 2"):
        loss_terms_figure(history, terms[:2])


@pytest.mark.app
def test_train_page_plots_dcmh_loss_terms():
    """Training DCMH on the Train page shows one curve per loss term (from Run.loss_terms)."""
    import json
    from pathlib import Path

    from apptest_helpers import current_run_of, press_train
    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=120)
    at.switch_page("pages/2_Train.py").run()
    next(s for s in at.selectbox if s.key == "train_method").set_value("DCMH").run()
    for key, value in (("hp_DCMH_n_epochs", 2), ("hp_DCMH_n_hidden", 32)):
        next(n for n in at.number_input if n.key == key).set_value(value)
    press_train(at)  # a background training: waits until it is the current run
    assert not at.exception and not at.error, (at.exception, at.error)
    run = current_run_of(at)
    assert len(run.loss_terms) == 2 and set(run.loss_terms[0]) == {"likelihood", "quantization", "balance"}
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    names = [[t.get("name") for t in c["data"]] for c in charts]
    assert ["likelihood", "quantization", "balance", "total"] in names, names
