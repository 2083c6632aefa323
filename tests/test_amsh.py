"""AMSH: objective monotonicity, the objective against an n×n oracle, quality on tuxpaint, unpaired
training, unequal modality sizes and errors.

On tuxpaint (630 training rows, fewer than the 1,500 anchors and the 1,000-row PCA sample) every
row is an anchor and in the PCA sample; the seed still moves the fit through the start vector of
``eigs`` (the signs of the PCA start), as it moves the authors' code under Octave. Quality
numbers are printed with ``pytest -s``.
"""

from __future__ import annotations

import numpy as np
import pytest

from cmh_core.datasets import load_dataset, make_synthetic
from cmh_core.evaluation import evaluate
from cmh_core.experiment import run_experiment
from cmh_core.methods import _amsh_steps, get_method
from cmh_core.methods._amsh_steps import label_factors, pca_init, sgn, step1_objective
from cmh_core.methods._latent import fit_rbf_anchors, rbf_anchor_features
from cmh_core.methods.amsh import AMSH

SMALL = {"n_anchors": 200, "pca_sample": 300}


@pytest.fixture(scope="module")
def syn():
    ds = make_synthetic(n=1200, d_img=64, d_txt=40, n_labels=10, random_state=0)
    tr = ds.split.train
    return ds.image_features[tr], ds.text_features[tr], ds.labels[tr]


@pytest.fixture(scope="module")
def tux():
    return load_dataset("tuxpaint")


# ---------------------------------------------------------------- objective
@pytest.mark.parametrize("unpaired", [False, True])
def test_objectives_never_increase(syn, unpaired):
    X1, X2, Y = syn
    calls = []
    m = AMSH(n_bits=16, random_state=0, **SMALL)
    if unpaired:  # different sizes, no pairing: drop 150 texts and shuffle the rest
        p = np.random.default_rng(1).permutation(len(X2))[150:]
        m.fit(X1, X2[p], Y, Y_txt=Y[p], callback=lambda *a: calls.append(a))
    else:
        m.fit(X1, X2, Y, callback=lambda *a: calls.append(a))
    its = [c[0] for c in calls]
    assert its == list(range(1, m.n_iter + m.n_iter_hash + 1))
    step1, step2 = np.array([c[1] for c in calls[: m.n_iter]]), np.array([c[1] for c in calls[m.n_iter :]])
    np.testing.assert_array_equal(step1, m.objective_)
    np.testing.assert_array_equal(step2, m.hash_objective_)
    for J in (step1, step2):
        assert np.all(np.diff(J) <= 1e-9 * np.abs(J[:-1])), np.diff(J)
        assert J[-1] < J[0]  # and it does decrease


def test_step1_objective_matches_dense_oracle():
    """The factorised objective equals the formula with explicit n×n similarity matrices."""
    rng = np.random.default_rng(0)
    r, c, n1, n2 = 5, 4, 30, 23
    Ys = [(rng.random((n, c)) < 0.4).astype(np.float64) for n in (n1, n2)]
    L, R, N = zip(*(label_factors(y) for y in Ys), strict=True)
    V = [rng.standard_normal((r, n)) for n in (n1, n2)]
    B = [sgn(rng.standard_normal((r, n))) for n in (n1, n2)]
    E = [np.abs(rng.standard_normal((c, n))) for n in (n1, n2)]
    P = [rng.standard_normal((c, r)) for _ in range(2)]
    lam, eta, beta = 0.3, 0.7, 0.2
    want = 0.0
    for m in range(2):
        S = N[m].T @ N[m]  # n_m × n_m, only in the oracle
        want += np.sum((L[m] + R[m] * E[m] - P[m] @ V[m]) ** 2) + lam * np.sum((r * S - V[m].T @ B[m]) ** 2)
        want += eta * np.sum((B[m] - V[m]) ** 2)
    want += beta * np.sum((r * N[1].T @ N[0] - V[1].T @ V[0]) ** 2)
    got = step1_objective(L, R, N, P, V, B, E, r, lam, eta, beta)
    assert got == pytest.approx(want, rel=1e-10)


def _dense_amsh(Phi, Ys, V, r, lam=1e-3, eta=1.0, beta=1e-3, n_iter=15):
    """Oracle for tiny n: the steps of the AMSH docstring written densely (explicit n×n S, inverses, SVD).

    Phi: two (n_m, m) kernel features; Ys: two (n_m, c) label matrices; V: two (r, n_m) starts.
    Returns the training codes B_m (r, n_m) and the hash maps F_m (r, m).
    """
    X = [p.T.astype(np.float64) for p in Phi]  # (m, n_m), the code's layout
    L = [y.T.astype(np.float64) for y in Ys]
    R = [2 * x - 1 for x in L]
    N = [x / np.linalg.norm(x, axis=0) for x in L]
    S = {(a, b): N[a].T @ N[b] for a in range(2) for b in range(2)}  # n_a × n_b
    V = [v.copy() for v in V]
    B, E = [sgn(v) for v in V], [np.zeros_like(x) for x in L]
    for _ in range(n_iter):
        P = [(L[m] + R[m] * E[m]) @ V[m].T @ np.linalg.inv(V[m] @ V[m].T) for m in range(2)]
        for m, o in ((0, 1), (1, 0)):
            Z = (
                P[m].T @ (L[m] + R[m] * E[m])
                + lam * r * B[m] @ S[m, m]
                + eta * B[m]
                + beta * r * V[o] @ S[o, m]
            )
            U, _, Qt = np.linalg.svd((Z - Z.mean(axis=1, keepdims=True)).T, full_matrices=False)
            V[m] = np.sqrt(Z.shape[1]) * (U @ Qt).T
        B = [sgn(lam * r * V[m] @ S[m, m] + eta * V[m]) for m in range(2)]
        E = [np.maximum((P[m] @ V[m] - L[m]) * R[m], 0) for m in range(2)]
    M, F = [np.zeros_like(b) for b in B], [None, None]
    for _ in range(n_iter):
        for m in range(2):
            T = B[m] + B[m] * M[m]
            F[m] = T @ X[m].T @ np.linalg.inv(X[m] @ X[m].T + 0.01 * np.eye(len(X[m])))
            M[m] = np.maximum((F[m] @ X[m] - B[m]) * B[m], 0)
    return B, F


@pytest.mark.parametrize("weights", [{}, {"beta": 0.3, "lam": 0.05, "eta": 0.5}])
def test_port_matches_dense_oracle(syn, weights):
    """On a tiny unpaired set (every row an anchor and in the PCA sample, so no draw matters) the
    fitted codes agree with the dense oracle; only float32 rounding in the kernel products could
    flip a bit. The heavier weights make every term count (with the defaults, β = 0 in the oracle
    would agree too; with these, dropping β, λ or changing η moves 3-30% of the bits)."""
    X1, X2, Y = syn
    p = np.random.default_rng(4).permutation(len(X2))[:70]
    data = [(X1[:90], Y[:90]), (X2[p], Y[p])]
    model = AMSH(n_bits=8, random_state=0, **weights)
    model.fit(data[0][0], data[1][0], data[0][1], Y_txt=data[1][1])
    rng = np.random.default_rng(0)
    Phi = [fit_rbf_anchors(X, 1500, rng, return_features=True)[1] for X, _ in data]
    V0 = [pca_init(F, 8, 1000, rng) for F in Phi]
    B, F = _dense_amsh(Phi, [y for _, y in data], V0, 8, **weights)
    Xq = [X1[200:260], X2[200:260]]
    for m, mod in enumerate(("image", "text")):
        got = np.unpackbits(model.train_codes_[mod], axis=1)[:, :8].astype(bool)
        assert np.mean(got == (B[m].T > 0)) >= 0.99
        q_want = rbf_anchor_features(Xq[m], _state(model, mod)).astype(np.float64) @ F[m].T >= 0
        q_got = np.unpackbits(model.encode(Xq[m], mod), axis=1)[:, :8].astype(bool)
        assert np.mean(q_got == q_want) >= 0.99


def _state(model: AMSH, mod: str) -> dict:
    return {"anchors": model.anchors_[mod], "sigma": model.sigma_[mod], "mean": model.kernel_mean_[mod]}


# ---------------------------------------------------------------- quality on tuxpaint
@pytest.mark.slow
def test_tuxpaint_beats_random_codes(tux):
    tr, runs = tux.split.train, {"AMSH": [], "RandomCodes": []}
    for seed in (0, 1, 2):
        for name in runs:
            m = get_method(name, n_bits=32, random_state=seed)
            m.fit(tux.image_features[tr], tux.text_features[tr], tux.labels[tr])
            rep = evaluate(m, tux)
            runs[name].append((rep["i2t"]["mAP"], rep["t2i"]["mAP"]))
    amsh, chance = np.mean(runs["AMSH"], axis=0), np.mean(runs["RandomCodes"], axis=0)
    print(f"\ntuxpaint 32 bits, mAP I→T/T→I: AMSH {amsh.round(3)}, RandomCodes {chance.round(3)}")
    assert np.all(amsh >= chance + 0.10), (amsh, chance)


@pytest.mark.slow
def test_unpaired_keeps_most_of_paired_map(tux):
    """Fully unpaired training keeps >= 85% of the paired mAP at 64 bits (mean over seeds 0-4).

    Through the user's path: `run_experiment(unpaired=1.0)` shuffles every training text away from
    its image (`cmh_core.datasets.unpair`) and evaluates with each modality's own training order
    (`evaluate(train_index=...)`), so the database codes carry their own rows' labels, as in the
    AMSH demo.
    """
    ratios = {}
    for bits in (64,):  # the bar is set at 64 bits (32 bits: docs/methods/amsh.md)
        paired, unpaired = [], []
        for seed in range(5):
            for frac, out in ((0.0, paired), (1.0, unpaired)):
                run = run_experiment(tux, "AMSH", n_bits=bits, seed=seed, unpaired=frac)
                out.append((run.map_i2t, run.map_t2i))
        p, u = np.mean(paired, axis=0), np.mean(unpaired, axis=0)
        ratios[bits] = u / p
        print(f"\n{bits} bits: paired {p.round(3)}, unpaired {u.round(3)}, ratio {ratios[bits].round(3)}")
    assert np.all(ratios[64] >= 0.85), ratios


# ---------------------------------------------------------------- unequal sizes, determinism, errors
@pytest.mark.slow
def test_unequal_sizes_train_and_encode(syn):
    X1, X2, Y = syn
    p = np.random.default_rng(3).permutation(len(X2))[:500]
    a = AMSH(n_bits=24, random_state=5, **SMALL).fit(X1, X2[p], Y, Y_txt=Y[p])
    b = AMSH(n_bits=24, random_state=5, **SMALL).fit(X1, X2[p], Y, Y_txt=Y[p])
    assert a.train_codes_["image"].shape == (len(X1), 3) and a.train_codes_["text"].shape == (500, 3)
    assert a.projections_["text"].shape == (200, 24)
    for mod, X in (("image", X1[:50]), ("text", X2[:50])):
        np.testing.assert_array_equal(a.encode(X, mod), b.encode(X, mod))
        np.testing.assert_array_equal(a.train_codes_[mod], b.train_codes_[mod])
    c = AMSH(n_bits=24, random_state=6, **SMALL).fit(X1, X2[p], Y, Y_txt=Y[p])
    assert (c.train_codes_["image"] != a.train_codes_["image"]).any()


@pytest.mark.slow
def test_seed_drives_the_eigs_start_on_tuxpaint(tux, monkeypatch):
    """Every tuxpaint row is an anchor and in the PCA sample, yet seeds differ, through one draw:
    the start vector of ``eigs``. Same seed, same codes; two seeds, other codes; with the start
    vector's draw replaced by a dense eigensolver (no draw) the two seeds agree bit for bit."""
    tr = tux.split.train
    data = (tux.image_features[tr], tux.text_features[tr], tux.labels[tr])

    def codes(seed: int) -> dict[str, np.ndarray]:
        return AMSH(n_bits=16, random_state=seed).fit(*data).train_codes_

    a, b, c = codes(0), codes(0), codes(1)
    for mod in ("image", "text"):
        np.testing.assert_array_equal(a[mod], b[mod])
    assert any((a[mod] != c[mod]).any() for mod in ("image", "text"))

    def no_draw(C, r, rng):  # the eig path of eigs.m: no start vector
        m = C.shape[0]
        return np.linalg.eigh(C)[1][:, m - r :][:, ::-1]

    monkeypatch.setattr(_amsh_steps, "_top_eigenvectors", no_draw)
    d, e = codes(0), codes(1)
    for mod in ("image", "text"):
        np.testing.assert_array_equal(d[mod], e[mod])


def test_top_eigenvectors_are_eigs(monkeypatch):
    """The ARPACK path returns the leading eigenvectors (up to sign) in decreasing order; the start
    vector, drawn from the generator, sets their signs; 2r >= m takes the dense path (no draw)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 60)) * np.linspace(3, 0.2, 60)
    C = np.cov(A, rowvar=False)
    want = np.linalg.eigh(C)[1][:, ::-1][:, :8]
    signs = []
    for seed in range(6):
        W = _amsh_steps._top_eigenvectors(C, 8, np.random.default_rng(seed))
        np.testing.assert_allclose(np.abs(np.sum(W * want, axis=0)), 1.0, atol=1e-8)
        signs.append(np.sign(np.sum(W * want, axis=0)))
    assert len({tuple(s) for s in signs}) > 1  # the start vector moves the signs
    gen = np.random.default_rng(0)
    dense = _amsh_steps._top_eigenvectors(C, 30, gen)  # 2r = m: eigs.m calls eig
    assert gen.uniform() == np.random.default_rng(0).uniform()  # nothing drawn
    np.testing.assert_allclose(
        np.abs(np.sum(dense * np.linalg.eigh(C)[1][:, ::-1][:, :30], 0)), 1.0, atol=1e-8
    )


@pytest.mark.slow
def test_paired_fit_is_unpaired_fit_with_the_same_labels(syn):
    """Pairing is never used: passing Y as Y_txt gives exactly the paired fit."""
    X1, X2, Y = syn
    a = AMSH(n_bits=16, random_state=0, **SMALL).fit(X1, X2, Y)
    b = AMSH(n_bits=16, random_state=0, **SMALL).fit(X1, X2, Y, Y_txt=Y)
    for mod in ("image", "text"):
        np.testing.assert_array_equal(a.train_codes_[mod], b.train_codes_[mod])


def test_errors(syn):
    X1, X2, Y = syn
    with pytest.raises(
        ValueError, match=r"n_bits=48 is too large.*largest is 40 \(.*n_anchors\); use n_bits <= 40"
    ):
        AMSH(n_bits=48, n_anchors=40).fit(X1, X2, Y)
    with pytest.raises(
        ValueError, match=r"n = 100 training items.*the largest is 99 "
    ):  # the smaller modality counts
        AMSH(n_bits=128).fit(X1, X2[:100], Y, Y_txt=Y[:100])
    for bad in ({"beta": -1.0}, {"n_iter": 0}, {"n_anchors": 0}, {"eta": "big"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            AMSH(n_bits=8, **bad).fit(X1, X2, Y)
    assert AMSH(n_anchors=200).max_n_bits({"image": 64, "text": 40}, 150) == 149
    assert AMSH(n_anchors=200).max_n_bits({"image": 64, "text": 40}, 5000) == 200
