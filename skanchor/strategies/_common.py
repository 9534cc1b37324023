"""What every query strategy shares: the protocols a classifier may offer, unwrapping modAL
learners and pipelines, checked probabilities and representations, scores and ranking, the
constraints of the common parameters, and how a strategy's return value is read."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples

from skanchor._proba import predictive_entropy

__all__ = [
    "QueryStrategy",
    "SupportsJointRepresentation",
    "SupportsRepresentation",
    "get_representation",
    "predictive_entropy",
    "split_strategy_result",
]

#: Keywords :class:`~skanchor.AnchoredQueryStrategy` passes to a base strategy whose signature
#: names them; ``random_state`` is passed on the same rule.
QUERY_CONTEXT = ("pool_ids", "index", "labelled_ids", "labels", "X_labelled", "subpool_scores")

#: Constraints of the parameters every strategy takes (for ``validate_params``).
STRATEGY_CONSTRAINTS: dict[str, list] = {
    "n_instances": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state", np.random.Generator],
}

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


def _check_pool_size(n_instances: int, n_items: int, name: str = "X") -> None:
    """A one-line error unless ``n_instances`` (a validated int >= 1) items can be taken from
    ``n_items``."""
    if n_items == 0:
        raise ValueError(f"{name} is empty: there is nothing to query")
    if n_instances > n_items:
        raise ValueError(f"n_instances={n_instances} is larger than the pool ({n_items} items)")


def _is_index_array(value: Any) -> bool:
    """A 1-d array-like of integer positions (an empty one included), not a scalar."""
    try:
        if np.ndim(value) != 1:
            return False
        array = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return array.size == 0 or array.dtype.kind in "iu"


def split_strategy_result(result: Any) -> tuple[Any, Any]:
    """A strategy's return value as ``(positions, scores)``; ``scores`` is None if it had none.

    A strategy returns ``(positions, scores)`` (modAL >= 0.4.2, skanchor) or bare positions
    (modAL 0.4.1): an array, or a tuple of scalar positions such as ``(3, 7, 9)``.

    Raises
    ------
    TypeError
        A tuple that is neither shape.
    """
    if not isinstance(result, tuple):
        return result, None
    if len(result) == 2 and _is_index_array(result[0]):
        return result[0], result[1]
    if _is_index_array(result):
        return np.asarray(result), None
    raise TypeError(
        "a query strategy must return (indices, scores) or the selected indices; got a "
        f"tuple of {len(result)} elements whose first element is not an array of indices"
    )


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


def _result(positions: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def _margin(proba: np.ndarray) -> np.ndarray:
    if proba.shape[1] == 1:  # a single known class: the missing second one has probability 0
        return proba[:, 0].copy()
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return top2[:, 0] - top2[:, 1]
