import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from skanchor import (
    AnchoredQueryStrategy,
    AnchorSubpool,
    ExactIndex,
    FullPool,
    RandomSubpool,
    RowLookup,
    SEALSSubpool,
)
from tests.conftest import clustered


@pytest.fixture(scope="module")
def task():
    vectors, clusters = clustered(n=1500, dim=16, n_clusters=8, seed=1)
    y = (clusters == 0).astype(int)
    rng = np.random.default_rng(0)
    labelled = np.r_[
        rng.choice(np.flatnonzero(y == 1), 3, replace=False),
        rng.choice(np.flatnonzero(y == 0), 20, replace=False),
    ]
    model = LogisticRegression().fit(vectors[labelled], y[labelled])
    return vectors, y, np.sort(labelled), model


def make_query(index, **kwargs):
    params = {"n_anchors": 3, "n_neighbours": 30, "max_size": 60, "random_state": 0}
    return AnchoredQueryStrategy(AnchorSubpool(index, **params), **kwargs)


def test_direct_call_returns_pool_positions(task):
    vectors, y, labelled, _ = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    ids_model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    ids_model.fit(labelled, y[labelled])
    query = make_query(index, strategy="entropy", random_state=0)
    positions, scores = query(
        ids_model, pool, n_instances=7, labelled_ids=labelled, labels=y[labelled]
    )
    assert positions.shape == scores.shape == (7,)
    assert np.unique(positions).size == 7
    record = query.queries_[-1]
    assert record["subpool_size"] <= 60
    assert record["selected_ids"].tolist() == pool[positions].tolist()
    # the selected items are the most uncertain ones *of the subpool*
    sub = query.pool_filter.last_subpool_.ids
    assert np.isin(pool[positions], sub).all()
    proba = ids_model.predict_proba(sub)
    entropy = -(proba * np.log(proba)).sum(axis=1)
    expected = sub[np.lexsort((np.arange(sub.size), -entropy))[:7]]
    assert sorted(pool[positions].tolist()) == sorted(expected.tolist())
    assert set(record["timings"]) >= {
        "anchor_selection",
        "search",
        "aggregation",
        "filter",
        "strategy",
        "total",
    }


def test_unsorted_pool_and_same_random_state(task):
    vectors, y, labelled, model = task
    pool = np.random.default_rng(5).permutation(np.setdiff1d(np.arange(len(vectors)), labelled))
    picks = []
    for _ in range(2):
        query = AnchoredQueryStrategy(
            AnchorSubpool(ExactIndex().add(vectors), n_anchors=3, random_state=4),
            strategy="random",
            random_state=9,
        )
        model_ids = make_pipeline(FunctionTransformer(vectors.__getitem__), clone(model))
        model_ids.fit(labelled, y[labelled])
        positions, _ = query(model_ids, pool, 5, labelled_ids=labelled, labels=y[labelled])
        assert np.isin(pool[positions], query.pool_filter.last_subpool_.ids).all()
        picks.append(pool[positions].tolist())
    assert picks[0] == picks[1]


def test_raw_vectors_and_texts_through_lookup(task):
    vectors, y, labelled, model = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    query = make_query(index, lookup=RowLookup().fit(vectors))
    positions, _ = query(model, vectors[pool], 4, X_labelled=vectors[labelled], labels=y[labelled])
    assert np.isin(pool[positions], query.pool_filter.last_subpool_.ids).all()

    texts = [f"doc {i}" for i in range(len(vectors))]
    text_model = make_pipeline(
        FunctionTransformer(lambda docs: vectors[[int(d.split()[1]) for d in docs]]),
        LogisticRegression(),
    ).fit([texts[i] for i in labelled], y[labelled])
    query = make_query(ExactIndex().add(vectors), lookup=RowLookup().fit(texts))
    positions, _ = query(
        text_model,
        [texts[i] for i in pool],
        4,
        X_labelled=[texts[i] for i in labelled],
        labels=y[labelled],
    )
    assert positions.size == 4


def test_top_up_when_the_subpool_is_small(task):
    vectors, y, labelled, model = task
    index = ExactIndex().add(vectors)
    query = AnchoredQueryStrategy(
        AnchorSubpool(index, n_anchors=1, n_neighbours=2, max_size=3),
        strategy="random",
        random_state=0,
    )
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    positions, _ = query(
        model, pool, 10, labelled_ids=labelled, labels=y[labelled], X_labelled=vectors[labelled]
    )
    assert np.unique(positions).size == 10
    assert query.queries_[-1]["n_topped_up"] == 10 - query.queries_[-1]["subpool_size"]
    assert not np.isin(pool[positions], labelled).any()


@pytest.mark.parametrize("filter_cls", [RandomSubpool, SEALSSubpool, FullPool])
def test_other_filters_behind_the_same_strategy(task, filter_cls):
    vectors, y, labelled, _ = task
    model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    model.fit(labelled, y[labelled])
    query = AnchoredQueryStrategy(filter_cls(ExactIndex().add(vectors)), strategy="margin")
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    positions, _ = query(model, pool, 3, labelled_ids=labelled, labels=y[labelled])
    assert positions.size == 3
    assert query.queries_[-1]["filter"] == filter_cls.name


def test_bad_input(task):
    vectors, y, labelled, model = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    kw = {"labelled_ids": labelled, "labels": y[labelled]}
    query = make_query(index)
    with pytest.raises(ValueError, match="n_instances"):
        query(model, pool, 0, **kw)
    with pytest.raises(ValueError, match="n_instances"):
        query(model, pool[:3], 4, **kw)
    with pytest.raises(ValueError, match="empty"):
        query(model, np.array([], dtype=int), 1, **kw)
    with pytest.raises(ValueError, match="duplicated"):
        query(model, np.r_[pool[:5], pool[:5]][::-1], 1, **kw)
    with pytest.raises(ValueError, match="outside the index"):
        query(model, np.r_[pool, 10**7], 1, **kw)
    with pytest.raises(ValueError, match="non-negative"):
        query(model, np.r_[-1, pool], 1, **kw)
    with pytest.raises(TypeError, match="RowLookup"):
        query(model, vectors[pool], 1, **kw)
    with pytest.raises(TypeError, match="labelled set"):
        query(model, pool, 1)
    with pytest.raises(ValueError, match="unknown to the index"):
        query(model, pool, 1, labelled_ids=[10**7], labels=[0])
    with pytest.raises(TypeError, match="predict_proba"):
        query(LinearSVC().fit(vectors[labelled], y[labelled]), pool, 1, **kw)
    with pytest.raises(ValueError, match="entropy"):
        make_query(index, strategy="entropyy")(model, pool, 1, **kw)
    with pytest.raises(TypeError, match="pool_filter"):
        AnchoredQueryStrategy(pool_filter=None)(model, pool, 1, **kw)
    with pytest.raises(ValueError, match="not in the corpus"):
        make_query(index, lookup=RowLookup().fit(vectors[:10]))(
            model, vectors[pool], 1, X_labelled=vectors[:3], labels=[0, 1, 0]
        )


def test_is_a_scikit_learn_estimator(task):
    vectors, *_ = task
    query = make_query(ExactIndex().add(vectors), strategy="badge", random_state=3)
    params = query.get_params()
    assert params["strategy"] == "badge" and params["pool_filter__n_anchors"] == 3
    cloned = clone(query)
    assert cloned.get_params()["pool_filter__max_size"] == 60
    query.set_params(pool_filter__max_size=10)
    assert query.pool_filter.max_size == 10
