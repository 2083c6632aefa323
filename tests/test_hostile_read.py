"""Hostile files on the reading side: nothing read from outside a file, nothing allocated blindly.

Each test asserts the clear error (file, array, size, budget or fix) AND that nothing was read or
allocated: the refused reads are run under tracemalloc (numpy reports its buffers to it) and
``h5py.Dataset.__getitem__`` is made to fail, so a refusal that came after reading would show.
"""

import io
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from cmh_core._io import MEMORY_BUDGET_ENV, SizeBudget, loads_json, memory_budget
from cmh_core.datasets import read_benchmark_file

MB = 10**6


@pytest.fixture
def no_h5_reads(monkeypatch):
    """Any read of HDF5 data fails the test (listing shapes and attributes is allowed)."""

    def boom(self, *a, **k):
        raise AssertionError(f"HDF5 data of {self.name} was read")

    monkeypatch.setattr(h5py.Dataset, "__getitem__", boom)


def peak_while(fn) -> tuple[BaseException | None, int]:
    """Run ``fn``; return (the exception it raised, peak traced bytes)."""
    tracemalloc.start()
    err = None
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 -- returned to the test
        err = e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return err, peak


def _npy_bytes(shape, dtype="<f4", data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _small_arrays(n=20):
    rng = np.random.default_rng(0)
    return {
        "image_features": rng.normal(size=(n, 4)).astype(np.float32),
        "text_features": rng.normal(size=(n, 3)).astype(np.float32),
        "labels": np.eye(2, dtype=np.uint8)[np.arange(n) % 2],
    }


# ------------------------------------------------------------------------------------ HDF5 escapes
def test_hdf5_external_storage_is_refused_naming_the_dataset(tmp_path, no_h5_reads):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(100, dtype=np.float64).tobytes())
    path = tmp_path / "bench.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("I_tr", shape=(10, 10), dtype="f8", external=[(str(secret), 0, 800)])
    with pytest.raises(ValueError, match=r"'I_tr' has external storage .*secret\.bin.*refused"):
        read_benchmark_file(path)


def test_hdf5_external_link_is_refused_and_the_other_file_never_opened(tmp_path, monkeypatch):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        for k, v in _small_arrays().items():
            f[k] = v
    path = tmp_path / "bench.h5"
    with h5py.File(path, "w") as f:
        for k in _small_arrays():
            f[k] = h5py.ExternalLink(str(other), k)
    opened = []
    real = h5py.File.__init__

    def spy(self, name, *a, **k):
        opened.append(Path(name).name)
        real(self, name, *a, **k)

    monkeypatch.setattr(h5py.File, "__init__", spy)
    with pytest.raises(ValueError, match=r"'image_features' is an external link to .*other\.h5.*refused"):
        read_benchmark_file(path)
    assert "other.h5" not in opened


def test_hdf5_virtual_dataset_is_refused(tmp_path, no_h5_reads):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f["x"] = np.ones((10, 4), np.float32)
    layout = h5py.VirtualLayout(shape=(10, 4), dtype="f4")
    layout[:] = h5py.VirtualSource(str(src), "x", shape=(10, 4))
    path = tmp_path / "bench.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("image_features", layout)
    with pytest.raises(ValueError, match="'image_features' has a virtual layout"):
        read_benchmark_file(path)


# ------------------------------------------------------------------------------------ size budget
def test_npz_zip_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, str(50 * MB))
    path = tmp_path / "bomb.npz"
    arrays = _small_arrays()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in arrays.items():
            if k != "image_features":
                buf = io.BytesIO()
                np.save(buf, v)
                z.writestr(f"{k}.npy", buf.getvalue())
        n = 200 * MB // 4  # 200 MB of zeros deflate to about 200 kB
        with z.open("image_features.npy", "w", force_zip64=True) as f:
            f.write(_npy_bytes((n // 4, 4)))
            zeros = bytes(4 * MB)
            for _ in range(200 // 4):
                f.write(zeros)
    assert path.stat().st_size < 2 * MB
    err, peak = peak_while(lambda: read_benchmark_file(path))
    assert isinstance(err, ValueError), err
    msg = str(err)
    assert "bomb.npz" in msg and "'image_features'" in msg and "200.0 MB" in msg and "50.0 MB" in msg
    assert MEMORY_BUDGET_ENV in msg
    assert peak < 5 * MB


@pytest.mark.parametrize("where", ["benchmark npz", "model file"])
def test_terabyte_npy_header_is_refused_with_the_default_budget(tmp_path, where):
    path = tmp_path / "tb.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("image_features.npy", _npy_bytes((10**6, 10**6), "<f8"))
        z.writestr("__cmh_meta__.npy", _npy_bytes((), "<U2", "{}".encode("utf-32-le")))
    if where == "benchmark npz":
        fn = lambda: read_benchmark_file(path)  # noqa: E731
    else:
        from cmh_core.methods import load_model

        fn = lambda: load_model(path)  # noqa: E731
    err, peak = peak_while(fn)
    assert isinstance(err, ValueError), err
    assert "'image_features'" in str(err) and "8.0 TB" in str(err) and "memory budget" in str(err)
    assert peak < 5 * MB


def test_terabyte_hdf5_dataset_is_refused_before_reading(tmp_path, no_h5_reads):
    path = tmp_path / "tb.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image_features", shape=(10**6, 10**6), dtype="f8")
        f.create_dataset("text_features", shape=(10**6, 3), dtype="f4")
        f.create_dataset("labels", shape=(10**6, 2), dtype="u1")
    assert path.stat().st_size < 100_000
    err, peak = peak_while(lambda: read_benchmark_file(path))
    assert isinstance(err, ValueError), err
    assert "'image_features'" in str(err) and "8.0 TB" in str(err) and "tb.h5" in str(err)
    assert peak < 5 * MB


def test_unallocated_hdf5_dataset_is_held_to_the_budget(tmp_path, monkeypatch, no_h5_reads):
    """50000 x 10000 float32 declared in a 9 kB file: 2 GB, refused under a 1 GB budget."""
    monkeypatch.setenv(MEMORY_BUDGET_ENV, str(1000 * MB))
    path = tmp_path / "sparse_decl.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image_features", shape=(50000, 10000), dtype="f4")
        f.create_dataset("text_features", shape=(50000, 3), dtype="f4")
        f.create_dataset("labels", shape=(50000, 2), dtype="u1")
    assert path.stat().st_size < 20_000
    err, peak = peak_while(lambda: read_benchmark_file(path))
    assert isinstance(err, ValueError), err
    assert "(50000, 10000)" in str(err) and "2.0 GB" in str(err) and "1.0 GB" in str(err)
    assert peak < 5 * MB


def test_honest_hdf5_file_within_the_budget_still_reads(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, str(1 * MB))
    path = tmp_path / "ok.h5"
    arrays = _small_arrays()
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
    ds = read_benchmark_file(path)
    np.testing.assert_array_equal(ds.image_features, arrays["image_features"])


def test_budget_adds_up_over_arrays_and_env_var_is_checked(monkeypatch):
    b = SizeBudget("f.npz", budget=100)
    b.charge("a", (10,), 8)
    with pytest.raises(ValueError, match=r"'b' declares shape \(3,\).*after 80 bytes for earlier arrays"):
        b.charge("b", (3,), 8)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match=f"{MEMORY_BUDGET_ENV}='lots' is not a positive number"):
        memory_budget()
    monkeypatch.delenv(MEMORY_BUDGET_ENV)
    assert memory_budget() >= 256 * 2**20


# ----------------------------------------------------------------------------------- sparse .mat
def _sparse_mat(path: Path, n=30, d_txt=50, **kw):
    rng = np.random.default_rng(1)
    T = scipy.sparse.random(n, d_txt, density=0.1, random_state=1, format="csc")
    L = scipy.sparse.csc_matrix(np.eye(3)[np.arange(n) % 3])
    X = rng.normal(size=(n, 4))
    scipy.io.savemat(path, {"ImgAll": X, "TagAll": T, "LAll": L}, **kw)
    return X, T.toarray(), L.toarray()


def test_sparse_tags_in_a_mat_file_are_densified(tmp_path):
    path = tmp_path / "sparse.mat"
    X, T, L = _sparse_mat(path)
    ds = read_benchmark_file(path)
    np.testing.assert_allclose(ds.text_features, T.astype(np.float32))
    np.testing.assert_array_equal(ds.labels, L.astype(np.uint8))
    np.testing.assert_allclose(ds.image_features, X.astype(np.float32))


def test_sparse_mat_whose_dense_form_exceeds_the_budget_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "wide.mat"
    T = scipy.sparse.csc_matrix((np.ones(3), ([0, 1, 2], [0, 5, 10**7 - 1])), shape=(3, 10**7))
    scipy.io.savemat(path, {"ImgAll": np.ones((3, 2)), "TagAll": T, "LAll": np.eye(3)})
    monkeypatch.setenv(MEMORY_BUDGET_ENV, str(100 * MB))
    err, peak = peak_while(lambda: read_benchmark_file(path))
    assert isinstance(err, ValueError), err
    assert "'TagAll'" in str(err) and "(3, 10000000)" in str(err) and "densified" in str(err)
    assert peak < 5 * MB


def test_matlab_v73_sparse_matrix_is_densified(tmp_path):
    """MATLAB -v7.3 stores a sparse matrix as a group: data, ir (rows), jc (column pointers)."""
    n = 12
    T = scipy.sparse.random(n, 7, density=0.3, random_state=2, format="csc")
    X = np.random.default_rng(2).normal(size=(n, 4))
    L = np.eye(2)[np.arange(n) % 2]
    path = tmp_path / "v73.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["ImgAll"] = X.T
        f["LAll"] = L.T
        g = f.create_group("TagAll")
        g.attrs["MATLAB_class"] = np.bytes_("double")
        g.attrs["MATLAB_sparse"] = np.uint64(n)
        g["data"], g["ir"], g["jc"] = T.data, T.indices.astype(np.uint64), T.indptr.astype(np.uint64)
    ds = read_benchmark_file(path)
    np.testing.assert_allclose(ds.text_features, T.toarray().astype(np.float32))


# ------------------------------------------------------------------------------------------- JSON
def test_nested_json_is_refused_without_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="meta.json nests arrays/objects 100000 levels deep; at most 64"):
        loads_json(deep, "meta.json")
    assert loads_json('{"a": ["[[[[", {"b": 1}]}', "x") == {"a": ["[[[[", {"b": 1}]}


def test_nested_json_in_a_bundle_meta_is_a_clear_error(tmp_path):
    from cmh_core.datasets import bundled

    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "meta.json").write_text('{"texts": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(ValueError, match=r"meta\.json nests arrays/objects 50001 levels deep"):
        bundled.load_bundle(folder, "b")


def test_nested_json_in_model_metadata_is_a_clear_error(tmp_path):
    from cmh_core.methods import load_model

    path = tmp_path / "m.npz"
    np.savez(path, __cmh_meta__=np.array('{"format": ' + "[" * 20_000 + "]" * 20_000 + "}"))
    with pytest.raises(ValueError, match="metadata nests arrays/objects 20001 levels deep"):
        load_model(path)


# --------------------------------------------------------------------------------------- symlinks
def test_dataset_card_symlink_out_of_the_bundle_is_refused(tmp_path):
    from cmh_core.datasets import bundled

    src = bundled.bundle_folder("tuxpaint")
    folder = tmp_path / "tuxpaint"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("images"))
    assert "Tux Paint" in (bundled.dataset_card(folder) or "")  # the copy's card reads
    (folder / "README.md").unlink()
    outside = tmp_path / "secret.txt"
    outside.write_text("do not show")
    (folder / "README.md").symlink_to(outside)
    with pytest.raises(ValueError, match=r"README\.md.* is a link to .*secret\.txt.*outside"):
        bundled.dataset_card(folder)


def test_assets_env_pointing_nowhere_warns(tmp_path, monkeypatch):
    from cmh_core.datasets import bundled

    monkeypatch.setenv(bundled.ASSETS_ENV, str(tmp_path / "nowhere"))
    with pytest.warns(UserWarning, match=r"CMH_ASSETS=.*nowhere.* does not exist"):
        folder = bundled.bundle_folder("tuxpaint")
    assert folder.is_dir()  # falls back to the checkout's bundle
