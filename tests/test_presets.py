"""Presets: names, what they build, the recommended one in a real modAL loop and in the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import AnchoredQueryStrategy, AnchorSubpool, ExactIndex
from skanchor.presets import LOGREG_PARAMS, PRESETS, RECOMMENDED, Preset, get_preset
from skanchor.subpool import PAPER_CONFIGURATION


def _pool(n=3000, n_rare=30, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    labels = np.zeros(n, dtype=int)
    labels[:n_rare] = 1
    vectors[:n_rare] += 1.5
    return vectors, labels


def test_names_follow_the_library_rule():
    assert get_preset("Paper") is PRESETS["paper"]
    assert get_preset(f" {RECOMMENDED.upper()} ") is PRESETS[RECOMMENDED]
    with pytest.raises(ValueError, match=r"unknown preset 'fast'.*paper"):
        get_preset("fast")
    assert RECOMMENDED in PRESETS


def test_the_paper_preset_is_the_paper_configuration():
    paper = get_preset("paper")
    assert dict(paper.anchoring) == dict(PAPER_CONFIGURATION)
    assert paper.strategy == "entropy" and not paper.strategy_params


def test_query_strategy_builds_the_preset():
    vectors, _ = _pool(n=200, n_rare=5)
    index = ExactIndex().add(vectors)
    preset = get_preset(RECOMMENDED)
    query = preset.query_strategy(index, minority=[1], classes=[0, 1], random_state=3, max_size=50)
    assert isinstance(query, AnchoredQueryStrategy)
    assert isinstance(query.pool_filter, AnchorSubpool)
    assert query.pool_filter.max_size == 50  # an override wins over the preset
    assert query.pool_filter.classes == [0, 1]
    assert query.strategy == preset.strategy
    if "minority" in (query.strategy_params or {}):
        assert query.strategy_params["minority"] == [1]
    # the preset's own strategy parameters reach the strategy, beside the minority
    for name, value in preset.strategy_params.items():
        assert query.strategy_params[name] == value
    twin = clone(query)  # a scikit-learn estimator like any other: clone keeps the index
    assert twin.pool_filter.index is index


def test_discovery_shares_the_exploited_items_between_minority_classes():
    """The ``discovery`` preset runs ``minority_mix`` with ``per_class=True`` (tuning round 4
    of benchmarks/RESULTS.md) and ``explore_prior="labelled"`` (round 6): with two minority
    classes, each gets its share of a batch."""
    rng = np.random.default_rng(0)
    centres = {0: 0.0, 1: 3.0, 2: -3.0}
    y = np.r_[np.zeros(300, int), np.ones(15, int), np.full(15, 2)]
    X = np.vstack([rng.normal(centres[c], 1.0, (1, 8)) for c in y])
    preset = get_preset("discovery")
    assert preset.strategy_params == {"per_class": True, "explore_prior": "labelled"}
    index = ExactIndex().add(X)
    query = preset.query_strategy(index, minority=[1, 2], classes=[0, 1, 2], random_state=0)
    labelled = np.r_[0:20, 300:303, 315:317]  # class 2 has fewer labels: it goes first
    clf = make_pipeline(
        FunctionTransformer(X.__getitem__),  # the model takes ids
        LogisticRegression(**LOGREG_PARAMS),
    ).fit(labelled, y[labelled])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    picked = pool[query(clf, pool, 8, labelled_ids=labelled, labels=y[labelled])[0]]
    assert y[picked[:4]].tolist() == [2, 1, 2, 1]  # round(0.5 * 8) exploited, class by class


def test_minority_is_one_label_or_several():
    """A single label is one class, not a sequence of characters (QA report: ``"spam"`` became
    ``["s", "p", "a", "m"]`` and the rare class was never exploited; ``1`` raised TypeError)."""
    index = ExactIndex().add(_pool(n=100, n_rare=5)[0])
    preset = get_preset(RECOMMENDED)
    for minority, expected in (
        ("spam", ["spam"]),
        (1, [1]),
        (np.int64(1), [1]),
        (["spam", "ham"], ["spam", "ham"]),
        (np.array([1, 2]), [1, 2]),
    ):
        query = preset.query_strategy(index, minority=minority)
        assert query.strategy_params["minority"] == expected
    assert "minority" not in preset.query_strategy(index, minority=[]).strategy_params


def test_a_minority_that_is_not_a_class_is_an_error():
    """Known up front, so it fails at once instead of waiting forever for a class that
    cannot come (the run used to go on as plain entropy with a warning each round)."""
    index = ExactIndex().add(_pool(n=100, n_rare=5)[0])
    preset = get_preset(RECOMMENDED)
    with pytest.raises(ValueError, match=r"minority=7 is not a class \(classes: 0, 1\)"):
        preset.query_strategy(index, minority=[7], classes=[0, 1])
    with pytest.raises(ValueError, match=r"minority='1' is not a class"):
        preset.query_strategy(index, minority="1", classes=[0, 1])
    query = preset.query_strategy(index, minority=1, classes=[0, 1])
    assert query.strategy_params["minority"] == [1]


def test_the_recommended_preset_finds_a_class_it_has_no_label_of():
    """A rare class without a labelled item (2% of the pool, a region of its own): the model
    cannot rank it, so the batch's exploration share finds it; with ``exploration=0`` the
    preset never does (QA report, 2026-12-03: 0 of 60 found in 15 rounds, every seed)."""
    modal = pytest.importorskip("modAL.models")
    from skanchor.integrations.modal import patch_modal
    from skanchor.subpool import StarvedClassWarning

    patch_modal()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    y = np.zeros(3000, int)
    y[:40], y[40:100] = 1, 2
    vectors[:40] += 2.0
    vectors[40:100, :8] -= 2.0
    index = ExactIndex().add(vectors)
    initial = np.r_[0:3, 200:260]  # class 2 has no label

    def found(seed, **anchoring):
        query = get_preset(RECOMMENDED).query_strategy(
            index, minority=[1, 2], classes=[0, 1, 2], random_state=seed, **anchoring
        )
        learner = modal.ActiveLearner(
            estimator=make_pipeline(
                FunctionTransformer(vectors.__getitem__), LogisticRegression(**LOGREG_PARAMS)
            ),
            query_strategy=query,
            X_training=initial,
            y_training=y[initial],
        )
        pool = np.setdiff1d(np.arange(3000), initial)
        with pytest.warns(StarvedClassWarning):
            for _ in range(15):
                positions, ids = learner.query(pool, n_instances=20)
                learner.teach(ids, y[ids])
                pool = np.delete(pool, positions)
        return int((learner.y_training == 2).sum())

    for seed in range(2):
        assert found(seed, exploration=0.0) == 0
        assert found(seed) >= 5


def test_a_strategy_without_minority_gets_none():
    preset = Preset("plain", "entropy only", {"max_size": 20}, "entropy")
    index = ExactIndex().add(_pool(n=100, n_rare=5)[0])
    assert preset.query_strategy(index, minority=[1]).strategy_params is None


def test_recommended_preset_in_a_modal_active_learner():
    modal = pytest.importorskip("modAL.models")
    from skanchor.integrations.modal import patch_modal

    patch_modal()
    vectors, labels = _pool()
    index = ExactIndex().add(vectors)
    found = {}
    for name in ("paper", RECOMMENDED):
        query = get_preset(name).query_strategy(
            index, minority=[1], classes=[0, 1], random_state=0, max_size=300
        )
        initial = np.r_[0:3, 100:147]
        learner = modal.ActiveLearner(
            estimator=make_pipeline(
                FunctionTransformer(vectors.__getitem__),
                LogisticRegression(**LOGREG_PARAMS),
            ),
            query_strategy=query,
            X_training=initial,
            y_training=labels[initial],
        )
        pool = np.setdiff1d(np.arange(len(vectors)), initial)
        seen = set(initial.tolist())
        for _ in range(6):
            positions, ids = learner.query(pool, n_instances=10)
            assert len(set(ids.tolist())) == 10 and not seen & set(ids.tolist())
            seen |= set(ids.tolist())
            learner.teach(ids, labels[ids])
            pool = np.delete(pool, positions)
        assert all(q["subpool_size"] <= 300 for q in query.queries_)
        found[name] = int(learner.y_training.sum())
    # 3 rare items labelled at the start, 27 more in the pool: the loop finds some of them
    assert found[RECOMMENDED] > 3
