"""Classifiers that stay meaningful on imbalanced labelled sets.

:class:`PriorShiftClassifier` moves a probabilistic classifier's decision rule, not its
probabilities: it adds one offset per class to the log-probabilities before the arg-max,
chosen on out-of-fold predictions of the labelled set (stratified cross-validation) to
maximise the macro F1 over the classes. For two classes this is a decision threshold tuned by
cross-validation (what :class:`sklearn.model_selection.TunedThresholdClassifierCV` does for
binary tasks only); for several it is a per-class prior shift. ``predict_proba`` is the
wrapped model's, so query strategies that read probabilities see the same scores.

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> rng = np.random.default_rng(0)
>>> X = np.r_[rng.normal(0, 1, (95, 2)), rng.normal(1.5, 1, (5, 2))]
>>> y = np.r_[["common"] * 95, ["rare"] * 5]
>>> model = PriorShiftClassifier(LogisticRegression(), random_state=0).fit(X, y)
>>> model.classes_.tolist(), model.offsets_.shape
(['common', 'rare'], (2,))
"""

from __future__ import annotations

import copy
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d

__all__ = ["PriorShiftClassifier"]


class PriorShiftClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """A classifier whose per-class decision offsets are tuned by cross-validation.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        The model; a clone is fitted on each fold and one on the whole labelled set.
    cv : int, default=5
        Folds of the stratified split (fewer when the rarest class has fewer items; with
        fewer than 2 items in some class the offsets stay 0: the plain arg-max).
    random_state : int, RandomState or None, default=None
        Shuffles the folds.

    Attributes
    ----------
    estimator_ : classifier
        The model fitted on the whole labelled set.
    classes_ : ndarray
        The classes, as the fitted model orders them.
    offsets_ : ndarray of float64, shape (n_classes,)
        Added to the log-probabilities before the arg-max (0 for the most frequent class).
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator: Any = None, cv: int = 5, random_state: Any = None):
        self.estimator = estimator
        self.cv = cv
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> PriorShiftClassifier:
        """Tune the offsets on out-of-fold probabilities, then fit the model on all of ``X``.

        Parameters
        ----------
        X : array-like
            Training items, as ``estimator`` takes them.
        y : array-like of shape (n_samples,)
            Their labels.

        Returns
        -------
        self : PriorShiftClassifier
        """
        self._validate_params()
        y = column_or_1d(y, warn=True)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        self.offsets_ = np.zeros(len(self.classes_))
        # Out-of-fold probabilities, columns in the fitted model's class order. Not
        # cross_val_predict: it refits on integer-encoded labels, which a model with fixed
        # classes (a skorch net given classes=["spam", "ham"]) refuses.
        column = {c: i for i, c in enumerate(self.classes_.tolist())}
        codes = np.array([column.get(v, -1) for v in y.tolist()])
        counts = np.bincount(codes[codes >= 0], minlength=len(self.classes_))
        n_splits = min(self.cv, int(counts.min()))
        if len(self.classes_) > 1 and n_splits >= 2 and (codes >= 0).all():
            folds = StratifiedKFold(n_splits, shuffle=True, random_state=self.random_state)
            proba = np.zeros((y.size, len(self.classes_)))
            for train, test in folds.split(np.zeros((y.size, 1)), y):
                fold = clone(self.estimator).fit(_safe_indexing(X, train), y[train])
                columns = [column[c] for c in fold.classes_.tolist()]
                proba[np.ix_(test, columns)] = fold.predict_proba(_safe_indexing(X, test))
            self.offsets_ = _tune_offsets(_log(proba), codes, int(np.argmax(counts)))
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        if self.estimator is not None:  # the input the wrapped model takes (sparse, ...)
            tags.input_tags = copy.deepcopy(get_tags(self.estimator).input_tags)
        return tags

    def predict_proba(self, X: Any) -> np.ndarray:
        """The fitted model's class probabilities (not shifted).

        Parameters
        ----------
        X : array-like
            Items, as ``estimator`` takes them.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest shifted log-probability.

        Parameters
        ----------
        X : array-like
            Items, as ``estimator`` takes them.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        scores = _log(self.predict_proba(X)) + self.offsets_
        return self.classes_[np.argmax(scores, axis=1)]


def _log(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, None))


def _macro_f1(codes: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Macro F1 of integer-coded labels (``f1_score(average="macro", zero_division=0)``)."""
    hits = np.bincount(codes[codes == predicted], minlength=n_classes)
    total = np.bincount(codes, minlength=n_classes) + np.bincount(predicted, minlength=n_classes)
    return float(np.mean(np.divide(2 * hits, total, out=np.zeros(n_classes), where=total > 0)))


def _tune_offsets(
    log_proba: np.ndarray, codes: np.ndarray, reference: int, n_passes: int = 2
) -> np.ndarray:
    """Per-class offsets maximising macro F1 by coordinate ascent (reference class fixed at 0).

    For class ``c`` the candidate offsets are the midpoints between consecutive values of the
    offset at which each item's prediction switches to ``c``; among equally good offsets the
    one closest to 0 wins, so the tuned rule departs from the arg-max only when that helps.
    """
    n_classes = log_proba.shape[1]
    offsets = np.zeros(n_classes)
    best = _macro_f1(codes, np.argmax(log_proba, axis=1), n_classes)
    for _ in range(n_passes):
        improved = False
        for c in range(n_classes):
            if c == reference:
                continue
            shifted = log_proba + offsets
            others = np.delete(shifted, c, axis=1).max(axis=1)
            switch = np.unique(others - log_proba[:, c])  # c wins when offset > switch
            candidates = np.r_[(switch[:-1] + switch[1:]) / 2, switch[0] - 1, switch[-1] + 1]
            candidates = candidates[np.argsort(np.abs(candidates), kind="stable")]
            for value in candidates:
                trial = offsets.copy()
                trial[c] = value
                score = _macro_f1(codes, np.argmax(log_proba + trial, axis=1), n_classes)
                if score > best + 1e-12:
                    best, offsets, improved = score, trial, True
        if not improved:
            break
    return offsets
