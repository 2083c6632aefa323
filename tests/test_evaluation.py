"""cmh_core.evaluation against plain per-query loops (np.argsort(kind="stable")) and brute force."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmh_core.datasets import CrossModalDataset, Split
from cmh_core.evaluation import (
    average_precision,
    evaluate,
    graded_relevance,
    mean_average_precision,
    ndcg_at_k,
    per_query_ap,
    precision_at_k,
    precision_recall_curve,
    precision_within_radius,
    recall_at_k,
    relevance_from_labels,
    retrieval_codes,
)
from cmh_core.hamming import pack_bits

# -- oracles: one query at a time, stable argsort ---------------------------------------------


def ref_ranked(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x[np.argsort(d, kind="stable")]


def ref_ap(D, R, k=None) -> np.ndarray:
    return np.array([ap_of(ref_ranked(d, r.astype(bool)), k) for d, r in zip(D, R, strict=True)])


def ref_hits(D, R, k) -> np.ndarray:
    return np.array([ref_ranked(d, r.astype(bool))[:k].sum() for d, r in zip(D, R, strict=True)])


def ref_ndcg(D, G, k) -> np.ndarray:
    out = []
    for d, g in zip(D, G, strict=True):
        gains = 2.0 ** ref_ranked(d, g)[:k] - 1
        ideal = 2.0 ** np.sort(g)[::-1][:k] - 1
        disc = 1 / np.log2(np.arange(2, len(gains) + 2))
        idcg = ideal @ disc
        out.append(0.0 if idcg == 0 else (gains @ disc) / idcg)
    return np.array(out)


def brute_expected(d: np.ndarray, r: np.ndarray, metric) -> float:
    """Mean of metric(ranked relevance) over every order that sorts d (ties in all orders)."""
    vals = []
    for perm in itertools.permutations(range(len(d))):
        p = list(perm)
        if np.all(np.diff(d[p]) >= 0):
            vals.append(metric(r[p]))
    return float(np.mean(vals))


def ap_of(rel: np.ndarray, k=None) -> float:
    rel = rel[:k]
    n = rel.sum()
    return 0.0 if n == 0 else float(np.mean(np.cumsum(rel)[rel] / (np.flatnonzero(rel) + 1)))


def random_case(seed, n_q=13, n_db=250, n_bits=16, p_rel=0.2):
    rng = np.random.default_rng(seed)
    D = rng.binomial(n_bits, 0.4, (n_q, n_db)).astype(np.uint16)
    R = rng.random((n_q, n_db)) < p_rel
    R[0] = False  # a query with no relevant item
    return D, R


# -- average precision ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [None, 1, 7, 50, 249, 250, 1000])
def test_map_stable_matches_loop(seed, k):
    D, R = random_case(seed)
    m, ap = mean_average_precision(D, R, k=k, return_per_query=True)
    np.testing.assert_allclose(ap, ref_ap(D, R, k), atol=1e-12)
    assert abs(m - ref_ap(D, R, k).mean()) < 1e-9
    assert ap[0] == 0.0  # no relevant item: 0, and it is averaged


@pytest.mark.parametrize("k", [None, 1, 50, 1000])
def test_map_without_numba_matches_loop(monkeypatch, k):
    """The numpy fallback (stable radix argsort) used where numba is missing."""
    import cmh_core.evaluation as ev
    from cmh_core.evaluation import _average_precision

    monkeypatch.setattr(_average_precision, "_KERNEL", False)
    D, R = random_case(3)
    np.testing.assert_allclose(ev.average_precision(D, R, k=k), ref_ap(D, R, k), atol=1e-12)


def test_map_any_dtype_and_float_distances():
    D, R = random_case(7, n_bits=300)  # uint16 levels above 255
    ref = ref_ap(D, R).mean()
    for Dx in (D, D.astype(np.int64), D.astype(np.float64), D.astype(np.float32) / 7 - 3):
        assert abs(mean_average_precision(Dx, R) - ref) < 1e-9
    assert abs(mean_average_precision(D, R.astype(np.uint8)) - ref) < 1e-9


def test_map_chunked(monkeypatch):
    from cmh_core.evaluation import _ranking as ev

    monkeypatch.setattr(ev, "CHUNK", 300)  # one or two rows per block
    D, R = random_case(11)
    for ties in ("stable", "expected"):
        a = mean_average_precision(D, R, ties=ties)
        monkeypatch.setattr(ev, "CHUNK", 1 << 18)
        assert abs(a - mean_average_precision(D, R, ties=ties)) < 1e-12
        monkeypatch.setattr(ev, "CHUNK", 300)


def test_map_edge_cases():
    # perfect ranking, and the no-relevant query counting as 0
    D = np.array([[0, 1, 2, 3], [0, 1, 2, 3]])
    R = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    assert mean_average_precision(D, R) == 0.5
    # empty database: every query scores 0
    assert mean_average_precision(np.zeros((3, 0), np.uint16), np.zeros((3, 0), bool)) == 0.0
    assert mean_average_precision(np.zeros((3, 0)), np.zeros((3, 0)), ties="expected") == 0.0
    # all tied: stable = by index; expected = closed form for one group
    D, R = np.zeros((1, 4)), np.array([[0, 0, 1, 1]], bool)
    assert mean_average_precision(D, R) == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert mean_average_precision(D, R, ties="expected") == pytest.approx(
        brute_expected(D[0], R[0], ap_of), abs=1e-12
    )


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(1, 7),
    levels=st.integers(1, 4),
    k=st.one_of(st.none(), st.integers(1, 8)),
    seed=st.integers(0, 2**32 - 1),
)
def test_expected_ties_equals_brute_force(n, levels, k, seed):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, levels, n)
    r = rng.random(n) < rng.random()
    got = average_precision(d[None], r[None], k=k, ties="expected")[0]
    assert got == pytest.approx(brute_expected(d, r, lambda rel: ap_of(rel, k)), abs=1e-9)
    if k is not None:
        hits = precision_at_k(d[None], r[None], k, ties="expected") * k
        assert hits == pytest.approx(brute_expected(d, r, lambda rel: rel[:k].sum()), abs=1e-9)


def test_expected_equals_stable_without_ties():
    rng = np.random.default_rng(0)
    D = np.argsort(rng.random((5, 60)), axis=1)  # a permutation per row: no ties
    R = rng.random((5, 60)) < 0.3
    for k in (None, 10):
        assert mean_average_precision(D, R, k=k, ties="expected") == pytest.approx(
            mean_average_precision(D, R, k=k), abs=1e-12
        )


def test_expected_matches_monte_carlo_on_larger_case():
    # brute force is out of reach; compare against the stable AP under random index orders
    rng = np.random.default_rng(1)
    d, r = rng.integers(0, 4, 40), rng.random(40) < 0.4
    exact = average_precision(d[None], r[None], k=15, ties="expected")[0]
    perms = np.array([rng.permutation(40) for _ in range(4000)])
    sims = average_precision(d[perms], r[perms], k=15)
    assert abs(sims.mean() - exact) < 4 * sims.std() / np.sqrt(len(sims))


# -- precision / recall / curves --------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_precision_recall_at_k_match_loop(seed):
    D, R = random_case(seed)
    ks = [1, 5, 10, 100, 250, 400]
    total = R.sum(axis=1)
    for i, k in enumerate(ks):
        hits = ref_hits(D, R, k)
        assert precision_at_k(D, R, ks)[i] == pytest.approx((hits / k).mean(), abs=1e-12)
        rec = np.divide(hits, total, out=np.zeros(len(hits)), where=total > 0)
        assert recall_at_k(D, R, ks)[i] == pytest.approx(rec.mean(), abs=1e-12)
    assert isinstance(precision_at_k(D, R, 5), float)
    curve = precision_recall_curve(D, R, by="rank", ks=ks)
    np.testing.assert_allclose(curve["precision"], precision_at_k(D, R, ks))
    np.testing.assert_allclose(curve["recall"], recall_at_k(D, R, ks))


def test_precision_recall_curve_by_radius_matches_loop():
    D, R = random_case(3, n_bits=12)
    curve = precision_recall_curve(D, R, by="radius", max_radius=12)
    np.testing.assert_array_equal(curve["radius"], np.arange(13))
    for r in range(13):
        P, Rc, nonempty = [], [], 0
        for d, rel in zip(D, R, strict=True):
            inside = d <= r
            if inside.any():
                P.append(rel[inside].mean())
                nonempty += 1
            Rc.append(rel[inside].sum() / rel.sum() if rel.sum() else 0.0)
        assert curve["precision"][r] == pytest.approx(np.mean(P) if P else 0.0, abs=1e-12)
        assert curve["recall"][r] == pytest.approx(np.mean(Rc), abs=1e-12)
        assert curve["nonempty"][r] == pytest.approx(nonempty / len(D))
    assert curve["recall"][-1] == pytest.approx(np.mean(R.any(axis=1)))


def test_precision_within_radius_macro_micro():
    D, R = random_case(4, n_bits=10)
    for radius in (0, 2, 4):
        inside = D <= radius
        N, M = inside.sum(axis=1), (inside & R).sum(axis=1)
        macro = np.mean([m / n if n else 0.0 for m, n in zip(M, N, strict=True)])
        assert precision_within_radius(D, R, radius) == pytest.approx(macro, abs=1e-12)
        assert precision_within_radius(D, R, radius, "micro") == pytest.approx(M.sum() / max(N.sum(), 1))
    assert precision_within_radius(np.full((2, 3), 9), np.ones((2, 3), bool), 2) == 0.0


def test_ndcg_matches_loop():
    rng = np.random.default_rng(2)
    D = rng.integers(0, 9, (10, 120))
    G = rng.integers(0, 4, (10, 120)) * (rng.random((10, 120)) < 0.3)
    G[0] = 0
    for k in (1, 10, 120, 500):
        m, per = ndcg_at_k(D, G, k, return_per_query=True)
        np.testing.assert_allclose(per, ref_ndcg(D, G, k), atol=1e-12)
        assert per[0] == 0.0
    ideal = np.argsort(-G, axis=1, kind="stable").argsort(axis=1)  # distance = rank in the ideal order
    m, per = ndcg_at_k(ideal, G, 20, return_per_query=True)
    np.testing.assert_allclose(per, [0.0] + [1.0] * 9, atol=1e-12)  # query 0 has no gain: 0
    assert m == pytest.approx(0.9, abs=1e-12)


# -- relevance and validation -----------------------------------------------------------------


def test_relevance_from_labels():
    Yq = np.array([[1, 0, 0], [0, 1, 1]], np.uint8)
    Ydb = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]], np.uint8)
    np.testing.assert_array_equal(relevance_from_labels(Yq, Ydb), [[True, False, False], [True, True, False]])
    np.testing.assert_array_equal(graded_relevance(Yq, Ydb), [[1, 0, 0], [1, 1, 0]])
    with pytest.raises(ValueError, match=r"3 columns \(shape \(2, 3\)\).*4 \(shape \(3, 4\)\)"):
        relevance_from_labels(Yq, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        relevance_from_labels(np.zeros(3), Ydb)


def test_metrics_reject_bad_input():
    D, R = random_case(0)
    with pytest.raises(ValueError, match=r"shape \(13, 249\) but distances has shape \(13, 250\)"):
        mean_average_precision(D, R[:, :-1])
    with pytest.raises(ValueError, match="no query rows"):
        mean_average_precision(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="ties"):
        mean_average_precision(D, R, ties="optimistic")
    with pytest.raises(ValueError, match="k must be"):
        mean_average_precision(D, R, k=0)
    with pytest.raises(ValueError, match="NaN"):
        mean_average_precision(np.full((1, 2), np.nan), np.ones((1, 2)))
    with pytest.raises(ValueError, match="integer distances"):
        precision_within_radius(D / 2, R)
    with pytest.raises(ValueError, match="ks"):
        precision_at_k(D, R, [0, 3])


# -- the protocol on a tiny fake model --------------------------------------------------------


class FakeHasher:
    """Codes = one bit per label (plus noise bits): perfect for single-label items when noise=0."""

    def __init__(self, code_length=8, noise=0.0, seed=0, learned_noise=None):
        self.code_length, self.noise, self.seed = code_length, noise, seed
        self.learned_noise = noise if learned_noise is None else learned_noise

    def _codes(self, X, noise, salt):
        rng = np.random.default_rng(self.seed + salt + len(X))
        bits = np.zeros((len(X), self.code_length), bool)
        bits[:, : X.shape[1]] = X[:, : self.code_length] > 0.5
        bits ^= rng.random(bits.shape) < noise
        return pack_bits(bits)

    def fit(self, ds):
        tr = ds.split.train
        self.train_codes_ = {
            "image": self._codes(ds.image_features[tr], self.learned_noise, 1),
            "text": self._codes(ds.text_features[tr], self.learned_noise, 2),
        }
        return self

    def encode(self, X, modality="image"):
        return self._codes(X, self.noise, 3 if modality == "image" else 4)


def fake_dataset(n=200, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    Y = np.eye(c, dtype=np.uint8)[y]
    perm = rng.permutation(n)
    split = Split(query=np.sort(perm[:40]), database=np.sort(perm[40:]), train=np.sort(perm[40:140]))
    return CrossModalDataset(
        name="fake",
        image_features=Y.astype(np.float32),
        text_features=Y.astype(np.float32),
        labels=Y,
        label_names=[f"c{i}" for i in range(c)],
        texts=[f"item {i}" for i in range(n)],
        split=split,
    )


def test_evaluate_perfect_and_random_codes():
    ds = fake_dataset()
    perfect = evaluate(FakeHasher().fit(ds), ds, radius=1)  # other classes are at distance 2
    json.dumps(perfect)  # plain JSON
    assert perfect["protocol"] == "learned" and perfect["n_bits"] == 8
    for direction in ("i2t", "t2i"):
        rep = perfect[direction]
        assert rep["mAP"] == pytest.approx(1.0) and rep["mAP@50"] == pytest.approx(1.0)
        assert rep["precision_within_radius1"] == pytest.approx(1.0)
        assert rep["pr_curve"]["precision"][0] == pytest.approx(1.0)
        assert rep["precision_at_k"]["precision"][0] == pytest.approx(1.0)
        assert len(rep["pr_curve"]["radius"]) == 9
    assert perfect["mean_mAP"] == pytest.approx(1.0)

    noisy = evaluate(FakeHasher(code_length=32, noise=0.5).fit(ds), ds, protocol="encoded")
    chance = relevance_from_labels(ds.labels[ds.split.query], ds.labels[ds.split.database]).mean()
    assert abs(noisy["i2t"]["mAP"] - chance) < 0.15 and noisy["t2i"]["mAP"] < 0.5


def test_learned_vs_encoded_protocol_and_per_query():
    ds = fake_dataset(seed=1)
    model = FakeHasher(code_length=16, noise=0.2, learned_noise=0.0).fit(ds)  # learned codes perfect
    learned = evaluate(model, ds, protocol="learned", return_per_query=True)
    encoded = evaluate(model, ds, protocol="encoded")
    assert learned["i2t"]["mAP"] > encoded["i2t"]["mAP"] + 0.05
    codes = retrieval_codes(model, ds, "learned")
    pos = np.searchsorted(ds.split.database, ds.split.train)
    np.testing.assert_array_equal(codes["text_database"][pos], model.train_codes_["text"])
    ap = per_query_ap(model, ds, "i2t", "learned")
    assert ap.shape == (40,)
    np.testing.assert_allclose(ap, learned["i2t"]["per_query_ap"])
    assert ap.mean() == pytest.approx(learned["i2t"]["mAP"])


def test_evaluate_rejects_bad_models():
    ds = fake_dataset()
    model = FakeHasher().fit(ds)
    model.train_codes_["text"] = model.train_codes_["text"][:-1]
    with pytest.raises(ValueError, match=r"train_codes_\['text'\] has shape \(99, 1\).*100 training items"):
        evaluate(model, ds)
    with pytest.raises(ValueError, match="protocol='encoded'"):
        evaluate(FakeHasher(), ds)  # never fitted: no train_codes_
    with pytest.raises(ValueError, match="protocol"):
        evaluate(model, ds, protocol="both")
