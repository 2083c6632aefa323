"""read_benchmark_file / load_dataset(path): round trips per layout and one clear error per bad file."""

import io
import json
import pickle
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from cmh_core.datasets import Split, load_dataset, make_synthetic, read_benchmark_file, save_benchmark_file
from cmh_core.datasets import bundled as bundled_mod
from cmh_core.datasets import files as files_mod

N_TR, N_TE, D_IMG, D_TXT, C = 40, 10, 6, 5, 4


def _arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, C)) < 0.4).astype(np.uint8)
    Y[np.arange(n), np.arange(n) % C] = 1  # every row and every label non-empty
    return rng.standard_normal((n, D_IMG)).astype(np.float32), rng.random((n, D_TXT)).astype(np.float32), Y


def _split_vars():
    I_tr, T_tr, L_tr = _arrays(N_TR, 0)
    I_te, T_te, L_te = _arrays(N_TE, 1)
    return {"I_tr": I_tr, "I_te": I_te, "T_tr": T_tr, "T_te": T_te, "L_tr": L_tr, "L_te": L_te}


def _write_v73(path, variables):
    """Write an HDF5 file the way MATLAB -v7.3 does: 512-byte user block, column-major arrays."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in variables.items():
            ds = f.create_dataset(k, data=np.asarray(v, dtype=np.float64).T)
            ds.attrs["MATLAB_class"] = np.bytes_("double")
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    )
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def _write_npz(path, **overrides):
    X, T, Y = _arrays(50)
    arrays = {"image_features": X, "text_features": T, "labels": Y}
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def _check_split_layout(ds, variables):
    np.testing.assert_allclose(
        ds.image_features, np.vstack([variables["I_tr"], variables["I_te"]]), rtol=1e-6
    )
    np.testing.assert_allclose(ds.text_features, np.vstack([variables["T_tr"], variables["T_te"]]), rtol=1e-6)
    np.testing.assert_array_equal(ds.labels, np.vstack([variables["L_tr"], variables["L_te"]]))
    np.testing.assert_array_equal(ds.split.query, np.arange(N_TR, N_TR + N_TE))
    np.testing.assert_array_equal(ds.split.database, np.arange(N_TR))
    np.testing.assert_array_equal(ds.split.train, ds.split.database)
    assert ds.image_features.dtype == np.float32 and ds.labels.dtype == np.uint8
    assert ds.label_names == [f"label_{j}" for j in range(C)]
    assert ds.texts[3] == "item 3" and len(ds.texts) == N_TR + N_TE
    assert ds.metadata["layout"] == "split"


# ------------------------------------------------------------------------------------ round trips
def test_npz_round_trip_with_names_texts_and_split(tmp_path):
    X, T, Y = _arrays(50)
    names = np.array(["cat", "dog", "car", "tree"])
    texts = np.array([f"caption {i}" for i in range(50)])
    q = np.arange(0, 10)
    path = tmp_path / "bench.npz"
    np.savez(path, image_features=X, text_features=T, labels=Y, label_names=names, texts=texts, split_query=q)
    ds = load_dataset(str(path))
    assert ds.name == "bench"
    np.testing.assert_array_equal(ds.image_features, X)
    np.testing.assert_array_equal(ds.text_features, T)
    np.testing.assert_array_equal(ds.labels, Y)
    assert ds.label_names == ["cat", "dog", "car", "tree"] and ds.texts[7] == "caption 7"
    np.testing.assert_array_equal(ds.split.query, q)
    np.testing.assert_array_equal(ds.split.database, np.arange(10, 50))  # default: the rest
    assert ds.thumbnail(0).size == (96, 96)  # label glyph


def test_npz_without_split_uses_make_split(tmp_path):
    ds = read_benchmark_file(_write_npz(tmp_path / "b.npz"), random_state=1)
    again = read_benchmark_file(tmp_path / "b.npz", random_state=1)
    assert len(ds.split.query) == 10 and len(np.intersect1d(ds.split.query, ds.split.database)) == 0
    np.testing.assert_array_equal(ds.split.query, again.split.query)
    assert ds.texts[0] == "item 0"


def test_mat_v5_split_layout(tmp_path):
    variables = _split_vars()
    scipy.io.savemat(tmp_path / "wiki.mat", {**variables, "extra": np.zeros(3)})
    ds = load_dataset(tmp_path / "wiki.mat")
    _check_split_layout(ds, variables)
    assert ds.metadata["format"] == "mat-v5"


def test_mat_v73_split_layout_is_transposed_on_read(tmp_path):
    variables = _split_vars()
    path = tmp_path / "flickr.mat"
    _write_v73(path, variables)
    with pytest.raises(NotImplementedError):  # really a v7.3 file as far as scipy is concerned
        scipy.io.loadmat(path)
    ds = read_benchmark_file(path)
    _check_split_layout(ds, variables)
    assert ds.metadata["format"] == "mat-v7.3"


def test_mat_v73_found_through_scipy_fallback(tmp_path, monkeypatch):
    variables = _split_vars()
    _write_v73(tmp_path / "f.mat", variables)
    monkeypatch.setattr(files_mod, "_is_hdf5", lambda path: False)
    _check_split_layout(read_benchmark_file(tmp_path / "f.mat"), variables)


def test_h5_dcmh_layout_row_major(tmp_path):
    X, T, Y = _arrays(50)
    with h5py.File(tmp_path / "nus.h5", "w") as f:
        f["ImgAll"], f["TagAll"], f["LAll"] = X, T, Y
    ds = load_dataset(tmp_path / "nus.h5")
    np.testing.assert_array_equal(ds.image_features, X)
    np.testing.assert_array_equal(ds.text_features, T)
    np.testing.assert_array_equal(ds.labels, Y)
    assert ds.metadata["layout"] == "all" and len(ds.split.query) == 10


def test_h5_djsrh_names_written_by_matlab_are_transposed(tmp_path):
    X, T, Y = _arrays(50)
    with h5py.File(tmp_path / "mir.h5", "w") as f:  # column-major as MATLAB writes, no marks
        f["XAll"], f["YAll"], f["LAll"] = X.T, T.T, Y.T
    ds = read_benchmark_file(tmp_path / "mir.h5")
    np.testing.assert_array_equal(ds.image_features, X)
    np.testing.assert_array_equal(ds.text_features, T)
    np.testing.assert_array_equal(ds.labels, Y)


def test_mat_v5_all_layout_case_insensitive(tmp_path):
    X, T, Y = _arrays(50)
    scipy.io.savemat(tmp_path / "m.mat", {"IALL": X, "YALL": T, "LALL": Y})
    ds = read_benchmark_file(tmp_path / "m.mat")
    np.testing.assert_array_equal(ds.labels, Y)
    assert ds.metadata["variables"] == {"image": ("IALL",), "text": ("YALL",), "labels": ("LALL",)}


# ------------------------------------------------------------------------------------- bad files
@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"image_features": np.zeros(50, np.float32)}, r"image_features must be 2-D.*1-D"),
        ({"image_features": np.zeros((50, 3, 8, 8), np.float32)}, r"image_features must be 2-D.*raw images"),
        ({"text_features": np.full((50, 5), np.nan, np.float32)}, r"text_features contains NaN or Inf"),
        ({"image_features": np.full((50, 6), np.inf, np.float32)}, r"image_features contains NaN or Inf"),
        ({"labels": np.full((50, 4), 2, np.uint8)}, r"labels must contain only 0 and 1"),
        ({"labels": np.zeros((50, 4), np.uint8)}, r"labels has 50 row\(s\) without any label"),
        ({"labels": np.arange(50)[:, None] % 7}, r"labels looks like class indices"),
        ({"text_features": np.zeros((49, 5), np.float32)}, r"row counts differ.*text_features: 49"),
        ({"split_query": np.array([0, 1, 50])}, r"split_query has indices out of range 0\.\.49"),
        ({"split_query": np.array([0.0, 1.0])}, r"split_query must be a 1-D integer array"),
        (
            {"split_query": np.array([0, 1]), "split_database": np.array([1, 2])},
            r"split_query and split_database overlap",
        ),
        ({"split_database": np.array([1, 2])}, r"without split_query"),
        ({"split_query": np.array([0, 1]), "split_train": np.array([1])}, r"split_train must be a subset"),
        ({"label_names": np.array(["a", "b"])}, r"label_names must have shape \(4,\)"),
        ({"texts": np.arange(50)}, r"texts must be a str array"),
        ({"text_features": None}, r"lacks text_features; arrays found: image_features, labels"),
    ],
)
def test_bad_npz(tmp_path, overrides, match):
    path = _write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValueError, match=match):
        read_benchmark_file(path)


class _Poison:
    """Unpickling this creates a marker file: proof that a load ran pickle."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    X, T, Y = _arrays(50)
    texts = np.empty(50, dtype=object)
    texts[:] = [_Poison(marker)] * 50
    path = tmp_path / "obj.npz"
    np.savez(path, image_features=X, text_features=T, labels=Y, texts=texts)
    with pytest.raises(ValueError, match=r"array 'texts' in .*obj\.npz is an object array.*never unpickles"):
        read_benchmark_file(path)
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as z:  # the poison is live: unpickling would touch it
        z["texts"]
    assert marker.exists()


def test_pickle_disguised_as_npz_is_refused(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps(_Poison(marker)))
    with pytest.raises(ValueError, match=r"evil\.npz is not a plain \.npz archive"):
        read_benchmark_file(path)
    assert not marker.exists()


def test_unknown_variable_names_are_listed(tmp_path):
    scipy.io.savemat(tmp_path / "odd.mat", {"foo": np.zeros((3, 2)), "bar": np.ones((3, 1))})
    with pytest.raises(
        ValueError, match=r"unrecognised variable names foo \(3, 2\), bar \(3, 1\).*I_tr, I_te.*ImgAll"
    ):
        read_benchmark_file(tmp_path / "odd.mat")
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f["LAll"] = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"LAll.*no image, text array"):
        load_dataset(tmp_path / "odd.h5")


def test_incomplete_split_layout_names_the_missing_arrays(tmp_path):
    variables = _split_vars()
    del variables["T_te"]
    scipy.io.savemat(tmp_path / "part.mat", variables)
    with pytest.raises(ValueError, match=r"split layout incomplete: missing T_te"):
        read_benchmark_file(tmp_path / "part.mat")


def test_mat_feature_dims_and_label_columns_must_agree(tmp_path):
    variables = _split_vars()
    variables["I_te"] = variables["I_te"][:, :3]
    scipy.io.savemat(tmp_path / "dims.mat", variables)
    with pytest.raises(ValueError, match=r"I_te has 3 features per row but 6"):
        read_benchmark_file(tmp_path / "dims.mat")
    variables = _split_vars()
    variables["L_te"] = np.hstack([variables["L_te"], np.ones((N_TE, 1), np.uint8)])
    scipy.io.savemat(tmp_path / "cols.mat", variables)
    with pytest.raises(ValueError, match=r"L_te has 5 label columns but L_tr has 4"):
        read_benchmark_file(tmp_path / "cols.mat")


def test_mat_mismatched_rows_and_class_index_labels(tmp_path):
    variables = _split_vars()
    variables["T_tr"] = variables["T_tr"][:-1]
    scipy.io.savemat(tmp_path / "rows.mat", variables)
    with pytest.raises(ValueError, match=r"row counts differ.*T_tr: 39"):
        read_benchmark_file(tmp_path / "rows.mat")
    variables = _split_vars()
    variables["L_tr"] = (np.arange(N_TR) % 10 + 1)[:, None]
    scipy.io.savemat(tmp_path / "cls.mat", variables)
    with pytest.raises(ValueError, match=r"L_tr looks like class indices.*one-hot"):
        read_benchmark_file(tmp_path / "cls.mat")


def test_v73_raw_images_refused_before_reading(tmp_path):
    X, T, Y = _arrays(5)
    _write_v73(tmp_path / "raw.mat", {"IAll": np.zeros((5, 3, 4, 4)), "YAll": T, "LAll": Y})
    with pytest.raises(ValueError, match=r"IAll must be 2-D .*raw images"):
        read_benchmark_file(tmp_path / "raw.mat")


def test_v73_nan_names_the_array(tmp_path):
    variables = _split_vars()
    variables["I_te"][2, 1] = np.nan
    _write_v73(tmp_path / "nan.mat", variables)
    with pytest.raises(ValueError, match=r"I_te contains NaN or Inf.*row 2"):
        read_benchmark_file(tmp_path / "nan.mat")


def test_unsupported_suffix_unknown_name_and_missing_file(tmp_path):
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"unsupported file type '\.csv'.*\.npz"):
        read_benchmark_file(tmp_path / "x.csv")
    with pytest.raises(
        ValueError, match=r"unknown dataset 'mirflickr'.*'tuxpaint'.*'synthetic'.*\.npz/\.mat/\.h5"
    ):
        load_dataset("mirflickr")
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path / "missing.npz")
    (tmp_path / "junk.mat").write_bytes(b"not a matlab file at all" * 10)
    with pytest.raises(ValueError, match=r"junk\.mat could not be read as a MATLAB file"):
        read_benchmark_file(tmp_path / "junk.mat")


# ------------------------------------------------------------------ bad input as a new user meets it
@pytest.mark.parametrize("suffix", [".npz", ".mat", ".h5"])
def test_empty_file_says_empty(tmp_path, suffix):
    (tmp_path / f"e{suffix}").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.\w+ is empty \(0 bytes\)"):
        load_dataset(tmp_path / f"e{suffix}")


def test_text_file_renamed_npz_is_called_text_not_pickle(tmp_path):
    (tmp_path / "notes.npz").write_text("image_features,labels\n1,2\n")
    with pytest.raises(ValueError, match=r"notes\.npz is not a plain \.npz archive: it is a text file") as e:
        load_dataset(tmp_path / "notes.npz")
    assert "pickle" not in str(e.value)


def test_non_hdf5_h5_is_not_called_matlab(tmp_path):
    (tmp_path / "x.h5").write_bytes(b"\x00\x01 not hdf5 at all")
    with pytest.raises(ValueError, match=r"x\.h5 is not an HDF5 file") as e:
        load_dataset(tmp_path / "x.h5")
    assert "MATLAB file" not in str(e.value)


def test_directory_is_named_in_full(tmp_path):
    (tmp_path / "data.npz").mkdir()
    for p in (tmp_path / "data.npz", tmp_path):
        with pytest.raises(ValueError, match=rf"^{re.escape(str(p))} is a directory"):
            load_dataset(p)


def test_in_memory_file_is_described_not_repred():
    with pytest.raises(ValueError, match=r"got an in-memory file \(BytesIO\)") as e:
        load_dataset(io.BytesIO(b"PK"))
    assert "object at 0x" not in str(e.value)


def test_row_mismatch_is_reported_before_empty_label_rows(tmp_path):
    Y = np.zeros((49, C), np.uint8)  # 49 rows, all empty: the real problem is the count
    with pytest.raises(ValueError, match=r"row counts differ.*labels: 49"):
        read_benchmark_file(_write_npz(tmp_path / "m.npz", labels=Y))
    variables = _split_vars()
    variables["L_tr"] = np.zeros((N_TR - 1, C), np.uint8)
    scipy.io.savemat(tmp_path / "m.mat", variables)
    with pytest.raises(ValueError, match=r"row counts differ.*L_tr: 39"):
        read_benchmark_file(tmp_path / "m.mat")


def test_dataset_names_are_case_insensitive():
    assert load_dataset("TuxPaint").name == "tuxpaint"
    assert load_dataset("Synthetic", n=60, random_state=0).n_items == 60


# ---------------------------------------------------------------------------------- bundle files
def _bundle_copy(tmp_path):
    src = bundled_mod.bundle_folder("tuxpaint")
    dst = tmp_path / "tuxpaint"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("images"))
    (dst / "images").mkdir()
    shutil.copy(src / "images" / "0.webp", dst / "images" / "0.webp")
    return dst


def _tamper(folder, key, index, value):
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if index is None:
        meta[key]["vocabulary_file"] = value
    else:
        meta[key][index] = value
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "sub/0.webp", "..", ""])
def test_tampered_image_names_are_refused(tmp_path, name):
    folder = _bundle_copy(tmp_path)
    assert bundled_mod.load_bundle(folder, "tuxpaint").thumbnail(0).size[0] > 0  # the copy is good
    _tamper(folder, "images", 3, name)
    with pytest.raises(ValueError, match=r"image of item 3 in .*meta\.json is .*not a plain file name"):
        bundled_mod.load_bundle(folder, "tuxpaint")


def test_tampered_vocabulary_name_is_refused(tmp_path):
    from cmh_core.datasets import featurize_text

    folder = _bundle_copy(tmp_path)
    _tamper(folder, "text_featurizer", None, "../vocabulary.json")
    ds = bundled_mod.load_bundle(folder, "tuxpaint")
    with pytest.raises(ValueError, match=r"vocabulary_file in .* is '\.\./vocabulary\.json', not a plain"):
        featurize_text(ds, "a koala")


def test_bundle_found_through_cmh_assets(tmp_path, monkeypatch):
    folder = _bundle_copy(tmp_path / "assets" / "datasets")
    monkeypatch.setenv("CMH_ASSETS", str(tmp_path / "assets"))
    assert bundled_mod.bundle_folder("tuxpaint") == folder
    monkeypatch.setenv("CMH_ASSETS", str(tmp_path / "nowhere"))
    monkeypatch.setattr(bundled_mod, "_CHECKOUT_ASSETS", tmp_path / "no-checkout")
    with pytest.raises(ValueError, match=r"'tuxpaint' not found \(looked in .*nowhere.*set CMH_ASSETS="):
        load_dataset("tuxpaint")


# ---------------------------------------------------------------------------------------- export
def _shuffled_split_dataset():
    ds = load_dataset("tuxpaint")
    rng = np.random.default_rng(5)  # the order must survive, whatever it is
    q, db = rng.permutation(ds.split.query), rng.permutation(ds.split.database)
    ds.split = Split(query=q, database=db, train=db.copy())
    return ds


def test_save_npz_round_trip_is_identical(tmp_path):
    ds = _shuffled_split_dataset()
    back = load_dataset(save_benchmark_file(ds, tmp_path / "tux.npz"))
    for a in ("image_features", "text_features", "labels"):
        np.testing.assert_array_equal(getattr(back, a), getattr(ds, a))
    for part in ("query", "database", "train"):
        np.testing.assert_array_equal(getattr(back.split, part), getattr(ds.split, part))
    assert back.label_names == ds.label_names and back.texts == ds.texts


def test_save_mat_round_trip_keeps_rows_and_roles(tmp_path):
    ds = _shuffled_split_dataset()
    path = save_benchmark_file(ds, tmp_path / "tux.mat")
    raw = scipy.io.loadmat(path)
    assert {"I_tr", "I_te", "T_tr", "T_te", "L_tr", "L_te"} <= set(raw)
    assert raw["L_tr"].dtype == np.float64 and raw["I_te"].shape == (len(ds.split.query), 1280)
    back = load_dataset(path)
    assert back.metadata["format"] == "mat-v5"
    for a in ("image_features", "text_features", "labels"):
        for part in ("query", "database", "train"):
            np.testing.assert_array_equal(
                getattr(back, a)[getattr(back.split, part)], getattr(ds, a)[getattr(ds.split, part)]
            )


def test_save_refuses_bad_suffix_folder_and_subset_train(tmp_path):
    ds = make_synthetic(n=80, d_img=6, d_txt=5, n_labels=4, random_state=0)
    with pytest.raises(ValueError, match=r"unsupported suffix '\.h5'; use one of \.npz, \.mat"):
        save_benchmark_file(ds, tmp_path / "x.h5")
    with pytest.raises(ValueError, match=r"folder .*no-such-dir' does not exist"):
        save_benchmark_file(ds, tmp_path / "no-such-dir" / "x.npz")
    ds.split = Split(query=ds.split.query, database=ds.split.database, train=ds.split.database[:10])
    with pytest.raises(ValueError, match=r"trains on 10 of its 64 database items; save it as \.npz"):
        save_benchmark_file(ds, tmp_path / "x.mat")
    assert not (tmp_path / "x.mat").exists()
