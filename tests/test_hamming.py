"""cmh_core.hamming against dumb NumPy oracles (unpacked bits, stable argsort)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmh_core.hamming import (
    MISSING_DISTANCE,
    hamming_distance,
    pack_bits,
    radius_search,
    search,
    to_faiss,
    unpack_bits,
    write_faiss_index,
)

LENGTHS = [1, 7, 8, 63, 64, 65, 640]


# -- oracles ----------------------------------------------------------------------------------


def ref_distance(a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    """d(i, j) = number of positions where the unpacked bits differ."""
    return (a_bits[:, None, :] != b_bits[None, :, :]).sum(axis=2)


def ref_search(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First k of the (distance, index) order, padded FAISS-style."""
    n_q, n_db = dist.shape
    D = np.full((n_q, k), MISSING_DISTANCE, dtype=np.int64)
    I = np.full((n_q, k), -1, dtype=np.int64)
    for i in range(n_q):
        order = np.argsort(dist[i], kind="stable")[:k]
        I[i, : len(order)] = order
        D[i, : len(order)] = dist[i, order]
    return D, I


def random_bits(rng, n: int, n_bits: int, p: float = 0.5) -> np.ndarray:
    return (rng.random((n, n_bits)) < p).astype(np.uint8)


# -- packing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", LENGTHS)
def test_pack_unpack_roundtrip(n_bits):
    rng = np.random.default_rng(n_bits)
    bits = random_bits(rng, 9, n_bits)
    codes = pack_bits(bits)
    assert codes.dtype == np.uint8 and codes.shape == (9, -(-n_bits // 8))
    np.testing.assert_array_equal(unpack_bits(codes, n_bits), bits)
    # padding bits are zero
    full = np.unpackbits(codes, axis=1)
    assert not full[:, n_bits:].any()


def test_pack_bits_conventions():
    # big-endian within a byte: the first bit is the most significant
    np.testing.assert_array_equal(pack_bits([[1, 0, 0, 0, 0, 0, 0, 0, 1]]), [[128, 128]])
    pm = np.array([[-1, 1, 1, -1, 1]])
    np.testing.assert_array_equal(pack_bits(pm), pack_bits(pm > 0))
    np.testing.assert_array_equal(pack_bits(pm), pack_bits([[0, 1, 1, 0, 1]]))
    np.testing.assert_array_equal(pack_bits([[-0.3, 2.5, 0.0]]), pack_bits([[False, True, False]]))
    assert pack_bits([1, 0, 1]).shape == (1,)


def test_pack_bits_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        pack_bits([[0.5, np.nan]])
    with pytest.raises(ValueError, match="shape"):
        pack_bits(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"n_bits=17 .* 2 bytes per code .* 9\.\.16"):
        unpack_bits(np.zeros((2, 2), np.uint8), 17)
    with pytest.raises(ValueError, match="uint8"):
        unpack_bits(np.zeros((2, 2)), 16)


# -- distances --------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", LENGTHS)
def test_hamming_distance_matches_oracle(n_bits):
    rng = np.random.default_rng(100 + n_bits)
    a, b = random_bits(rng, 17, n_bits), random_bits(rng, 31, n_bits)
    D = hamming_distance(pack_bits(a), pack_bits(b))
    assert D.dtype == np.uint16 and D.shape == (17, 31)
    np.testing.assert_array_equal(D, ref_distance(a, b))


def test_hamming_distance_chunked_and_empty(monkeypatch):
    import cmh_core.hamming as hm

    monkeypatch.setattr(hm, "_CHUNK_ELEMS", 64)  # force many row blocks
    rng = np.random.default_rng(0)
    a, b = random_bits(rng, 50, 130), random_bits(rng, 40, 130)
    np.testing.assert_array_equal(hamming_distance(pack_bits(a), pack_bits(b)), ref_distance(a, b))
    empty = np.zeros((0, 17), np.uint8)
    assert hamming_distance(empty, pack_bits(b)).shape == (0, 40)
    assert hamming_distance(pack_bits(a), empty).shape == (50, 0)


@settings(max_examples=40, deadline=None)
@given(
    n_bits=st.integers(1, 200),
    n_a=st.integers(0, 6),
    n_b=st.integers(0, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_hamming_distance_property(n_bits, n_a, n_b, seed):
    rng = np.random.default_rng(seed)
    a, b = random_bits(rng, n_a, n_bits), random_bits(rng, n_b, n_bits)
    np.testing.assert_array_equal(hamming_distance(pack_bits(a), pack_bits(b)), ref_distance(a, b))


# -- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "numba", "faiss", "numpy"])
@pytest.mark.parametrize("n_bits", [*LENGTHS, 32, 128])
def test_search_matches_oracle(n_bits, backend):
    rng = np.random.default_rng(200 + n_bits)
    # sparse bits: many ties, so the tie order by index is exercised at the k-th distance
    a, b = random_bits(rng, 11, n_bits, 0.2), random_bits(rng, 300, n_bits, 0.2)
    ref = ref_distance(a, b)
    for k in (1, 5, 37, 300, 301, 450):
        D, I = search(pack_bits(a), pack_bits(b), k, backend=backend)
        Dr, Ir = ref_search(ref, k)
        assert D.dtype == np.int32 and I.dtype == np.int64 and D.shape == I.shape == (11, k)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_query", [1, 20])
@pytest.mark.parametrize("backend", ["numba", "faiss", "numpy"])
def test_search_heavy_ties(backend, n_query, threads):
    """Only 4 distances for 5000 items: the k-th distance's tie group is huge. FAISS's heap scan
    must keep its earliest items (the property `search` relies on), with one or two threads."""
    import faiss

    rng = np.random.default_rng(3)
    a, b = random_bits(rng, n_query, 3), random_bits(rng, 5000, 3)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        for k in (1, 700, 4999):
            D, I = search(pack_bits(a), pack_bits(b), k, backend=backend)
            Dr, Ir = ref_search(ref_distance(a, b), k)
            np.testing.assert_array_equal(D, Dr)
            np.testing.assert_array_equal(I, Ir)
    finally:
        faiss.omp_set_num_threads(before)


@pytest.mark.parametrize("n_bytes", [1, 3, 4, 8, 16, 24])
def test_search_numba_scan_is_exact_on_ties(n_bytes):
    """The compiled scan against a stable-argsort oracle where its shortcuts matter: a database
    spanning many blocks (2,048 codes each at <= 32 bits), more queries than one group (32), low
    entropy bits (about n_bytes distinct distances near 0, so the k-th distance's tie group crosses
    block edges and the candidate buffer is cut back many times), k from 1 to past the database."""
    rng = np.random.default_rng(n_bytes)
    n_bits = 8 * n_bytes
    p = 0.5 if n_bytes == 1 else 2.0 / n_bits
    a, b = random_bits(rng, 40, n_bits, p), random_bits(rng, 9000, n_bits, p)
    ref = ref_distance(a, b)
    for k in (1, 3, 100, 2500, 9000, 9050):
        D, I = search(pack_bits(a), pack_bits(b), k, backend="numba")
        Dr, Ir = ref_search(ref, min(k, 9000))  # k past the database is clipped to it (>= 1024 items)
        np.testing.assert_array_equal(D, Dr)
        np.testing.assert_array_equal(I, Ir)


@settings(max_examples=30, deadline=None)
@given(
    n_bits=st.integers(1, 200),
    n_q=st.integers(1, 40),
    n_db=st.integers(1, 5000),
    k=st.integers(1, 1200),
    p=st.sampled_from([0.02, 0.1, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
def test_search_numba_property(n_bits, n_q, n_db, k, p, seed):
    """Any length, sizes and k (past the database too), sparse or dense bits: the first k of the
    (distance, index) order, exactly as a stable argsort of the unpacked-bit distances."""
    rng = np.random.default_rng(seed)
    a, b = random_bits(rng, n_q, n_bits, p), random_bits(rng, n_db, n_bits, p)
    D, I = search(pack_bits(a), pack_bits(b), k, backend="numba")
    Dr, Ir = ref_search(ref_distance(a, b), min(k, max(n_db, 1024)))
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)


def test_search_empty_database_and_queries():
    q = pack_bits(np.ones((3, 12)))
    D, I = search(q, np.zeros((0, 2), np.uint8), 4)
    assert (I == -1).all() and (D == MISSING_DISTANCE).all() and D.shape == (3, 4)
    D, I = search(np.zeros((0, 2), np.uint8), q, 4)
    assert D.shape == I.shape == (0, 4)


def test_search_rejects_bad_input():
    q8, db4 = np.zeros((10, 8), np.uint8), np.zeros((100, 4), np.uint8)
    with pytest.raises(ValueError, match=r"8 bytes per code \(shape \(10, 8\)\).*4 \(shape \(100, 4\)\)"):
        search(q8, db4, 3)
    with pytest.raises(ValueError, match=r"packed uint8 codes from pack_bits, got float64"):
        search(np.zeros((2, 4)), db4, 3)
    with pytest.raises(ValueError, match="2-D"):
        search(np.zeros(4, np.uint8), db4, 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        search(db4, db4, 0)
    with pytest.raises(ValueError, match=r"\(10, 8\).*\(100, 4\)"):
        hamming_distance(q8, db4)


# -- radius search ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", [7, 64, 65])
def test_radius_search_matches_oracle(n_bits):
    rng = np.random.default_rng(300 + n_bits)
    a, b = random_bits(rng, 9, n_bits, 0.1), random_bits(rng, 200, n_bits, 0.1)
    ref = ref_distance(a, b)
    for r in (0, 2, 5, n_bits):
        lims, D, I = radius_search(pack_bits(a), pack_bits(b), r)
        assert lims.shape == (10,) and lims[0] == 0 and lims[-1] == len(D) == len(I)
        for i in range(9):
            idx = np.flatnonzero(ref[i] <= r)
            idx = idx[np.argsort(ref[i, idx], kind="stable")]
            np.testing.assert_array_equal(I[lims[i] : lims[i + 1]], idx)
            np.testing.assert_array_equal(D[lims[i] : lims[i + 1]], ref[i, idx])


def test_radius_search_empty_database():
    lims, D, I = radius_search(np.zeros((3, 2), np.uint8), np.zeros((0, 2), np.uint8), 2)
    np.testing.assert_array_equal(lims, [0, 0, 0, 0])
    assert len(D) == len(I) == 0


# -- FAISS export -----------------------------------------------------------------------------


def test_to_faiss_and_file_roundtrip(tmp_path):
    import faiss

    rng = np.random.default_rng(5)
    a, b = random_bits(rng, 6, 65), random_bits(rng, 120, 65)
    qa, cb = pack_bits(a), pack_bits(b)
    index = to_faiss(cb)
    assert isinstance(index, faiss.IndexBinaryFlat) and index.ntotal == 120 and index.d == 72
    Df, _ = index.search(qa, 10)
    np.testing.assert_array_equal(Df, search(qa, cb, 10)[0])
    path = write_faiss_index(cb, tmp_path / "codes.faissb")
    again = faiss.read_index_binary(str(path))
    assert again.ntotal == 120
    np.testing.assert_array_equal(again.search(qa, 10)[0], Df)


def test_import_is_light():
    code = (
        "import sys, cmh_core.hamming, cmh_core.evaluation; "
        "print(sorted(m for m in ('faiss', 'torch', 'streamlit', 'umap') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_search_auto_falls_back_to_numpy(monkeypatch):
    """The numpy path of backend="auto": without FAISS."""
    import cmh_core.hamming as hm

    rng = np.random.default_rng(5)
    a, b = random_bits(rng, 7, 64, 0.2), random_bits(rng, 400, 64, 0.2)
    ref = ref_distance(a, b)
    Dr, Ir = ref_search(ref, 50)
    calls = []
    real = hm._search_numpy
    monkeypatch.setattr(hm, "_search_numpy", lambda *a_: calls.append(1) or real(*a_))
    monkeypatch.setattr(hm, "_faiss_or_none", lambda: None)  # FAISS not installed
    monkeypatch.setattr(hm, "_search_numba", lambda *a_: None)  # nor numba
    D, I = search(pack_bits(a), pack_bits(b), 50)
    np.testing.assert_array_equal(D, Dr)
    np.testing.assert_array_equal(I, Ir)
    assert calls == [1]
