"""Uncertainty sampling (entropy, margin, least confidence) and random sampling."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils._param_validation import validate_params

from skanchor._proba import predictive_entropy
from skanchor._ranking import top_k
from skanchor.strategies._common import (
    STRATEGY_CONSTRAINTS,
    _check_pool_size,
    _check_random_state,
    _margin,
    _n_items,
    _predict_proba,
    _result,
)

__all__ = [
    "entropy_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "random_sampling",
]


@validate_params(STRATEGY_CONSTRAINTS, prefer_skip_nested_validation=True)
def entropy_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of highest predictive entropy; scores are the entropies (nats)."""
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    scores = predictive_entropy(_predict_proba(classifier, X, n, "entropy_sampling"))
    positions = top_k(scores, n_instances, largest=True)
    return _result(positions, scores[positions])


@validate_params(STRATEGY_CONSTRAINTS, prefer_skip_nested_validation=True)
def margin_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of smallest margin ``p_(1) - p_(2)`` between the two top classes.

    Scores are the margins (smaller is more uncertain). With a single known class the missing
    second probability counts as 0.
    """
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    scores = _margin(_predict_proba(classifier, X, n, "margin_sampling"))
    positions = top_k(scores, n_instances, largest=False)
    return _result(positions, scores[positions])


@validate_params(STRATEGY_CONSTRAINTS, prefer_skip_nested_validation=True)
def least_confidence_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Select the items of highest ``1 - max_c p_c``; scores are those values."""
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    scores = 1.0 - _predict_proba(classifier, X, n, "least_confidence_sampling").max(axis=1)
    positions = top_k(scores, n_instances, largest=True)
    return _result(positions, scores[positions])


@validate_params(STRATEGY_CONSTRAINTS, prefer_skip_nested_validation=True)
def random_sampling(
    classifier: Any, X: Any, n_instances: int = 1, *, random_state: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform sampling without replacement; ``classifier`` is not used (may be ``None``).

    Every item draws a key from U[0, 1) with ``random_state``; the items with the largest keys
    are selected and the keys are the scores. Seeded calls are reproducible.
    """
    n = _n_items(X)
    _check_pool_size(n_instances, n)
    keys = _check_random_state(random_state).random_sample(n)
    positions = top_k(keys, n_instances, largest=True)
    return _result(positions, keys[positions])
