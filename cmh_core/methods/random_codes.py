"""RandomCodes: codes independent of the data, the chance level of every mAP chart.

Each item gets r fair coin flips. The flips come from a keyed hash (BLAKE2b) of the seed, the
modality and the bytes of the item's float32 feature row, so:

* encoding the same row twice gives the same code (deterministic ``encode``);
* unseen rows get fresh, independent codes;
* the image and the text of one pair get independent codes (the modality is part of the key);
* a different seed gives different codes; duplicate rows of one modality share a code.

With multi-label data the resulting mAP is far above 0: it is the fraction of relevant items,
averaged over queries, because the ranking is random.

References
----------
No paper: a chance baseline. docs/methods/random_codes.md.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np

from cmh_core.methods._base import CrossModalHasher

__all__ = ["RandomCodes", "hashed_bits"]

_MODALITY_ID = {"image": b"image", "text": b"text"}


def hashed_bits(X: np.ndarray, n_bits: int, seed: int, modality: str) -> np.ndarray:
    """Pseudo-random bits keyed by (seed, modality, row bytes).

    Parameters
    ----------
    X : ndarray of float32, shape (n, d)
    n_bits : int
    seed : int
        Non-negative, < 2**64.
    modality : {"image", "text"}

    Returns
    -------
    bits : ndarray of bool, shape (n, n_bits)
    """
    n_bytes = -(-n_bits // 8)
    key = int(seed).to_bytes(8, "little")
    person = _MODALITY_ID[modality]
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.empty((X.shape[0], n_bytes), dtype=np.uint8)
    for i, row in enumerate(X):
        data, chunks = row.tobytes(), []
        for block in range(-(-n_bytes // 64)):  # 64 bytes = 512 bits per BLAKE2b digest
            h = hashlib.blake2b(
                data, digest_size=64, key=key, person=person, salt=block.to_bytes(16, "little")
            )
            chunks.append(h.digest())
        out[i] = np.frombuffer(b"".join(chunks)[:n_bytes], dtype=np.uint8)
    return np.unpackbits(out, axis=1, count=n_bits).astype(bool)


class RandomCodes(CrossModalHasher):
    """Random codes: r fair coin flips per item, keyed by seed, modality and row.

    Parameters
    ----------
    n_bits : int, default=32
        Code length r.
    random_state : int, Generator or None, default=None
        Seed; None draws one at fit time (stored in ``seed_``).

    Attributes
    ----------
    seed_ : int
        The 64-bit key actually used.
    """

    name = "RandomCodes"
    fidelity = "classic baseline"
    paper = {
        "title": "Random codes (chance level)",
        "authors": "",
        "venue": "",
        "year": None,
        "url": "",
        "idea": "codes independent of the data: the chance level of mAP",
    }
    _fitted_attributes: ClassVar[dict[str, str]] = {**CrossModalHasher._fitted_attributes, "seed_": "int"}

    def __init__(self, *, n_bits: int = 32, random_state: int | np.random.Generator | None = None):
        self.n_bits = n_bits
        self.random_state = random_state

    def _fit(self, X_img, X_txt, Y, Y_txt, rng, callback):
        self.seed_ = int(rng.integers(0, 2**63 - 1))
        return None  # training codes = hashed training rows

    def _project(self, X, modality):
        bits = hashed_bits(X, int(self.code_length_), self.seed_, modality)
        return np.where(bits, 1.0, -1.0).astype(np.float32)  # (n, r) in {-1, +1}
