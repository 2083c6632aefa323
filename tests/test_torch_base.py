"""The torch base of the deep methods (`cmh_core.methods._torch.TorchHasher`), on a toy subclass."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest
import torch

from cmh_core.methods._torch import TorchHasher, flatten_state, load_flat_state

torch.set_num_threads(1)  # 8 helpers share 2 cores; timing is not the point here


class ToyHasher(TorchHasher):
    """One linear layer per modality trained to regress ±1 label codes (enough to exercise the base)."""

    name: ClassVar[str] = "ToyHasher"

    def _build_network(self, n_features, n_labels):
        return torch.nn.ModuleDict({m: torch.nn.Linear(d, self.n_bits) for m, d in n_features.items()})

    def _train(self, net, data, progress):
        opt = self._optimizer(net.parameters())
        target = torch.tanh(data.Y["image"] @ torch.randn(data.Y["image"].shape[1], self.n_bits))
        for epoch in range(1, self.n_epochs + 1):
            total = {"image": 0.0, "text": 0.0}
            for idx in self._batches(data.X["image"].shape[0], data.generator):
                loss = {m: ((self._forward(net, data.X[m][idx], m) - target[idx]) ** 2).mean() for m in total}
                opt.zero_grad()
                (loss["image"] + loss["text"]).backward()
                opt.step()
                total = {m: total[m] + loss[m].detach() for m in total}
            self._report_epoch(progress, epoch, total)
        return None


@pytest.fixture(scope="module")
def train(synthetic_ds):
    tr = synthetic_ds.split.train
    return synthetic_ds.image_features[tr], synthetic_ds.text_features[tr], synthetic_ds.labels[tr]


def toy(**params) -> ToyHasher:
    return ToyHasher(**{"n_bits": 16, "n_epochs": 3, "random_state": 0, "device": "cpu", **params})


def test_registry_import_is_torch_free():
    code = "import sys, cmh_core, cmh_core.methods; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_same_seed_same_codes_and_callers_rng_untouched(train, synthetic_ds):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = toy().fit(*train)
    after = torch.rand(3)  # fit seeds inside fork_rng: the caller's stream goes on unchanged
    assert torch.equal(after, expected)
    b = toy().fit(*train)
    c = toy(random_state=1).fit(*train)
    np.testing.assert_array_equal(a.network_weights_, b.network_weights_)
    X = synthetic_ds.text_features[synthetic_ds.split.query]
    np.testing.assert_array_equal(a.encode(X, "text"), b.encode(X, "text"))
    assert (a.network_weights_ != c.network_weights_).any()


def test_deterministic_setting_restored(train):
    before = torch.are_deterministic_algorithms_enabled()
    seen = []
    toy(n_epochs=1).fit(*train, callback=lambda *a: seen.append(torch.are_deterministic_algorithms_enabled()))
    assert seen == [True]
    assert torch.are_deterministic_algorithms_enabled() == before


def test_callback_gets_terms_summing_to_total(train):
    calls = []
    toy(n_epochs=4).fit(*train, callback=lambda it, obj, t, terms: calls.append((it, obj, terms)))
    assert [c[0] for c in calls] == [1, 2, 3, 4]
    for _, obj, terms in calls:
        assert set(terms) == {"image", "text"}
        assert obj == pytest.approx(sum(terms.values()))
    assert calls[-1][1] < calls[0][1]  # the toy regression learns


def test_weights_are_the_state_dict_in_order(train):
    m = toy().fit(*train)
    net = m._network()
    sizes = [t.numel() for t in net.state_dict().values()]
    assert m.network_weights_.shape == (sum(sizes),) and m.network_weights_.dtype == np.float32
    np.testing.assert_array_equal(flatten_state(net), m.network_weights_)
    other = m._build_network(m.n_features_in_, m.n_labels_)
    load_flat_state(other, m.network_weights_, "toy")
    for a, b in zip(other.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_save_load_round_trip_and_tampered_weights(train, synthetic_ds, tmp_path):
    m = toy().fit(*train)
    path = m.save(tmp_path / "toy.npz")
    loaded = ToyHasher.load(path)
    X = synthetic_ds.image_features
    np.testing.assert_array_equal(loaded.encode(X, "image"), m.encode(X, "image"))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    w = arrays["a:network_weights_"]
    with_nan = w.copy()
    with_nan[3] = np.nan
    for name, tampered, pattern in (
        ("short", w[:-1], "holds .* values .*rebuilt"),
        ("nan", with_nan, "NaN"),
        ("ints", w.astype(np.int64), "holds .* values .*int64"),
    ):
        bad = dict(arrays, **{"a:network_weights_": tampered})
        np.savez(tmp_path / f"{name}.npz", **bad)
        with pytest.raises(ValueError, match=pattern):
            ToyHasher.load(tmp_path / f"{name}.npz")
    missing = {k: v for k, v in arrays.items() if k != "a:network_weights_"}
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing: \['a:network_weights_'\]"):
        ToyHasher.load(tmp_path / "missing.npz")


def test_device_choice(train):
    assert toy(device="cpu").torch_device().type == "cpu"
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert toy(device="auto").torch_device().type == want
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda'.*no CUDA.*device='cpu'"):
            toy(device="cuda").fit(*train)
    with pytest.raises(ValueError, match="'device'.*'gpu'"):
        toy(device="gpu").fit(*train)
