"""Code stores (`cmh_core.serving`): FAISS and Milvus Lite answer as `cmh_core.hamming` does."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from cmh_core import hamming
from cmh_core.serving import FaissStore, MilvusStore

N, N_Q, K = 100_000, 200, 10


@pytest.fixture(scope="module")
def codes():
    """100,000 random 64-bit database codes (rows alternate modality in blocks) and 200 queries."""
    rng = np.random.default_rng(0)
    db = rng.integers(0, 256, (N, 8), dtype=np.uint8)
    q = rng.integers(0, 256, (N_Q, 8), dtype=np.uint8)
    modality = np.where((np.arange(N) // 7) % 3 == 0, "text", "image")  # irregular interleaving
    ids = np.arange(N, dtype=np.int64) * 5 + 11  # ids unlike row numbers: mapping errors show
    return db, q, modality, ids


def _fill(store, db, modality, ids, block=25_000):
    """Add in blocks, each block image rows then text rows; return the insertion order of the rows."""
    order = []
    for s in range(0, len(db), block):
        for m in ("image", "text"):
            rows = np.flatnonzero(modality[s : s + block] == m) + s
            store.add(ids[rows], db[rows], m)
            order.append(rows)
    return np.concatenate(order)


def _same_ids_up_to_ties(D, I, D_ref, I_ref):
    """Each row: the same ids at every distance below its k-th; at the k-th, ids with that distance."""
    for d, i, dr, ir in zip(D, I, D_ref, I_ref, strict=True):
        dk = dr[-1]
        assert set(i[d < dk]) == set(ir[dr < dk])


@pytest.fixture(scope="module")
def faiss_store(codes):
    db, _, modality, ids = codes
    store = FaissStore(64)
    return store, _fill(store, db, modality, ids)


@pytest.fixture(scope="module")
def milvus_store(codes, tmp_path_factory):
    db, _, modality, ids = codes
    path = tmp_path_factory.mktemp("milvus") / "codes.db"
    store = MilvusStore(path, 64)
    order = _fill(store, db, modality, ids)
    yield store, order, path
    store.close()


def _check_top_k(store, order, codes):
    db, q, modality, ids = codes
    D_ref, I_ref = hamming.search(q, db[order], K)  # insertion order = row order of db[order]
    D, I = store.search(q, K)
    assert D.dtype == np.int32 and I.dtype == np.int64 and D.shape == I.shape == (N_Q, K)
    np.testing.assert_array_equal(D, D_ref)
    _same_ids_up_to_ties(D, I, D_ref, ids[order][I_ref])
    np.testing.assert_array_equal(I, ids[order][I_ref])  # and exactly, ties by insertion order
    for m in ("image", "text"):
        sub = order[modality[order] == m]
        D_ref, I_ref = hamming.search(q, db[sub], K)
        D, I = store.search(q, K, modality=m)
        np.testing.assert_array_equal(D, D_ref)
        np.testing.assert_array_equal(I, ids[sub][I_ref])


def _check_radius(store, order, codes, r=17):
    db, q, modality, ids = codes
    lims_ref, D_ref, I_ref = hamming.radius_search(q[:50], db[order], r)
    assert lims_ref[-1] > 50  # the ball holds something to compare
    lims, D, I = store.radius_search(q[:50], r)
    np.testing.assert_array_equal(lims, lims_ref)
    np.testing.assert_array_equal(D, D_ref)
    np.testing.assert_array_equal(I, ids[order][I_ref])
    sub = order[modality[order] == "text"]
    lims_ref, D_ref, I_ref = hamming.radius_search(q[:50], db[sub], r)
    lims, D, I = store.radius_search(q[:50], r, modality="text")
    np.testing.assert_array_equal(lims, lims_ref)
    np.testing.assert_array_equal(I, ids[sub][I_ref])


def test_faiss_store_top_k_matches_exact_search(faiss_store, codes):
    store, order = faiss_store
    assert store.count() == N and store.count("text") == int((codes[2] == "text").sum())
    _check_top_k(store, order, codes)


def test_faiss_store_radius_search_matches(faiss_store, codes):
    _check_radius(*faiss_store, codes)


@pytest.mark.slow
def test_milvus_store_top_k_matches_exact_search(milvus_store, codes):
    store, order, _ = milvus_store
    assert store.count() == N and store.count("image") == int((codes[2] == "image").sum())
    _check_top_k(store, order, codes)


@pytest.mark.slow
def test_milvus_store_radius_search_matches(milvus_store, codes):
    store, order, _ = milvus_store
    _check_radius(store, order, codes)


def test_milvus_lite_survives_close_and_reopen(tmp_path):
    rng = np.random.default_rng(3)
    db = rng.integers(0, 256, (3000, 4), dtype=np.uint8)
    path = tmp_path / "codes.db"
    with MilvusStore(path, 32) as store:
        store.add(np.arange(2000), db[:2000], "image")
    with MilvusStore(path) as store:  # n_bits read back from the file
        assert store.n_bits == 32 and store.count() == 2000
        store.add(np.arange(2000, 3000), db[2000:], "text")  # insertion order continues
    with MilvusStore(str(path), 32) as store:
        assert store.count() == 3000 and store.count("text") == 1000
        D, I = store.search(db[:20], 5)
        D_ref, I_ref = hamming.search(db[:20], db, 5)
        np.testing.assert_array_equal(D, D_ref)
        np.testing.assert_array_equal(I, I_ref)
    with pytest.raises(ValueError, match="32-bit"):
        MilvusStore(path, 64)


def test_ties_are_broken_by_insertion_order_in_both_stores(tmp_path):
    """16-bit codes, 20,000 rows: hundreds of codes share each distance, and the cut at k is a tie."""
    rng = np.random.default_rng(4)
    db = rng.integers(0, 256, (20_000, 2), dtype=np.uint8)
    q = rng.integers(0, 256, (8, 2), dtype=np.uint8)
    D_ref, I_ref = hamming.search(q, db, 40)
    for store in (FaissStore(16), MilvusStore(tmp_path / "ties.db", 16)):
        with store:
            store.add(np.arange(20_000), db, "text")
            D, I = store.search(q, 40)
            np.testing.assert_array_equal(D, D_ref)
            np.testing.assert_array_equal(I, I_ref)


def test_faiss_store_saves_and_reloads(tmp_path, codes):
    db, q, _, _ = codes
    with FaissStore(64, path=tmp_path / "store") as store:
        store.add(np.arange(5000), db[:5000], "image")
    again = FaissStore(path=tmp_path / "store")
    assert again.count() == 5000 and again.n_bits == 64
    np.testing.assert_array_equal(again.search(q, 5)[1], hamming.search(q, db[:5000], 5)[1])


@pytest.mark.parametrize("kind", ["hash", "multihash", "ivf"])
def test_approximate_faiss_kinds_rerank_their_candidates_exactly(kind, codes):
    db, q, _, _ = codes
    store = FaissStore(64, kind, nlist=16, nprobe=16, nflip=3)
    store.add(np.arange(20_000), db[:20_000], "image")
    D, I = store.search(q, K)
    found = I >= 0
    true_d = hamming.hamming_distance(q, db[:20_000])
    np.testing.assert_array_equal(D[found], np.take_along_axis(true_d, np.where(found, I, 0), 1)[found])
    for d, i in zip(D, I, strict=True):  # (distance, insertion order) among what was found
        pairs = [(a, b) for a, b in zip(d, i, strict=True) if b >= 0]
        assert pairs == sorted(pairs)
    if kind == "ivf":  # all lists probed: exact distances, ids up to ties at the k-th distance
        D_ref, I_ref = hamming.search(q, db[:20_000], K)
        np.testing.assert_array_equal(D, D_ref)
        _same_ids_up_to_ties(D, I, D_ref, I_ref)


def test_bad_input_is_a_clear_value_error(codes, tmp_path):
    db = codes[0]
    store = FaissStore(64)
    with pytest.raises(ValueError, match="modality"):
        store.add(np.arange(3), db[:3], "audio")
    with pytest.raises(ValueError, match="bytes"):
        store.add(np.arange(3), db[:3, :4], "image")
    with pytest.raises(ValueError, match="ids"):
        store.add(np.arange(2), db[:3], "image")
    with pytest.raises(ValueError, match="multiple of 8"):
        FaissStore(12)
    with pytest.raises(ValueError, match="kind"):
        FaissStore(64, "lsh")
    D, I = store.search(db[:2], 3)  # empty store: padding, as hamming.search
    assert (I == -1).all() and (D == hamming.MISSING_DISTANCE).all()


def test_missing_pymilvus_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pymilvus", None)  # import pymilvus now raises ImportError
    with pytest.raises(ImportError, match=r"\[milvus\]"):
        MilvusStore(tmp_path / "x.db", 64)


@pytest.mark.slow
def test_cmh_index_then_query_finds_a_captions_own_image(tmp_path, capsys):
    from cmh_core.cli import main
    from cmh_core.datasets import load_dataset

    ds = load_dataset("tuxpaint")
    row = int(ds.split.database[0])  # the first database item, whatever its caption
    uri = str(tmp_path / "codes.db")
    assert main(["index", "--method", "DCH", "--bits", "64", "--store", "milvus", "--uri", uri]) == 0
    assert "added 1260 codes" in capsys.readouterr().out
    assert main(["query", "--uri", uri, "--text", ds.texts[row]]) == 0
    out = capsys.readouterr().out.splitlines()
    hits = [int(line.split()[2]) for line in out[2:]]
    assert len(hits) == 10 and row in hits  # the caption's own image is in the top 10
    # the saved model rebuilds the same store on FAISS, which answers identically
    folder = str(tmp_path / "faiss")
    model = uri + ".model.npz"
    assert main(["index", "--model", model, "--store", "faiss", "--uri", folder]) == 0
    capsys.readouterr()
    assert main(["query", "--uri", folder, "--text", ds.texts[row]]) == 0
    assert [int(line.split()[2]) for line in capsys.readouterr().out.splitlines()[2:]] == hits


def test_cmh_query_errors_are_one_line(tmp_path, capsys):
    from cmh_core.cli import main

    assert main(["query", "--uri", str(tmp_path / "none.db"), "--text", "a koala"]) == 2
    assert "cmh index" in capsys.readouterr().err
    assert main(["index", "--uri", str(tmp_path / "x.db")]) == 2
    assert "--method" in capsys.readouterr().err


def test_milvus_lite_export_reopens_with_the_runs_database_codes(tmp_path):
    from cmh_core.datasets import make_synthetic
    from cmh_core.experiment import run_experiment
    from cmh_core.exports import milvus_lite_bytes, run_codes

    ds = make_synthetic(n=300, d_img=24, d_txt=16, n_labels=6, random_state=1)
    run = run_experiment(ds, "CCA-ITQ", n_bits=16)
    codes = run_codes(run, ds)
    path = tmp_path / "export.db"
    path.write_bytes(milvus_lite_bytes(codes, ds.split.database))
    with MilvusStore(path) as store:
        assert store.n_bits == 16 and store.count("image") == store.count("text") == len(ds.split.database)
        D, I = store.search(codes["image_query"], 5, modality="text")  # I→T, as the run evaluated it
        D_ref, I_ref = hamming.search(codes["image_query"], codes["text_database"], 5)
        np.testing.assert_array_equal(D, D_ref)
        np.testing.assert_array_equal(I, np.asarray(ds.split.database)[I_ref])
