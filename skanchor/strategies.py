"""Query strategies with modAL's calling convention, as plain functions.

Every strategy is called as ``strategy(classifier, X, n_instances=1, *, random_state=None,
**kwargs)`` and returns ``(positions, scores)``: ``n_instances`` unique ``int64`` positions
into ``X`` (best first) and the ``float64`` score that ranked each of them. Extra keyword
arguments that modAL passes along (e.g. ``random_tie_break``) are accepted and ignored, so
the functions can be handed to ``modAL.models.ActiveLearner(query_strategy=...)`` unchanged;
modAL itself is not needed.

``X`` is whatever the classifier accepts (array, sparse matrix, list of texts, array of ids,
DataFrame). Only :func:`badge_sampling` and :func:`ftbertkm_sampling` need a numeric
representation of the items; :func:`get_representation` documents where it comes from.

The strategies are the three of the AnchorAL paper (App. A.4) plus the usual baselines:

- ``entropy``: highest predictive entropy (uncertainty).
- ``margin`` / ``least_confidence``: smallest top-2 margin / highest ``1 - max p``.
- ``random``: uniform sampling without replacement.
- ``badge``: k-means++ seeding on gradient embeddings (Ash et al., 2020; hybrid).
- ``ftbertkm``: items nearest to k-means centres of the l2-normalised representation
  (Yuan et al., 2020; diversity).

Ties are broken deterministically: among equal scores the smaller position wins. An unfitted
model raises scikit-learn's ``NotFittedError`` (modAL's own strategies return constant scores
instead); use :func:`random_sampling` for a cold start.

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> X = np.array([[-2.0], [-1.0], [-0.1], [0.2], [1.0], [2.0]])
>>> clf = LogisticRegression().fit(X, [0, 0, 0, 1, 1, 1])
>>> positions, scores = entropy_sampling(clf, X, n_instances=2)
>>> positions.tolist()
[2, 3]
>>> bool(scores[0] >= scores[1])
True
>>> get_strategy("badge")(clf, X, n_instances=3, random_state=0)[0].shape
(3,)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from scipy.special import entr
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import _num_samples

from skanchor._validation import check_n_instances

__all__ = [
    "STRATEGIES",
    "QueryStrategy",
    "SupportsJointRepresentation",
    "SupportsRepresentation",
    "badge_sampling",
    "entropy_sampling",
    "ftbertkm_sampling",
    "get_representation",
    "get_strategy",
    "gradient_embedding",
    "least_confidence_sampling",
    "margin_sampling",
    "predictive_entropy",
    "random_sampling",
]

#: A query strategy: ``(classifier, X, n_instances, *, random_state, **kwargs) -> (positions,
#: scores)``.
QueryStrategy = Callable[..., tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class SupportsRepresentation(Protocol):
    """A classifier that exposes the input of its classification layer.

    ``represent(X)`` returns an ``(n_items, dim)`` array: the penultimate-layer representation
    ``h(x)`` (e.g. the pooled output of a transformer before its linear head). BADGE and
    FT-BERTKM use it; without it, see :func:`get_representation` for the fallbacks.
    """

    def represent(self, X: Any) -> np.ndarray:
        """Return the ``(n_items, dim)`` representation of ``X``."""
        ...


@runtime_checkable
class SupportsJointRepresentation(Protocol):
    """A classifier that returns probabilities and representation from one forward pass.

    BADGE needs both ``predict_proba(X)`` and ``represent(X)``; a neural classifier that
    implements ``predict_proba_and_represent(X) -> (proba, representation)`` (as
    :class:`skanchor.models.TransformerClassifier` does) is run once over the items instead of
    twice. Directly, inside a modAL learner, or as the last step of a Pipeline.
    """

    def predict_proba_and_represent(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(predict_proba(X), represent(X))``."""
        ...


# --------------------------------------------------------------------------------------------
# Helpers: wrapped learners, probabilities, representations, ranking
# --------------------------------------------------------------------------------------------


def _has_represent(obj: Any) -> bool:
    return callable(getattr(obj, "represent", None))


def _is_learner_wrapper(obj: Any) -> bool:
    """A modAL-style learner (``estimator`` + ``query_strategy``), which passes itself along.

    Only objects with both attributes are unwrapped: a generic meta-estimator's ``estimator``
    (``CalibratedClassifierCV``, ``BaggingClassifier``, ...) is an unfitted template, not the
    model that makes the predictions.
    """
    return (
        getattr(obj, "estimator", None) is not None
        and hasattr(obj, "query_strategy")
        and not _has_represent(obj)
    )


def _unwrap_learner(obj: Any) -> Any:
    for _ in range(8):  # a learner wrapping a learner wrapping ...; bounded for safety
        if not _is_learner_wrapper(obj):
            break
        obj = obj.estimator
    return obj


def _n_items(X: Any) -> int:
    try:
        return int(_num_samples(X))
    except TypeError as exc:
        raise TypeError(
            f"cannot tell the number of items in X ({type(X).__name__}): {exc}"
        ) from exc


def _check_random_state(random_state: Any) -> np.random.RandomState:
    """``sklearn.utils.check_random_state``, plus: a ``np.random.Generator`` seeds a new one."""
    if isinstance(random_state, np.random.Generator):
        random_state = np.random.RandomState(int(random_state.integers(2**32, dtype=np.uint64)))
    return check_random_state(random_state)


def _predict_proba(classifier: Any, X: Any, n: int, strategy: str) -> np.ndarray:
    """Call ``classifier.predict_proba(X)`` and check it is a finite ``(n, n_classes)`` array."""
    inner = _unwrap_learner(classifier)
    if not (hasattr(classifier, "predict_proba") and hasattr(inner, "predict_proba")):
        name = type(inner).__name__
        if isinstance(inner, Pipeline):
            name += f" ending in {type(inner.steps[-1][1]).__name__}"
        raise TypeError(f"{strategy} needs a classifier with predict_proba; {name} has none")
    return _check_proba(classifier.predict_proba(X), inner, n)


def _check_proba(proba: Any, inner: Any, n: int) -> np.ndarray:
    """``proba`` as a finite, non-negative ``(n, n_classes)`` float64 array."""
    if sp.issparse(proba):
        proba = proba.toarray()
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != n or proba.shape[1] == 0:
        raise ValueError(
            f"{type(inner).__name__}.predict_proba returned shape {proba.shape}; "
            f"expected ({n}, n_classes)"
        )
    if not np.isfinite(proba).all():
        raise ValueError(f"{type(inner).__name__}.predict_proba returned NaN or inf")
    if (proba < 0).any():
        raise ValueError(f"{type(inner).__name__}.predict_proba returned negative values")
    return proba


def _as_features(X: Any, strategy: str | None) -> np.ndarray | sp.csr_matrix:
    """``X`` itself as the representation, when it is a numeric 2-d matrix."""
    who = f"{strategy} needs" if strategy else "get_representation needs"
    hint = (
        "the classifier must implement `represent(X) -> (n_items, dim) array` "
        "(see skanchor.strategies.SupportsRepresentation), or be a Pipeline whose steps "
        "before the last one turn X into numbers"
    )
    if sp.issparse(X):
        if X.ndim != 2:
            raise TypeError(f"{who} a 2-d representation of X; {hint}")
        return sp.csr_matrix(X)
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"{who} a numeric representation of X, got {type(X).__name__}; {hint}"
        ) from exc
    if arr.dtype == object:  # e.g. a DataFrame with object columns that hold numbers
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{who} a numeric representation of X, but X has dtype object; {hint}"
            ) from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.iscomplexobj(arr):
        raise TypeError(f"{who} a numeric representation of X, but X has dtype {arr.dtype}; {hint}")
    if arr.ndim != 2:
        raise TypeError(
            f"{who} a 2-d (n_items, dim) representation, but X has shape {arr.shape} "
            f"(ids or texts?); {hint}"
        )
    return arr


def _represent(estimator: Any, X: Any, strategy: str | None) -> Any:
    estimator = _unwrap_learner(estimator)
    if _has_represent(estimator):
        return estimator.represent(X)
    if isinstance(estimator, Pipeline):
        Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
        last = estimator.steps[-1][1]
        if last is None or (isinstance(last, str) and last == "passthrough"):
            return _as_features(Xt, strategy)
        return _represent(last, Xt, strategy)
    return _as_features(X, strategy)


def _representation(
    classifier: Any, X: Any, n: int, *, accept_sparse: bool, strategy: str | None
) -> np.ndarray | sp.csr_matrix:
    H = _represent(classifier, X, strategy)
    return _check_representation(H, type(_unwrap_learner(classifier)).__name__, n, accept_sparse)


def _check_representation(
    H: Any, source: str, n: int, accept_sparse: bool
) -> np.ndarray | sp.csr_matrix:
    """``H`` as a finite ``(n, dim)`` float matrix (CSR kept when ``accept_sparse``)."""
    if sp.issparse(H):
        H = sp.csr_matrix(H)
        if H.dtype not in (np.float32, np.float64):
            H = H.astype(np.float64)
        finite = np.isfinite(H.data).all()
        if not accept_sparse:
            H = H.toarray()
    else:
        H = np.asarray(H)
        if H.dtype not in (np.float32, np.float64):
            H = H.astype(np.float64)
        finite = np.isfinite(H).all()
    if H.ndim != 2 or H.shape[0] != n:
        raise ValueError(
            f"the representation of X (from {source}) has shape {H.shape}; expected ({n}, dim)"
        )
    if not finite:
        raise ValueError(f"the representation of X (from {source}) contains NaN or inf")
    return H


def _joint_pass(estimator: Any, X: Any) -> tuple[Any, Any] | None:
    """``predict_proba_and_represent(X)`` of the model, or of a Pipeline's last step; None
    when the model has no such method."""
    estimator = _unwrap_learner(estimator)
    if callable(getattr(estimator, "predict_proba_and_represent", None)):
        return estimator.predict_proba_and_represent(X)
    if isinstance(estimator, Pipeline) and not _has_represent(estimator):
        last = estimator.steps[-1][1]
        if callable(getattr(_unwrap_learner(last), "predict_proba_and_represent", None)):
            Xt = estimator[:-1].transform(X) if len(estimator.steps) > 1 else X
            return _joint_pass(last, Xt)
    return None


def _proba_and_representation(
    classifier: Any, X: Any, n: int, strategy: str
) -> tuple[np.ndarray, np.ndarray | sp.csr_matrix]:
    """Probabilities and representation, from one forward pass when the model offers it."""
    joint = _joint_pass(classifier, X)
    if joint is None:
        proba = _predict_proba(classifier, X, n, strategy)
        return proba, _representation(classifier, X, n, accept_sparse=True, strategy=strategy)
    inner = _unwrap_learner(classifier)
    proba, H = joint
    return _check_proba(proba, inner, n), _check_representation(
        H, type(inner).__name__, n, accept_sparse=True
    )


def get_representation(classifier: Any, X: Any, *, accept_sparse: bool = False) -> Any:
    """Return the representation ``h(x)`` that feeds the classification layer, ``(n, dim)``.

    Resolution order:

    1. a modAL-style learner (an object with ``estimator`` and ``query_strategy``, such as
       ``modAL.models.ActiveLearner``, which passes itself as ``classifier``) is unwrapped to its
       ``estimator``, unless it has ``represent`` itself;
    2. an object with ``represent`` (:class:`SupportsRepresentation`): ``represent(X)``;
    3. a ``sklearn.pipeline.Pipeline``: ``X`` goes through ``pipeline[:-1].transform`` and the
       rules apply again to the last step, so the result is the last step's ``represent`` of the
       transformed ``X`` if it has one, else the transformed ``X`` (the input of the final linear
       model);
    4. otherwise ``X`` itself: for a linear model on features, the features *are* the
       penultimate representation. ``X`` must then be a numeric 2-d matrix; texts, ids (1-d)
       and other non-numeric inputs raise ``TypeError`` asking for ``represent``.

    The result is a float32/float64 array (other dtypes become float64). A sparse result (e.g.
    TF-IDF features) is densified unless ``accept_sparse=True``; densifying costs
    ``n * dim`` floats, which the strategies avoid by working on the sparse matrix directly.
    """
    n = _n_items(X)
    return _representation(classifier, X, n, accept_sparse=accept_sparse, strategy=None)


def _top_k(scores: np.ndarray, k: int, *, largest: bool) -> np.ndarray:
    """Positions of the ``k`` best scores, best first; ties go to the smaller position."""
    key = -scores if largest else scores
    n = key.shape[0]
    if k < n:
        kth = np.partition(key, k - 1)[k - 1]
        candidates = np.flatnonzero(key <= kth)  # ascending positions, every tie at the cut-off
    else:
        candidates = np.arange(n)
    order = np.argsort(key[candidates], kind="stable")[:k]
    return candidates[order].astype(np.int64)


def _result(positions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def predictive_entropy(proba: Any) -> np.ndarray:
    """Row-wise entropy ``H = -sum_c p_c log p_c`` (natural log, ``0 log 0 = 0``).

    Each row is sorted before summing, so rows that hold the same probabilities in a different
    class order get bit-identical entropies (and tie exactly).
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be a 2-d (n_items, n_classes) array, got shape {proba.shape}")
    return entr(np.sort(proba, axis=1)).sum(axis=1)


def _margin(proba: np.ndarray) -> np.ndarray:
    if proba.shape[1] == 1:  # a single known class: the missing second one has probability 0
        return proba[:, 0].copy()
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]


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


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


def entropy_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of highest predictive entropy; scores are the entropies (nats)."""
    n = _n_items(X)
    n_instances = check_n_instances(n_instances, n)
    scores = predictive_entropy(_predict_proba(classifier, X, n, "entropy_sampling"))
    positions = _top_k(scores, n_instances, largest=True)
    return _result(positions, scores[positions])


def margin_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of smallest margin ``p_(1) - p_(2)`` between the two top classes.

    Scores are the margins (smaller is more uncertain). With a single known class the missing
    second probability counts as 0.
    """
    n = _n_items(X)
    n_instances = check_n_instances(n_instances, n)
    scores = _margin(_predict_proba(classifier, X, n, "margin_sampling"))
    positions = _top_k(scores, n_instances, largest=False)
    return _result(positions, scores[positions])


def least_confidence_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of highest ``1 - max_c p_c``; scores are those values."""
    n = _n_items(X)
    n_instances = check_n_instances(n_instances, n)
    scores = 1.0 - _predict_proba(classifier, X, n, "least_confidence_sampling").max(axis=1)
    positions = _top_k(scores, n_instances, largest=True)
    return _result(positions, scores[positions])


def random_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform sampling without replacement; ``classifier`` is not used (may be ``None``).

    Every item draws a key from U[0, 1) with ``random_state``; the items with the largest keys
    are selected and the keys are the scores. Seeded calls are reproducible.
    """
    n = _n_items(X)
    n_instances = check_n_instances(n_instances, n)
    keys = _check_random_state(random_state).random_sample(n)
    positions = _top_k(keys, n_instances, largest=True)
    return _result(positions, keys[positions])


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
    n_instances = check_n_instances(n_instances, n)
    proba, H = _proba_and_representation(classifier, X, n, "badge_sampling")
    G = gradient_embedding(proba, H)
    norms = np.sqrt(row_norms(G, squared=True).astype(np.float64))
    if not norms.any():
        positions = _top_k(predictive_entropy(proba), n_instances, largest=True)
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
        extra = candidates[_top_k(norms[candidates], n_instances - positions.size, largest=True)]
        positions = np.concatenate([positions, extra])
    return _result(positions, norms[positions])


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
    n_instances = check_n_instances(n_instances, n)
    H = _representation(classifier, X, n, accept_sparse=True, strategy="ftbertkm_sampling")
    H = normalize(H, norm="l2")
    rng = _check_random_state(random_state)
    with warnings.catch_warnings():
        # fewer distinct points than clusters: duplicate centres are handled below
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=n_instances, n_init=n_init, random_state=rng).fit(H)
    D = np.asarray(km.transform(H), dtype=np.float64)  # (n, n_instances) distances
    order = np.lexsort((np.arange(n_instances), D.min(axis=0)))
    used = np.zeros(n, dtype=bool)
    positions = np.empty(n_instances, dtype=np.int64)
    scores = np.empty(n_instances, dtype=np.float64)
    for rank, centre in enumerate(order):
        column = np.where(used, np.inf, D[:, centre])
        pos = int(np.argmin(column))  # first minimum: smaller position on ties
        used[pos] = True
        positions[rank] = pos
        scores[rank] = D[pos, centre]
    return _result(positions, scores)


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

#: Strategy functions by name.
STRATEGIES: dict[str, QueryStrategy] = {
    "entropy": entropy_sampling,
    "margin": margin_sampling,
    "least_confidence": least_confidence_sampling,
    "random": random_sampling,
    "badge": badge_sampling,
    "ftbertkm": ftbertkm_sampling,
}


def get_strategy(name_or_callable: str | QueryStrategy) -> QueryStrategy:
    """Return the strategy registered under a name (case-insensitive); a callable passes through."""
    if isinstance(name_or_callable, str):
        key = name_or_callable.strip().lower()
        if key not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {name_or_callable!r}; valid names: {', '.join(STRATEGIES)}"
            )
        return STRATEGIES[key]
    if callable(name_or_callable):
        return name_or_callable
    raise TypeError(
        "strategy must be a name "
        f"({', '.join(STRATEGIES)}) or a callable, got {type(name_or_callable).__name__}"
    )
