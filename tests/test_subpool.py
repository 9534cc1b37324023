import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.utils._param_validation import InvalidParameterError

from skanchor import (
    AnchorSubpool,
    ExactIndex,
    FullPool,
    HNSWIndex,
    RandomSubpool,
    SEALSSubpool,
)
from skanchor.subpool import PHASES, StarvedClassWarning
from tests.conftest import clustered


@pytest.fixture()
def index(blobs):
    vectors, _ = blobs
    return ExactIndex().add(vectors)


def expected_anchoral(vectors, labelled, anchors, k, m):
    """AnchorAL by hand: exact top-k unlabelled neighbours per anchor, mean, top-m."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    unlabelled = np.setdiff1d(np.arange(len(vectors)), labelled)
    sums, counts = {}, {}
    for a in anchors:
        sims = unit[unlabelled] @ unit[a]
        top = unlabelled[np.lexsort((unlabelled, -sims))[:k]]
        for i in top:
            sums[i] = sums.get(i, 0.0) + float(unit[i] @ unit[a])
            counts[i] = counts.get(i, 0) + 1
    ranked = sorted(sums, key=lambda i: (-sums[i] / counts[i], i))[:m]
    return np.array(ranked), np.array([sums[i] / counts[i] for i in ranked])


def test_anchoral_matches_algorithm_1(blobs, index):
    vectors, _ = blobs
    labelled = np.array([3, 10, 50, 77, 500, 901])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # A >= class size: every labelled item is an anchor, so the result is fully determined
    sub = AnchorSubpool(index, n_anchors=3, n_neighbours=40, max_size=70).select(labelled, labels)
    ids, scores = expected_anchoral(vectors, labelled, labelled, k=40, m=70)
    assert sub.ids.dtype == np.int64
    assert sub.ids.tolist() == ids.tolist()
    np.testing.assert_allclose(sub.scores, scores, rtol=1e-5)
    assert sorted(sub.info["anchors"].tolist()) == labelled.tolist()
    assert sub.info["n_candidates"] >= len(sub)
    assert set(sub.info["timings"]) == set(PHASES)
    assert all(t >= 0 for t in sub.info["timings"].values())


def test_anchoral_selects_a_anchors_per_class(index):
    labelled = np.arange(100)
    labels = np.r_[np.zeros(80, int), np.ones(20, int)]
    filt = AnchorSubpool(index, n_anchors=5, n_neighbours=10, max_size=1000, random_state=0)
    sub = filt.select(labelled, labels)
    assert sub.info["anchors"].size == 10
    assert np.isin(sub.info["anchors"], labelled).all()
    assert sorted(np.asarray(sub.info["anchor_classes"]).tolist()) == [0] * 5 + [1] * 5
    assert len(sub) <= 100  # at most A*C*K distinct candidates
    assert filt.last_subpool_ is sub


def test_anchoral_restricted_to_pool_ids(index):
    labelled = np.arange(10)
    pool = np.arange(10, 2000, 2)  # only even ids are in the pool
    sub = AnchorSubpool(index, n_anchors=5, n_neighbours=50, random_state=0).select(
        labelled, np.r_[np.zeros(5), np.ones(5)], pool_ids=pool
    )
    assert len(sub) > 0
    assert np.isin(sub.ids, pool).all()


def test_anchoral_cold_start(index):
    filt = AnchorSubpool(index, max_size=25, random_state=0)
    sub = filt.select([], [])
    assert sub.info["cold_start"] is True
    assert len(sub) == 25 and np.unique(sub.ids).size == 25
    # a class without labelled items simply contributes no anchors
    sub = AnchorSubpool(index, n_anchors=4, n_neighbours=10, random_state=0).select(
        [1, 2, 3, 4, 5], [1, 1, 1, 1, 1]
    )
    assert sub.info["cold_start"] is False
    assert set(np.asarray(sub.info["anchor_classes"]).tolist()) == {1}
    assert sub.info["anchors"].size == 4


def test_entropy_anchors_need_a_model(index):
    filt = AnchorSubpool(index, anchor_strategy="entropy")
    with pytest.raises(TypeError, match="predict_proba"):
        filt.select([0, 1], [0, 1])

    class Model:
        def predict_proba(self, X):
            X = np.asarray(X)
            return np.c_[X / 2000.0, 1 - X / 2000.0]

    sub = AnchorSubpool(index, n_anchors=1, anchor_strategy={0: "entropy"}).select(
        [0, 1000, 5, 6], [0, 0, 1, 1], model=Model()
    )
    # class 0's most uncertain item is id 1000 (p = 0.5)
    anchors = dict(zip(sub.info["anchors"].tolist(), sub.info["anchor_classes"], strict=True))
    assert anchors[1000] == 0


def test_masks_follow_the_labelled_set(index):
    filt = AnchorSubpool(index, n_anchors=2, n_neighbours=5, random_state=0)
    filt.select([0, 1, 2], [0, 1, 1])
    assert index.is_masked(np.array([0, 1, 2])).all()
    filt.select([5, 6], [0, 1])  # a new run on the same index
    assert not index.is_masked(np.array([0, 1, 2])).any()
    assert index.is_masked(np.array([5, 6])).all()
    assert index.n_masked == 2
    # another filter on the same index takes the mask over: it is always the labelled set
    FullPool(index).select([7], [0])
    assert index.masked_ids().tolist() == [7]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_anchors": 0}, ValueError, "n_anchors"),
        ({"n_neighbours": -1}, ValueError, "n_neighbours"),
        ({"max_size": 0}, ValueError, "max_size"),
        ({"max_size": 1.5}, TypeError, "max_size"),
        ({"anchor_strategy": "median"}, ValueError, "anchor_strategy"),
        ({"n_anchors": {0: 0}}, ValueError, "n_anchors"),
        ({"n_neighbours": {1: 2.5}}, ValueError, "n_neighbours"),
        ({"max_size": {0: "big"}}, ValueError, "max_size"),
        ({"anchor_strategy": {1: "median"}}, ValueError, "anchor_strategy"),
        ({"exploration": 1.0}, ValueError, "exploration"),
        ({"exploration": -0.1}, ValueError, "exploration"),
        ({"exploration": "always"}, ValueError, "exploration"),
        ({"classes": 3}, ValueError, "classes"),
        ({"index": "not an index"}, TypeError, "index"),
    ],
)
def test_anchoral_bad_params(index, params, error, match):
    params = {"index": index} | params
    with pytest.raises(error, match=match) as caught:
        AnchorSubpool(**params).select([0, 1], [0, 1])
    assert isinstance(caught.value, InvalidParameterError)  # scikit-learn's declared checks


@pytest.mark.parametrize(
    ("make", "param", "value"),
    [
        (RandomSubpool, "max_size", 0),
        (RandomSubpool, "random_state", "seed"),
        (SEALSSubpool, "n_neighbours", 0),
        (FullPool, "index", None),
    ],
)
def test_other_filters_declare_their_params(index, make, param, value):
    filt = make(index).set_params(**{param: value})
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of {make.__name__}"):
        filt.select([0, 1], [0, 1])


def test_params_validated_once_per_select(index, monkeypatch):
    calls = []
    original = AnchorSubpool._validate_params
    monkeypatch.setattr(
        AnchorSubpool, "_validate_params", lambda self: calls.append(1) or original(self)
    )
    filt = AnchorSubpool(index, n_anchors={0: 2}, n_neighbours=5, max_size={0: 5, 1: 5})
    filt.select(np.arange(10), np.arange(10) % 2)
    assert len(calls) == 1


def test_anchor_strategy_names_are_normalised(index):
    labelled, labels = np.arange(40), np.arange(40) % 2
    reference = AnchorSubpool(index, n_anchors=3, random_state=0).select(labelled, labels)
    for name in ("KMeans++", " kmeans++ "):
        sub = AnchorSubpool(index, n_anchors=3, anchor_strategy=name, random_state=0).select(
            labelled, labels
        )
        assert sub.ids.tolist() == reference.ids.tolist()
    sub = AnchorSubpool(
        index, n_anchors=3, anchor_strategy={0: "Random", 1: "KMEANS++"}, random_state=0
    ).select(labelled, labels)
    assert len(sub) > 0


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ([0, None, 1], "missing label \\(None\\) at position 1"),
        ([0.0, np.nan, 1.0], "missing label \\(nan\\) at position 1"),
        (np.array(["a", None, "b"], dtype=object), "missing label"),
        (np.array([1, "a", 2], dtype=object), "cannot be compared: int, str"),
    ],
)
def test_labels_with_missing_values_are_named(index, labels, match):
    with pytest.raises(ValueError, match=match):
        AnchorSubpool(index, n_anchors=1).select([0, 1, 2], labels)


def test_x_labelled_must_align_with_labelled_ids(index):
    class Model:
        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    filt = AnchorSubpool(index, anchor_strategy="entropy")
    with pytest.raises(ValueError, match="X_labelled has 2 rows but labelled_ids has 3 ids"):
        filt.select([0, 1, 2], [0, 1, 1], model=Model(), X_labelled=np.zeros((2, 4)))


def test_bad_labelled_input(index):
    filt = AnchorSubpool(index)
    with pytest.raises(ValueError, match="unknown to the index"):
        filt.select([0, 999_999], [0, 1])
    with pytest.raises(ValueError, match="duplicated"):
        filt.select([0, 0], [0, 1])
    with pytest.raises(ValueError, match="labels"):
        filt.select([0, 1], [0])
    with pytest.raises(ValueError, match="non-negative"):
        filt.select([-1], [0])
    with pytest.raises(TypeError, match="index"):
        AnchorSubpool(None).select([0], [0])
    with pytest.raises(ValueError, match="empty"):
        AnchorSubpool(ExactIndex()).select([0], [0])


def test_random_subpool(index):
    labelled = np.arange(0, 2000, 3)
    filt = RandomSubpool(index, max_size=100, random_state=0)
    a, b = filt.select(labelled, labelled % 2), filt.select(labelled, labelled % 2)
    assert len(a) == len(b) == 100
    assert not np.isin(a.ids, labelled).any()
    assert a.ids.tolist() != b.ids.tolist()  # a fresh subset each round
    again = RandomSubpool(index, max_size=100, random_state=0).select(labelled, labelled % 2)
    assert again.ids.tolist() == a.ids.tolist()
    pool = np.setdiff1d(np.arange(1000), labelled)
    c = filt.select(labelled, labelled % 2, pool_ids=pool)
    assert np.isin(c.ids, pool).all() and len(c) == 100
    small = RandomSubpool(index, max_size=10_000).select(labelled, labelled % 2, pool_ids=pool)
    assert sorted(small.ids.tolist()) == pool.tolist()


def test_seals_grows_with_new_labels_only(blobs, index):
    vectors, _ = blobs
    k = 7
    seals = SEALSSubpool(index, n_neighbours=k)
    first = seals.select([0, 1], [0, 1])
    exact = ExactIndex().add(vectors)
    exact.mask(np.array([0, 1]))
    nn, _ = exact.search(vectors[[0, 1]], k)
    assert sorted(first.ids.tolist()) == sorted(set(nn.ravel().tolist()))
    # labelling one of the candidates: it leaves the subpool, its neighbours join
    newly = int(first.ids[0])
    second = seals.select([0, 1, newly], [0, 1, 0])
    assert newly not in second.ids
    assert set(first.ids.tolist()) - {newly} <= set(second.ids.tolist())
    assert len(second) <= len(first) - 1 + k
    # the same labelled set again: no change
    assert seals.select([0, 1, newly], [0, 1, 0]).ids.tolist() == second.ids.tolist()
    # a labelled set that is not a superset restarts the filter
    restarted = seals.select([5], [0])
    assert len(restarted) == k
    assert seals.select([], []).ids.size == 0


def test_full_pool(index):
    sub = FullPool(index).select([0, 1, 2], [0, 1, 0])
    assert len(sub) == index.n_items - 3
    assert not np.isin(sub.ids, [0, 1, 2]).any()
    pool = np.arange(10, 20)
    assert FullPool(index).select([10], [0], pool_ids=pool).ids.tolist() == list(range(11, 20))


def test_hnsw_and_exact_subpools_agree():
    vectors, clusters = clustered(n=5000, dim=64, n_clusters=20, seed=3)
    labelled = np.flatnonzero(clusters < 2)[:60]
    labels = clusters[labelled]
    subs = [
        AnchorSubpool(idx, n_anchors=10, n_neighbours=50, max_size=500, random_state=0).select(
            labelled, labels
        )
        for idx in (ExactIndex().add(vectors), HNSWIndex().add(vectors))
    ]
    overlap = np.intersect1d(subs[0].ids, subs[1].ids).size / len(subs[0])
    assert overlap >= 0.95


FILTERS = {
    "anchoral": lambda idx, seed, m: AnchorSubpool(
        idx, n_anchors=3, n_neighbours=15, max_size=m, random_state=seed
    ),
    "anchoral-knobs": lambda idx, seed, m: AnchorSubpool(
        idx,
        n_anchors={"a": 2},
        n_neighbours={"b": 5, "c": 20},
        max_size={"a": m, "b": m, "c": m},
        classes=["a", "b", "c"],
        random_state=seed,
    ),
    "randsub": lambda idx, seed, m: RandomSubpool(idx, max_size=m, random_state=seed),
    "seals": lambda idx, seed, m: SEALSSubpool(idx, n_neighbours=15),
    "noop": lambda idx, seed, m: FullPool(idx),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_subpool_properties(name, data):
    n = data.draw(st.integers(20, 120), label="n")
    vectors, _ = clustered(n=n, dim=8, n_clusters=4, seed=data.draw(st.integers(0, 5)))
    ids = np.arange(n) * 3 + 7  # ids need not be 0..n-1
    n_labelled = data.draw(st.integers(0, n - 1), label="n_labelled")
    perm = np.random.default_rng(n_labelled).permutation(n)
    labelled = ids[perm[:n_labelled]]
    labels = data.draw(
        st.lists(st.sampled_from(["a", "b", "c"]), min_size=n_labelled, max_size=n_labelled),
        label="labels",
    )
    in_pool = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="in_pool")
    pool = np.sort(ids[np.asarray(in_pool, dtype=bool)]) if data.draw(st.booleans()) else None
    m = data.draw(st.integers(1, 60), label="M")
    seed = data.draw(st.integers(0, 3), label="seed")

    results = []
    for _ in range(2):
        index = ExactIndex().add(vectors, ids)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StarvedClassWarning)
            results.append(FILTERS[name](index, seed, m).select(labelled, labels, pool_ids=pool))
    sub = results[0]
    universe = ids if pool is None else pool
    assert np.isin(sub.ids, universe).all()
    assert not np.isin(sub.ids, labelled).any()
    assert np.unique(sub.ids).size == len(sub)
    if name in ("anchoral", "randsub"):
        assert len(sub) <= m
    if name == "anchoral-knobs":
        assert len(sub) <= 3 * m
        assert set(sub.info["explored_ids"].tolist()) <= set(sub.ids.tolist())
    assert sub.ids.tolist() == results[1].ids.tolist()
    np.testing.assert_array_equal(sub.scores, results[1].scores)


def test_pool_ids_are_checked_and_sorted_and_shares_leave_anchored_slots():
    """QA report: shuffled pool_ids gave an empty AnchorAL/SEALS subpool (bisection on an
    unsorted array), fractional or unknown ids passed, and exploration + probe >= 1 made the
    subpool several times max_size."""
    import warnings

    from skanchor import ExactIndex, RandomSubpool, SEALSSubpool

    rng = np.random.default_rng(0)
    index = ExactIndex().add(rng.normal(size=(800, 8)))
    labelled = np.arange(40)
    y = (labelled % 3 == 0).astype(int)
    pool = np.arange(40, 800)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for make in (
            lambda: AnchorSubpool(index, max_size=100, random_state=0),
            lambda: SEALSSubpool(index, n_neighbours=5),
        ):
            a = make().select(labelled, y, pool_ids=pool)
            b = make().select(labelled, y, pool_ids=rng.permutation(pool))
            assert len(a) > 0 and np.array_equal(np.sort(a.ids), np.sort(b.ids))
        with pytest.raises(TypeError, match="pool_ids must hold integer ids"):
            AnchorSubpool(index).select(labelled, y, pool_ids=pool + 0.5)
        with pytest.raises(ValueError, match="pool_ids holds id 5000"):
            RandomSubpool(index, max_size=5).select(labelled, y, pool_ids=[41, 5000])
        with pytest.raises(ValueError, match=r"exploration=0.6 and probe=0.6 leave no slot"):
            AnchorSubpool(index, exploration=0.6, probe=0.6).select(labelled, y)
        auto = AnchorSubpool(index, max_size=100, classes=[0, 1, 2, 3, 4], probe=0.5)
        assert len(auto.select(labelled, y)) <= 100
    empty = ExactIndex()
    empty.set_mask([])  # nothing to mask on an empty index (it raised AttributeError)
    assert empty.n_masked == 0


def test_a_test_split_in_the_index_does_not_shrink_the_subpool():
    """The documented way to keep a test split out is pool_ids, not masking; each anchor's K
    neighbours were searched among every live item and only then restricted, so the subpool
    shrank with the test split's share (QA report: 87 of M = 1,000 with 90% of the index
    outside the pool). The search is widened instead: about K pool items per anchor."""
    import warnings

    from skanchor import SEALSSubpool

    rng = np.random.default_rng(0)
    index = ExactIndex().add(rng.normal(size=(6000, 16)))
    labelled = np.arange(100)
    y = (labelled % 5 == 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sizes = {}
        for n_pool in (6000, 3000):
            pool = np.arange(100, n_pool)
            a = AnchorSubpool(index, n_neighbours=20, max_size=300, random_state=0)
            s = SEALSSubpool(index, n_neighbours=5)
            sizes[n_pool] = (len(a.select(labelled, y, pool_ids=pool)),
                             len(s.select(labelled, y, pool_ids=pool)))  # fmt: skip
    whole, half = sizes[6000], sizes[3000]
    assert half[0] >= 0.8 * whole[0] and half[1] >= 0.8 * whole[1], sizes


def test_a_per_class_key_of_another_kind_than_the_labels_is_refused():
    """Without classes=, a key may name a class not labelled yet, but "1" for integer labels
    never will (QA report: it silently gave class 1 the default K)."""
    index = ExactIndex().add(np.random.default_rng(0).normal(size=(200, 8)))
    labelled, y = np.arange(20), np.arange(20) % 2
    with pytest.raises(ValueError, match=r"n_neighbours has key '1', of another kind"):
        AnchorSubpool(index, n_neighbours={"1": 5}).select(labelled, y)
    assert len(AnchorSubpool(index, n_neighbours={1: 5, 7: 3}).select(labelled, y)) > 0


def test_a_probe_without_a_direction_gives_its_slots_to_the_anchors():
    """The same vector labelled both ways leaves the ridge probe no direction (coef_ = 0):
    select raised 'queries has a zero-norm row' (QA report)."""
    X = np.random.default_rng(0).normal(size=(300, 8))
    X[1] = X[0]
    index = ExactIndex().add(X)
    subpool = AnchorSubpool(index, max_size=20, probe=0.5, random_state=0).select([0, 1], [0, 1])
    assert len(subpool) == 20 and subpool.info["n_probed"] == 0
