"""PCA and UMAP pictures of binary codes (cmh_core.projection)."""

import numpy as np
import pytest

from cmh_core.hamming import pack_bits
from cmh_core.projection import pca_2d, project_codes, umap_2d


def _two_clusters(n_per: int = 100, r: int = 32, flip: float = 0.05, seed: int = 0):
    """Two code clusters around complementary centres, each bit flipped with probability ``flip``."""
    rng = np.random.default_rng(seed)
    centre = rng.integers(0, 2, r)
    centres = np.vstack([np.tile(centre, (n_per, 1)), np.tile(1 - centre, (n_per, 1))])
    noise = rng.random(centres.shape) < flip
    return (centres ^ noise).astype(np.uint8), np.repeat([0, 1], n_per)


def test_pca_shape_dtype_and_determinism():
    B = np.random.default_rng(1).integers(0, 2, (50, 16))
    Z = pca_2d(B)
    assert Z.shape == (50, 2) and Z.dtype == np.float32
    np.testing.assert_array_equal(Z, pca_2d(B.copy()))
    np.testing.assert_array_equal(Z, pca_2d(B.astype(bool)))  # bool and {0, 1} are the same codes


def test_pca_sign_does_not_depend_on_row_order():
    B = np.random.default_rng(2).integers(0, 2, (60, 16))
    perm = np.random.default_rng(3).permutation(60)
    np.testing.assert_allclose(pca_2d(B)[perm], pca_2d(B[perm]), atol=1e-5)


def test_pca_separates_two_clusters():
    B, group = _two_clusters()
    x = pca_2d(B)[:, 0]
    a, b = x[group == 0], x[group == 1]
    # the first component is the cluster axis: the two groups do not overlap on it
    assert a.max() < b.min() or b.max() < a.min()


def test_pca_degenerate_codes_do_not_crash():
    one_bit = np.array([[0], [1], [1], [0]])
    Z = pca_2d(one_bit)
    assert Z.shape == (4, 2) and np.all(Z[:, 1] == 0) and Z[1, 0] != Z[0, 0]
    constant = np.ones((5, 8), dtype=np.uint8)
    np.testing.assert_array_equal(pca_2d(constant), np.zeros((5, 2), np.float32))
    assert np.isfinite(pca_2d(np.array([[1, 0, 1]]))).all()


@pytest.mark.parametrize(
    "bad, match",
    [(np.zeros(8), "2-D"), (np.zeros((3, 0)), "no bit columns"), (np.full((3, 4), 2), "only 0 and 1")],
)
def test_pca_rejects_bad_bits(bad, match):
    with pytest.raises(ValueError, match=match):
        pca_2d(bad)


def test_project_codes_pca_matches_unpacked_and_checks_inputs():
    B = np.random.default_rng(4).integers(0, 2, (30, 20))
    np.testing.assert_array_equal(project_codes(pack_bits(B), 20), pca_2d(B))
    with pytest.raises(ValueError, match="method must be"):
        project_codes(pack_bits(B), 20, method="tsne")
    with pytest.raises(ValueError, match="n_bits=32"):
        project_codes(pack_bits(B), 32)
    with pytest.raises(ValueError, match="2-D"):
        project_codes(pack_bits(B)[0], 20)  # one code is not a map


def test_umap_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 4 items"):
        umap_2d(np.array([[0, 1], [1, 0], [1, 1]]))
    with pytest.raises(ValueError, match="n_neighbors must be >= 2"):
        umap_2d(np.eye(6, dtype=np.uint8), n_neighbors=1)


@pytest.mark.slow
def test_umap_hamming_on_200_codes_keeps_clusters_apart():
    # one UMAP test only: its first call compiles numba kernels (~20 s on this machine)
    B, group = _two_clusters(n_per=100, r=32)
    Z = project_codes(pack_bits(B), 32, method="umap", random_state=0)
    assert Z.shape == (200, 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
    # each point's nearest neighbour on the map is from its own cluster (bound, not exact layout)
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (group[d.argmin(axis=1)] == group).mean() >= 0.95
