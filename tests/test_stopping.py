"""Stopping criteria on synthetic prediction sequences with known answers, and in a modAL
loop."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import cohen_kappa_score
from sklearn.utils._param_validation import InvalidParameterError

from skanchor.stopping import (
    CRITERIA,
    DeltaFScore,
    KappaAverage,
    StabilizingPredictions,
    criterion_name,
    get_criterion,
)


def _feed(criterion, sequence):
    decisions = []
    for predictions in sequence:
        decisions.append(criterion.update(np.asarray(predictions)).should_stop)
    return decisions


# Successive stop-set predictions and the kappa between each pair:
# a->b: po 0.75, pe 0.5 -> 0.5; b->b, b->b: identical -> 1.0
A, B = [0, 1, 1, 0], [0, 1, 1, 1]


def test_kappa_history_is_cohens_kappa_of_successive_models():
    criterion = StabilizingPredictions(threshold=0.8, window=3)
    assert _feed(criterion, [A, B, B]) == [False, False, False]
    assert criterion.history_ == pytest.approx([0.5, 1.0])
    rng = np.random.default_rng(1)
    sequence = rng.integers(0, 4, size=(5, 50))
    criterion = StabilizingPredictions().reset()
    _feed(criterion, sequence)
    expected = [cohen_kappa_score(a, b) for a, b in itertools.pairwise(sequence)]
    assert criterion.history_ == pytest.approx(expected)


def test_mean_and_all_rules_differ_where_they_should():
    sequence = [A, B, B, B]  # kappas 0.5, 1, 1
    mean = StabilizingPredictions(threshold=0.8, window=3, rule="mean")
    strict = StabilizingPredictions(threshold=0.8, window=3, rule="all")
    assert _feed(mean, sequence) == [False, False, False, True]
    assert _feed(strict, sequence) == [False, False, False, False]
    _feed(strict, [B])  # kappas 0.5, 1, 1, 1: the last three all reach 0.8
    assert strict.should_stop


def test_not_before_window_checks():
    criterion = StabilizingPredictions(threshold=0.99, window=3)
    assert _feed(criterion, [B, B, B]) == [False, False, False]  # two checks only
    assert criterion.update(np.asarray(B)).should_stop  # the third
    assert criterion.n_updates_ == 4


def test_identical_single_class_predictions_are_perfect_agreement():
    ones = np.ones(6, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(ones, ones))  # kappa itself is undefined here
    criterion = StabilizingPredictions(window=1)
    assert _feed(criterion, [ones, ones]) == [False, True]


def test_string_labels_and_instability():
    criterion = StabilizingPredictions(threshold=0.9, window=2)
    flips = [["x", "y", "x", "y"], ["y", "x", "y", "x"], ["x", "y", "x", "y"]]
    assert _feed(criterion, flips) == [False, False, False]
    assert criterion.history_ == pytest.approx([-1.0, -1.0])


def test_kappa_average_is_the_mean_rule_under_small_texts_names():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 3, 200)
    noise = (0.5, 0.2, 0.05, 0.01, 0.0, 0.0)
    sequence = [np.where(rng.random(200) < p, rng.integers(0, 3, 200), base) for p in noise]
    ours = _feed(StabilizingPredictions(threshold=0.95, window=3), sequence)
    theirs = _feed(KappaAverage(kappa=0.95, window_size=3), sequence)
    assert ours == theirs and ours[-1] is True and ours[2] is False
    assert KappaAverage().get_params() == {"kappa": 0.99, "stop_set": None, "window_size": 3}


def test_delta_f_known_values():
    criterion = DeltaFScore(threshold=0.25, window=2)
    # previous -> current: a = both positive, b + c = positive in one only
    sequence = [
        [1, 1, 0, 0],  # start
        [1, 0, 1, 0],  # a=1, changed=2 -> 1 - 2/4 = 0.5
        [1, 0, 1, 1],  # a=2, changed=1 -> 1 - 4/5 = 0.2
        [1, 0, 1, 1],  # identical -> 0
        [0, 0, 0, 0],  # a=0, changed=3 -> 1
    ]
    decisions = _feed(criterion, sequence)
    assert criterion.history_ == pytest.approx([0.5, 0.2, 0.0, 1.0])
    assert decisions == [False, False, False, True, False]  # 0.2 and 0 are below 0.25
    # no positives at all: no agreement about the positive class yet, so no stop (QA report:
    # on a rare class the criterion stopped before any model had predicted it)
    none = DeltaFScore(window=1)
    assert _feed(none, [[0, 0], [0, 0], [0, 0]]) == [False, False, False]
    assert none.history_ == [1.0, 1.0]


def test_no_stop_before_the_rare_class_is_predicted():
    """Two models that call every stop-set item the majority agree perfectly (kappa 1); with
    pos_label (the rare class) that is not agreement yet, and a pos_label that a model does
    not know is an error, not a criterion that can never say anything."""
    from sklearn.dummy import DummyClassifier

    majority = [["ham"] * 4] * 4
    plain = StabilizingPredictions(window=2)
    assert _feed(plain, majority)[-1]  # the paper's rule: stable
    rare = StabilizingPredictions(window=2, pos_label="spam")
    assert _feed(rare, majority) == [False] * 4 and rare.history_ == [0.0] * 3
    assert _feed(rare, [["ham", "spam", "ham", "ham"]] * 3)[-1]  # found and stable: stop
    X = np.zeros((4, 1))
    model = DummyClassifier(strategy="constant", constant="ham").fit(X, ["ham", "eggs"] * 2)
    for criterion in (DeltaFScore(stop_set=X, pos_label="Spam"), rare.set_params(stop_set=X)):
        with pytest.raises(ValueError, match=r"pos_label='S?s?pam' cannot match .*'eggs', 'ham'"):
            criterion.update(model)


def test_delta_f_one_vs_rest_on_a_multiclass_task():
    criterion = DeltaFScore(pos_label="spam", threshold=0.1, window=1)
    decisions = _feed(criterion, [["ham", "spam", "eggs"], ["eggs", "spam", "ham"]])
    assert decisions == [False, True]  # only "spam" counts: unchanged
    assert criterion.history_ == [0.0]


def test_models_are_applied_to_the_stop_set():
    from sklearn.dummy import DummyClassifier

    X_stop = np.zeros((5, 1))
    zeros = DummyClassifier(strategy="constant", constant=0).fit([[0], [1]], [0, 1])
    criterion = StabilizingPredictions(stop_set=X_stop, window=1)
    criterion.update(zeros).update(zeros)
    assert criterion.should_stop and criterion.last_predictions_.tolist() == [0] * 5
    with pytest.raises(ValueError, match="stop_set is None"):
        StabilizingPredictions().update(zeros)


def test_bad_input_names_the_problem():
    criterion = StabilizingPredictions()
    criterion.update(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="changed size: 3 before, 2 now"):
        criterion.update(np.array([0, 1]))
    with pytest.raises(ValueError, match="1-d array"):
        StabilizingPredictions().update(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="contain None"):
        StabilizingPredictions().update(np.array([1, None], dtype=object))
    with pytest.raises(ValueError, match="contain NaN"):
        StabilizingPredictions().update(np.array([1.0, np.nan]))
    # the default pos_label=1 on string labels would never match and say "stop" at once
    with pytest.raises(ValueError, match=r"pos_label=1 cannot match .*'ham', 'spam'"):
        DeltaFScore().update(np.array(["ham", "spam"]))
    with pytest.raises(ValueError, match="pos_label='spam' cannot match"):
        DeltaFScore(pos_label="spam").update(np.array([0, 1]))
    assert DeltaFScore(pos_label=True).update(np.array([0, 1])).n_updates_ == 1
    for bad in (
        StabilizingPredictions(threshold=1.5),
        StabilizingPredictions(window=0),
        StabilizingPredictions(rule="median"),
        DeltaFScore(threshold=-0.1),
        KappaAverage(window_size=0),
    ):
        with pytest.raises(InvalidParameterError, match=r"parameter of \w+ must be"):
            bad.update(np.array([0, 1]))


def test_estimator_protocol_clone_and_reset():
    criterion = StabilizingPredictions(threshold=0.9, window=1)
    _feed(criterion, [A, A])
    assert criterion.should_stop
    copy = clone(criterion)
    assert copy.get_params() == criterion.get_params() and not hasattr(copy, "history_")
    criterion.reset()
    assert not criterion.should_stop and criterion.update(np.asarray(B)).n_updates_ == 1


def test_registry_names():
    assert set(CRITERIA) == {"stabilizing", "kappa-average", "delta-f"}
    assert criterion_name(" Kappa_Average ") == "kappa-average"
    assert isinstance(get_criterion("DELTA-F", pos_label="x"), DeltaFScore)
    with pytest.raises(ValueError, match="unknown stopping criterion 'never'; valid names"):
        get_criterion("never")


def test_in_a_modal_loop():
    """A modAL loop on a separable problem stabilises and the criterion says stop."""
    pytest.importorskip("modAL")
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling
    from sklearn.linear_model import LogisticRegression

    from skanchor.integrations.modal import patch_modal

    patch_modal()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    stop_set, pool = X[:200], np.arange(200, 600)
    start = np.r_[np.flatnonzero(y[200:] == 0)[:2], np.flatnonzero(y[200:] == 1)[:2]] + 200
    learner = ActiveLearner(
        LogisticRegression(),
        query_strategy=uncertainty_sampling,
        X_training=X[start],
        y_training=y[start],
    )
    pool = np.setdiff1d(pool, start)
    criterion = StabilizingPredictions(stop_set=stop_set, threshold=0.99, window=3)
    criterion.update(learner)
    rounds = 0
    while not criterion.should_stop and rounds < 60:
        position, _ = learner.query(X[pool])
        chosen = pool[np.asarray(position).ravel()]
        learner.teach(X[chosen], y[chosen])
        pool = np.setdiff1d(pool, chosen)
        criterion.update(learner)
        rounds += 1
    assert criterion.should_stop and 3 <= rounds < 60
    assert np.mean(criterion.history_[-3:]) >= 0.99
    accuracy = (learner.predict(stop_set) == y[:200]).mean()
    assert accuracy > 0.95  # it stopped once the model was good, not at random
