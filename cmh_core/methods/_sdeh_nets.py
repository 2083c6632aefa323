"""SDEH's networks and its four losses as pure torch code (docs/methods/sdeh.md).

torch is imported lazily: the functions import it when called, and the ``nn.Module`` classes are
defined on first access (module ``__getattr__``), so importing this module stays torch-free.

Shapes: b = batch, T = tokens, k = token width, d = hidden width, c = labels, r = bits.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = [  # and, defined on first access, the nn.Module classes named in _CLASSES
    "chunk_tokens",
    "dc_loss",
    "label_similarity",
    "q_loss",
    "sem_loss",
    "sim_loss",
    "word_tokens",
]

_NEG = -1e4  # additive mask of padding tokens: finite, so an all-padding row gives no NaN


# ---------------------------------------------------------------------------------- token builders
def chunk_tokens(x: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Split feature vectors into ``n_tokens`` equal chunks (zero-padded): the §6.2 fallback tokens.

    Parameters
    ----------
    x : Tensor (b, D)
    n_tokens : int

    Returns
    -------
    Tensor (b, n_tokens, ceil(D / n_tokens))
    """
    import torch.nn.functional as F

    width = -(-x.shape[1] // n_tokens)
    pad = width * n_tokens - x.shape[1]
    return F.pad(x, (0, pad)).reshape(x.shape[0], n_tokens, width)


def word_tokens(x: torch.Tensor, n_words: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``n_words`` strongest terms of TF-IDF rows: term ids, weights and a padding mask.

    A caption's words are the non-zero columns of its TF-IDF vector, so the tokens are derivable
    from the vector alone (typed queries included); captions with fewer terms are padded.

    Parameters
    ----------
    x : Tensor (b, V)
        Non-negative TF-IDF rows.
    n_words : int

    Returns
    -------
    ids : LongTensor (b, L), L = min(n_words, V)
        Vocabulary columns, strongest first (ties by column index: deterministic).
    weights : Tensor (b, L)
        Their tf-idf values (0 for padding).
    """
    import torch

    L = min(n_words, x.shape[1])
    weights, ids = torch.topk(x, L, dim=1, sorted=True)
    weights = weights.clamp_min(0)
    return ids, weights


# ---------------------------------------------------------------------------------- modules
_CLASSES = (
    "AttentionBlock",
    "AttentionPool",
    "LocalBranch",
    "SDEHNet",
    "SemanticDecomposition",
    "Subnetwork",
)


def __getattr__(name: str) -> Any:
    """The nn.Module classes, defined (and torch imported) on first access."""
    if name in _CLASSES:
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, type]:  # noqa: C901 -- one block of class definitions
    import torch
    import torch.nn.functional as F
    from torch import nn

    class AttentionBlock(nn.Module):
        """Pre-LayerNorm transformer block: multi-head self-attention + MLP, both residual."""

        def __init__(self, d: int, n_heads: int, dropout: float):
            super().__init__()
            self.n_heads = n_heads
            self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
            self.drop = nn.Dropout(dropout)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            """x: (b, T, d); bias: (b, 1, 1, T) additive key mask (0 = token, -1e4 = padding)."""
            b, T, d = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(b, T, 3, self.n_heads, d // self.n_heads).unbind(2)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (b, heads, T, d / heads)
            att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, T, d)))
            return x + self.drop(self.mlp(self.norm2(x)))

    class AttentionPool(nn.Module):
        """A learned query attends over the tokens: (b, T, d) -> (b, d)."""

        def __init__(self, d: int):
            super().__init__()
            self.query = nn.Parameter(torch.zeros(d))
            self.norm = nn.LayerNorm(d)

        def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
            x = self.norm(x)
            scores = x @ self.query / math.sqrt(x.shape[-1]) + bias.reshape(x.shape[0], -1)  # (b, T)
            return (scores.softmax(dim=1).unsqueeze(-1) * x).sum(dim=1)

    class LocalBranch(nn.Module):
        """Token embedders (one per token kind) + shared self-attention blocks + attention pooling.

        Parameters
        ----------
        kinds : dict
            Token kind -> ``(n_tokens, width)`` for positional tokens (regions, chunks), or
            ``("words", vocabulary size)`` for TF-IDF-weighted word embeddings.
        """

        def __init__(self, kinds: dict[str, tuple], d: int, n_heads: int, n_layers: int, dropout: float):
            super().__init__()
            self.embed = nn.ModuleDict()
            self.pos = nn.ParameterDict()
            for kind, (n_tokens, width) in kinds.items():
                if n_tokens == "words":
                    self.embed[kind] = nn.Embedding(width, d)  # learned word embeddings
                else:
                    self.embed[kind] = nn.Linear(width, d)
                    self.pos[kind] = nn.Parameter(0.02 * torch.randn(n_tokens, d))
            self.blocks = nn.ModuleList(AttentionBlock(d, n_heads, dropout) for _ in range(n_layers))
            self.pool = AttentionPool(d)

        def forward(
            self, kind: str, tokens: torch.Tensor, weights: torch.Tensor | None = None
        ) -> torch.Tensor:
            """Tokens (b, T, width), or word ids (b, T) with tf-idf ``weights`` (b, T) -> (b, d)."""
            if weights is not None:  # words: tf-idf-weighted embeddings; zero weight = padding
                x = self.embed[kind](tokens) * weights.unsqueeze(-1)
                bias = torch.where(weights > 0, 0.0, _NEG)
            else:
                x = self.embed[kind](tokens) + self.pos[kind]
                bias = torch.zeros(tokens.shape[:2], dtype=x.dtype, device=x.device)
            bias = bias.reshape(x.shape[0], 1, 1, -1)
            for block in self.blocks:
                x = block(x, bias)
            return self.pool(x, bias)

    class Subnetwork(nn.Module):
        """One modality: global MLP branch + attention local branch, fused by a gate (§6.2).

        ``f = g ⊙ f_global + (1 - g) ⊙ f_local`` with ``g = σ(FC([f_global; f_local]))``; without a
        local branch, ``f = f_global``.
        """

        def __init__(
            self, d_in: int, d: int, kinds: dict | None, n_heads: int, n_layers: int, dropout: float
        ):
            super().__init__()
            self.glob = nn.Sequential(
                nn.Linear(d_in, 2 * d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d, d)
            )  # d_in -> 2d -> d
            # no dropout inside attention: on 2 CPU cores its masks cost 15% of a step, for no gain here
            self.local = LocalBranch(kinds, d, n_heads, n_layers, 0.0) if kinds else None
            self.gate = nn.Linear(2 * d, d) if kinds else None
            if self.gate is not None:  # start near the global branch (g ≈ 0.88); the local part grows in
                nn.init.constant_(self.gate.bias, 2.0)

        def forward(self, x: torch.Tensor, local: torch.Tensor | None) -> torch.Tensor:
            """x: (b, d_in) vectors; local: (b, d) local-branch output or None -> f: (b, d)."""
            g_feat = self.glob(x)
            if local is None:
                return g_feat
            g = torch.sigmoid(self.gate(torch.cat([g_feat, local], dim=1)))  # g: (b, d)
            return g * g_feat + (1 - g) * local

    class SemanticDecomposition(nn.Module):
        """Shared label prototypes E (c × d): affinities a, decomposed z, teacher z_y, u = LN(f + z)."""

        def __init__(self, n_labels: int, d: int):
            super().__init__()
            self.E = nn.Parameter(torch.randn(n_labels, d) / math.sqrt(d))  # E: (c, d), shared
            self.norms = nn.ModuleDict({m: nn.LayerNorm(d) for m in ("image", "text")})

        def forward(self, f: torch.Tensor, modality: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """f: (b, d) -> (u (b, d), a (b, c) affinity logits, z (b, d))."""
            logits = f @ self.E.T / math.sqrt(f.shape[1])  # a_k = σ(f·E_k / √d), as logits
            a = torch.sigmoid(logits)
            z = a @ self.E / a.sum(dim=1, keepdim=True).clamp_min(1e-6)  # z = Σ a_k E_k / Σ a_k
            return self.norms[modality](f + z), logits, z

        def teacher(self, y: torch.Tensor) -> torch.Tensor:
            """z_y = Σ y_k E_k / Σ y_k: (b, c) labels -> (b, d)."""
            return y @ self.E / y.sum(dim=1, keepdim=True).clamp_min(1.0)

    class SDEHNet(nn.Module):
        """Both subnetworks, the shared decomposition and one tanh hash layer per modality."""

        def __init__(
            self, d_in: dict, kinds: dict, n_labels: int, n_bits: int, d: int, n_heads: int, n_layers: int,
            dropout: float,
        ):  # fmt: skip
            super().__init__()
            self.sub = nn.ModuleDict(
                {
                    m: Subnetwork(d_in[m], d, kinds.get(m), n_heads, n_layers, dropout)
                    for m in ("image", "text")
                }
            )
            self.decomp = SemanticDecomposition(n_labels, d)
            self.hash = nn.ModuleDict({m: nn.Linear(d, n_bits) for m in ("image", "text")})

        def forward(self, x: torch.Tensor, local: torch.Tensor | None, modality: str):
            """-> (h (b, r) in (-1, 1), a logits (b, c), z (b, d))."""
            f = self.sub[modality](x, local)
            u, logits, z = self.decomp(f, modality)
            return torch.tanh(self.hash[modality](u)), logits, z

    return {k: v for k, v in locals().items() if k in _CLASSES}


# ---------------------------------------------------------------------------------- losses (§6.3)
def label_similarity(ya: torch.Tensor, yb: torch.Tensor, binary: bool = False) -> torch.Tensor:
    """s_ij = cos(y_i, y_j) ∈ [0, 1], the graded multi-label similarity: (b, c), (b', c) -> (b, b').

    ``binary=True`` gives the 0/1 similarity the abstract criticises (1 when labels overlap).
    """
    import torch.nn.functional as F

    if binary:
        return (ya @ yb.T > 0).to(ya.dtype)
    return F.normalize(ya, dim=1) @ F.normalize(yb, dim=1).T


def sim_loss(ha: torch.Tensor, hb: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """mean_ij (h_iᵀ h_j / r - (2 s_ij - 1))²: inner products of codes follow graded similarity."""

    return ((ha @ hb.T / ha.shape[1] - (2 * s - 1)) ** 2).mean()


def sem_loss(
    logits: dict[str, torch.Tensor], z: dict[str, torch.Tensor], y: torch.Tensor, z_y: torch.Tensor
) -> torch.Tensor:
    """Σ_m BCE(a^m, y) + mean ||z^m - z_y||²: both modalities predict the labels and decompose alike."""
    import torch.nn.functional as F

    loss = y.new_zeros(())
    for m in logits:
        loss = loss + F.binary_cross_entropy_with_logits(logits[m], y)
        loss = loss + ((z[m] - z_y) ** 2).sum(dim=1).mean()
    return loss


def dc_loss(hv: torch.Tensor, ht: torch.Tensor, scales: tuple[float, ...] = (0.5, 1.0, 2.0)) -> torch.Tensor:
    """Multi-bandwidth Gaussian-kernel MMD² between the batch's image and text outputs (biased).

    Bandwidths σ = scale × the median pairwise distance of the pooled batch (no gradient through
    the median): ``MMD² = mean K_vv + mean K_tt - 2 mean K_vt``, summed over bandwidths.
    """
    import torch

    h = torch.cat([hv, ht])  # (2b, r)
    d2 = torch.cdist(h, h).pow(2)  # (2b, 2b) squared distances
    med = d2.detach()[d2.detach() > 0].median().clamp_min(1e-6) if (d2 > 0).any() else d2.new_ones(())
    b = hv.shape[0]
    loss = h.new_zeros(())
    for s in scales:
        K = torch.exp(-d2 / (2 * s * s * med))  # σ² = (s · median distance)²
        loss = loss + K[:b, :b].mean() + K[b:, b:].mean() - 2 * K[:b, b:].mean()
    return loss


def q_loss(h: torch.Tensor) -> torch.Tensor:
    """||h - sgn(h)||² / r (mean over the batch) + ||mean_batch(h)||² / r (bit balance)."""
    import torch

    r = h.shape[1]
    quant = ((h - torch.where(h >= 0, 1.0, -1.0)) ** 2).sum(dim=1).mean() / r
    return quant + (h.mean(dim=0) ** 2).sum() / r
