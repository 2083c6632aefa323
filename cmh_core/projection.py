"""2-D pictures of binary codes for the Code Map: PCA at once, UMAP with the Hamming metric.

Both take unpacked codes ``B`` of shape (n, r) in {0, 1} (`cmh_core.hamming.unpack_bits`);
`project_codes` takes the packed ``uint8`` codes the methods return. PCA is a linear map
(fast, deterministic, faithful to large-scale structure); UMAP (McInnes et al., 2018) keeps
Hamming neighbourhoods, which is what retrieval sees, but costs a numba compilation on its
first call. ``umap`` is imported inside `umap_2d`, so ``import cmh_core`` stays light.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from cmh_core.hamming import unpack_bits

__all__ = ["pca_2d", "umap_2d", "project_codes", "MIN_UMAP_POINTS"]

#: UMAP needs a neighbour graph of at least 2 neighbours and a spectral layout; below this it fails.
MIN_UMAP_POINTS: int = 4


def _check_bits(bits) -> np.ndarray:
    """Validate unpacked codes and return them as float32 ``(n, r)`` in {0, 1}."""
    B = np.asarray(bits)
    if B.ndim != 2:
        raise ValueError(
            f"bits must be 2-D (n_items, n_bits) in {{0, 1}}, got shape {B.shape}; "
            "unpack packed codes with cmh_core.hamming.unpack_bits(codes, n_bits)"
        )
    if B.shape[1] == 0:
        raise ValueError(f"bits has no bit columns (shape {B.shape}); a code needs at least 1 bit")
    if not (B.dtype == bool or np.issubdtype(B.dtype, np.number)):
        raise ValueError(f"bits must be bool or numeric 0/1, got dtype {B.dtype}")
    if B.dtype != bool and B.size and not np.isin(B, (0, 1)).all():
        bad = B[~np.isin(B, (0, 1))].flat[0]
        raise ValueError(
            f"bits must hold only 0 and 1, found {bad!r}; unpack packed codes with unpack_bits, "
            "or map {-1, +1} codes with (B > 0)"
        )
    return B.astype(np.float32, copy=False)


def pca_2d(bits) -> np.ndarray:
    """First two principal components of binary codes (scikit-learn PCA).

    The sign of each component is fixed (its largest-magnitude loading is positive), so the
    same codes always give the same picture. Codes with one bit, fewer than two items or no
    variance in some direction get zeros in the missing coordinates instead of an error.

    Parameters
    ----------
    bits : array-like, shape (n, r)
        Unpacked codes ``B`` in {0, 1} (bool or integer).

    Returns
    -------
    coords : ndarray of float32, shape (n, 2)
        ``coords = (B - mean(B)) @ W[:, :2]`` with ``W`` the principal axes.

    Raises
    ------
    ValueError
        If ``bits`` is not 2-D, has no columns, is empty, or holds values other than 0 and 1.
    """
    from sklearn.decomposition import PCA

    B = _check_bits(bits)  # B: (n, r) in {0, 1}
    n, r = B.shape
    if n == 0:
        raise ValueError("bits has no rows; the code map needs at least one item")
    out = np.zeros((n, 2), dtype=np.float32)
    k = min(2, r, n)
    # a constant column set (all items the same code) has no principal axis: everything sits at 0
    if k == 0 or not np.any(B.max(axis=0) != B.min(axis=0)):
        return out
    pca = PCA(n_components=k, svd_solver="covariance_eigh")  # r x r eigenproblem: exact, deterministic
    with warnings.catch_warnings():
        # a single direction of variance makes the 2nd explained-variance ratio 0/0
        warnings.simplefilter("ignore", RuntimeWarning)
        Z = pca.fit_transform(B)  # Z: (n, k)
    W = pca.components_  # W: (k, r) principal axes
    signs = np.sign(W[np.arange(k), np.argmax(np.abs(W), axis=1)])
    signs[signs == 0] = 1.0
    out[:, :k] = Z * signs
    out[~np.isfinite(out)] = 0.0
    return out


def umap_2d(bits, random_state: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """UMAP embedding of binary codes under the Hamming metric (umap-learn).

    ``umap`` is imported here; its first call in a process compiles numba kernels (tens of
    seconds), later calls take seconds. With a fixed ``random_state`` UMAP runs single-threaded
    and is reproducible on one machine.

    Parameters
    ----------
    bits : array-like, shape (n, r)
        Unpacked codes in {0, 1}; ``n >= 4``.
    random_state : int
        Seed of UMAP's initialisation and optimisation.
    n_neighbors : int
        Size of the neighbourhood UMAP preserves; capped at ``n - 1``.

    Returns
    -------
    coords : ndarray of float32, shape (n, 2)

    Raises
    ------
    ValueError
        If there are fewer than 4 items, ``n_neighbors < 2``, or ``bits`` is not valid.
    """
    B = _check_bits(bits).astype(bool)  # UMAP's hamming metric counts unequal entries
    n = B.shape[0]
    if n < MIN_UMAP_POINTS:
        raise ValueError(f"UMAP needs at least {MIN_UMAP_POINTS} items, got {n}; use pca_2d for so few codes")
    if int(n_neighbors) < 2:
        raise ValueError(f"n_neighbors must be >= 2, got {n_neighbors}; UMAP's default is 15")
    import umap

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(int(n_neighbors), n - 1),
        metric="hamming",
        random_state=int(random_state),
        n_jobs=1,  # what random_state forces anyway; saying it silences umap's warning
    )
    with warnings.catch_warnings():
        # duplicate codes (distance 0) and small graphs make UMAP warn about disconnected points
        warnings.simplefilter("ignore", UserWarning)
        coords = reducer.fit_transform(B)
    return np.asarray(coords, dtype=np.float32)


def project_codes(
    codes_packed,
    n_bits: int,
    method: Literal["pca", "umap"] = "pca",
    random_state: int = 0,
) -> np.ndarray:
    """2-D coordinates of packed codes, by PCA or by UMAP (Hamming).

    Parameters
    ----------
    codes_packed : ndarray of uint8, shape (n, ceil(n_bits / 8))
        Codes as the methods return them (`cmh_core.hamming.pack_bits` layout).
    n_bits : int
        Code length r.
    method : {"pca", "umap"}
    random_state : int
        Seed for UMAP (PCA is deterministic).

    Returns
    -------
    coords : ndarray of float32, shape (n, 2)

    Raises
    ------
    ValueError
        If ``method`` is unknown or the codes do not match ``n_bits``.
    """
    if method not in ("pca", "umap"):
        raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")
    bits = unpack_bits(codes_packed, n_bits)  # B: (n, r) in {0, 1}
    if bits.ndim != 2:
        raise ValueError(f"codes_packed must be 2-D (n_items, n_bytes), got shape {np.shape(codes_packed)}")
    if method == "pca":
        return pca_2d(bits)
    return umap_2d(bits, random_state=random_state)
