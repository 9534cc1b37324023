import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

from skanchor import (
    AnchoredQueryStrategy,
    AnchorSubpool,
    ExactIndex,
    FullPool,
    RandomSubpool,
    RowLookup,
    SEALSSubpool,
    get_strategy,
    least_confidence_sampling,
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


@pytest.mark.parametrize("shuffled", [False, True])
def test_top_up_when_the_subpool_is_small(task, shuffled):
    """The random top-up never repeats a subpool row, whatever the order of ``X_pool`` (QA
    report: with ids out of order it drew rows already in the batch in 199 queries of 200)."""
    vectors, y, labelled, model = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    for seed in range(30):
        if shuffled:
            pool = np.random.RandomState(seed).permutation(pool)
        query = AnchoredQueryStrategy(
            AnchorSubpool(index, n_anchors=1, n_neighbours=2, max_size=3),
            strategy="random",
            random_state=seed,
        )
        n = min(40, pool.size)
        positions, _ = query(
            model, pool, n, labelled_ids=labelled, labels=y[labelled], X_labelled=vectors[labelled]
        )
        assert np.unique(positions).size == n
        assert query.queries_[-1]["n_topped_up"] == n - query.queries_[-1]["subpool_size"]
        assert not np.isin(pool[positions], labelled).any()


def test_an_item_taught_twice_counts_once_with_its_last_label(task):
    """A modAL learner taught an item again (a corrected label) holds it twice in X_training;
    the query uses its last label, with a warning (QA report: every later query failed)."""
    vectors, y, labelled, model = task
    seen = {}

    def spy(classifier, X, n_instances=1, *, labelled_ids=None, labels=None, **kwargs):
        seen.update(ids=labelled_ids, labels=labels)
        return np.arange(n_instances), np.zeros(n_instances)

    query = AnchoredQueryStrategy(AnchorSubpool(ExactIndex().add(vectors)), spy)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    again = labelled[1]
    taught = np.r_[labelled, again]
    labels = np.r_[y[labelled], 1 - y[again]]
    with pytest.warns(UserWarning, match=rf"1 item\(s\) twice \(e.g. id {again}, taught again\)"):
        query(model, pool, 4, X_labelled=taught, labels=labels)
    assert sorted(seen["ids"]) == sorted(labelled) and seen["ids"].size == labelled.size
    assert (
        dict(zip(seen["ids"].tolist(), seen["labels"].tolist(), strict=True))[again] == 1 - y[again]
    )
    # ids passed as labelled_ids= are the caller's own bookkeeping: a repeat stays an error
    with pytest.raises(ValueError, match="labelled_ids holds duplicated ids"):
        query(model, pool, 4, labelled_ids=taught, labels=labels)


def test_set_params_takes_effect_from_the_next_query(task):
    """New parameters on a used query or filter act as on a fresh one (QA report: a new
    ``random_state`` was ignored and SEALS kept neighbours found with the old index and K)."""
    vectors, y, labelled, _ = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    model.fit(labelled, y[labelled])

    def ask(query):
        return query(model, pool, 5, labelled_ids=labelled, labels=y[labelled])[0].tolist()

    def random_query(seed):
        return AnchoredQueryStrategy(
            RandomSubpool(index, max_size=50, random_state=seed), "random", random_state=seed
        )

    used = random_query(0)
    ask(used)
    used.set_params(random_state=1, pool_filter__random_state=1)
    assert ask(used) == ask(random_query(1))
    seals = AnchoredQueryStrategy(SEALSSubpool(index, n_neighbours=3), "entropy")
    ask(seals)
    seals.set_params(pool_filter__n_neighbours=40)
    fresh = AnchoredQueryStrategy(SEALSSubpool(index, n_neighbours=40), "entropy")
    assert ask(seals) == ask(fresh)
    assert seals.queries_[-1]["subpool_size"] == fresh.queries_[-1]["subpool_size"]


def test_a_misspelt_strategy_parameter_fails_the_query(task):
    vectors, y, labelled, model = task
    query = AnchoredQueryStrategy(
        AnchorSubpool(ExactIndex().add(vectors)), "minority_mix", strategy_params={"exploitt": 1}
    )
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    with pytest.raises(TypeError, match="did you mean 'exploit'"):
        query(model, pool, 4, labelled_ids=labelled, labels=y[labelled])


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
    with pytest.raises(ValueError, match="X_pool holds an id that is not in the index"):
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


# --- the strategy context contract -------------------------------------------------------------


def ids_model(vectors, y, labelled):
    model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    return model.fit(labelled, y[labelled])


def test_context_goes_only_to_strategies_that_name_it(task):
    vectors, y, labelled, _ = task
    index = ExactIndex().add(vectors)
    model = ids_model(vectors, y, labelled)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    seen = {}

    def asks_for_everything(
        classifier,
        X,
        n_instances=1,
        *,
        random_state=None,
        pool_ids=None,
        index=None,
        labelled_ids=None,
        labels=None,
        X_labelled="unset",
        subpool_scores=None,
    ):
        seen.update(
            random_state=random_state,
            pool_ids=pool_ids,
            index=index,
            labelled_ids=labelled_ids,
            labels=labels,
            X_labelled=X_labelled,
            subpool_scores=subpool_scores,
            X=X,
        )
        return np.arange(n_instances), np.ones(n_instances)

    def only_kwargs(classifier, X, n_instances=1, **kwargs):
        seen["kwargs"] = kwargs
        return np.arange(n_instances)

    query = make_query(index, strategy=asks_for_everything, random_state=0)
    positions, _ = query(model, pool, 4, labelled_ids=labelled, labels=y[labelled])
    sub = query.pool_filter.last_subpool_
    assert isinstance(seen["random_state"], int)
    assert seen["pool_ids"].dtype == np.int64
    assert seen["pool_ids"].tolist() == seen["X"].tolist() == sub.ids.tolist()
    assert seen["index"] is index
    assert seen["labelled_ids"].tolist() == labelled.tolist()
    assert seen["labels"].tolist() == y[labelled].tolist()
    assert seen["X_labelled"] is None  # only ids were given
    assert seen["subpool_scores"].dtype == np.float64
    np.testing.assert_array_equal(seen["subpool_scores"], sub.scores)
    assert pool[positions].tolist() == sub.ids[:4].tolist()

    query = make_query(index, strategy=only_kwargs, strategy_params={"labels": "mine"})
    query(model, pool, 2, labelled_ids=labelled, labels=y[labelled], extra=1)
    assert seen["kwargs"] == {"labels": "mine", "extra": 1}  # **kwargs get no context


def test_context_x_labelled_and_top_up_scores(task):
    vectors, y, labelled, model = task
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    seen = {}

    def strategy(classifier, X, n_instances=1, X_labelled=None, subpool_scores=None):
        seen.update(X_labelled=X_labelled, subpool_scores=subpool_scores)
        return np.arange(n_instances)

    query = AnchoredQueryStrategy(
        AnchorSubpool(ExactIndex().add(vectors), n_anchors=1, n_neighbours=2, max_size=3),
        strategy=strategy,
        lookup=RowLookup().fit(vectors),
    )
    _, scores = query(model, vectors[pool], 6, X_labelled=vectors[labelled], labels=y[labelled])
    assert seen["X_labelled"] is not None and len(seen["X_labelled"]) == labelled.size
    n_sub = query.queries_[-1]["subpool_size"]
    assert np.isfinite(seen["subpool_scores"][:n_sub]).all()
    assert np.isnan(seen["subpool_scores"][n_sub:]).all() and n_sub < 6  # topped up
    assert np.isnan(scores).all()  # the strategy returned bare positions


def test_strategy_names_follow_one_normalisation(task):
    vectors, y, labelled, _ = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    model = ids_model(vectors, y, labelled)
    kw = {"labelled_ids": labelled, "labels": y[labelled]}
    picks = [
        make_query(index, strategy=name)(model, pool, 3, **kw)[0].tolist()
        for name in ("least_confidence", "least-confidence", " Least-Confidence ")
    ]
    assert picks[0] == picks[1] == picks[2]
    assert get_strategy("LEAST-confidence") is least_confidence_sampling
    with pytest.raises(ValueError, match="'strategy' parameter of AnchoredQueryStrategy"):
        make_query(index, strategy="least confidence")(model, pool, 1, **kw)


def bad(returned):
    def strategy(classifier, X, n_instances=1):
        return returned(n_instances)

    return strategy


@pytest.mark.parametrize(
    ("returned", "match"),
    [
        (lambda n: np.r_[0, 0, 1], "position 0 more than once"),
        (lambda n: np.r_[-1, 0, 1], r"position -1, outside \[0, "),
        (lambda n: np.r_[0, 1, 10**6], "position 1000000, outside"),
        (lambda n: np.arange(n) + 0.0, "positions of dtype float64"),
        (lambda n: np.arange(n + 1), "4 positions for n_instances=3"),
        (lambda n: np.arange(n - 1), "2 positions for n_instances=3"),
        (lambda n: np.zeros((n, 2), int), r"positions of shape \(3, 2\)"),
        (lambda n: (np.arange(n), np.ones(n)), None),  # fine
    ],
)
def test_strategy_output_is_checked_and_named(task, returned, match):
    vectors, y, labelled, _ = task
    model = ids_model(vectors, y, labelled)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    query = make_query(ExactIndex().add(vectors), strategy=bad(returned))
    kw = {"labelled_ids": labelled, "labels": y[labelled]}
    if match is None:
        assert query(model, pool, 3, **kw)[0].shape == (3,)
        return
    with pytest.raises(ValueError, match=match) as caught:
        query(model, pool, 3, **kw)
    assert "strategy tests.test_query.bad.<locals>.strategy returned" in str(caught.value)
    assert len(query.queries_ if hasattr(query, "queries_") else []) == 0  # never used


def test_pool_ids_inside_the_range_but_not_in_the_index(task):
    vectors, y, labelled, _ = task
    ids = np.arange(len(vectors)) * 2  # sparse ids: every odd id is unknown
    index = ExactIndex().add(vectors, ids)
    pool = np.setdiff1d(ids, ids[labelled])
    query = make_query(index)
    model = make_pipeline(FunctionTransformer(lambda i: vectors[i // 2]), LogisticRegression())
    model.fit(ids[labelled], y[labelled])
    kw = {"labelled_ids": ids[labelled], "labels": y[labelled]}
    assert query(model, pool, 2, **kw)[0].size == 2
    with pytest.raises(ValueError, match=r"X_pool holds an id that is not in the index: 7$"):
        query(model, np.sort(np.r_[pool[:100], 7]), 2, **kw)


def test_labelled_set_errors_name_the_input(task):
    vectors, y, labelled, model = task
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    ids = ids_model(vectors, y, labelled)
    labels = y[labelled].astype(object)
    labels[2] = None
    with pytest.raises(ValueError, match=r"labels holds a missing label \(None\) at position 2"):
        make_query(index)(ids, pool, 1, labelled_ids=labelled, labels=labels)
    query = AnchoredQueryStrategy(
        AnchorSubpool(index, anchor_strategy="entropy", n_anchors=2), random_state=0
    )
    with pytest.raises(ValueError, match=r"X_labelled has 5 rows but labelled_ids has \d+ ids"):
        query(model, pool, 1, labelled_ids=labelled, labels=y[labelled], X_labelled=vectors[:5])


def test_params_validated_once_per_query(task, monkeypatch):
    vectors, y, labelled, _ = task
    model = ids_model(vectors, y, labelled)
    calls = {"query": 0, "filter": 0}
    for cls, key in ((AnchoredQueryStrategy, "query"), (AnchorSubpool, "filter")):
        original = cls._validate_params

        def spy(self, original=original, key=key):
            calls[key] += 1
            return original(self)

        monkeypatch.setattr(cls, "_validate_params", spy)
    query = make_query(ExactIndex().add(vectors))
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    query(model, pool, 3, labelled_ids=labelled, labels=y[labelled])
    assert calls == {"query": 1, "filter": 1}
    with pytest.raises(InvalidParameterError, match="'random_state' parameter"):
        make_query(ExactIndex().add(vectors), random_state="seed")(
            model, pool, 3, labelled_ids=labelled, labels=y[labelled]
        )
