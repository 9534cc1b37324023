"""Hybrid and diversity sampling on a representation: BADGE and FT-BERTKM."""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.extmath import row_norms

from skanchor._proba import predictive_entropy
from skanchor._ranking import top_k
from skanchor.strategies._common import (
    STRATEGY_CONSTRAINTS,
    _check_pool_size,
    _check_random_state,
    _n_items,
    _proba_and_representation,
    _representation,
    _result,
)

__all__ = ["badge_sampling", "ftbertkm_sampling", "gradient_embedding"]


def gradient_embedding(proba: Any, representation: Any) -> Any:
    """BADGE's gradient embedding: ``g_x[c] = (p_c - 1[c = argmax p]) * h(x)``, flattened.

    This is the gradient of the cross-entropy loss w.r.t. the weights of the last (linear)
    layer, taking the predicted class as the label (Ash et al., 2020; AnchorAL App. A.4).
    Returns an ``(n, n_classes * dim)`` array whose ``c``-th block of ``dim`` columns is
    ``(p_c - 1[c = argmax p]) * h(x)`` (the first maximal class is the prediction); a sparse
    ``representation`` gives a CSR matrix. Its row norm is ``||p - onehot|| * ||h(x)||``.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be a 2-d (n_items, n_classes) array, got shape {proba.shape}")
    n, n_classes = proba.shape
    weights = proba.copy()
    weights[np.arange(n), np.argmax(proba, axis=1)] -= 1.0
    if sp.issparse(representation):
        H = sp.csr_matrix(representation)
        if H.shape[0] != n:
            raise ValueError(f"representation has {H.shape[0]} rows, proba has {n}")
        dtype = H.dtype if H.dtype in (np.float32, np.float64) else np.float64
        blocks = [sp.diags(weights[:, c].astype(dtype)) @ H for c in range(n_classes)]
        return sp.hstack(blocks, format="csr", dtype=dtype)
    H = np.asarray(representation)
    if H.ndim != 2 or H.shape[0] != n:
        raise ValueError(f"representation must have shape ({n}, dim), got {H.shape}")
    dtype = H.dtype if H.dtype in (np.float32, np.float64) else np.float64
    G = weights.astype(dtype)[:, :, None] * H.astype(dtype, copy=False)[:, None, :]
    return G.reshape(n, n_classes * H.shape[1])


@validate_params(
    {**STRATEGY_CONSTRAINTS, "n_local_trials": [Interval(Integral, 1, None, closed="left"), None]},
    prefer_skip_nested_validation=True,
)
def badge_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    random_state: Any = None,
    n_local_trials: int | None = 1,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

    The gradient embeddings (:func:`gradient_embedding`) of ``predict_proba`` and
    :func:`get_representation` (one forward pass for a :class:`SupportsJointRepresentation`
    model) are seeded with ``sklearn.cluster.kmeans_plusplus``, so the batch is both uncertain
    (long gradients) and diverse. ``n_local_trials=1`` is plain D² sampling as in BADGE;
    ``None`` is scikit-learn's greedy variant. Unlike the original code, the first centre is
    drawn at random (scikit-learn), not the largest gradient.

    k-means++ repeats items once every distinct embedding is a centre (duplicated points, zero
    gradients): repeats are dropped and the batch is topped up with the unused items of largest
    gradient norm (smaller position first on ties). If every gradient embedding is zero (the
    model is certain everywhere), the items of largest entropy are taken instead.

    Scores are the gradient-embedding norms ``||p - onehot|| * ||h(x)||`` of the selected items,
    in selection order (all 0 in the fallback).

    Sparse representations stay sparse. Dense ones cost ``n * n_classes * dim`` floats.
    """
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    proba, H = _proba_and_representation(classifier, X, n, "badge_sampling")
    G = gradient_embedding(proba, H)
    norms = np.sqrt(row_norms(G, squared=True).astype(np.float64))
    if not norms.any():
        positions = top_k(predictive_entropy(proba), n_instances, largest=True)
        return _result(positions, norms[positions])
    rng = _check_random_state(random_state)
    _, seeds = kmeans_plusplus(
        G, n_clusters=min(n_instances, n), random_state=rng, n_local_trials=n_local_trials
    )
    _, first = np.unique(seeds, return_index=True)
    positions = np.asarray(seeds)[np.sort(first)].astype(np.int64)
    if positions.size < n_instances:
        rest = np.ones(n, dtype=bool)
        rest[positions] = False
        candidates = np.flatnonzero(rest)
        extra = candidates[top_k(norms[candidates], n_instances - positions.size, largest=True)]
        positions = np.concatenate([positions, extra])
    return _result(positions, norms[positions])


@validate_params(
    {
        **STRATEGY_CONSTRAINTS,
        "n_init": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    },
    prefer_skip_nested_validation=True,
)
def ftbertkm_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    random_state: Any = None,
    n_init: int | str = "auto",
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """FT-BERTKM (Yuan et al., 2020): the items nearest to k-means centres.

    The representation (:func:`get_representation`) is l2-normalised and clustered with
    ``sklearn.cluster.KMeans(n_clusters=n_instances, n_init=n_init)``; each centre then takes
    its nearest unused item. Centres are served in order of their nearest distance (the centre
    closest to an item wins it), so two centres never return the same item, and a pool with
    fewer distinct points than ``n_instances`` still gives unique positions (duplicated points
    are distinct items). ``predict_proba`` is not used.

    Scores are the Euclidean distances (in the normalised space) of the selected items to their
    centres, in selection order. The ``n * n_instances`` distance matrix is held in memory.
    """
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    H = _representation(classifier, X, n, accept_sparse=True, strategy="ftbertkm_sampling")
    H = normalize(H, norm="l2")
    rng = _check_random_state(random_state)
    with warnings.catch_warnings():
        # fewer distinct points than clusters: duplicate centres are handled below
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=n_instances, n_init=n_init, random_state=rng).fit(H)
    return _result(*_serve_centres(km.transform(H)))


def _serve_centres(distances: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each centre's nearest unused item, from ``(n_items, n_centres)`` ``distances``.

    Centres are served in order of their nearest distance (the centre closest to an item wins
    it), so two centres never return the same item, and fewer distinct points than centres
    still give distinct items. Returns the positions, in the order the centres were served,
    and their distances to their centres.
    """
    D = np.asarray(distances, dtype=np.float64)
    n, n_centres = D.shape
    order = np.lexsort((np.arange(n_centres), D.min(axis=0)))
    used = np.zeros(n, dtype=bool)
    positions = np.empty(n_centres, dtype=np.int64)
    scores = np.empty(n_centres, dtype=np.float64)
    for rank, centre in enumerate(order):
        column = np.where(used, np.inf, D[:, centre])
        pos = int(np.argmin(column))  # first minimum: smaller position on ties
        used[pos] = True
        positions[rank] = pos
        scores[rank] = D[pos, centre]
    return positions, scores
