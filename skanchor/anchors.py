"""Anchor selection (Γ in Algorithm 1): which labelled items of each class anchor the search.

AnchorAL picks ``A`` anchors per class from that class's labelled items, every round. The
paper uses the k-means++ seeding (diverse anchors, so each round explores a different
region); random and entropy (the items the current model is least sure about) are the
alternatives discussed in its §6. Classes may use different strategies, e.g. k-means++ for
the minority and random for the majority.

:class:`AnchorTransformer` packages the same step as a scikit-learn transformer: fitted on
labelled vectors, it maps any item to its cosine similarity with each anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from skanchor._validation import check_positive_int

__all__ = [
    "ANCHOR_STRATEGIES",
    "AnchorTransformer",
    "check_anchor_strategy",
    "select_anchors",
    "select_class_anchors",
]

#: Names accepted wherever an anchor strategy is asked for.
ANCHOR_STRATEGIES = ("kmeans++", "random", "entropy")


def _check_strategy_name(strategy: Any, name: str = "anchor_strategy") -> str:
    if not isinstance(strategy, str) or strategy not in ANCHOR_STRATEGIES:
        raise ValueError(
            f"{name}={strategy!r} is not a known anchor strategy; "
            f"valid names: {', '.join(ANCHOR_STRATEGIES)}"
        )
    return strategy


def check_anchor_strategy(strategy: Any) -> str | dict:
    """Validate ``anchor_strategy``: a name, or a mapping ``{class label: name}``.

    In a mapping, classes that are not keys use ``"kmeans++"``.
    """
    if isinstance(strategy, Mapping):
        return {
            key: _check_strategy_name(value, f"anchor_strategy[{key!r}]")
            for key, value in strategy.items()
        }
    return _check_strategy_name(strategy)


def _strategy_for(strategy: str | Mapping, label: Any) -> str:
    if isinstance(strategy, Mapping):
        return strategy.get(label, "kmeans++")
    return strategy


def _key(label: Any) -> Any:
    """A class label as a plain Python scalar (numpy scalars become int/str/...)."""
    return label.item() if isinstance(label, np.generic) else label


def _entropy(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(proba > 0, proba * np.log(proba), 0.0)
    return -terms.sum(axis=1)


def _first_of_each_distinct_row(vectors: np.ndarray) -> np.ndarray:
    """Sorted positions of the first occurrence of each distinct row (rows compared as bytes,
    which is much faster than ``np.unique(axis=0)``)."""
    rows = np.ascontiguousarray(vectors)
    as_bytes = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(as_bytes, return_index=True)
    return np.sort(first)


def _kmeans_plusplus(X: np.ndarray, n_clusters: int, rng: np.random.RandomState) -> np.ndarray:
    """Indices chosen by greedy k-means++ seeding: :func:`sklearn.cluster.kmeans_plusplus`.

    The same algorithm, operations and random draws as scikit-learn's (unit weights,
    ``2 + ln k`` local trials), so it returns the same indices for the same seed (the test
    suite checks this), without sklearn's per-call validation and array-API dispatch, which
    cost several times the arithmetic on anchor-sized inputs (~1,000 x 384, k = 10) and
    dominated AnchorAL's per-query overhead. ``X`` is float64 with at least ``n_clusters``
    rows.
    """
    n_samples = X.shape[0]
    n_local_trials = 2 + int(np.log(n_clusters))
    sq_norms = np.einsum("ij,ij->i", X, X)
    weights = np.ones(n_samples, dtype=X.dtype)

    def sq_distances(rows: np.ndarray) -> np.ndarray:
        dist = -2 * (X[rows] @ X.T)
        dist += sq_norms[rows, None]
        dist += sq_norms[None, :]
        return np.maximum(dist, 0, out=dist)

    indices = np.empty(n_clusters, dtype=np.int64)
    indices[0] = rng.choice(n_samples, p=weights / weights.sum())
    closest = sq_distances(indices[:1])[0]
    potential = closest @ weights
    for c in range(1, n_clusters):
        targets = rng.uniform(size=n_local_trials) * potential
        candidates = np.searchsorted(np.cumsum(weights * closest), targets)
        np.clip(candidates, None, n_samples - 1, out=candidates)
        dist = sq_distances(candidates)
        np.minimum(closest, dist, out=dist)
        potentials = dist @ weights
        best = int(np.argmin(potentials))
        potential, closest = potentials[best], dist[best]
        indices[c] = candidates[best]
    return indices


# BLAS on one thread for anchor selection: its products are tiny, and waking a thread pool that
# a preceding model fit left busy cost up to ~100 ms per query on a 2-core machine.
_THREADPOOLS: ThreadpoolController | None = None


def _one_blas_thread():
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1, user_api="blas")


def select_anchors(
    vectors: np.ndarray,
    n_anchors: int,
    strategy: str = "kmeans++",
    *,
    random_state: Any = None,
    proba: np.ndarray | None = None,
) -> np.ndarray:
    """Positions (into ``vectors``) of up to ``n_anchors`` anchors chosen among its rows.

    A set with at most ``n_anchors`` rows is used whole. k-means++ (squared Euclidean on
    unit vectors, i.e. cosine) runs on the distinct rows only, so duplicated items never give
    duplicated anchors; "entropy" keeps the rows with the highest predictive entropy under
    ``proba`` (ties: smaller position first). Returned positions are sorted and unique.
    """
    n_anchors = check_positive_int(n_anchors, "n_anchors")
    strategy = _check_strategy_name(strategy)
    vectors = np.asarray(vectors)
    n = vectors.shape[0]
    if n <= n_anchors:
        return np.arange(n, dtype=np.int64)
    if strategy == "random":
        rng = check_random_state(random_state)
        return np.sort(rng.choice(n, size=n_anchors, replace=False)).astype(np.int64)
    if strategy == "entropy":
        if proba is None:
            raise ValueError("anchor_strategy='entropy' needs the model's probabilities")
        proba = np.asarray(proba)
        if proba.ndim != 2 or proba.shape[0] != n:
            raise ValueError(
                f"proba must have shape ({n}, n_classes) to match vectors, got {proba.shape}"
            )
        order = np.argsort(-_entropy(proba), kind="stable")
        return np.sort(order[:n_anchors]).astype(np.int64)
    # k-means++ on distinct rows: it may return repeated indices for repeated points.
    first = _first_of_each_distinct_row(vectors)
    if first.size <= n_anchors:
        return first.astype(np.int64)
    with _one_blas_thread():
        chosen = _kmeans_plusplus(
            np.asarray(vectors[first], dtype=np.float64),
            n_anchors,
            check_random_state(random_state),
        )
    return np.unique(first[chosen]).astype(np.int64)


def select_class_anchors(
    labels: np.ndarray,
    vectors: np.ndarray,
    n_anchors: int,
    strategy: str | Mapping = "kmeans++",
    *,
    random_state: Any = None,
    proba: np.ndarray | None = None,
) -> dict[Any, np.ndarray]:
    """For each class in ``labels`` (sorted), the positions of its anchors.

    ``strategy`` is a name or a ``{class: name}`` mapping (missing classes: "kmeans++").
    Classes are handled in sorted order with one seed each drawn from ``random_state``, so the
    result is reproducible and a class's anchors do not depend on the other classes' sizes.
    """
    labels = np.asarray(labels)
    strategy = check_anchor_strategy(strategy)
    rng = check_random_state(random_state)
    anchors: dict[Any, np.ndarray] = {}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        name = _strategy_for(strategy, _key(label))
        chosen = select_anchors(
            vectors[members],
            n_anchors,
            name,
            random_state=seed,
            proba=None if proba is None else np.asarray(proba)[members],
        )
        anchors[_key(label)] = members[chosen]
    return anchors


class AnchorTransformer(TransformerMixin, BaseEstimator):
    """Pick per-class anchors from labelled vectors; transform items to anchor similarities.

    ``fit(X, y)`` selects up to ``n_anchors`` anchors per class among the rows of ``X`` (the
    labelled items' embeddings) with ``anchor_strategy``. ``transform(X)`` returns the cosine
    similarity of every row of ``X`` to every anchor, shape ``(n_samples, n_anchors_total_)``,
    columns grouped by class in ``classes_`` order (``anchor_labels_`` gives each column's
    class). The row mean over a class's columns is AnchorAL's score of that item for the class,
    computed exactly instead of over the K nearest neighbours; use it as landmark features in
    a ``Pipeline``, or to inspect what the anchors see. Rows are L2-normalised internally; as
    in :func:`sklearn.metrics.pairwise.cosine_similarity`, an all-zero row has similarity 0 to
    every anchor, and it is never chosen as an anchor.

    "entropy" anchors need probabilities: pass ``proba`` to :meth:`fit`.

    Parameters
    ----------
    n_anchors : int, default=10
        Anchors per class (A). A class with fewer labelled rows uses all of them.
    anchor_strategy : str or dict, default="kmeans++"
        "kmeans++", "random", "entropy", or a mapping from class label to one of them.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means++ and random anchor selection.

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor.anchors import AnchorTransformer
    >>> X = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> y = np.array([0, 0, 1, 1])
    >>> sim = AnchorTransformer(n_anchors=1, random_state=0).fit(X, y).transform([[1.0, 0.0]])
    >>> sim.shape
    (1, 2)
    """

    def __init__(
        self,
        n_anchors: int = 10,
        anchor_strategy: str | Mapping = "kmeans++",
        random_state: Any = None,
    ):
        self.n_anchors = n_anchors
        self.anchor_strategy = anchor_strategy
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def fit(self, X: Any, y: Any, proba: np.ndarray | None = None) -> AnchorTransformer:
        """Select the anchors among the rows of ``X`` (labelled embeddings) by class ``y``."""
        check_positive_int(self.n_anchors, "n_anchors")
        strategy = check_anchor_strategy(self.anchor_strategy)
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        Xn = normalize(X)
        usable = np.flatnonzero(Xn.any(axis=1))
        self.classes_ = np.unique(y)
        missing = np.setdiff1d(self.classes_, y[usable])
        if missing.size:
            raise ValueError(
                f"class {_key(missing[0])!r} has only all-zero rows in X: no anchor can be chosen"
            )
        anchors = select_class_anchors(
            y[usable],
            Xn[usable],
            self.n_anchors,
            strategy,
            random_state=self.random_state,
            proba=None if proba is None else np.asarray(proba)[usable],
        )
        positions = usable[np.concatenate([anchors[_key(c)] for c in self.classes_])]
        self.anchor_indices_ = positions
        self.anchors_ = Xn[positions]
        self.anchor_labels_ = y[positions]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Cosine similarity of each row of ``X`` to each anchor."""
        check_is_fitted(self, "anchors_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return normalize(X) @ self.anchors_.T.astype(X.dtype, copy=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per anchor: ``anchor{j}_class{label}``."""
        check_is_fitted(self, "anchors_")
        return np.asarray(
            [f"anchor{j}_class{label}" for j, label in enumerate(self.anchor_labels_)],
            dtype=object,
        )
