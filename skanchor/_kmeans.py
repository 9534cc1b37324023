"""Lean k-means for small inputs: k-means++ seeding and weighted Lloyd iterations.

Anchor selection and the diverse explored share of :func:`~skanchor.strategies.
minority_mix_sampling` cluster a few hundred rows every query. scikit-learn's
``kmeans_plusplus`` and ``KMeans`` give the same answers (the test suite pins both) but
their per-call validation, array-API dispatch and thread-pool set-up cost several times the
arithmetic at that size, and AnchorAL's query time is the point of the library.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["kmeans", "kmeans_plusplus", "one_blas_thread"]


def _sq_distances(X: np.ndarray, sq_norms: np.ndarray, rows: Any) -> np.ndarray:
    """Squared Euclidean distances from the rows ``X[rows]`` to every row of ``X``."""
    dist = -2 * (X[rows] @ X.T)
    dist += sq_norms[rows, None]
    dist += sq_norms[None, :]
    return np.maximum(dist, 0, out=dist)


def kmeans_plusplus(
    X: np.ndarray,
    n_clusters: int,
    rng: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Indices chosen by greedy k-means++ seeding: :func:`sklearn.cluster.kmeans_plusplus`.

    The same algorithm, operations and random draws as scikit-learn's (``2 + ln k`` local
    trials, optional sample weights), so it returns the same indices for the same seed. ``X``
    is float64 with at least ``n_clusters`` rows.
    """
    n_samples = X.shape[0]
    n_local_trials = 2 + int(np.log(n_clusters))
    sq_norms = np.einsum("ij,ij->i", X, X)
    weights = (
        np.ones(n_samples, dtype=X.dtype)
        if sample_weight is None
        else np.asarray(sample_weight, dtype=X.dtype)
    )
    indices = np.empty(n_clusters, dtype=np.int64)
    indices[0] = rng.choice(n_samples, p=weights / weights.sum())
    closest = _sq_distances(X, sq_norms, indices[:1])[0]
    potential = closest @ weights
    for c in range(1, n_clusters):
        targets = rng.uniform(size=n_local_trials) * potential
        candidates = np.searchsorted(np.cumsum(weights * closest), targets)
        np.clip(candidates, None, n_samples - 1, out=candidates)
        dist = _sq_distances(X, sq_norms, candidates)
        np.minimum(closest, dist, out=dist)
        potentials = dist @ weights
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], dist[best]
        indices[c] = candidates[best]
    return indices


def kmeans(
    X: np.ndarray,
    n_clusters: int,
    rng: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
    *,
    max_iter: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means (Lloyd) from a k-means++ seeding.

    The iterations stop when no row changes cluster (scikit-learn's strict convergence), so
    from the same seeding it reaches ``sklearn.cluster.KMeans(algorithm="lloyd", tol=0)``'s
    centres. One difference: a cluster left empty keeps its centre (scikit-learn moves it to a
    far row). ``X`` is float64 with at least ``n_clusters`` rows.

    Returns
    -------
    centres : ndarray of shape (n_clusters, dim)
    sq_distances : ndarray of shape (n_rows, n_clusters)
        Squared Euclidean distance of every row to every centre.
    """
    weights = (
        np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
    )
    centres = X[kmeans_plusplus(X, n_clusters, rng, weights)].copy()
    sq_norms = np.einsum("ij,ij->i", X, X)
    labels = None

    def sq_distances() -> np.ndarray:
        dist = sq_norms[:, None] - 2 * (X @ centres.T) + np.einsum("ij,ij->i", centres, centres)
        return np.maximum(dist, 0, out=dist)

    for _ in range(max_iter):
        new = np.argmin(sq_distances(), axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        members = np.zeros((n_clusters, X.shape[0]))
        members[labels, np.arange(X.shape[0])] = weights
        mass = members.sum(axis=1)
        filled = mass > 0
        centres[filled] = (members @ X)[filled] / mass[filled, None]
    return centres, sq_distances()


# BLAS on one thread for small clusterings: their products are tiny, and waking a thread pool
# that a preceding model fit left busy cost up to ~100 ms per query on a 2-core machine.
_THREADPOOLS: ThreadpoolController | None = None


def one_blas_thread():
    """A context in which BLAS runs on one thread."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")
