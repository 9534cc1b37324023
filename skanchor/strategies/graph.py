"""Label propagation over the kNN graph of the subpool: a neighbourhood score for the minority.

The vector index already knows every item's neighbours. :func:`label_propagation_sampling`
links each candidate to its nearest candidates and labelled items (one ``index.search`` query
of ``K + 1`` neighbours per candidate and an ``O(M * K)`` graph for ``M`` candidates; nothing
scans the ``N`` items of the pool), spreads
the labels over that graph with scikit-learn's :class:`~sklearn.semi_supervised.LabelSpreading`
and selects the candidates with the largest propagated minority probability: the items that
sit next to labelled minority items, whatever the classifier thinks of them.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize
from sklearn.semi_supervised import LabelSpreading
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from skanchor._validation import check_ids
from skanchor.strategies._common import _n_items, _predict_proba, _representation, _result
from skanchor.strategies.imbalance import (
    _CONTEXT,
    _as_label_list,
    _check_n_instances,
    _labelled_set,
    _minority_proba,
    _rarest_label,
)

__all__ = ["label_propagation_sampling", "propagate_labels"]

_INDEX_METHODS = ["search", "vectors", "is_masked", "mask", "unmask"]


def _affinity(rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, n_nodes: int) -> sp.csr_matrix:
    """Symmetric sparse affinity from directed kNN edges: weight ``max(similarity, 0)``, the
    larger of the two directions, no self-loops."""
    keep = (rows != cols) & (sims > 0)
    W = sp.csr_matrix(
        (sims[keep].astype(np.float64), (rows[keep], cols[keep])), shape=(n_nodes, n_nodes)
    )
    W = W.maximum(W.T).tocsr()
    W.eliminate_zeros()
    return W


def _index_graph(
    index: Any, pool_ids: Any, labelled_ids: np.ndarray, n: int, n_neighbours: int
) -> sp.csr_matrix:
    """kNN affinity over candidates (nodes ``0..n-1``) and labelled items (the next nodes),
    from ``index.search`` of the candidates' stored vectors.

    Labelled items are masked during a pool filter's ``select``; the ones masked here are
    unmasked for the search and masked again afterwards, so the caller's mask state is kept.
    Neighbours that are neither candidates nor labelled are dropped.
    """
    pool_ids = check_ids(pool_ids, "pool_ids")
    if pool_ids.shape[0] != n:
        raise ValueError(f"pool_ids has {pool_ids.shape[0]} ids but X has {n} items")
    node_ids = np.concatenate([pool_ids, labelled_ids])
    sorter = np.argsort(node_ids, kind="stable")
    sorted_ids = node_ids[sorter]
    hidden = labelled_ids[index.is_masked(labelled_ids)] if labelled_ids.size else labelled_ids
    if hidden.size:
        index.unmask(hidden)
    try:
        nbr_ids, sims = index.search(index.vectors(pool_ids), n_neighbours + 1)
    finally:
        if hidden.size:
            index.mask(hidden)
    nbr_ids = np.asarray(nbr_ids, dtype=np.int64)
    rows = np.repeat(np.arange(n), nbr_ids.shape[1])
    flat = nbr_ids.ravel()
    at = np.minimum(np.searchsorted(sorted_ids, flat), sorted_ids.size - 1)
    known = sorted_ids[at] == flat
    return _affinity(rows[known], sorter[at[known]], np.asarray(sims).ravel()[known], node_ids.size)


def _representation_graph(
    classifier: Any, X: Any, X_lab: Any, n: int, n_lab: int, n_neighbours: int
) -> sp.csr_matrix:
    """kNN affinity (cosine) over candidates and labelled items from the classifier's
    representation (:func:`~skanchor.strategies.get_representation`): brute force, for a
    caller without an index."""
    try:
        H = _representation(classifier, X, n, accept_sparse=True, strategy=None)
        H_lab = _representation(classifier, X_lab, n_lab, accept_sparse=True, strategy=None)
    except TypeError as exc:
        raise TypeError(
            "label_propagation_sampling needs a neighbour graph: pass index=, pool_ids= and "
            "labelled_ids= (AnchoredQueryStrategy does), or use a classifier with a numeric "
            f"representation of X ({exc})"
        ) from exc
    nodes = sp.vstack([H, H_lab]).tocsr() if sp.issparse(H) else np.vstack([H, H_lab])
    nodes = normalize(nodes)
    k = min(n_neighbours + 1, nodes.shape[0])
    dist, nbr = NearestNeighbors(n_neighbors=k, metric="cosine").fit(nodes).kneighbors(nodes[:n])
    rows = np.repeat(np.arange(n), k)
    return _affinity(rows, nbr.ravel(), 1.0 - dist.ravel(), nodes.shape[0])


def propagate_labels(affinity: Any, y: Any, *, alpha: float = 0.2) -> np.ndarray:
    """Spread labels over a graph with :class:`~sklearn.semi_supervised.LabelSpreading`.

    Parameters
    ----------
    affinity : sparse matrix of shape (n_nodes, n_nodes)
        Symmetric non-negative edge weights (the graph's kernel).
    y : array-like of int, shape (n_nodes,)
        Class index ``0..n_classes-1`` of each labelled node, ``-1`` for the others.
    alpha : float in (0, 1), default=0.2
        LabelSpreading's clamping factor: the share of a node's distribution that comes
        from its neighbours at each iteration.

    Returns
    -------
    ndarray of float64, shape (n_nodes, n_classes)
        The propagated class distribution of every node (rows of zeros for nodes that no
        labelled node reaches); column ``c`` is class ``c`` (the classes present in ``y``).
    """
    affinity = sp.csr_matrix(affinity)
    n_nodes = affinity.shape[0]
    model = LabelSpreading(kernel=lambda A, B: affinity, alpha=alpha, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 1000 iterations of alpha**t
        model.fit(np.arange(n_nodes, dtype=np.float64)[:, None], np.asarray(y))
    return np.nan_to_num(model.label_distributions_, nan=0.0)


@validate_params(
    {
        **_CONTEXT,
        "n_neighbours": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "blend": [Interval(Real, 0, 1, closed="both")],
        "pool_ids": "no_validation",
        "index": [None, HasMethods(_INDEX_METHODS)],
    },
    prefer_skip_nested_validation=True,
)
def label_propagation_sampling(
    classifier: Any,
    X: Any,
    n_instances: int = 1,
    *,
    n_neighbours: int = 10,
    alpha: float = 0.2,
    blend: float = 0.0,
    minority: Any = None,
    pool_ids: Any = None,
    index: Any = None,
    labelled_ids: Any = None,
    labels: Any = None,
    X_labelled: Any = None,
    random_state: Any = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Select the candidates that label propagation over their kNN graph calls minority.

    1. **Graph.** Each item of ``X`` is linked to its ``n_neighbours`` nearest items among the
       items of ``X`` and the labelled items, weighted by cosine similarity (negative ones
       dropped) and symmetrised. With the context of :class:`~skanchor.AnchoredQueryStrategy`
       (``index``, ``pool_ids``, ``labelled_ids``) the neighbours come from
       ``index.search`` of the stored vectors (``M`` queries, an ``O(M * n_neighbours)``
       graph); the labelled items are unmasked for that search and masked again, so the
       index's mask state is left as it was found (do not search the same index from another
       thread meanwhile). Without an index, from a brute-force
       cosine kNN over the classifier's representation of ``X`` and of the labelled items
       (``X_labelled`` or a modAL learner's ``X_training``), ``O(M * (M + n_labelled))``.
    2. **Propagation.** :class:`~sklearn.semi_supervised.LabelSpreading` (``alpha``) spreads
       the labels; an item's score is its propagated probability of the minority class(es).
    3. **Score.** ``(1 - blend) * propagated + blend * classifier`` P(minority); the largest
       scores are selected, ties broken by the classifier's P(minority) and then by position
       (so items that no labelled item reaches are ranked by the classifier).

    Parameters
    ----------
    classifier : object
        A fitted classifier with ``predict_proba`` (or a modAL learner / Pipeline of one).
    X : array-like, sparse matrix or list
        The candidate items, as the classifier takes them.
    n_instances : int, default=1
        Number of items to select.
    n_neighbours : int, default=10
        Neighbours per item in the graph.
    alpha : float in (0, 1), default=0.2
        LabelSpreading's clamping factor (scikit-learn's default).
    blend : float in [0, 1], default=0.0
        Weight of the classifier's P(minority) in the score.
    minority : label or list of labels, default=None
        The minority class(es); ``None`` is the rarest class of the labelled set. At least one
        labelled item must be of a minority class.
    pool_ids, index, labelled_ids, labels, X_labelled : optional
        Query-strategy context: index ids of the rows of ``X``, the pool filter's
        ``VectorIndex``, the labelled ids, their labels, the labelled items as the classifier
        takes them. A modAL learner's ``X_training`` / ``y_training`` are the fallback.
    random_state : None, int or RandomState
        Not used (the selection is deterministic).
    **kwargs
        Ignored (modAL passes extra keywords along).

    Returns
    -------
    positions : ndarray of int64, shape (n_instances,)
        Positions into ``X``, best first.
    scores : ndarray of float64, shape (n_instances,)
        The score of each selected item.
    """
    strategy = "label_propagation_sampling"
    n = _n_items(X)
    n_instances = _check_n_instances(n_instances, n, strategy)
    proba = _predict_proba(classifier, X, n, strategy)
    use_index = index is not None and pool_ids is not None and labelled_ids is not None
    X_lab, y = _labelled_set(
        classifier,
        labelled_ids,
        labels,
        None if use_index else X_labelled,
        strategy,
        need_items=not use_index,
    )
    classes, y_idx = np.unique(y, return_inverse=True)
    wanted = (
        [np.asarray(_rarest_label(y, strategy)).item()]
        if minority is None
        else _as_label_list(minority)
    )
    present = np.isin(classes, wanted)
    if not present.any():
        raise ValueError(
            f"{strategy}: no labelled item of minority={minority!r} to propagate "
            f"(labelled classes: {', '.join(repr(c) for c in classes.tolist())})"
        )
    if use_index:
        lab_ids = check_ids(labelled_ids, "labelled_ids")
        W = _index_graph(index, pool_ids, lab_ids, n, n_neighbours)
    else:
        W = _representation_graph(classifier, X, X_lab, n, y.shape[0], n_neighbours)
    node_y = np.concatenate([np.full(n, -1), y_idx])
    p_prop = propagate_labels(W, node_y, alpha=alpha)[:n, present].sum(axis=1)
    p_clf = _minority_proba(classifier, X, n, wanted, None, None, None, strategy, proba=proba)
    score = (1.0 - blend) * p_prop + blend * p_clf
    order = np.lexsort((np.arange(n), -p_clf, -score))[:n_instances]
    return _result(order, score[order])
