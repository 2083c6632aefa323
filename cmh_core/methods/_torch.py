"""`TorchHasher`: the base of the deep (PyTorch) methods (DCMH, SDEH).

torch is imported lazily inside methods, never at module import, so ``import cmh_core`` and
``import cmh_core.methods`` stay torch-free.

The contract a deep method builds on (kept stable: other branches rely on these names)
----------------------------------------------------------------------------------------
A subclass of `TorchHasher` stores its keyword-only parameters in ``__init__`` (including the
base's ``n_bits, n_epochs, batch_size, learning_rate, device, random_state``), merges its
``_parameter_constraints`` with ``TorchHasher._parameter_constraints`` and implements:

* ``_build_network(n_features, n_labels) -> torch.nn.Module``: a fresh network whose shapes follow
  only from the hyper-parameters, ``n_features = {"image": d_img, "text": d_txt}`` and the label
  count ``n_labels`` (c). It is called seeded in `fit` and again, unseeded, when a saved model is
  loaded (the weights are then overwritten), so it must not depend on the training data.
* ``_train(net, data, progress) -> None | {"image": B1, "text": B2}``: the training loop on
  ``data`` (a `TrainData`: standardised float32 tensors on the model's device, labels, a seeded
  CPU ``torch.Generator``). Report once per epoch with ``self._report_epoch(progress, epoch,
  {"term": value, ...})`` (the total is the sum of the terms). Return the learned training codes
  (entries > 0 are 1-bits; tensors or arrays) or None to code the training rows with the net.
* optionally ``_forward(net, x, modality) -> Tensor (n, r)``: the real-valued hash output used by
  `encode` (default ``net[modality](x)``, for an ``nn.ModuleDict`` keyed by modality).

Helpers for ``_train``: ``_batches(n, generator)`` (shuffled index tensors of ``batch_size``),
``_optimizer(parameters)`` (Adam with ``learning_rate``), ``_predict(net, x, modality)`` (eval
mode, no grad, in batches; returns a tensor on the device) and ``_report_epoch``.

What the base does: standardises each modality's features with training statistics
(``input_means_``, ``input_scales_``), seeds torch (``torch.manual_seed`` inside
``torch.random.fork_rng``, so the caller's global generator is left as it was), turns on
``torch.use_deterministic_algorithms`` during `fit` (previous setting restored after; on CPU the
same seed gives the same codes), picks the device (``device="auto"``: CUDA when present, else
CPU), and keeps the weights as ``network_weights_``: every ``state_dict`` tensor flattened, in
``state_dict`` order, into one float32 vector. `save` writes it as an ordinary array of the
``.npz`` (no pickle); `load` rebuilds the network with ``_build_network`` and refuses a weight
vector whose length does not match it or that holds NaN/inf.

The thread count is left as it is (tests set ``torch.set_num_threads(1)`` themselves).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cmh_core.methods._base import MODALITIES, CrossModalHasher
from cmh_core.methods._constraints import MAX_BATCH, MAX_EPOCHS, Interval, StrOptions
from cmh_core.methods._progress import _Progress

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import torch

__all__ = ["TorchHasher", "TrainData", "flatten_state", "load_flat_state"]

_ENCODE_BATCH = 4096  # rows per forward pass in encode: bounded memory, few Python round trips


@dataclass
class TrainData:
    """What ``_train`` gets: standardised training data on the model's device.

    Attributes
    ----------
    X : dict of torch.Tensor
        ``{"image": (n_img, d_img), "text": (n_txt, d_txt)}`` float32, standardised.
    Y : dict of torch.Tensor
        ``{"image": (n_img, c), "text": (n_txt, c)}`` float32 multi-hot labels (the same tensor
        twice for paired data).
    generator : torch.Generator
        Seeded CPU generator for every shuffle and random draw of the training loop.
    device : torch.device
        Where the network and the tensors live.
    """

    X: dict[str, Any]
    Y: dict[str, Any]
    generator: Any
    device: Any


def _torch():
    import torch

    return torch


# ---------------------------------------------------------------------- weights <-> flat array
def flatten_state(net: torch.nn.Module) -> np.ndarray:
    """Every ``state_dict`` tensor of ``net``, flattened in order into one float32 vector (p,)."""
    parts = [t.detach().to("cpu").reshape(-1).float().numpy() for t in net.state_dict().values()]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def load_flat_state(net: torch.nn.Module, flat: np.ndarray, what: str) -> None:
    """Load a vector written by `flatten_state` into ``net`` (same architecture).

    Raises
    ------
    ValueError
        If ``flat`` is not a 1-D float vector of exactly the network's size or holds NaN/inf
        (``what`` names the model in the message).
    """
    torch = _torch()
    state = net.state_dict()
    size = sum(t.numel() for t in state.values())
    flat = np.asarray(flat)
    if flat.ndim != 1 or flat.dtype.kind != "f" or flat.size != size:
        raise ValueError(
            f"{what}: network_weights_ holds {flat.size} values ({flat.dtype}, shape {flat.shape}) but "
            f"the network rebuilt from its parameters has {size} float values; the file is damaged "
            "or was altered: retrain and save again"
        )
    if not np.isfinite(flat).all():
        raise ValueError(f"{what}: network_weights_ holds NaN or inf values; retrain and save again")
    out, start = {}, 0
    for key, t in state.items():
        chunk = flat[start : start + t.numel()].reshape(t.shape)
        out[key] = torch.from_numpy(chunk.copy()).to(dtype=t.dtype)
        start += t.numel()
    net.load_state_dict(out)


@contextlib.contextmanager
def _seeded_deterministic(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch without touching the caller's generator; deterministic algorithms inside."""
    torch = _torch()
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cuda = device.type == "cuda"
    devices = [device.index or 0] if cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        # on CUDA some kernels have no deterministic variant (and cuBLAS needs an env variable):
        # warn instead of failing; bitwise reproducibility is promised on CPU only
        torch.use_deterministic_algorithms(True, warn_only=cuda)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_on, warn_only=was_warn)


class TorchHasher(CrossModalHasher):
    """Base class of deep hashing methods: seeded mini-batch training in PyTorch.

    Parameters
    ----------
    n_bits : int, default=32
        Code length r.
    n_epochs : int, default=50
        Training epochs.
    batch_size : int, default=128
        Mini-batch rows.
    learning_rate : float, default=1e-3
        Adam step size.
    device : {"auto", "cpu", "cuda"}, default="auto"
        "auto" uses CUDA when available, else CPU; "cpu" forces the CPU.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the initial weights and of every shuffle.

    Attributes
    ----------
    n_labels_ : int
        Label count c seen in `fit` (some networks have label-sized layers).
    input_means_ : dict of ndarray (d_m,)
        Training feature means per modality.
    input_scales_ : dict of float
        Scale per modality: centred features divided by it have mean squared entry 1.
    network_weights_ : ndarray of float32 (p,)
        Every ``state_dict`` tensor of the network, flattened in order.
    """

    _parameter_constraints: ClassVar[dict] = {
        **CrossModalHasher._parameter_constraints,
        "n_epochs": [Interval(Integral, 1, MAX_EPOCHS, closed="both")],  # bound: docs/security.md
        "batch_size": [Interval(Integral, 1, MAX_BATCH, closed="both")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {
        **CrossModalHasher._fitted_attributes,
        "n_labels_": "int",
        "input_means_": "{array(d)}",
        "input_scales_": "{float}",
        "network_weights_": "array(*)",
    }

    def __init__(
        self,
        *,
        n_bits: int = 32,
        n_epochs: int = 50,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        device: str = "auto",
        random_state: int | np.random.Generator | None = None,
    ):
        self.n_bits = n_bits
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ hooks for subclasses
    def _build_network(self, n_features: dict[str, int], n_labels: int) -> torch.nn.Module:
        """A fresh network for data of these sizes (shapes from hyper-parameters only)."""
        raise NotImplementedError

    def _train(self, net: torch.nn.Module, data: TrainData, progress: _Progress):
        """Train ``net`` in place; may return ``{"image": B1, "text": B2}`` training codes."""
        raise NotImplementedError

    def _forward(self, net: torch.nn.Module, x: torch.Tensor, modality: str) -> torch.Tensor:
        """Real-valued hash output ``(n, r)`` of standardised ``x`` (n, d_m)."""
        return net[modality](x)

    # ------------------------------------------------------------------ helpers for _train
    def torch_device(self) -> torch.device:
        """The device this model trains and encodes on (from the ``device`` parameter).

        Raises
        ------
        ValueError
            For ``device="cuda"`` when torch sees no CUDA device.
        """
        torch = _torch()
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device='cuda' was asked for {self.name}, but torch sees no CUDA device; "
                "use device='auto' (CUDA when present) or device='cpu'"
            )
        if self.device == "cpu" or not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda")

    def _batches(self, n: int, generator: torch.Generator) -> list[torch.Tensor]:
        """A fresh shuffle of ``range(n)`` cut into index tensors of ``batch_size`` (last may be short)."""
        torch = _torch()
        order = torch.randperm(n, generator=generator)
        return list(torch.split(order, int(self.batch_size)))

    def _optimizer(self, parameters) -> torch.optim.Optimizer:
        """Adam with ``learning_rate`` over ``parameters``."""
        return _torch().optim.Adam(parameters, lr=float(self.learning_rate))

    def _predict(self, net: torch.nn.Module, x: torch.Tensor, modality: str) -> torch.Tensor:
        """``_forward`` over all rows of ``x`` (n, d) in eval mode, without grad, in batches.

        Returns a tensor (n, r) on ``x``'s device; the network's train/eval mode is restored.
        """
        torch = _torch()
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                parts = [self._forward(net, xb, modality) for xb in torch.split(x, _ENCODE_BATCH)]
        finally:
            net.train(was_training)
        return torch.cat(parts) if parts else x.new_zeros((0, self.code_length_))

    def _report_epoch(self, progress: _Progress, epoch: int, terms: dict[str, Any]) -> None:
        """``progress(epoch, sum of terms, terms=...)``; term values may be 0-d tensors or floats."""
        values = {k: float(v) for k, v in terms.items()}
        progress(epoch, float(sum(values.values())), terms=values)

    # ------------------------------------------------------------------ base machinery
    def _fit(self, X_img, X_txt, Y, Y_txt, rng: np.random.Generator, callback: _Progress):
        torch = _torch()
        device = self.torch_device()
        seed = int(rng.integers(2**63 - 1))
        self.n_labels_ = int(Y.shape[1])
        self.input_means_, self.input_scales_, X = {}, {}, {}
        for m, Xm in zip(MODALITIES, (X_img, X_txt), strict=True):
            self.input_means_[m] = Xm.mean(axis=0, dtype=np.float64).astype(np.float32)
            Xc = np.subtract(Xm, self.input_means_[m], dtype=np.float32)  # one (n, d) copy, scaled in place
            # scale to mean squared entry 1: inputs of the size torch's default init expects
            self.input_scales_[m] = float(
                np.sqrt(np.einsum("ij,ij->", Xc, Xc, dtype=np.float64) / Xc.size) + 1e-12
            )
            Xc /= self.input_scales_[m]
            X[m] = torch.from_numpy(Xc).to(device)
        Yt = torch.from_numpy(np.asarray(Y, np.float32)).to(device)
        Y2 = Yt if Y_txt is None else torch.from_numpy(np.asarray(Y_txt, np.float32)).to(device)
        with _seeded_deterministic(seed, device):
            net = self._build_network(dict(self.n_features_in_), self.n_labels_).to(device)
            data = TrainData(X=X, Y={"image": Yt, "text": Y2}, generator=torch.Generator(), device=device)
            data.generator.manual_seed(seed)
            net.train()
            codes = self._train(net, data, callback)
            net.eval()
        self.network_weights_ = flatten_state(net)
        self._net = (self.network_weights_, net)  # reused by encode until the weights change
        if codes is None:
            return None
        return {m: _to_numpy(codes[m]) > 0 for m in MODALITIES}

    def _network(self) -> torch.nn.Module:
        """The network holding ``network_weights_`` on the model's device, in eval mode (cached)."""
        cached = getattr(self, "_net", None)
        if cached is not None and cached[0] is self.network_weights_:
            return cached[1]
        net = self._build_network(dict(self.n_features_in_), int(self.n_labels_))
        load_flat_state(net, self.network_weights_, f"{self.name} model")
        net = net.to(self.torch_device()).eval()
        self._net = (self.network_weights_, net)
        return net

    def _project(self, X: np.ndarray, modality: str) -> np.ndarray:
        """The network's real-valued output (n, r) float32 for raw features ``X`` (n, d_m).

        Rows are standardised and run through the network ``_ENCODE_BATCH`` at a time, so memory
        stays bounded whatever n.
        """
        torch = _torch()
        net, device = self._network(), self.torch_device()
        out = np.empty((X.shape[0], self.code_length_), np.float32)
        for start in range(0, X.shape[0], _ENCODE_BATCH):
            rows = slice(start, start + _ENCODE_BATCH)
            x = np.subtract(X[rows], self.input_means_[modality], dtype=np.float32)
            x /= self.input_scales_[modality]
            out[rows] = _to_numpy(self._predict(net, torch.from_numpy(x).to(device), modality))
        return out

    @classmethod
    def load(cls, path: str | Path) -> CrossModalHasher:
        """Read a model written by `save` and rebuild its network (weights checked now).

        Raises
        ------
        ValueError
            As `CrossModalHasher.load`, and when the weight vector does not fit the network
            rebuilt from the saved parameters or holds NaN/inf.
        """
        model = super().load(path)
        if isinstance(model, TorchHasher):
            try:
                model._network()
            except ValueError as e:
                raise ValueError(f"{str(path)!r}: {e}") from e
        return model


def _to_numpy(x: Any) -> np.ndarray:
    """A tensor (any device) or array as a numpy array."""
    if hasattr(x, "detach"):
        return x.detach().to("cpu").numpy()
    return np.asarray(x)
