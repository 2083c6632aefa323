"""The method contract, checked for every registered method (scikit-learn's ``check_estimator``,
rewritten for two views). A new method added to `METHODS` is checked automatically."""

from __future__ import annotations

import json
import math
import re
import tracemalloc
from numbers import Integral

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from cmh_core.datasets import make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.methods import METHODS, CrossModalHasher, get_method, load_model
from cmh_core.methods._constraints import Interval, StrOptions, make_constraint

NAMES = list(METHODS)
BITS = 16
# Anchor methods draw anchors and samples only from sets larger than their counts (on these small
# sets every row is used and the seed has no effect), and their n×m kernel features are n×n-sized
# when m is capped at n: use small counts where the seed or the memory is checked.
SMALL = {
    "AMSH": {"n_anchors": 100, "pca_sample": 200},
    "HPsEH": {"n_anchors": 100},
    "CSMH": {"n_anchors": 100},
}
# Deep (torch) methods train for seconds with their defaults: the contract is checked with a few
# epochs of a narrow network, everywhere a method is fitted here (quality at the defaults is asserted
# in the method's own test file, on tuxpaint).
DEEP = {
    "DCMH": {"n_epochs": 5, "n_hidden": 128, "device": "cpu"},
    "SDEH": {"n_epochs": 5, "hidden_dim": 32, "device": "cpu"},
}
SMALL.update(DEEP)
#: Methods whose fits on `synthetic_ds` take seconds each on 2 cores (kernel and anchor methods, deep
#: nets): every check that fits one is marked ``slow`` for them, so the everyday tier keeps the
#: contract of the others plus every method's fit-free checks; CI runs all (docs/contributing.md).
HEAVY = {"CSMH", "HPsEH", "JSPSH", "AMSH", "SDEH"}


def _fits(names: list[str]) -> list:
    """``names`` as parameters, those in `HEAVY` marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


FITS = _fits(NAMES)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Deep methods train with one torch thread here: 8 parallel jobs on 2 cores made 2 threads
    9-76x slower (busy-waiting OpenMP threads), and timing is not what these tests check."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ds(synthetic_ds):
    return synthetic_ds


@pytest.fixture(scope="module")
def train(ds):
    tr = ds.split.train
    return ds.image_features[tr], ds.text_features[tr], ds.labels[tr]


@pytest.fixture(scope="module")
def fitted(synthetic_fitted):
    """``fitted(name, train, **params)``: cached fit (16 bits, seed 0 unless given); do not mutate."""

    def get(name, train, **params):
        return synthetic_fitted(name, **{"n_bits": BITS, "random_state": 0, **DEEP.get(name, {}), **params})

    return get


# ---------------------------------------------------------------- estimator shape
@pytest.mark.parametrize("name", NAMES)
def test_init_stores_params_only(name):
    cls = METHODS[name]
    m = cls()
    assert not [k for k in vars(m) if k.endswith("_")], "__init__ must not set fitted attributes"
    assert set(vars(m)) == set(cls._get_param_names())
    params = m.get_params()
    assert cls(**params).get_params() == params
    c = clone(get_method(name, n_bits=24, random_state=3))
    assert c.get_params()["n_bits"] == 24 and c.get_params()["random_state"] == 3
    assert repr(m).startswith(cls.__name__)


@pytest.mark.parametrize("name", NAMES)
def test_class_attributes(name):
    cls = METHODS[name]
    assert cls.name == name
    assert isinstance(cls.supports_unpaired, bool)
    assert cls.fidelity in {"reference-code", "reconstructed from abstract", "classic baseline"}
    assert {"title", "authors", "venue", "year", "idea"} <= set(cls.paper)
    assert "doi" in cls.paper or "url" in cls.paper
    assert "References" in (__import__(cls.__module__, fromlist=["x"]).__doc__ or "")


@pytest.mark.parametrize("name", FITS)
def test_fit_returns_self_and_keeps_params(name, train):
    m = get_method(name, n_bits=BITS, random_state=0, **DEEP.get(name, {}))
    before = m.get_params()
    assert m.fit(*train) is m
    assert m.get_params() == before


@pytest.mark.parametrize("name", NAMES)
def test_not_fitted(name, ds, tmp_path):
    m = get_method(name, n_bits=BITS)
    with pytest.raises(NotFittedError):
        m.encode(ds.image_features[:3], "image")
    with pytest.raises(NotFittedError):
        m.save(tmp_path / "m.npz")


# ---------------------------------------------------------------- output shape
@pytest.mark.parametrize("name", FITS)
@pytest.mark.parametrize("bits", [16, 32, 20])
def test_encode_dtype_and_shape(name, bits, ds, train, fitted):
    m = fitted(name, train, n_bits=bits)
    n_bytes = math.ceil(m.code_length / 8)
    assert m.code_length == get_method(name, n_bits=bits).code_length >= bits  # K = 20 r for JSPSH
    for mod, X in (("image", ds.image_features[:7]), ("text", ds.text_features[:7])):
        codes = m.encode(X, mod)
        assert codes.dtype == np.uint8 and codes.shape == (7, n_bytes)
    n_train = train[0].shape[0]
    assert set(m.train_codes_) == {"image", "text"}
    for codes in m.train_codes_.values():
        assert codes.dtype == np.uint8 and codes.shape == (n_train, n_bytes)
    assert m.n_features_in_ == {"image": train[0].shape[1], "text": train[1].shape[1]}
    if m.code_length % 8:  # padding bits stay 0
        assert not (m.train_codes_["image"][:, -1] & ((1 << (8 - m.code_length % 8)) - 1)).any()


@pytest.mark.parametrize("name", FITS)
def test_encode_rejects_bad_input(name, ds, train, fitted):
    m = fitted(name, train)
    with pytest.raises(ValueError, match="features"):
        m.encode(ds.image_features[:3, :-1], "image")
    with pytest.raises(ValueError, match="features"):
        m.encode(ds.image_features[:3], "text")  # 48 columns, text has 32
    with pytest.raises(ValueError, match="modality"):
        m.encode(ds.image_features[:3], "audio")
    X = ds.image_features[:3].copy()
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.encode(X, "image")


# ---------------------------------------------------------------- bad fit inputs
@pytest.mark.parametrize("name", NAMES)
def test_fit_rejects_bad_input(name, train):
    X1, X2, Y = train
    m = get_method(name, n_bits=BITS, random_state=0)
    bad = X1.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(bad, X2, Y)
    Y2 = Y.astype(np.int64)
    Y2[0, 0] = 2
    with pytest.raises(ValueError, match="0 and 1"):
        m.fit(X1, X2, Y2)
    with pytest.raises(ValueError, match="row"):
        m.fit(X1, X2, Y[:-1])
    default = METHODS[name]().n_bits  # the message suggests the class's own default
    for n_bits in (0, -8):
        with pytest.raises(ValueError, match=f"'n_bits'.*Got {n_bits} instead.*n_bits={default}"):
            get_method(name, n_bits=n_bits).fit(X1, X2, Y)
    with pytest.raises(ValueError, match="2.5"):
        get_method(name, n_bits=2.5).fit(X1, X2, Y)
    with pytest.raises(ValueError, match="callable"):
        m.fit(X1, X2, Y, callback="print")


def _out_of_range(constraints: list) -> list:
    """Values that satisfy none of a parameter's constraints, derived from its Intervals/StrOptions."""
    candidates: list = ["not-a-valid-value", [1]]
    for c in constraints:
        if isinstance(c, Interval):
            for end, step in ((c.left, -1), (c.right, 1)):
                if end is not None:
                    candidates += [end, end + step]
            if c.type is Integral:
                candidates.append((c.left if c.left is not None else 0) + 1.5)  # not an integer
        elif isinstance(c, StrOptions):
            candidates.append("".join(sorted(c.options)) + "-x")
    if None not in constraints:
        candidates.append(None)
    checks = [make_constraint(c) for c in constraints]
    return [v for v in candidates if not any(ch.is_satisfied_by(v) for ch in checks)]


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_has_constraints(name):
    """A method that adds a parameter must declare its valid range in ``_parameter_constraints``."""
    cls = METHODS[name]
    assert set(cls._parameter_constraints) == set(cls._get_param_names())  # incl. n_bits, random_state
    defaults = cls().get_params()
    cls(**defaults)._validate_hyperparams()  # the paper defaults are valid


@pytest.mark.parametrize("name", NAMES)
def test_out_of_range_parameters_refused(name, train):
    """Every out-of-range value gets a ValueError naming the parameter and the value, before any work."""
    cls = METHODS[name]
    tried = 0
    for key, constraints in cls._parameter_constraints.items():
        for bad in _out_of_range(constraints):
            m = get_method(name, **{key: bad})
            with pytest.raises(ValueError, match=f"'{key}'.*{re.escape(repr(bad))}") as info:
                m.fit(*train)
            assert "must be" in str(info.value)
            assert not [k for k in vars(m) if k.endswith("_")], "nothing may be fitted after a refusal"
            tried += 1
    assert tried >= 2 * len(cls._parameter_constraints)


def test_bool_is_not_an_integer(train):
    for name in NAMES:
        for key, constraints in METHODS[name]._parameter_constraints.items():
            if (
                any(isinstance(c, Interval) and c.type is Integral for c in constraints)
                and None not in constraints
            ):
                with pytest.raises(ValueError, match=f"'{key}'.*bool.*True"):
                    get_method(name, **{key: True}).fit(*train)


@pytest.mark.parametrize("name", FITS)
def test_fitted_attributes_declared(name, train, fitted):
    """``_fitted_attributes`` lists exactly what fit sets, so save/load can check every one."""
    m = fitted(name, train)
    assert {k for k in vars(m) if k.endswith("_") and not k.startswith("_")} == set(m._fitted_attributes)


@pytest.mark.parametrize("name", FITS)
def test_max_n_bits_refused_up_front(name, train):
    X1, X2, Y = train
    nf, n = {"image": X1.shape[1], "text": X2.shape[1]}, X1.shape[0]
    m = get_method(name, random_state=0)
    limit = m.max_n_bits(nf, n)
    assert type(limit) is int and limit >= 1
    if limit <= 512:  # the largest accepted length works
        ok = get_method(name, n_bits=limit, random_state=0, **DEEP.get(name, {}))
        assert ok.fit(*train).code_length == ok.code_length >= limit  # sparse codes: K > r
    too_many = get_method(name, n_bits=limit + 1)
    with pytest.raises(
        ValueError, match=f"n_bits={limit + 1}.*{name}.*largest is {limit} .*n_bits <= {limit}"
    ):
        too_many.fit(*train)
    assert not hasattr(too_many, "train_codes_")


@pytest.mark.parametrize("name", [n for n in NAMES if not METHODS[n].supports_unpaired])
def test_unpaired_data_refused(name, train):
    X1, X2, Y = train
    m = get_method(name, n_bits=BITS)
    with pytest.raises(ValueError, match="paired.*Y_txt.*supports_unpaired"):
        m.fit(X1, X2, Y, Y_txt=Y)
    with pytest.raises(ValueError, match="paired.*rows.*supports_unpaired"):
        m.fit(X1, X2[:-10], Y)


# ---------------------------------------------------------------- determinism and persistence
@pytest.mark.parametrize("name", FITS)
def test_same_seed_same_codes(name, ds, train, fitted):
    small = SMALL.get(name, {})
    a = fitted(name, train, **small)
    b = get_method(name, n_bits=BITS, random_state=0, **small).fit(*train)
    for mod in ("image", "text"):
        np.testing.assert_array_equal(a.train_codes_[mod], b.train_codes_[mod])
    X = ds.image_features[ds.split.query]
    np.testing.assert_array_equal(a.encode(X, "image"), b.encode(X, "image"))
    np.testing.assert_array_equal(a.encode(X, "image"), a.encode(X, "image"))
    c = get_method(name, n_bits=BITS, random_state=1, **small).fit(*train)
    differs = any((a.train_codes_[m] != c.train_codes_[m]).any() for m in ("image", "text"))
    # a method declared deterministic must ignore the seed; every other one must use it
    assert differs != getattr(METHODS[name], "deterministic", False)


@pytest.mark.parametrize("name", FITS)
def test_save_load_round_trip(name, ds, train, tmp_path, fitted):
    m = fitted(name, train, n_bits=20)
    path = m.save(tmp_path / "model")
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as z:  # no pickle anywhere
        assert all(z[k].dtype != object for k in z.files)
    for loaded in (load_model(path), METHODS[name].load(path), CrossModalHasher.load(path)):
        assert type(loaded) is type(m) and loaded.get_params() == m.get_params()
        assert loaded.code_length == m.code_length
        for mod, X in (("image", ds.image_features), ("text", ds.text_features)):
            np.testing.assert_array_equal(loaded.encode(X, mod), m.encode(X, mod))
            np.testing.assert_array_equal(loaded.train_codes_[mod], m.train_codes_[mod])


@pytest.mark.parametrize("name", FITS)
def test_load_refuses_other_method_and_version(name, train, tmp_path, fitted):
    m = fitted(name, train)
    path = m.save(tmp_path / "m.npz")
    other = next(cls for n, cls in METHODS.items() if n != name)
    with pytest.raises(ValueError, match=f"holds a {name} model, not {other.name}.*load_model"):
        other.load(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["__cmh_meta__"]))
    meta["format_version"] = 999
    arrays["__cmh_meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="format version 999"):
        load_model(tmp_path / "future.npz")
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a cmh_core model"):
        load_model(tmp_path / "plain.npz")


def _tamper(path, out, change):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("name", FITS)
def test_load_refuses_tampered_files(name, train, tmp_path, fitted):
    m = fitted(name, train)
    path = m.save(tmp_path / "m.npz")
    r = m.code_length_

    def extra(a):
        a["a:evil_"] = np.zeros(3)

    def missing(a):
        del a["d:train_codes_:text"]

    def wrong_shape(a):
        a["d:train_codes_:image"] = a["d:train_codes_:image"][:, :-1]

    def stray_key(a):
        a["x"] = np.zeros(2)

    for change, pattern in (
        (extra, r"unexpected: \['a:evil_'\]"),
        (missing, r"missing: \['d:train_codes_:text'\]"),
        (wrong_shape, rf"train_codes_\['image'\] should be array\(\*, b\) with r = {r}"),
        (stray_key, r"unexpected: \['x'\]"),
    ):
        bad = _tamper(path, tmp_path / f"{change.__name__}.npz", change)
        with pytest.raises(ValueError, match=pattern):
            load_model(bad)
    for attr, kind in m._fitted_attributes.items():  # every declared array's shape is checked
        if "array" not in kind:
            continue
        dims = [x.strip() for x in kind.split("(")[1].split(")")[0].split(",")]
        if "d" in dims:
            key = f"d:{attr}:text" if kind.startswith("{") else f"a:{attr}"
            axis = dims.index("d")  # shrink the feature axis, wherever it stands

            def shrink(a, key=key, axis=axis):
                a[key] = np.delete(a[key], -1, axis=axis)

            with pytest.raises(ValueError, match=f"{attr}.*should be array"):
                load_model(_tamper(path, tmp_path / "shrunk.npz", shrink))


def test_load_refuses_files_that_are_not_models(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a cmh_core model file.*empty"):
        load_model(tmp_path / "empty.npz")
    (tmp_path / "notes.npz").write_text("just some text\n")
    with pytest.raises(ValueError, match="not a cmh_core model file.*not a zip") as info:
        load_model(tmp_path / "notes.npz")
    assert "pickle" not in str(info.value)
    with pytest.raises(ValueError, match="is a directory"):
        load_model(tmp_path)


# ---------------------------------------------------------------- callback, quality, memory
@pytest.mark.parametrize("name", FITS)
def test_callback(name, train):
    calls = []
    m = get_method(name, n_bits=BITS, random_state=0, **DEEP.get(name, {}))
    m.fit(*train, callback=lambda *a: calls.append(a))
    assert calls
    for it, obj, elapsed in calls:
        assert type(it) is int and type(obj) is float and type(elapsed) is float
        assert elapsed >= 0
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


@pytest.fixture(scope="module")
def chance(ds, train, fitted):
    rep = evaluate(fitted("RandomCodes", train), ds)
    return rep["i2t"]["mAP"], rep["t2i"]["mAP"]


@pytest.mark.parametrize("name", _fits([n for n in NAMES if n != "RandomCodes"]))
def test_beats_random_codes(name, ds, train, chance, fitted):
    rep = evaluate(fitted(name, train), ds)
    assert rep["i2t"]["mAP"] >= chance[0] + 0.05, (rep["i2t"]["mAP"], chance)
    assert rep["t2i"]["mAP"] >= chance[1] + 0.05, (rep["t2i"]["mAP"], chance)


# the seed methods whose abstracts claim scalability are also capped at the n = 20,000 (slow)
AT_SCALE = [
    pytest.param(name, 20_000, id=f"{name}-20000", marks=pytest.mark.slow) for name in ("HPsEH", "CSMH")
]


@pytest.mark.parametrize(
    ("name", "n"),
    [
        pytest.param(name, 4000 if name in SMALL else 1500, marks=[pytest.mark.slow] if name in HEAVY else [])
        for name in NAMES
    ]
    + AT_SCALE,
)
def test_no_n_by_n_array(name, n):
    """Peak traced memory of fit stays far below one n×n float32 matrix (n = 1,500, d ≤ 40).

    Anchor methods (`SMALL`) keep n×m kernel features and several r×n float64 factors per modality,
    a few KB per sample, so they are checked at n = 4,000, where n×n/4 is 16 MB. HPsEH and CSMH are
    also fitted at n = 20,000 (1,000 anchors, 32 bits, 3 iterations) under half of one n×n float32
    array (800 MB): their n×1,000 float64 kernel features alone take 320 MB there.
    """
    if n == 20_000:
        d = make_synthetic(n=n, d_img=64, d_txt=48, n_labels=24, random_state=0, query_fraction=0.0001)
        m = get_method(name, n_bits=32, n_iter=3, random_state=0)
    else:
        d = make_synthetic(n=n, d_img=40, d_txt=24, n_labels=6, random_state=1, query_fraction=0.01)
        m = get_method(name, n_bits=BITS, random_state=0, **SMALL.get(name, {}))
    tracemalloc.start()
    try:
        m.fit(d.image_features, d.text_features, d.labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a method's own (n, code_length) float64 work arrays are O(n) too, but JSPSH's K = 20 r = 320
    # sparse bits make them large at this n (tests/test_jspsh.py checks JSPSH at a larger n)
    allowed = n * n * 4 / 2 if n == 20_000 else max(n * n * 4 / 4, 10 * n * m.code_length * 8)
    print(f"\n{name} fit at n = {n}: peak traced {peak / 2**20:.1f} MiB (allowed {allowed / 2**20:.0f})")
    assert peak < allowed, f"peak {peak / 1e6:.1f} MB suggests an n×n array"


# ---------------------------------------------------------------- registry
def test_registry_names():
    assert {"RandomCodes", "CCA-ITQ", "SCM", "CMFH", "DCH"} <= set(METHODS)
    assert type(get_method("cca_itq")) is METHODS["CCA-ITQ"]
    assert type(get_method("CCAITQ")) is METHODS["CCA-ITQ"]
    assert type(get_method("random-codes")) is METHODS["RandomCodes"]
    assert get_method("dch", n_bits=64).n_bits == 64
    with pytest.raises(ValueError, match="unknown method 'nope'.*CCA-ITQ"):
        get_method("nope")
    with pytest.raises(ValueError, match="'bits'.*n_bits"):
        get_method("DCH", bits=32)
