"""Synthetic paired data with controllable size, for tests and scale benchmarks.

Generative story (all randomness from one seed):

1. Labels. ``n_topics`` latent topics, each a profile over the ``n_labels`` labels with most of
   its mass on 2-4 core labels, tilted by a Zipf-like label popularity. An item draws one topic
   (30% of items a second one), then each label independently with probability
   ``1 - exp(-m a_l)``, where ``a`` is the (mixed) topic profile and
   ``m = label_density * n_labels``. Labels of a topic co-occur; frequencies are skewed; a row
   left empty gets one label drawn from its profile, so every row has at least one label.
2. Shared semantics. ``s = Y E / sqrt(|Y|) + noise * z``: the mean of per-label embeddings E
   (c, 32) plus item noise z, shared by both modalities.
3. Modalities. Image: ``tanh(s W1 + b1) W2``; text: ``relu(s V1 + c1) V2``, two different random
   two-layer maps (hidden width 128), each plus its own Gaussian noise ``noise * eps``.

Rows are generated in chunks of ``_CHUNK`` items into preallocated float32 arrays, so memory is
linear in n (about ``4 (d_img + d_txt) + n_labels`` bytes per item plus the captions) and no
n x n array is ever formed.
"""

from __future__ import annotations

import numpy as np

from cmh_core.datasets._types import CrossModalDataset
from cmh_core.datasets.split import make_split

__all__ = ["make_synthetic"]

_D_SEM = 32  # dimension of the shared semantic vector s
_HIDDEN = 128  # hidden width of each modality's random map
_CHUNK = 32_768  # rows generated per chunk
_P_SECOND_TOPIC = 0.3


def _topic_profiles(rng: np.random.Generator, n_topics: int, n_labels: int) -> np.ndarray:
    """Return topic-label profiles, shape (n_topics, n_labels), rows summing to 1.

    Each topic puts 85% of its mass on 2-4 core labels (chosen by a Zipf-like popularity) and
    15% on the rest in proportion to popularity, so core labels co-occur and frequencies skew.
    """
    popularity = 1.0 / np.sqrt(1.0 + rng.permutation(n_labels))  # Zipf-like, (c,)
    popularity /= popularity.sum()
    A = np.empty((n_topics, n_labels))  # (T, c)
    for t in range(n_topics):
        k = min(int(rng.integers(2, 5)), n_labels)
        core = rng.choice(n_labels, size=k, replace=False, p=popularity)
        A[t] = 0.15 * popularity
        A[t, core] += 0.85 * rng.dirichlet(np.full(k, 2.0))
    return A


def _random_map(rng: np.random.Generator, d_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights of one random two-layer map R^_D_SEM -> R^d_out (W1, b1, W2), float32."""
    W1 = rng.standard_normal((_D_SEM, _HIDDEN)) * (1.5 / np.sqrt(_D_SEM))
    b1 = rng.standard_normal(_HIDDEN) * 0.5
    W2 = rng.standard_normal((_HIDDEN, d_out)) / np.sqrt(_HIDDEN)
    return W1.astype(np.float32), b1.astype(np.float32), W2.astype(np.float32)


def _chunk_labels(
    rng: np.random.Generator, profiles: np.ndarray, topic_weights: np.ndarray, rows: int, m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Draw labels (rows, c) uint8 and primary topics (rows,) for one chunk."""
    n_topics = len(topic_weights)
    t1 = rng.choice(n_topics, size=rows, p=topic_weights)
    t2 = rng.choice(n_topics, size=rows, p=topic_weights)
    mixed = rng.random(rows) < _P_SECOND_TOPIC
    a = profiles[t1]  # (rows, c)
    a[mixed] = 0.5 * (a[mixed] + profiles[t2[mixed]])
    p = -np.expm1(-m * a)  # P(label), (rows, c)
    Y = (rng.random(p.shape) < p).astype(np.uint8)
    empty = np.flatnonzero(Y.sum(axis=1) == 0)
    if len(empty):
        # one label from each empty row's profile (inverse-CDF sampling, vectorised)
        cdf = np.cumsum(a[empty], axis=1)
        u = rng.random(len(empty))[:, None] * cdf[:, -1:]
        pick = np.minimum((cdf < u).sum(axis=1), Y.shape[1] - 1)
        Y[empty, pick] = 1
    return Y, t1


def _captions(Y: np.ndarray, label_names: list[str]) -> list[str]:
    """Captions ``"synthetic item i: label_a, label_b"`` for every row of Y (n, c)."""
    rows, cols = np.nonzero(Y)  # row-major, so each row's labels are contiguous
    bounds = np.searchsorted(rows, np.arange(Y.shape[0] + 1)).tolist()
    names = [label_names[j] for j in cols.tolist()]
    return [f"synthetic item {i}: " + ", ".join(names[bounds[i] : bounds[i + 1]]) for i in range(Y.shape[0])]


def make_synthetic(
    n: int = 2000,
    d_img: int = 512,
    d_txt: int = 300,
    n_labels: int = 24,
    label_density: float = 0.12,
    noise: float = 0.5,
    random_state: int | None = 0,
    *,
    n_topics: int | None = None,
    query_fraction: float = 0.2,
) -> CrossModalDataset:
    """Generate a paired cross-modal dataset with correlated multi-hot labels.

    Parameters
    ----------
    n : int, default 2000
        Number of items (at least 2); 10^6 runs in seconds with small dimensions.
    d_img, d_txt : int, default 512, 300
        Feature dimensions of the image and text modality.
    n_labels : int, default 24
        Number of labels c (at least 2).
    label_density : float, default 0.12
        Expected fraction of labels per item before the at-least-one fix-up, in (0, 1];
        0.12 with 24 labels gives about 2.5 labels per item.
    noise : float, default 0.5
        Scale of the item noise on the shared semantics and of each modality's feature noise
        (>= 0). 0 makes features a deterministic function of the labels; 2 makes them weak.
    random_state : int or None, default 0
        Seed; the same arguments and seed give identical arrays, captions and split.
    n_topics : int, optional
        Number of latent topics driving label co-occurrence. Default ``max(2, n_labels // 2)``.
    query_fraction : float, default 0.2
        Fraction of items in the query set (see `make_split`).

    Returns
    -------
    CrossModalDataset
        ``image_features`` (n, d_img) float32, ``text_features`` (n, d_txt) float32, ``labels``
        (n, n_labels) uint8 with every row non-empty, ``label_names`` ``label_0..``, ``texts``
        ``"synthetic item 17: label_3, label_8"``, a seeded `Split`, and ``metadata`` with the
        generator parameters and each item's primary topic (``"topics"``, (n,) int32).
        Thumbnails are label glyphs.
    """
    for value, name, low in (
        (n, "n", 2),
        (d_img, "d_img", 1),
        (d_txt, "d_txt", 1),
        (n_labels, "n_labels", 2),
    ):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    n, d_img, d_txt, n_labels = int(n), int(d_img), int(d_txt), int(n_labels)
    if not 0.0 < label_density <= 1.0:
        raise ValueError(f"label_density must be in (0, 1], got {label_density}; e.g. 0.12")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}; use 0 for noise-free features")
    n_topics = max(2, n_labels // 2) if n_topics is None else int(n_topics)
    if n_topics < 1:
        raise ValueError(f"n_topics must be >= 1, got {n_topics}")

    rng = np.random.default_rng(random_state)
    # Global parameters: topics, label embeddings, the two modality maps.
    profiles = _topic_profiles(rng, n_topics, n_labels)  # (T, c)
    topic_weights = rng.dirichlet(np.full(n_topics, 2.0))  # (T,)
    E = rng.standard_normal((n_labels, _D_SEM)).astype(np.float32)  # label embeddings, (c, 32)
    W1, b1, W2 = _random_map(rng, d_img)  # image map
    V1, c1, V2 = _random_map(rng, d_txt)  # text map
    m = label_density * n_labels  # expected labels per item

    X_img = np.empty((n, d_img), dtype=np.float32)
    X_txt = np.empty((n, d_txt), dtype=np.float32)
    Y = np.empty((n, n_labels), dtype=np.uint8)
    topics = np.empty(n, dtype=np.int32)
    noise32 = np.float32(noise)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        rows = stop - start
        Yc, tc = _chunk_labels(rng, profiles, topic_weights, rows, m)
        Y[start:stop], topics[start:stop] = Yc, tc
        # Step 2: shared semantic vector s = mean label embedding + item noise, (rows, 32)
        k = Yc.sum(axis=1, keepdims=True).astype(np.float32)
        s = (Yc.astype(np.float32) @ E) / np.sqrt(k)
        s += noise32 * rng.standard_normal((rows, _D_SEM), dtype=np.float32)
        # Step 3: modality-specific non-linear maps + noise
        h = np.tanh(s @ W1 + b1)
        X_img[start:stop] = h @ W2
        X_img[start:stop] += noise32 * rng.standard_normal((rows, d_img), dtype=np.float32)
        h = np.maximum(s @ V1 + c1, 0.0)
        X_txt[start:stop] = h @ V2
        X_txt[start:stop] += noise32 * rng.standard_normal((rows, d_txt), dtype=np.float32)

    label_names = [f"label_{j}" for j in range(n_labels)]
    split = make_split(Y, query_fraction=query_fraction, random_state=random_state)
    params = {
        "n": n,
        "d_img": d_img,
        "d_txt": d_txt,
        "n_labels": n_labels,
        "label_density": float(label_density),
        "noise": float(noise),
        "random_state": random_state,
        "n_topics": n_topics,
    }
    return CrossModalDataset(
        name="synthetic",
        image_features=X_img,
        text_features=X_txt,
        labels=Y,
        label_names=label_names,
        texts=_captions(Y, label_names),
        split=split,
        metadata={"source": "cmh_core.datasets.make_synthetic", "params": params, "topics": topics},
    )
