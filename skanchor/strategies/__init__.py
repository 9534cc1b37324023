"""Query strategies with modAL's calling convention, as plain functions.

Every strategy is called as ``strategy(classifier, X, n_instances=1, *, random_state=None,
**kwargs)`` and returns ``(positions, scores)``: ``n_instances`` unique ``int64`` positions
into ``X`` (best first) and the ``float64`` score that ranked each of them. Extra keyword
arguments that modAL passes along (e.g. ``random_tie_break``) are accepted and ignored, so
the functions can be handed to ``modAL.models.ActiveLearner(query_strategy=...)`` unchanged;
modAL itself is not needed. Parameters are checked with scikit-learn's ``validate_params``.

Strategies are registered by name in :data:`STRATEGIES` (a plain dict: one line per
strategy); :func:`get_strategy` looks names up case-insensitively, ``-`` and ``_`` alike.
Inside :class:`~skanchor.AnchoredQueryStrategy` a strategy may also ask for context
(``pool_ids``, ``index``, ``labelled_ids``, ``labels``, ``X_labelled``, ``subpool_scores``)
by naming those parameters in its signature.

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

import difflib
import inspect
from typing import Any

import numpy as np
from sklearn.utils._param_validation import validate_parameter_constraints

from skanchor._params import lookup_name
from skanchor.strategies._common import (
    QUERY_CONTEXT,
    QueryStrategy,
    SupportsJointRepresentation,
    SupportsRepresentation,
    get_representation,
    predictive_entropy,
)
from skanchor.strategies.chains import direct_sampling, galaxy_sampling
from skanchor.strategies.diversity import badge_sampling, ftbertkm_sampling, gradient_embedding
from skanchor.strategies.graph import label_propagation_sampling
from skanchor.strategies.imbalance import (
    UnseenMinorityWarning,
    _as_label_list,
    minority_mix_sampling,
    minority_sampling,
)
from skanchor.strategies.uncertainty import (
    entropy_sampling,
    least_confidence_sampling,
    margin_sampling,
    random_sampling,
)

__all__ = [
    "STRATEGIES",
    "QueryStrategy",
    "SupportsJointRepresentation",
    "SupportsRepresentation",
    "UnseenMinorityWarning",
    "badge_sampling",
    "check_strategy_params",
    "direct_sampling",
    "entropy_sampling",
    "ftbertkm_sampling",
    "galaxy_sampling",
    "get_representation",
    "get_strategy",
    "with_minority",
    "gradient_embedding",
    "label_propagation_sampling",
    "least_confidence_sampling",
    "margin_sampling",
    "minority_mix_sampling",
    "minority_sampling",
    "predictive_entropy",
    "random_sampling",
]

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
    "galaxy": galaxy_sampling,
    "direct": direct_sampling,
    "minority": minority_sampling,
    "minority_mix": minority_mix_sampling,
    "label_propagation": label_propagation_sampling,
}


def get_strategy(name_or_callable: str | QueryStrategy) -> QueryStrategy:
    """Return the strategy registered under a name; a callable passes through.

    Names are matched as every registry name of skanchor (case-insensitive, ``-`` and ``_``
    alike): ``"least-confidence"``, ``"Least_Confidence"`` and ``"least_confidence"`` are the
    same strategy.

    Parameters
    ----------
    name_or_callable : str or callable
        A key of :data:`STRATEGIES`, or a modAL-protocol function.

    Returns
    -------
    callable
        The strategy function.
    """
    if isinstance(name_or_callable, str):
        return STRATEGIES[lookup_name(STRATEGIES, name_or_callable, "strategy")]
    if callable(name_or_callable):
        return name_or_callable
    raise TypeError(
        "strategy must be a name "
        f"({', '.join(STRATEGIES)}) or a callable, got {type(name_or_callable).__name__}"
    )


#: Strategy arguments that the query fills in (its context and seed), not a user's settings.
_FROM_THE_QUERY = frozenset((*QUERY_CONTEXT, "random_state"))


def check_strategy_params(strategy: str | QueryStrategy, params: dict | None) -> dict:
    """``params`` checked against the parameters of one of skanchor's strategies (names and
    values).

    skanchor's strategies ignore keywords they do not name (modAL passes extra ones along), so
    a misspelt parameter (``{"exploitt": 1.0}``) would change nothing without a word; here it
    is an error. Callables that are not registered in :data:`STRATEGIES` are not checked:
    modAL's own strategies pass unknown keywords on to ``predict_proba``.

    Parameters
    ----------
    strategy : str or callable
        A strategy name or function, as :func:`get_strategy` takes it.
    params : dict or None
        The parameters it will be called with (besides the classifier, the items and
        ``n_instances``).

    Returns
    -------
    dict
        ``params`` (a new dict).

    Raises
    ------
    TypeError
        A key that the strategy does not take, named with the strategy's parameters.
    sklearn.utils._param_validation.InvalidParameterError
        A value outside the strategy's declared constraints (a ValueError).
    """
    params = dict(params or {})
    function = get_strategy(strategy)
    name = next((k for k, f in STRATEGIES.items() if f is function), None)
    if name is None or not params:
        return params
    signature = inspect.signature(function).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    own = ("classifier", "X", "n_instances")  # the query's arguments, not parameters
    taken = [p for p, v in signature.items() if v.kind in kinds and p not in own]
    unknown = [key for key in params if key not in taken]
    if unknown:
        settable = [p for p in taken if p not in _FROM_THE_QUERY] or ["none"]
        close = difflib.get_close_matches(str(unknown[0]), settable, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"strategy_params: {unknown[0]!r} is not a parameter of strategy {name!r}{hint} "
            f"(its parameters: {', '.join(settable)})"
        )
    constraints = getattr(function, "_skl_parameter_constraints", {})
    checked = {k: v for k, v in params.items() if k in constraints}
    if checked:  # values too, now rather than at the first query
        validate_parameter_constraints(
            {k: constraints[k] for k in checked}, checked, caller_name=f"strategy {name!r}"
        )
    return params


def with_minority(
    strategy: str | QueryStrategy,
    params: dict | None,
    minority: Any,
    classes: Any = None,
) -> dict:
    """``params`` plus ``minority`` for a strategy that takes one (the imbalance-aware ones).

    A ``minority`` already in ``params`` wins; with no minority or a strategy without that
    parameter, ``params`` come back unchanged (as a new dict).

    Parameters
    ----------
    strategy : str or callable
        A strategy name or function, as :func:`get_strategy` takes it.
    params : dict or None
        The strategy's parameters.
    minority : label, sequence of labels or None
        The minority class(es) of the task or session (one label or several; empty or
        ``None``: none).
    classes : sequence or None
        Every class of the task or session: a minority class (given here or in ``params``)
        that is not one of them is an error, not a class the strategy waits for forever.

    Returns
    -------
    dict
        The parameters to call the strategy with.
    """
    params = dict(params or {})
    empty = minority is None or (np.ndim(minority) > 0 and len(minority) == 0)
    wanted = [] if empty else _as_label_list(minority)
    if wanted and "minority" not in params:
        if "minority" in inspect.signature(get_strategy(strategy)).parameters:
            params["minority"] = wanted
    if classes is not None and params.get("minority") is not None:
        known = list(classes)
        unknown = [m for m in _as_label_list(params["minority"]) if m not in known]
        if unknown:
            raise ValueError(
                f"minority={unknown[0]!r} is not a class (classes: "
                f"{', '.join(repr(c) for c in known)})"
            )
    return params
