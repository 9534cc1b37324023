"""When to stop labelling: stopping criteria usable in any active-learning loop.

Each criterion is a small scikit-learn estimator-like object. After every retraining, call
``criterion.update(model)`` (the criterion predicts its fixed *stop set* with the model) or
``criterion.update(predictions)`` (predictions of the stop set you computed yourself); then
read ``criterion.should_stop``. Nothing else is needed from the loop, so the same object
works in a modAL loop, a small-text loop, a hand-written loop or the labelling session.

- :class:`StabilizingPredictions` — Bloodgood & Vijay-Shanker (2009): Cohen's kappa between
  the predictions of successive models on a fixed, unlabelled stop set; stop once the
  predictions have stabilised, i.e. the kappas of the last ``window`` checks average at
  least ``threshold`` (``rule="mean"``, the paper's rule) or each reach it
  (``rule="all"``, stricter).
- :class:`KappaAverage` — the same averaged-kappa rule under small-text's parameter names
  (``kappa``, ``window_size``), for users moving from small-text.
- :class:`DeltaFScore` — Altschuler & Bloodgood (2019), as in small-text: the F-score that
  successive models' positive predictions would give each other, ``1 - 2a / (2a + b + c)``
  (``a``: stop-set items both models call positive, ``b``/``c``: items only one does); stop
  when it stays below ``threshold`` for ``window`` checks. small-text allows binary tasks
  only; here the positive class is ``pos_label`` and every other label is negative, so it
  also works one-vs-rest on a multiclass task (``pos_label`` = the minority class).

Identical successive predictions count as perfect agreement (kappa 1, delta F 0), even when
kappa is undefined (every prediction in one class), with one exception made for rare classes:
given a ``pos_label`` (the rare class), a check where neither model predicts it is not
agreement (kappa 0, delta F 1), so models that have never predicted the rare class, as early
in a run on an imbalanced pool, do not read as stable.

>>> import numpy as np
>>> from skanchor.stopping import StabilizingPredictions
>>> criterion = StabilizingPredictions(threshold=0.9, window=2)
>>> for predictions in ([0, 1, 1, 0], [0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]):
...     _ = criterion.update(np.array(predictions))
>>> [round(k, 2) for k in criterion.history_], criterion.should_stop
([0.5, 1.0, 1.0], True)

In a modAL loop:

>>> from sklearn.linear_model import LogisticRegression
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 2)); y = (X[:, 0] > 0).astype(int)
>>> criterion = StabilizingPredictions(stop_set=X[100:], threshold=0.99, window=2)
>>> for n in (10, 30, 50, 70, 90):
...     model = LogisticRegression().fit(X[:n], y[:n])  # learner.teach(...) in modAL
...     if criterion.update(model).should_stop:
...         break
>>> criterion.n_updates_ <= 5
True
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import cohen_kappa_score
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = [
    "CRITERIA",
    "DeltaFScore",
    "KappaAverage",
    "StabilizingPredictions",
    "StoppingCriterion",
    "criterion_name",
    "get_criterion",
]


class StoppingCriterion(BaseEstimator):
    """Base class: feed it each new model (or its stop-set predictions), read ``should_stop``.

    Subclasses implement :meth:`_measure` (one number comparing two successive prediction
    vectors) and :meth:`_decide` (whether the recent measurements say stop).

    Parameters
    ----------
    stop_set : array-like, optional
        The fixed stop set, in the form the models' ``predict`` takes (vectors, texts, ids).
        Needed only when :meth:`update` is given models rather than predictions.
    window : int, default=3
        Number of most recent measurements the decision looks at.

    Attributes
    ----------
    history_ : list of float
        One measurement per update after the first (comparing it with the previous one).
    n_updates_ : int
        Number of updates so far.
    last_predictions_ : ndarray
        The most recent stop-set predictions.
    """

    _parameter_constraints: ClassVar[dict] = {
        "stop_set": ["array-like", "sparse matrix", None],
        "window": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, stop_set: Any = None, window: int = 3):
        self.stop_set = stop_set
        self.window = window

    # -- the protocol -------------------------------------------------------------------------
    def update(self, model_or_predictions: Any) -> StoppingCriterion:
        """Record the next model.

        Parameters
        ----------
        model_or_predictions : estimator or array-like of shape (n_stop,)
            A model with ``predict`` (applied to ``stop_set``; a modAL learner works) or
            its predictions of the stop set.

        Returns
        -------
        self : StoppingCriterion
            The criterion, so that ``criterion.update(model).should_stop`` reads well.
        """
        if getattr(self, "n_updates_", 0) == 0:
            self._validate_params()
        predictions = self._predictions(model_or_predictions)
        previous = getattr(self, "last_predictions_", None)
        if previous is not None:
            if predictions.shape != previous.shape:
                raise ValueError(
                    f"stop-set predictions changed size: {previous.shape[0]} before, "
                    f"{predictions.shape[0]} now; the stop set must stay fixed"
                )
            if not hasattr(self, "history_"):
                self.history_ = []
            self.history_.append(float(self._measure(previous, predictions)))
        else:
            self.history_ = []
        self.last_predictions_ = predictions
        self.n_updates_ = getattr(self, "n_updates_", 0) + 1
        return self

    @property
    def should_stop(self) -> bool:
        """Whether the last ``window`` measurements say stop (False until there are enough)."""
        history = getattr(self, "history_", [])
        if len(history) < self.window:
            return False
        return bool(self._decide(np.asarray(history[-self.window :], dtype=np.float64)))

    def reset(self) -> StoppingCriterion:
        """Forget every update (the parameters stay).

        Returns
        -------
        self : StoppingCriterion
            The emptied criterion.
        """
        for name in ("history_", "n_updates_", "last_predictions_"):
            self.__dict__.pop(name, None)
        return self

    # -- helpers ------------------------------------------------------------------------------
    def _predictions(self, model_or_predictions: Any) -> np.ndarray:
        if hasattr(model_or_predictions, "predict"):
            if self.stop_set is None:
                raise ValueError(
                    f"{type(self).__name__}.update got a model but stop_set is None; pass "
                    "stop_set= or the model's stop-set predictions"
                )
            predictions = model_or_predictions.predict(self.stop_set)
        else:
            predictions = model_or_predictions
        predictions = np.asarray(predictions)
        if predictions.ndim != 1 or predictions.size == 0:
            raise ValueError(
                f"stop-set predictions must be a non-empty 1-d array, got shape {predictions.shape}"
            )
        if predictions.dtype == object and any(p is None for p in predictions.tolist()):
            raise ValueError("stop-set predictions contain None")
        if predictions.dtype.kind == "f" and np.isnan(predictions).any():
            raise ValueError("stop-set predictions contain NaN")
        _check_pos_label(getattr(self, "pos_label", None), predictions, model_or_predictions)
        return predictions

    def _measure(self, previous: np.ndarray, current: np.ndarray) -> float:
        raise NotImplementedError

    def _decide(self, recent: np.ndarray) -> bool:
        raise NotImplementedError


def _check_pos_label(pos: Any, predictions: np.ndarray, model_or_predictions: Any) -> None:
    """Refuse a criterion's ``pos_label`` that cannot occur: one of another kind than the
    predictions (1 against "ham"/"spam"), or one a model does not have among its
    ``classes_``. None (no ``pos_label``) passes."""
    if pos is None:
        return
    first = predictions[:1].tolist()[0]  # a plain Python value (not a numpy scalar)
    known = getattr(model_or_predictions, "classes_", None)
    if isinstance(first, str) != isinstance(pos, str):
        shown = np.unique(predictions.astype(str))[:5].tolist()
    elif known is not None and pos not in np.asarray(known).tolist():
        shown = np.asarray(known).tolist()[:5]
    else:
        return
    raise ValueError(
        f"pos_label={pos!r} cannot match the stop-set predictions "
        f"({', '.join(map(repr, shown))}): pass pos_label= as one of the predicted labels"
    )


def _kappa(previous: np.ndarray, current: np.ndarray) -> float:
    """Cohen's kappa, 1.0 for identical vectors (where kappa itself may be undefined)."""
    if np.array_equal(previous, current):
        return 1.0
    return float(cohen_kappa_score(previous, current))


class StabilizingPredictions(StoppingCriterion):
    """Stop when successive models agree on a fixed stop set (Bloodgood & Vijay-Shanker, 2009).

    After each retraining the new model predicts the stop set (a fixed sample of unlabelled
    items, a few hundred to a few thousand); Cohen's kappa between its predictions and the
    previous model's is one *check*. The paper stops when the last three checks average at
    least 0.99.

    Parameters
    ----------
    stop_set : array-like, optional
        The fixed stop set (see :class:`StoppingCriterion`).
    threshold : float, default=0.99
        Agreement (kappa) that counts as stable.
    window : int, default=3
        Number of most recent checks the decision looks at.
    rule : {"mean", "all"}, default="mean"
        ``"mean"``: the checks in the window average at least ``threshold`` (the paper);
        ``"all"``: every check in the window reaches it (stricter).
    pos_label : int, str, bool or None, default=None
        A rare class that the models must predict before they can agree: a check where
        neither model predicts it on the stop set counts as kappa 0 (two models that call
        everything the majority have not stabilised on a rare class). None: every check
        counts as it is (the paper).

    Attributes
    ----------
    history_ : list of float
        Kappa of each check.
    n_updates_ : int
        Number of updates (models) so far.
    last_predictions_ : ndarray
        The most recent stop-set predictions.
    """

    _parameter_constraints: ClassVar[dict] = {
        **StoppingCriterion._parameter_constraints,
        "threshold": [Interval(Real, -1, 1, closed="both")],
        "rule": [StrOptions({"mean", "all"})],
        "pos_label": [Integral, str, "boolean", None],
    }

    def __init__(
        self,
        stop_set: Any = None,
        threshold: float = 0.99,
        window: int = 3,
        rule: str = "mean",
        pos_label: Any = None,
    ):
        super().__init__(stop_set=stop_set, window=window)
        self.threshold = threshold
        self.rule = rule
        self.pos_label = pos_label

    def _measure(self, previous: np.ndarray, current: np.ndarray) -> float:
        pos = getattr(self, "pos_label", None)
        if pos is not None and not ((previous == pos).any() or (current == pos).any()):
            return 0.0  # the rare class never predicted: no agreement about it yet
        return _kappa(previous, current)

    def _decide(self, recent: np.ndarray) -> bool:
        if self.rule == "all":
            return bool((recent >= self.threshold).all())
        return bool(recent.mean() >= self.threshold)


class KappaAverage(StabilizingPredictions):
    """small-text's ``KappaAverage`` rule under its parameter names: stop when the mean kappa
    of the last ``window_size`` checks reaches ``kappa``.

    The same decision as ``StabilizingPredictions(threshold=kappa, window=window_size)``.

    Parameters
    ----------
    stop_set : array-like, optional
        The fixed stop set (see :class:`StoppingCriterion`).
    kappa : float, default=0.99
        Mean agreement that counts as stable.
    window_size : int, default=3
        Number of most recent checks averaged.

    Attributes
    ----------
    history_ : list of float
        Kappa of each check.
    n_updates_ : int
        Number of updates (models) so far.
    last_predictions_ : ndarray
        The most recent stop-set predictions.
    """

    _parameter_constraints: ClassVar[dict] = {
        "stop_set": ["array-like", "sparse matrix", None],
        "kappa": [Interval(Real, -1, 1, closed="both")],
        "window_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, stop_set: Any = None, kappa: float = 0.99, window_size: int = 3):
        self.stop_set = stop_set
        self.kappa = kappa
        self.window_size = window_size

    @property
    def threshold(self) -> float:  # type: ignore[override]
        return self.kappa

    @property
    def window(self) -> int:  # type: ignore[override]
        return self.window_size

    @property
    def rule(self) -> str:  # type: ignore[override]
        return "mean"


class DeltaFScore(StoppingCriterion):
    """Stop when successive models' positive predictions barely change (Altschuler &
    Bloodgood, 2019; small-text's ``DeltaFScore``).

    Each check is ``1 - 2a / (2a + b + c)`` on the stop set, where ``a`` counts items both
    models predict as ``pos_label``, and ``b``, ``c`` the items only the previous or only
    the new model does (0 when neither predicts any positive). Stop when each of the last
    ``window`` checks is below ``threshold``.

    Parameters
    ----------
    stop_set : array-like, optional
        The fixed stop set (see :class:`StoppingCriterion`).
    pos_label : int, str or bool, default=1
        The positive class; every other label counts as negative (one-vs-rest). A check where
        neither model predicts it counts as 1 (no agreement yet), so a class never predicted
        (a rare class not found yet, or a ``pos_label`` that is not a label) never stops; a
        model whose ``classes_`` lack it is an error.
    threshold : float, default=0.05
        Change below which the models count as stable.
    window : int, default=3
        Number of most recent checks that must all be below ``threshold``.

    Attributes
    ----------
    history_ : list of float
        Delta F of each check.
    n_updates_ : int
        Number of updates (models) so far.
    last_predictions_ : ndarray
        The most recent stop-set predictions.
    """

    _parameter_constraints: ClassVar[dict] = {
        **StoppingCriterion._parameter_constraints,
        "pos_label": [Integral, str, "boolean"],
        "threshold": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        stop_set: Any = None,
        pos_label: Any = 1,
        threshold: float = 0.05,
        window: int = 3,
    ):
        super().__init__(stop_set=stop_set, window=window)
        self.pos_label = pos_label
        self.threshold = threshold

    def _measure(self, previous: np.ndarray, current: np.ndarray) -> float:
        old = previous == self.pos_label
        new = current == self.pos_label
        both = int((old & new).sum())
        changed = int((old ^ new).sum())
        denominator = 2 * both + changed
        # neither model predicts the positive class: no agreement about it yet
        return 1.0 if denominator == 0 else 1.0 - 2.0 * both / denominator

    def _decide(self, recent: np.ndarray) -> bool:
        return bool((recent < self.threshold).all())


#: Stopping criteria by name (what the labelling session's ``--stop`` option takes).
CRITERIA: dict[str, type[StoppingCriterion]] = {
    "stabilizing": StabilizingPredictions,
    "kappa-average": KappaAverage,
    "delta-f": DeltaFScore,
}


def criterion_name(name: str) -> str:
    """The registered name of a criterion (case-insensitive, ``-`` and ``_`` alike).

    Parameters
    ----------
    name : str
        A name of :data:`CRITERIA`, in any case, with ``-`` or ``_``.

    Returns
    -------
    str
        The registered name; an unknown name raises ``ValueError`` listing the valid ones.

    >>> criterion_name(" Delta_F ")
    'delta-f'
    """
    if not isinstance(name, str):
        raise TypeError(f"stopping criterion must be a name, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in CRITERIA:
        raise ValueError(f"unknown stopping criterion {name!r}; valid names: {', '.join(CRITERIA)}")
    return key


def get_criterion(name: str, **params: Any) -> StoppingCriterion:
    """A new criterion by name (see :func:`criterion_name`), with ``params``.

    Parameters
    ----------
    name : str
        The criterion's name.
    **params
        Its constructor parameters.

    Returns
    -------
    StoppingCriterion
        The unfitted criterion.

    >>> get_criterion("Kappa_Average", kappa=0.95)
    KappaAverage(kappa=0.95)
    """
    return CRITERIA[criterion_name(name)](**params)
