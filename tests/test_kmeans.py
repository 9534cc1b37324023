"""The lean k-means of skanchor._kmeans, pinned to scikit-learn's."""

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from sklearn.utils import check_random_state

from skanchor._kmeans import kmeans, kmeans_plusplus


def _data(seed):
    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(12, 900)), int(rng.integers(2, 400)), int(rng.integers(1, 12))
    X = rng.normal(size=(n, d))
    if seed % 2:  # unit rows, as AnchorAL and the diverse share pass them
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, k, rng.uniform(0.01, 2.0, size=n)


@pytest.mark.parametrize("seed", range(40))
def test_kmeanspp_matches_sklearn(seed):
    """Our lean k-means++ picks exactly what sklearn.cluster.kmeans_plusplus picks."""
    X, k, _ = _data(seed)
    expected = sklearn_kmeans_plusplus(X, k, random_state=seed)[1]
    assert np.array_equal(kmeans_plusplus(X, k, check_random_state(seed)), expected)


@pytest.mark.parametrize("seed", range(20))
def test_weighted_kmeanspp_matches_sklearn(seed):
    X, k, w = _data(seed)
    expected = sklearn_kmeans_plusplus(X, k, sample_weight=w, random_state=seed)[1]
    assert np.array_equal(kmeans_plusplus(X, k, check_random_state(seed), w), expected)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeans_matches_sklearn_lloyd(seed, weighted):
    """From the same seeding, our Lloyd iterations reach scikit-learn's centres."""
    X, k, w = _data(seed)
    w = w if weighted else None
    init = X[kmeans_plusplus(X, k, check_random_state(seed), w)]
    ref = KMeans(k, init=init, n_init=1, algorithm="lloyd", tol=0, max_iter=300)
    ref.fit(X, sample_weight=w)
    ours, sq = kmeans(X, k, check_random_state(seed), w)
    np.testing.assert_allclose(ours, ref.cluster_centers_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sq, ref.transform(X) ** 2, rtol=1e-6, atol=1e-9)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    X = np.repeat(centres, 30, axis=0) + rng.normal(scale=0.1, size=(120, 4))
    found, _ = kmeans(X, 4, check_random_state(0))
    assert np.allclose(np.sort(np.round(found).ravel()), np.sort(centres.ravel()))


def test_kmeans_empty_cluster_keeps_its_centre():
    """Duplicated rows leave clusters empty: no NaN, every centre a row of X."""
    X = np.repeat(np.eye(2), 5, axis=0)
    centres, _ = kmeans(X, 4, check_random_state(0))
    assert np.isfinite(centres).all()
    assert all(any(np.allclose(c, x) for x in X) for c in centres)
