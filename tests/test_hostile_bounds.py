"""Upper bounds: iteration counts, epochs and widths; tampered model files; search k; long queries."""

import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from cmh_core.datasets import make_synthetic
from cmh_core.methods import METHODS, get_method, load_model
from cmh_core.methods._constraints import MAX_EPOCHS, MAX_ITER, param_bounds

ITERATIVE = {
    name: cls for name, cls in METHODS.items() if {"n_iter", "n_epochs"} & set(cls._get_param_names())
}


@pytest.fixture(scope="module")
def data():
    ds = make_synthetic(n=60, random_state=0)
    return ds.image_features, ds.text_features, ds.labels


def test_every_iteration_epoch_and_width_parameter_has_an_upper_bound():
    names = (
        "n_iter",
        "n_iter_hash",
        "n_dcc",
        "n_epochs",
        "batch_size",
        "n_hidden",
        "hidden_dim",
        "n_anchors",
    )
    seen = 0
    for method, cls in METHODS.items():
        bounds = param_bounds(method)
        for p in set(names) & set(cls._get_param_names()):
            low, high = bounds[p]
            assert high is not None and low <= high, (method, p, bounds[p])
            default = cls().get_params()[p]
            assert default is None or low <= default <= high, (method, p)
            seen += 1
    assert len(ITERATIVE) >= 9 and seen >= 15


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_n_iter_of_a_billion_is_refused_before_any_work(name, data):
    key = "n_iter" if "n_iter" in ITERATIVE[name]._get_param_names() else "n_epochs"
    limit = MAX_ITER if key == "n_iter" else MAX_EPOCHS
    m = get_method(name, n_bits=8, random_state=0, **{key: 10**9})
    tracemalloc.start()
    with pytest.raises(
        ValueError, match=rf"'{key}' parameter of {name} must be an int in the range \[1, {limit}\]"
    ):
        m.fit(*data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * 10**6 and not hasattr(m, "train_codes_")


def test_dcmh_huge_width_is_refused_by_its_own_name_not_n_bits(data):
    with pytest.raises(ValueError) as e:
        get_method("DCMH", n_bits=8, n_hidden=10**8).fit(*data)
    assert "n_hidden" in str(e.value) and "n_bits" not in str(e.value).split("Got")[0]


def test_sdeh_huge_hidden_dim_is_refused(data):
    with pytest.raises(ValueError, match="'hidden_dim' parameter of SDEH must be an int in the range"):
        get_method("SDEH", n_bits=8, hidden_dim=10**6).fit(*data)


def _tamper(path, out, *, params=None, arrays=None):
    with np.load(path, allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    meta = json.loads(str(content["__cmh_meta__"]))
    meta["params"].update(params or {})
    content["__cmh_meta__"] = np.array(json.dumps(meta))
    content.update(arrays or {})
    np.savez(out, **content)
    return out


def test_tampered_dcmh_width_is_refused_before_anything_is_built(tmp_path, data, monkeypatch):
    from cmh_core.methods import dcmh

    m = get_method("DCMH", n_bits=8, n_hidden=16, n_epochs=1, random_state=0).fit(*data)
    path = _tamper(m.save(tmp_path / "m.npz"), tmp_path / "t.npz", params={"n_hidden": 10**8})
    monkeypatch.setattr(dcmh.DCMH, "_build_network", lambda *a, **k: pytest.fail("network built"))
    with pytest.raises(ValueError, match=r"t\.npz' holds an invalid parameter: .*'n_hidden'.*10000000"):
        load_model(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_linear_model_with_non_finite_weights_is_refused(tmp_path, data, bad):
    m = get_method("CCA-ITQ", n_bits=8, random_state=0).fit(*data)
    with np.load(m.save(tmp_path / "m.npz")) as z:
        key = next(k for k in z.files if k.startswith("d:projections_"))
        w = z[key].copy()
    w[0, 0] = bad
    path = _tamper(tmp_path / "m.npz", tmp_path / "t.npz", arrays={key: w})
    with pytest.raises(ValueError, match=rf"t\.npz: array '{key}' holds 1 non-finite value"):
        load_model(path)


def test_model_with_a_huge_member_is_refused_before_inflating(tmp_path, data, monkeypatch):
    from cmh_core._io import MEMORY_BUDGET_ENV

    monkeypatch.setenv(MEMORY_BUDGET_ENV, str(50 * 10**6))
    m = get_method("CCA-ITQ", n_bits=8, random_state=0).fit(*data)
    src = m.save(tmp_path / "m.npz")
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with zout.open("a:padding.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "<f8", "fortran_order": False, "shape": (25 * 10**6,)}
            )
            for _ in range(50):
                f.write(bytes(4 * 10**6))
    assert path.stat().st_size < 2 * 10**6
    tracemalloc.start()
    with pytest.raises(
        ValueError, match=r"bomb\.npz: array 'a:padding' declares shape \(25000000,\).*200\.0 MB"
    ):
        load_model(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5 * 10**6


def test_hamming_search_clips_k_to_the_database():
    """k = 10**9 used to allocate 7 GiB of padding; padding now stops at max(n_db, 1024) columns."""
    from cmh_core.hamming import MISSING_DISTANCE, search

    q, db = np.zeros((3, 4), np.uint8), np.arange(40, dtype=np.uint8).reshape(10, 4)
    for backend in ("numpy", "faiss"):
        tracemalloc.start()
        D, I = search(q, db, 10**9, backend=backend)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert D.shape == I.shape == (3, 1024) and peak < 10**6
        assert sorted(I[0, :10].tolist()) == list(range(10))
        assert (I[:, 10:] == -1).all() and (D[:, 10:] == MISSING_DISTANCE).all()
    big = np.arange(5000 * 2, dtype=np.uint16).view(np.uint8).reshape(5000, 4)
    D, I = search(q, big, 10**9)
    assert I.shape == (3, 5000) and (I >= 0).all()  # every database row, no padding


def test_unknown_words_error_quotes_at_most_80_characters():
    from cmh_core.datasets import featurize_text, load_dataset

    ds = load_dataset("tuxpaint")
    query = "zzqx " * 20_000
    with pytest.raises(ValueError) as e:
        featurize_text(ds, query)
    assert len(str(e.value)) < 600 and "zzqx" in str(e.value)
