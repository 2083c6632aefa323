"""SDEH's local-branch tokens: region PCA, token choice per row, and the batched forward pass.

Split out of `cmh_core.methods.sdeh` (a method file stays under 300 lines). torch is imported
inside the functions only. Shapes: n rows, T = 49 region tokens, C = 1280 channels, k = 128 PCA
width, d = hidden width, r = bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = [
    "N_CHUNKS",
    "N_WORDS",
    "REGION_DIM",
    "local_output",
    "project_regions",
    "region_pca",
    "run_net",
    "train_outputs",
]

N_CHUNKS = 16  # fallback tokens per vector (docs/methods/sdeh.md)
N_WORDS = 16  # strongest TF-IDF terms as word tokens (bundled captions have 3.5 terms on average)
REGION_DIM = 128  # PCA width of the 1280-d region tokens
_PCA_SAMPLE = 6000
_BLOCK = 512  # rows per forward pass outside training


def region_pca(maps: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (C,) and whitened top-k PCA basis (C, k) of region tokens ``maps`` (n, T, C) float16.

    Fitted on at most `_PCA_SAMPLE` tokens, evenly strided over all items and positions (the
    full 30,870 x 1280 covariance costs 10 s on 2 cores and gives the same leading directions).
    """
    C = maps.shape[2]
    flat = maps.reshape(-1, C)
    t = flat[:: max(1, len(flat) // _PCA_SAMPLE)].astype(np.float32)  # (<= ~2 _PCA_SAMPLE, C)
    mean = t.mean(axis=0, dtype=np.float64)
    tc = (t - mean).astype(np.float32)
    cov = (tc.T @ tc).astype(np.float64) / len(tc)  # (C, C)
    with threadpool_limits(1):  # OpenBLAS eigh on 2 busy cores: 25 s threaded, 2 s on one thread
        vals, vecs = np.linalg.eigh(cov)  # ascending
    k = min(k, C)
    vals, vecs = vals[::-1][:k], vecs[:, ::-1][:, :k]
    # scale so that projected tokens have mean squared entry 1 (the size torch's init expects)
    basis = vecs / np.sqrt(max(vals.sum() / k, 1e-12))
    return mean.astype(np.float32), basis.astype(np.float32)


def project_regions(maps: np.ndarray, mean: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Region tokens (n, T, C) float16 -> PCA-reduced (n, T, k) float32, in blocks of 128 rows."""
    out = np.empty((*maps.shape[:2], basis.shape[1]), np.float32)
    for s in range(0, len(maps), 128):
        out[s : s + 128] = (maps[s : s + 128].astype(np.float32) - mean) @ basis
    return out


def local_output(
    net, modality: str, x, raw, regions, use_chunks, *, region_tokens: bool, word_tokens: bool
) -> torch.Tensor | None:
    """Local-branch output (b, d), or None without a local branch.

    Parameters
    ----------
    net : SDEHNet
    modality : {"image", "text"}
    x : Tensor (b, D)
        Standardised features (chunk tokens are cut from it).
    raw : Tensor (b, D)
        Raw features (TF-IDF word tokens are read from it).
    regions : Tensor (b, T, k) or None
        PCA-reduced region tokens of the rows (image only).
    use_chunks : BoolTensor (b,)
        Rows that use chunk tokens although ``regions`` is given (no stored map, or the random
        training draw that keeps the chunk fallback trained).
    region_tokens, word_tokens : bool
        Whether the fitted model uses region / word tokens at all.
    """
    from cmh_core.methods._sdeh_nets import chunk_tokens
    from cmh_core.methods._sdeh_nets import word_tokens as words

    branch = net.sub[modality].local
    if branch is None:
        return None
    if modality == "text" and word_tokens:
        ids, weights = words(raw, N_WORDS)
        return branch("words", ids, weights)
    if modality != "image" or not region_tokens or regions is None or bool(use_chunks.all()):
        return branch("chunks", chunk_tokens(x, N_CHUNKS))
    if not bool(use_chunks.any()):
        return branch("regions", regions)
    # each row through one token kind only: regions where chosen, chunks elsewhere
    out = x.new_zeros((len(x), branch.pool.query.shape[0]))
    rows, other = (~use_chunks).nonzero().squeeze(1), use_chunks.nonzero().squeeze(1)
    out = out.index_copy(0, rows, branch("regions", regions[rows]))
    return out.index_copy(0, other, branch("chunks", chunk_tokens(x[other], N_CHUNKS)))


def run_net(
    model: Any, net, modality: str, X: np.ndarray, maps, found: np.ndarray, projected: bool = False
) -> np.ndarray:
    """h (n, r) float32 of raw rows ``X`` (n, D) through ``net`` in eval mode, without grad.

    ``maps`` are the rows' stored feature maps (n, T, C) float16, or with ``projected`` their
    PCA-reduced tokens (n, T, k) float32, or None; ``found`` (n,) bool marks the rows that have
    one; ``model`` is the SDEH being fitted or fitted (standardisation, PCA, token flags).
    """
    import torch

    dev = next(net.parameters()).device
    mean, scale = model.input_means_[modality], model.input_scales_[modality]
    out = np.zeros((len(X), int(model.code_length_)), np.float32)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for s in range(0, len(X), _BLOCK):
                raw = torch.from_numpy(np.ascontiguousarray(X[s : s + _BLOCK], np.float32)).to(dev)
                x = (raw - torch.from_numpy(mean).to(dev)) / scale
                reg = None
                if maps is not None:
                    reg = maps[s : s + _BLOCK]
                    if not projected:
                        reg = project_regions(reg, model.region_mean_, model.region_basis_)
                    reg = torch.from_numpy(np.ascontiguousarray(reg)).to(dev)
                chunks = torch.from_numpy(~found[s : s + _BLOCK]).to(dev)
                local = local_output(
                    net, modality, x, raw, reg, chunks,
                    region_tokens=bool(model.region_tokens_), word_tokens=bool(model.word_tokens_),
                )  # fmt: skip
                out[s : s + len(raw)] = net(x, local, modality)[0].cpu().numpy()
    finally:
        net.train(was_training)
    return out


def train_outputs(model: Any, net) -> dict[str, torch.Tensor]:
    """h_m (n, r) of every training row of an SDEH being fitted: eval mode, regions where stored.

    Reads the fit-time attributes ``_train_raw`` (X_img, X_txt), ``_train_regions`` and
    ``_train_found``; the tensors are on the network's device.
    """
    import torch

    dev = next(net.parameters()).device
    X_img, X_txt = model._train_raw
    img = run_net(model, net, "image", X_img, model._train_regions, model._train_found, projected=True)
    txt = run_net(model, net, "text", X_txt, None, np.zeros(len(X_txt), bool))
    return {"image": torch.from_numpy(img).to(dev), "text": torch.from_numpy(txt).to(dev)}


MAPS_TEXT = "Computing image feature maps (once; cached on disk)"


def prepare_feature_maps(dataset, progress=None) -> None:
    """Build a bundled dataset's 7 x 7 feature-map cache before SDEH's first epoch (`SDEH.prepare`).

    ``progress(text, done, total)`` is told per image. Datasets without thumbnails or outside the
    bundles (region tokens are matched to bundled images only) are skipped; a bundle without
    EfficientNet-Lite0 features too: the fit then falls back to vector chunks by itself.
    """
    from cmh_core.datasets import feature_maps as fm

    if dataset._thumbnail_loader is None or dataset.name not in fm._eligible_bundles():
        return
    try:
        if not fm.feature_map_path(dataset).exists():
            fm.load_feature_maps(dataset, progress and (lambda d, t: progress(MAPS_TEXT, d, t)))
    except ValueError:
        pass


def token_kinds(n_features: dict[str, int], local: bool, region_dim: int | None, words: bool) -> dict:
    """The local branch's token kinds per modality for `SDEHNet` (empty without a local branch).

    Chunks of the vector always (the fallback); region tokens of width ``region_dim`` for images
    when the fit found feature maps; TF-IDF word tokens instead of chunks for text when asked.
    """
    from cmh_core.datasets.feature_maps import N_REGION_TOKENS

    if not local:
        return {}
    kinds = {m: {"chunks": (N_CHUNKS, -(-d // N_CHUNKS))} for m, d in n_features.items()}
    if region_dim is not None:
        kinds["image"]["regions"] = (N_REGION_TOKENS, region_dim)
    if words:
        kinds["text"] = {"words": ("words", n_features["text"])}
    return kinds
