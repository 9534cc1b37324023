"""A fitted index is data: clone, GridSearchCV, set_params, pickling and get_params keep it.

Each test goes through AnchoredQueryStrategy and AnchorSubpool, on HNSWIndex and ExactIndex,
and checks that the first query after the operation works.
"""

from __future__ import annotations

import copy
import pickle
from functools import partial

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import AnchoredQueryStrategy, AnchorSubpool
from skanchor.index import ExactIndex, HNSWIndex
from tests.conftest import clustered

VECTORS, CLUSTERS = clustered(n=600, dim=16, n_clusters=6, seed=3)
Y = (CLUSTERS < 2).astype(int)
LABELLED = np.r_[np.flatnonzero(Y == 1)[:3], np.flatnonzero(Y == 0)[:5]]
POOL = np.setdiff1d(np.arange(len(VECTORS)), LABELLED)
KINDS = {"exact": ExactIndex, "hnsw": partial(HNSWIndex, M=16, ef=20)}


def ids_model() -> object:
    """A classifier of index ids (the 'ids' pool bridge): ids -> vectors -> logistic regression."""
    return make_pipeline(FunctionTransformer(VECTORS.__getitem__), LogisticRegression())


def make_query(index, **filter_params) -> AnchoredQueryStrategy:
    params = {"n_anchors": 2, "n_neighbours": 20, "max_size": 40, "random_state": 0}
    return AnchoredQueryStrategy(
        AnchorSubpool(index, **{**params, **filter_params}), strategy="entropy", random_state=0
    )


def first_query(query: AnchoredQueryStrategy) -> np.ndarray:
    model = ids_model().fit(LABELLED, Y[LABELLED])
    positions, _ = query(model, POOL, n_instances=5, labelled_ids=LABELLED, labels=Y[LABELLED])
    return POOL[positions]


@pytest.fixture(params=sorted(KINDS))
def index(request):
    return KINDS[request.param]().add(VECTORS)


def test_clone_keeps_the_fitted_index(index):
    query = make_query(index)
    cloned = clone(query)
    assert cloned is not query and cloned.pool_filter is not query.pool_filter
    assert cloned.pool_filter.index is index  # shared, not rebuilt empty
    assert index.n_items == len(VECTORS)
    assert clone(index) is index
    subpool = clone(query.pool_filter)  # the filter alone: its first select works too
    assert subpool.index is index
    got = subpool.select(LABELLED, Y[LABELLED]).ids
    fresh = make_query(index).pool_filter.select(LABELLED, Y[LABELLED]).ids
    assert got.size == 40 and np.array_equal(got, fresh)
    # the clone's first query works and is the original's (same seeds, same index)
    assert np.array_equal(first_query(cloned), first_query(query))


def test_clones_sharing_an_index_do_not_see_each_others_masks(index):
    """Each select sets the mask to its own labelled set: interleaved clones get exactly what
    they would get with an index of their own."""
    model = ids_model().fit(LABELLED, Y[LABELLED])
    other = np.r_[LABELLED, POOL[:30]]
    other_pool = np.setdiff1d(np.arange(len(VECTORS)), other)

    def run(query, labelled, pool):
        return query(model, pool, n_instances=5, labelled_ids=labelled, labels=Y[labelled])[0]

    a, b = clone(make_query(index)), clone(make_query(index))
    got = [run(a, LABELLED, POOL), run(b, other, other_pool), run(a, LABELLED, POOL)]

    alone_a, alone_b = (make_query(copy.deepcopy(index)) for _ in range(2))
    want = [run(alone_a, LABELLED, POOL), run(alone_b, other, other_pool)]
    want.append(run(alone_a, LABELLED, POOL))
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    assert index.n_masked == LABELLED.size  # the mask of the last select


class ActiveLearningRun(ClassifierMixin, BaseEstimator):
    """A few rounds of pool-based active learning on the training ids, then a final model.

    What a user tunes an AnchoredQueryStrategy with: ``GridSearchCV`` clones this estimator
    (and so the query strategy, its filter and the index) for every candidate and fold.
    """

    def __init__(self, query_strategy=None, n_rounds=2, n_instances=4):
        self.query_strategy = query_strategy
        self.n_rounds = n_rounds
        self.n_instances = n_instances

    def fit(self, X, y):
        ids, y = np.asarray(X).ravel(), np.asarray(y)
        start = np.r_[np.flatnonzero(y == 1)[:2], np.flatnonzero(y == 0)[:2]]
        labelled, pool = ids[start], np.delete(ids, start)
        for _ in range(self.n_rounds):
            model = ids_model().fit(labelled, Y[labelled])
            positions, _ = self.query_strategy(
                model, pool, n_instances=self.n_instances, labelled_ids=labelled, labels=Y[labelled]
            )
            labelled, pool = np.r_[labelled, pool[positions]], np.delete(pool, positions)
        self.model_ = ids_model().fit(labelled, Y[labelled])
        self.classes_ = self.model_.classes_
        self.labelled_ = labelled
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X).ravel())


def test_grid_search_over_query_and_filter_parameters(index):
    run = ActiveLearningRun(make_query(index))
    grid = {
        "query_strategy__strategy": ["entropy", "margin"],
        "query_strategy__pool_filter__n_anchors": [1, 3],
    }
    search = GridSearchCV(run, grid, cv=2, error_score="raise").fit(np.arange(len(VECTORS)), Y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best.query_strategy.pool_filter.index is index
    assert index.n_items == len(VECTORS)
    assert len(best.query_strategy.queries_) == run.n_rounds
    assert best.labelled_.size == 4 + run.n_rounds * run.n_instances


def test_set_params_keeps_the_index(index):
    query = clone(make_query(index))  # what GridSearchCV does for every candidate
    query.set_params(pool_filter__n_anchors=1, strategy="margin")
    assert query.pool_filter.index is index and query.pool_filter.n_anchors == 1
    query.set_params(**query.get_params(deep=True))  # a full round trip is a no-op
    assert query.pool_filter.index is index and index.n_items == len(VECTORS)
    assert first_query(query).size == 5


def test_set_params_reaches_the_index_and_guards_its_build_parameters():
    index = HNSWIndex(M=16, ef=20).add(VECTORS)
    query = make_query(index)
    query.set_params(pool_filter__index__ef=32)  # a search-time parameter: applied
    assert index.ef == 32
    with pytest.raises(ValueError, match=r"M=8 cannot be set on a HNSWIndex that holds items"):
        query.set_params(pool_filter__index__M=8)  # the graph was built with M=16
    with pytest.raises(ValueError, match=r"'ef' parameter of HNSWIndex .* Got 0"):
        query.set_params(pool_filter__index__ef=0)
    assert (index.M, index.ef) == (16, 32)
    with pytest.raises(ValueError, match=r"dim=4 cannot be set on a ExactIndex"):
        ExactIndex().add(VECTORS).set_params(dim=4)
    assert first_query(query).size == 5


@pytest.mark.parametrize("cloned", [False, True], ids=["original", "clone"])
def test_pickling_keeps_the_fitted_index(index, cloned):
    """Pickled as is, or cloned then pickled (what GridSearchCV(n_jobs>1) sends a worker)."""
    query = make_query(index)
    index.mask(LABELLED[:2])
    restored = pickle.loads(pickle.dumps(clone(query) if cloned else query))
    copied = restored.pool_filter.index
    assert type(copied) is type(index) and copied is not index
    assert np.array_equal(copied.ids(), index.ids())
    assert np.array_equal(copied.masked_ids(), LABELLED[:2])
    np.testing.assert_array_equal(copied.vectors(LABELLED), index.vectors(LABELLED))
    assert np.array_equal(first_query(restored), first_query(query))


def test_get_params_deep_exposes_the_same_fitted_index(index):
    query = make_query(index)
    params = clone(query).get_params(deep=True)
    assert params["pool_filter__index"] is index
    assert params["pool_filter__index__dim"] == VECTORS.shape[1]  # the fitted dimension
    rebuilt = AnchoredQueryStrategy(**clone(query).get_params(deep=False))
    assert rebuilt.pool_filter.index is index
    assert np.array_equal(first_query(rebuilt), first_query(query))
