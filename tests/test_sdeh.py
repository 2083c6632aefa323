"""SDEH: its losses and token builders, training behaviour, the region path and out-of-sample encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmh_core.evaluation import evaluate
from cmh_core.methods import _sdeh_nets as nets
from cmh_core.methods import get_method, load_model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 8 helpers share 2 cores; timing is not the point here
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- losses and tokens (pure functions)
def test_sim_loss_is_zero_at_the_graded_target():
    Y = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = nets.label_similarity(Y, Y)
    np.testing.assert_allclose(s.numpy(), [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-6)
    h = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])  # same labels same code, else opposite
    assert float(nets.sim_loss(h, h, s)) == pytest.approx(0.0, abs=1e-7)
    assert float(nets.sim_loss(h, -h, s)) > 1.0
    half = nets.label_similarity(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]]))
    assert float(half) == pytest.approx(2**-0.5)  # graded, not 0/1
    binary = nets.label_similarity(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]), True)
    assert binary.tolist() == [[1.0, 0.0]]  # the 0/1 target of the ablation


def test_dc_loss_measures_distribution_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 16, generator=g).tanh()
    assert float(nets.dc_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    b = torch.randn(64, 16, generator=g).tanh()
    assert float(nets.dc_loss(a, a + 1.0)) > 10 * float(nets.dc_loss(a, b)) > 0


def test_q_loss_zero_only_for_balanced_binary_codes():
    balanced = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    assert float(nets.q_loss(balanced)) == pytest.approx(0.0)
    assert float(nets.q_loss(torch.ones(2, 2))) == pytest.approx(1.0)  # all bits on: unbalanced
    assert float(nets.q_loss(0.5 * balanced)) == pytest.approx(0.25)  # not binary


def test_sem_loss_prefers_true_labels():
    y = torch.tensor([[1.0, 0.0, 1.0]])
    z = torch.zeros(1, 4)
    good = nets.sem_loss({"image": torch.tensor([[5.0, -5.0, 5.0]])}, {"image": z}, y, z)
    bad = nets.sem_loss({"image": torch.tensor([[-5.0, 5.0, -5.0]])}, {"image": z}, y, z)
    assert float(good) < 0.01 < 4 < float(bad)


def test_token_builders():
    x = torch.arange(10.0).reshape(1, 10)
    t = nets.chunk_tokens(x, 4)  # width 3, two zeros of padding
    assert t.shape == (1, 4, 3) and t[0, -1].tolist() == [9.0, 0.0, 0.0]
    tfidf = torch.tensor([[0.0, 0.8, 0.0, 0.6], [0.0, 0.0, 0.0, 0.0]])
    ids, w = nets.word_tokens(tfidf, 3)
    assert ids[0, :2].tolist() == [1, 3] and w[0].tolist() == pytest.approx([0.8, 0.6, 0.0])
    assert not w[1].any()  # an empty caption: all padding
    branch = nets.LocalBranch({"words": ("words", 4)}, 8, 4, 1, 0.0)
    assert torch.isfinite(branch("words", ids, w)).all()  # all-padding rows give no NaN


# ---------------------------------------------------------------- the method
def _fit(ds, **params):
    tr = ds.split.train
    calls = []
    m = get_method("SDEH", **{"n_bits": 32, "random_state": 0, **params})

    def record(iteration, objective, elapsed_s, terms):
        calls.append((iteration, objective, elapsed_s, terms))

    m.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr], callback=record)
    return m, calls


def test_loss_decreases_and_every_term_is_reported(synthetic_ds):
    m, calls = _fit(synthetic_ds, n_bits=16, n_epochs=8, hidden_dim=32)
    assert [c[0] for c in calls] == list(range(1, 9))
    terms = [c[3] for c in calls]
    assert set(terms[0]) == {"sim", "sem", "dc", "q", "common"}
    for t, c in zip(terms, calls, strict=True):
        assert c[1] == pytest.approx(sum(t.values()), rel=1e-6)
    assert calls[-1][1] < 0.8 * calls[0][1], [round(c[1], 4) for c in calls]
    assert terms[-1]["sim"] < terms[0]["sim"]
    _, off = _fit(
        synthetic_ds, n_bits=16, n_epochs=2, hidden_dim=32, use_dc=False, use_q=False, common_codes=False
    )
    assert set(off[0][3]) == {"sim", "sem"}


@pytest.mark.slow
def test_beats_random_codes_on_tuxpaint(tux, tux_fitted):
    """32 bits, one seed, the defaults but 20 of the 80 epochs (a quarter of the time; the
    defaults' scores are in docs/methods/sdeh.md), chunk tokens (the region path costs 4x)."""
    m, _ = _fit(tux, n_epochs=20)
    rep, chance = evaluate(m, tux), evaluate(tux_fitted("RandomCodes", n_bits=32, random_state=0), tux)
    for d in ("i2t", "t2i"):
        assert rep[d]["mAP"] >= chance[d]["mAP"] + 0.10, (d, rep[d]["mAP"], chance[d]["mAP"])
    assert m.region_tokens_ == 0 and m.word_tokens_ == 0


@pytest.mark.slow
def test_region_path_encodes_bundled_and_new_images(tux, tmp_path):
    """Bundled rows use their feature maps, other rows (an uploaded picture) vector chunks; same codes
    after save/load, and the same seed gives the same codes."""
    sub = tux.split.train[:96]
    X1, X2, Y = tux.image_features[sub], tux.text_features[sub], tux.labels[sub]
    m = get_method("SDEH", n_bits=24, n_epochs=2, hidden_dim=32, local_tokens="auto", random_state=0).fit(
        X1, X2, Y
    )
    assert m.region_tokens_ == 1 and m.word_tokens_ == 1 and m.region_basis_.shape == (1280, 128)
    new = X1[:5] * 1.01  # not a stored row: falls back to chunks
    proj = m._project(np.vstack([X1[:5], new]), "image")
    assert np.isfinite(proj).all() and not np.allclose(proj[:5], proj[5:])
    typed = np.zeros((2, X2.shape[1]), np.float32)  # an empty typed query
    assert m.encode(typed, "text").shape == (2, 3)
    again = get_method("SDEH", n_bits=24, n_epochs=2, hidden_dim=32, local_tokens="auto", random_state=0).fit(
        X1, X2, Y
    )
    np.testing.assert_array_equal(again.train_codes_["image"], m.train_codes_["image"])
    loaded = load_model(m.save(tmp_path / "sdeh"))
    for mod, X in (("image", np.vstack([X1, new])), ("text", X2)):
        np.testing.assert_array_equal(loaded.encode(X, mod), m.encode(X, mod))


def test_ablation_switches(synthetic_ds):
    tr = synthetic_ds.split.train
    data = synthetic_ds.image_features[tr], synthetic_ds.text_features[tr], synthetic_ds.labels[tr]
    off = {"use_sim": False, "use_sem": False, "use_dc": False, "use_q": False, "common_codes": False}
    with pytest.raises(ValueError, match="nothing to train.*use_sim=True"):
        get_method("SDEH", **off).fit(*data)
    with pytest.raises(
        ValueError, match="multiple of the 4 attention heads, got 30.*hidden_dim=256 \\(the default\\)"
    ):
        get_method("SDEH", hidden_dim=30).fit(*data)
    with pytest.raises(ValueError, match="'local_branch'.*'yes'"):
        get_method("SDEH", local_branch="yes").fit(*data)
    glob = get_method("SDEH", n_bits=16, n_epochs=1, hidden_dim=32, local_branch=False, random_state=0).fit(
        *data
    )
    full = get_method("SDEH", n_bits=16, n_epochs=1, hidden_dim=32, random_state=0).fit(*data)
    assert glob.network_weights_.size < full.network_weights_.size  # no local branch, no gate


# ---------------------------------------------------------------- every switch acts on tuxpaint
SWITCHES = {
    "local branch": {"local_branch": False},
    "L_sim": {"use_sim": False},
    "L_sem": {"use_sem": False},
    "L_dc": {"use_dc": False},
    "L_q": {"use_q": False},
    "binary target": {"similarity": "binary"},
    "common codes": {"common_codes": False},
    "region tokens": pytest.param(
        {"local_tokens": "auto"}, marks=pytest.mark.slow
    ),  # feature-map cache + PCA
}


@pytest.fixture(scope="module")
def tux_small(tux):
    """192 tuxpaint training rows: a short fit (3 epochs, width 16, 16 bits) that every switch must move."""
    sub = tux.split.train[:192]
    return tux.image_features[sub], tux.text_features[sub], tux.labels[sub]


def _codes(data, **params):
    m = get_method("SDEH", n_bits=16, n_epochs=3, hidden_dim=16, random_state=0, device="cpu", **params)
    m.fit(*data)
    return np.unpackbits(m.train_codes_["image"], axis=1), np.unpackbits(m.train_codes_["text"], axis=1)


@pytest.fixture(scope="module")
def base_codes(tux_small):
    return _codes(tux_small)


@pytest.mark.parametrize("params", list(SWITCHES.values()), ids=list(SWITCHES))
def test_each_switch_changes_the_training_codes(tux_small, base_codes, params):
    """An idea that changes no bit is a defect: each switch moves some of the 192 x 16 training bits."""
    codes = _codes(tux_small, **params)
    changed = sum(int((a != b).sum()) for a, b in zip(codes, base_codes, strict=True))
    assert changed > 0, params


def test_common_codes_are_one_code_per_item_and_the_database(base_codes, tux_small):
    img, txt = base_codes
    np.testing.assert_array_equal(img, txt)  # B = sgn(h_v + h_t): one code for both modalities
    per_modality = _codes(tux_small, common_codes=False)
    assert (per_modality[0] != per_modality[1]).any()  # without it each modality has its own codes
