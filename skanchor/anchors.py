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
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from skanchor._kmeans import kmeans_plusplus, one_blas_thread
from skanchor._params import (
    PerClass,
    RegistryName,
    check_per_class_keys,
    label_key,
    lookup_name,
    per_class,
)
from skanchor._proba import predictive_entropy

__all__ = [
    "ANCHOR_STRATEGIES",
    "DEFAULT_ANCHOR_STRATEGY",
    "DEFAULT_N_ANCHORS",
    "AnchorTransformer",
    "select_anchors",
    "select_class_anchors",
]

#: Names accepted wherever an anchor strategy is asked for (case-insensitive, ``-`` and ``_``
#: alike, as every registry name).
ANCHOR_STRATEGIES = ("kmeans++", "random", "entropy")

#: Anchors per class (A) when nothing else is said: the paper's value (App. A.3).
DEFAULT_N_ANCHORS = 10

#: Anchor strategy when nothing else is said, and for classes a mapping does not list.
DEFAULT_ANCHOR_STRATEGY = "kmeans++"

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_ANCHOR_STRATEGY = RegistryName(ANCHOR_STRATEGIES)

#: Constraints of the per-class anchor parameters, shared by every class that takes them.
N_ANCHORS_CONSTRAINTS = [_POSITIVE_INT, PerClass(_POSITIVE_INT)]
ANCHOR_STRATEGY_CONSTRAINTS = [_ANCHOR_STRATEGY, PerClass(_ANCHOR_STRATEGY)]


def _resolve_strategy(strategy: str | Mapping) -> str | dict:
    """Canonical anchor-strategy name(s): a name, or ``{class: name}``."""
    if isinstance(strategy, Mapping):
        return {
            label_key(key): lookup_name(ANCHOR_STRATEGIES, value, f"anchor_strategy[{key!r}]")
            for key, value in strategy.items()
        }
    return lookup_name(ANCHOR_STRATEGIES, strategy, "anchor_strategy")


def check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    """``labels`` as a 1-d array of comparable class labels, or a one-line error naming ``name``.

    ``None`` and NaN are not labels (an unlabelled item must not be passed as labelled), and
    labels of types that cannot be ordered together (``1`` and ``"a"``) cannot be grouped by
    class; both are rejected here rather than deep inside anchor selection. A column vector
    ``(n, 1)`` is flattened.
    """
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of class labels, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(arr))
    elif arr.dtype == object:
        missing = [i for i, v in enumerate(arr.tolist()) if v is None or v != v]
    else:
        missing = ()
    if len(missing):
        i = int(missing[0])
        raise ValueError(f"{name} holds a missing label ({label_key(arr[i])!r}) at position {i}")
    if arr.dtype == object and arr.size:
        try:
            np.unique(arr)
        except TypeError as exc:
            kinds = sorted({type(v).__name__ for v in arr.tolist()})
            raise ValueError(
                f"{name} mixes label types that cannot be compared: {', '.join(kinds)}"
            ) from exc
    return arr


def _first_of_each_distinct_row(vectors: np.ndarray) -> np.ndarray:
    """Sorted positions of the first occurrence of each distinct row (rows compared as bytes,
    which is much faster than ``np.unique(axis=0)``)."""
    rows = np.ascontiguousarray(vectors)
    as_bytes = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first = np.unique(as_bytes, return_index=True)
    return np.sort(first)


def _select_anchors(
    vectors: np.ndarray,
    n_anchors: int,
    strategy: str,
    random_state: Any,
    proba: np.ndarray | None,
) -> np.ndarray:
    """:func:`select_anchors` on validated parameters (``strategy`` a canonical name)."""
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
        order = np.argsort(-predictive_entropy(proba), kind="stable")
        return np.sort(order[:n_anchors]).astype(np.int64)
    # k-means++ on distinct rows: it may return repeated indices for repeated points.
    first = _first_of_each_distinct_row(vectors)
    if first.size <= n_anchors:
        return first.astype(np.int64)
    with one_blas_thread():
        chosen = kmeans_plusplus(
            np.asarray(vectors[first], dtype=np.float64),
            n_anchors,
            check_random_state(random_state),
        )
    return np.unique(first[chosen]).astype(np.int64)


@validate_params(
    {
        "vectors": ["array-like"],
        "n_anchors": [_POSITIVE_INT],
        "strategy": [_ANCHOR_STRATEGY],
        "random_state": ["random_state"],
        "proba": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def select_anchors(
    vectors: np.ndarray,
    n_anchors: int,
    strategy: str = DEFAULT_ANCHOR_STRATEGY,
    *,
    random_state: Any = None,
    proba: np.ndarray | None = None,
) -> np.ndarray:
    """Positions (into ``vectors``) of up to ``n_anchors`` anchors chosen among its rows.

    A set with at most ``n_anchors`` rows is used whole. k-means++ (squared Euclidean on
    unit vectors, i.e. cosine) runs on the distinct rows only, so duplicated items never give
    duplicated anchors; "entropy" keeps the rows with the highest predictive entropy under
    ``proba`` (ties: smaller position first). Returned positions are sorted and unique.

    Parameters
    ----------
    vectors : array-like of shape (n_items, dim)
        Embeddings of the candidate anchors (one class's labelled items).
    n_anchors : int
        Most anchors to choose (A).
    strategy : {"kmeans++", "random", "entropy"}, default="kmeans++"
        How to choose them.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means++ and random selection.
    proba : array-like of shape (n_items, n_classes), optional
        Predicted probabilities of the rows; required by "entropy".

    Returns
    -------
    ndarray of int64
        Sorted, unique positions into ``vectors``.
    """
    name = lookup_name(ANCHOR_STRATEGIES, strategy, "anchor strategy")
    return _select_anchors(vectors, n_anchors, name, random_state, proba)


def _select_class_anchors(
    labels: np.ndarray,
    vectors: np.ndarray,
    n_anchors: int | Mapping,
    strategy: str | dict,
    random_state: Any,
    proba: np.ndarray | None,
) -> dict[Any, np.ndarray]:
    """:func:`select_class_anchors` on checked labels and resolved strategy names."""
    rng = check_random_state(random_state)
    proba = None if proba is None else np.asarray(proba)
    anchors: dict[Any, np.ndarray] = {}
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        key = label_key(label)
        chosen = _select_anchors(
            vectors[members],
            per_class(n_anchors, key, DEFAULT_N_ANCHORS),
            per_class(strategy, key, DEFAULT_ANCHOR_STRATEGY),
            seed,
            None if proba is None else proba[members],
        )
        anchors[key] = members[chosen]
    return anchors


@validate_params(
    {
        "labels": ["array-like"],
        "vectors": ["array-like"],
        "n_anchors": N_ANCHORS_CONSTRAINTS,
        "strategy": ANCHOR_STRATEGY_CONSTRAINTS,
        "random_state": ["random_state"],
        "proba": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def select_class_anchors(
    labels: np.ndarray,
    vectors: np.ndarray,
    n_anchors: int | Mapping = DEFAULT_N_ANCHORS,
    strategy: str | Mapping = DEFAULT_ANCHOR_STRATEGY,
    *,
    random_state: Any = None,
    proba: np.ndarray | None = None,
) -> dict[Any, np.ndarray]:
    """For each class in ``labels`` (sorted), the positions of its anchors.

    Classes are handled in sorted order with one seed each drawn from ``random_state``, so the
    result is reproducible and a class's anchors do not depend on the other classes' sizes
    (nor on their strategies).

    Parameters
    ----------
    labels : array-like of shape (n_items,)
        Class of each row of ``vectors``; ``None``/NaN are rejected.
    vectors : array-like of shape (n_items, dim)
        Embeddings of the labelled items.
    n_anchors : int or dict, default=10
        Anchors per class (A), or ``{class: A}``; unlisted classes get
        :data:`DEFAULT_N_ANCHORS`.
    strategy : str or dict, default="kmeans++"
        An anchor strategy name, or ``{class: name}``; unlisted classes get
        :data:`DEFAULT_ANCHOR_STRATEGY`.
    random_state : int, RandomState instance or None, default=None
        Seeds the per-class draws.
    proba : array-like of shape (n_items, n_classes), optional
        Predicted probabilities of the rows; required by "entropy".

    Returns
    -------
    dict
        ``{class label: sorted positions into vectors}``, labels as plain Python scalars.
    """
    labels = check_labels(labels)
    vectors = np.asarray(vectors)
    if vectors.shape[0] != labels.shape[0]:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but vectors has {vectors.shape[0]} rows"
        )
    return _select_class_anchors(
        labels, vectors, n_anchors, _resolve_strategy(strategy), random_state, proba
    )


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
    n_anchors : int or dict, default=10
        Anchors per class (A), or ``{class: A}`` (unlisted classes:
        :data:`DEFAULT_N_ANCHORS`). A class with fewer labelled rows uses all of them.
    anchor_strategy : str or dict, default="kmeans++"
        "kmeans++", "random", "entropy", or a mapping from class label to one of them
        (unlisted classes: "kmeans++").
    random_state : int, RandomState instance or None, default=None
        Seeds k-means++ and random anchor selection.

    Attributes
    ----------
    classes_ : ndarray
        The classes of ``y``, sorted.
    anchor_indices_ : ndarray of int64
        Rows of the training ``X`` chosen as anchors, grouped by class.
    anchors_ : ndarray of shape (n_anchors_total, n_features)
        The anchors, unit-normalised.
    anchor_labels_ : ndarray
        The class of each anchor.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.

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

    _parameter_constraints: ClassVar[dict] = {
        "n_anchors": N_ANCHORS_CONSTRAINTS,
        "anchor_strategy": ANCHOR_STRATEGY_CONSTRAINTS,
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_anchors: int | Mapping = DEFAULT_N_ANCHORS,
        anchor_strategy: str | Mapping = DEFAULT_ANCHOR_STRATEGY,
        random_state: Any = None,
    ):
        self.n_anchors = n_anchors
        self.anchor_strategy = anchor_strategy
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, proba: np.ndarray | None = None) -> AnchorTransformer:
        """Select the anchors among the rows of ``X`` (labelled embeddings) by class ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Embeddings (or other features, e.g. TF-IDF) of the labelled items; a sparse
            matrix is made dense here (the labelled rows only).
        y : array-like of shape (n_samples,)
            Their classes.
        proba : array-like of shape (n_samples, n_classes), optional
            Predicted probabilities of the rows; required by "entropy" anchors.

        Returns
        -------
        AnchorTransformer
            The fitted transformer.
        """
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        y = check_labels(y, "y")
        check_classification_targets(y)
        classes = np.unique(y)
        check_per_class_keys(self, ("n_anchors", "anchor_strategy"), classes, "the classes of y")
        if proba is not None:
            proba = np.asarray(proba)
            if proba.ndim != 2 or proba.shape != (X.shape[0], classes.size):
                raise ValueError(
                    f"proba must have shape (n_samples, n_classes) = ({X.shape[0]}, "
                    f"{classes.size}), got {proba.shape}"
                )
        Xn = normalize(X)
        if sp.issparse(Xn):  # the labelled rows only: anchors are chosen on dense rows
            Xn = Xn.toarray()
        usable = np.flatnonzero(Xn.any(axis=1))
        self.classes_ = classes
        missing = np.setdiff1d(self.classes_, y[usable])
        if missing.size:
            raise ValueError(
                f"class {label_key(missing[0])!r} has only all-zero rows in X: "
                "no anchor can be chosen"
            )
        anchors = _select_class_anchors(
            y[usable],
            Xn[usable],
            self.n_anchors,
            _resolve_strategy(self.anchor_strategy),
            self.random_state,
            None if proba is None else proba[usable],
        )
        positions = usable[np.concatenate([anchors[label_key(c)] for c in self.classes_])]
        self.anchor_indices_ = positions
        self.anchors_ = Xn[positions]
        self.anchor_labels_ = y[positions]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Cosine similarity of each row of ``X`` to each anchor."""
        check_is_fitted(self, "anchors_")
        X = validate_data(self, X, reset=False, accept_sparse="csr", dtype=[np.float64, np.float32])
        return np.asarray(normalize(X) @ self.anchors_.T.astype(X.dtype, copy=False))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """One name per anchor: ``anchor{j}_class{label}`` (``input_features``, if given, must
        be the fitted ones, as scikit-learn's transformers check)."""
        check_is_fitted(self, "anchors_")
        _check_feature_names_in(self, input_features)
        return np.asarray(
            [f"anchor{j}_class{label}" for j, label in enumerate(self.anchor_labels_)],
            dtype=object,
        )
