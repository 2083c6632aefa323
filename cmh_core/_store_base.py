"""The `CodeStore` interface and the ranking helpers its engines share (see `cmh_core.serving`)."""

from __future__ import annotations

import numpy as np

from cmh_core._vocab import MODALITIES
from cmh_core.hamming import MISSING_DISTANCE, check_codes

__all__ = ["CodeStore"]


def _check_modality(modality: str | None, allow_none: bool) -> list[str]:
    if modality is None and allow_none:
        return list(MODALITIES)
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return [modality]


def _check_radius(r) -> int:
    if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 0:
        raise ValueError(f"r must be a non-negative integer, got {r!r}")
    return int(r)


def _rank_rows(D: np.ndarray, seq: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First ``k`` candidates of every row by (distance, insertion order); rows padded as FAISS.

    ``D``, ``seq``, ``ids``: ``(n_q, c)`` candidates, ``seq < 0`` marks an empty slot.
    """
    n_q = D.shape[0]
    D = np.where(seq < 0, MISSING_DISTANCE, D).astype(np.int64)
    seq_key = np.where(seq < 0, np.iinfo(np.int64).max, seq)
    order = np.lexsort((seq_key, D), axis=-1)[:, :k] if D.size else np.zeros((n_q, 0), dtype=np.int64)
    outD = np.full((n_q, k), MISSING_DISTANCE, dtype=np.int32)
    outI = np.full((n_q, k), -1, dtype=np.int64)
    c = order.shape[1]
    outD[:, :c] = np.take_along_axis(D, order, axis=1)
    outI[:, :c] = np.where(outD[:, :c] == MISSING_DISTANCE, -1, np.take_along_axis(ids, order, axis=1))
    return outD, outI


def _rank_ranges(qof: np.ndarray, D: np.ndarray, seq: np.ndarray, ids: np.ndarray, n_q: int):
    """FAISS range layout ``(lims, D, ids)`` of flat hits, sorted by (query, distance, insertion)."""
    order = np.lexsort((seq, D, qof))
    lims = np.zeros(n_q + 1, dtype=np.int64)
    np.cumsum(np.bincount(qof, minlength=n_q), out=lims[1:])
    return lims, D[order].astype(np.int32), ids[order].astype(np.int64)


class CodeStore:
    """Interface of a code store (`FaissStore`, `MilvusStore`); usable as a context manager.

    Attributes
    ----------
    n_bits : int
        Code length; codes are packed, ``ceil(n_bits / 8)`` bytes each.
    """

    n_bits: int

    @property
    def n_bytes(self) -> int:
        return -(-self.n_bits // 8)

    def _codes(self, codes, name: str = "codes") -> np.ndarray:
        arr = check_codes(codes, name)
        if arr.shape[1] != self.n_bytes:
            raise ValueError(
                f"{name} have {arr.shape[1]} bytes per code but this store holds {self.n_bits}-bit codes "
                f"({self.n_bytes} bytes); encode with the model that built the store"
            )
        return arr

    def _check_ids(self, ids, n: int) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be {n} integers (one per code), got {arr.dtype} shape {arr.shape}")
        return arr.astype(np.int64)

    def add(self, ids, codes, modality: str) -> None:
        """Append rows ``(ids[i], modality, codes[i])``; ids (n,) int, codes (n, n_bytes) uint8."""
        raise NotImplementedError

    def search(self, codes, k: int, modality: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by (Hamming distance, insertion order) among ``modality`` rows (None: all).

        Returns
        -------
        D : ndarray of int32, shape (n_q, k)
        ids : ndarray of int64, shape (n_q, k)
            Padded with ``MISSING_DISTANCE`` / ``-1`` when fewer than ``k`` rows exist.
        """
        raise NotImplementedError

    def radius_search(self, codes, r: int, modality: str | None = None):
        """Every row within distance ``r`` (inclusive), FAISS range layout.

        Returns
        -------
        lims : ndarray of int64, shape (n_q + 1,)
        D : ndarray of int32, shape (lims[-1],)
        ids : ndarray of int64, shape (lims[-1],)
            Query ``i``'s hits are ``[lims[i]:lims[i + 1]]``, by (distance, insertion order).
        """
        raise NotImplementedError

    def count(self, modality: str | None = None) -> int:
        """Rows held (of one modality, or all)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the engine (and persist, where the store has a path)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
