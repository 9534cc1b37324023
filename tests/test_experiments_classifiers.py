"""Classifiers for imbalanced labelled sets: the CV-tuned prior shift and the logreg factory."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import DataConversionWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils import get_tags
from sklearn.utils._param_validation import InvalidParameterError

from skanchor.experiments.classifiers import PriorShiftClassifier, _macro_f1, _tune_offsets
from skanchor.experiments.components import CLASSIFIERS


def rare_1d(n_common: int, n_rare: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Common items around 0, rare ones around 3 on one axis (unit variance)."""
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0, 1, n_common), rng.normal(3, 1, n_rare)][:, None]
    return X, np.r_[["common"] * n_common, ["rare"] * n_rare]


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
        expected = f1_score(a, b, labels=range(4), average="macro", zero_division=0)
        assert _macro_f1(a, b, 4) == pytest.approx(expected)


def test_offsets_find_the_separating_threshold():
    # Log-probabilities of a model that under-rates class 1: the items of class 1 are exactly
    # those whose score s is above 0.3, but the arg-max puts the boundary at s = 0.5.
    s = np.linspace(0, 1, 101)
    log_proba = np.log(np.c_[1 - s, s].clip(1e-12))
    codes = (np.arange(101) > 30).astype(int)
    assert _macro_f1(codes, np.argmax(log_proba, axis=1), 2) < 1
    offsets = _tune_offsets(log_proba, codes, reference=0)
    assert offsets[0] == 0
    assert _macro_f1(codes, np.argmax(log_proba + offsets, axis=1), 2) == 1.0
    # the tuned boundary lies between the last class-0 item and the first class-1 item
    boundary = np.log(0.3 / 0.7), np.log(0.31 / 0.69)
    assert -boundary[1] <= offsets[1] <= -boundary[0]


def test_the_prior_shift_recovers_the_rare_class_a_plain_model_misses():
    X, y = rare_1d(950, 50, seed=1)
    plain = LogisticRegression(C=1e-3).fit(X, y)  # heavily regularised: never says "rare"
    assert (plain.predict(X) == "rare").sum() == 0
    model = PriorShiftClassifier(LogisticRegression(C=1e-3), random_state=0).fit(X, y)
    assert model.offsets_[0] == 0 and model.offsets_[1] > 0
    X_test, y_test = rare_1d(950, 50, seed=2)
    predicted = model.predict(X_test)
    hits = ((predicted == "rare") & (y_test == "rare")).sum()
    assert hits > 25 and (predicted == "rare").sum() < 100
    # probabilities are the wrapped model's: query strategies see the same scores
    np.testing.assert_array_equal(
        model.predict_proba(X_test), model.estimator_.predict_proba(X_test)
    )
    assert model.classes_.tolist() == ["common", "rare"]


def test_multiclass_offsets_and_too_few_items():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (300, 2)), rng.normal(2.5, 1, (12, 2)), rng.normal(-2.5, 1, (12, 2))]
    y = np.r_[["a"] * 300, ["b"] * 12, ["c"] * 12]
    model = PriorShiftClassifier(LogisticRegression(C=0.01), cv=3, random_state=0).fit(X, y)
    assert model.offsets_.shape == (3,) and model.offsets_[0] == 0
    assert set(model.predict(X)) == {"a", "b", "c"}
    # one item of a class: no folds to tune on, the plain arg-max is kept
    model = PriorShiftClassifier(LogisticRegression(), random_state=0).fit(X[:301], y[:301])
    np.testing.assert_array_equal(model.offsets_, [0.0, 0.0])
    np.testing.assert_array_equal(model.predict(X), model.estimator_.predict(X))


class FixedClasses(ClassifierMixin, BaseEstimator):
    """A regularised logistic regression with a fixed class order that refuses other labels,
    as a skorch net given ``classes=["rare", "common"]`` does."""

    def __init__(self, classes=("rare", "common")):
        self.classes = classes

    def fit(self, X, y):
        if not set(np.asarray(y).tolist()) <= set(self.classes):
            raise ValueError(f"y holds a label not among classes {self.classes}")
        self.model_ = LogisticRegression(C=1e-3).fit(X, y)
        self.classes_ = np.asarray(self.classes, dtype=object)
        return self

    def predict_proba(self, X):
        order = [self.model_.classes_.tolist().index(c) for c in self.classes_.tolist()]
        return self.model_.predict_proba(X)[:, order]


def test_a_model_with_its_own_class_order():
    """Offsets follow the wrapped model's classes_, whatever their order, and the folds are
    fitted on the labels as given (QA report: unsorted classes_ left the offsets untuned, and
    a model with fixed classes refused cross_val_predict's integer codes)."""
    X, y = rare_1d(950, 50, seed=1)
    sorted_model = PriorShiftClassifier(LogisticRegression(C=1e-3), random_state=0).fit(X, y)
    fixed = PriorShiftClassifier(FixedClasses(), random_state=0).fit(X, y)
    assert fixed.classes_.tolist() == ["rare", "common"] and fixed.offsets_[0] > 0
    np.testing.assert_allclose(fixed.offsets_, sorted_model.offsets_[::-1])
    np.testing.assert_array_equal(fixed.predict(X), sorted_model.predict(X))


def test_scikit_learn_conventions():
    X, y = rare_1d(200, 10)
    with pytest.warns(DataConversionWarning):
        model = PriorShiftClassifier(LogisticRegression(), cv=3).fit(X, y[:, None])
    assert model.n_features_in_ == 1
    assert get_tags(PriorShiftClassifier(LogisticRegression())).input_tags.sparse


def test_seeded_clonable_picklable_and_validated():
    X, y = rare_1d(200, 10)
    model = PriorShiftClassifier(LogisticRegression(), cv=3, random_state=5)
    a, b = clone(model).fit(X, y), clone(model).fit(X, y)
    np.testing.assert_array_equal(a.offsets_, b.offsets_)
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.predict(X), a.predict(X))
    assert model.get_params()["estimator__C"] == 1.0
    with pytest.raises(InvalidParameterError, match="'cv' parameter of PriorShiftClassifier"):
        PriorShiftClassifier(LogisticRegression(), cv=1).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'estimator' parameter"):
        PriorShiftClassifier(object()).fit(X, y)


def test_the_logreg_factory():
    spec = CLASSIFIERS["logreg"]
    vectors = np.eye(4)
    tuned = spec.make(vectors, {"threshold": "cv"}, model_seed=1, data_seed=2)[-1]
    assert isinstance(tuned, PriorShiftClassifier) and tuned.random_state == 2
    assert tuned.estimator.random_state == 1
    plain = spec.make(vectors, {"threshold": None, "C": 3.0}, model_seed=1, data_seed=2)[-1]
    assert isinstance(plain, LogisticRegression) and plain.C == 3.0
    with pytest.raises(InvalidParameterError, match="'threshold' parameter of logreg"):
        spec.make(vectors, {"threshold": "f1"}, model_seed=1, data_seed=2)
