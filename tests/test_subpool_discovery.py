"""AnchorSubpool's discovery knobs: the pinned paper configuration, per-class A/K/M, starved
classes and the exploration share."""

import json
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import PAPER_CONFIGURATION, AnchoredQueryStrategy, AnchorSubpool, ExactIndex
from skanchor.subpool import StarvedClassWarning, _draw_outside
from tests.conftest import clustered

FIXTURE = Path(__file__).parent / "fixtures" / "paper_subpool.json"


@pytest.fixture(scope="module")
def space():
    vectors, clusters = clustered(n=1200, dim=16, n_clusters=6, seed=4)
    return vectors, clusters


@pytest.fixture()
def index(space):
    return ExactIndex().add(space[0])


def exact_neighbours(vectors, labelled, anchor, k):
    """The k most similar unlabelled items of ``anchor`` (ties: smaller id) and their sims."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    unlabelled = np.setdiff1d(np.arange(len(vectors)), labelled)
    sims = unit[unlabelled] @ unit[anchor]
    order = np.lexsort((unlabelled, -sims))[:k]
    return unlabelled[order], sims[order]


def mean_scores(vectors, labelled, anchors_with_k):
    """{id: mean similarity over the anchors (each with its own k) that retrieved it}."""
    sums, counts = {}, {}
    for anchor, k in anchors_with_k:
        for i, s in zip(*exact_neighbours(vectors, labelled, anchor, k), strict=True):
            sums[int(i)] = sums.get(int(i), 0.0) + float(s)
            counts[int(i)] = counts.get(int(i), 0) + 1
    return {i: sums[i] / counts[i] for i in sums}


def top(scores, m):
    ranked = sorted(scores, key=lambda i: (-scores[i], i))[:m]
    return ranked, [scores[i] for i in ranked]


# --- the paper's configuration, bit for bit -------------------------------------------------


def replay_pinned(**extra):
    """Replay the scenario of tests/fixtures/paper_subpool.json (written by the code of commit
    5191ced, before per-class knobs and exploration existed) with today's code."""
    reference = json.loads(FIXTURE.read_text())
    vectors, clusters = clustered(n=3000, dim=24, n_clusters=12, seed=11)
    y = np.where(clusters < 2, "rare", np.where(clusters < 6, "mid", "common"))
    index = ExactIndex().add(vectors)
    pool_filter = AnchorSubpool(
        index, n_anchors=6, n_neighbours=25, max_size=120, random_state=7, **extra
    )
    query = AnchoredQueryStrategy(pool_filter, strategy="random", random_state=5)
    model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    labelled = np.array(reference["rounds"][0]["labelled"])
    pool = np.setdiff1d(np.arange(len(y)), labelled)
    for expected in reference["rounds"]:
        assert labelled.tolist() == expected["labelled"]
        model.fit(labelled, y[labelled])
        positions, _ = query(model, pool, n_instances=10, labelled_ids=labelled, labels=y[labelled])
        sub = pool_filter.last_subpool_
        assert sub.ids.tolist() == expected["subpool_ids"]
        np.testing.assert_allclose(sub.scores, expected["subpool_scores"], rtol=1e-6)
        assert sub.info["anchors"].tolist() == expected["anchors"]
        assert pool[positions].tolist() == expected["selected_ids"]
        assert sub.info["n_explored"] == 0 and sub.info["exploration_share"] == 0.0
        labelled = np.sort(np.r_[labelled, pool[positions]])
        pool = np.delete(pool, positions)


def test_paper_configuration_is_pinned():
    replay_pinned()


def test_listing_every_labelled_class_keeps_the_paper_configuration():
    with warnings.catch_warnings():
        warnings.simplefilter("error", StarvedClassWarning)
        replay_pinned(classes=["rare", "mid", "common"])


def test_mappings_with_one_value_for_every_class_are_the_paper(space, index):
    """Per-class A and K given as mappings with the same value for every class are the paper."""
    labelled = np.arange(0, 300, 3)
    labels = space[1][labelled] % 2
    plain = AnchorSubpool(index, n_anchors=4, n_neighbours=12, max_size=80, random_state=1)
    mapped = AnchorSubpool(
        index, n_anchors={0: 4, 1: 4}, n_neighbours={0: 12, 1: 12}, max_size=80, random_state=1
    )
    a, b = plain.select(labelled, labels), mapped.select(labelled, labels)
    assert a.ids.tolist() == b.ids.tolist()
    assert a.scores.tolist() == b.scores.tolist()


# --- per-class A, K and M --------------------------------------------------------------------


def test_per_class_anchors_and_defaults(space, index):
    labelled = np.arange(60)
    labels = np.where(space[1][labelled] < 2, "min", "maj")
    sub = AnchorSubpool(index, n_anchors={"min": 3}, n_neighbours=5, random_state=0).select(
        labelled, labels
    )
    classes = np.asarray(sub.info["anchor_classes"]).tolist()
    assert classes.count("min") == 3
    assert classes.count("maj") == 10  # unlisted: DEFAULT_N_ANCHORS


def test_per_class_neighbours_match_a_hand_computation(space, index):
    vectors, _ = space
    labelled = np.array([5, 17, 300, 640, 900])
    labels = np.array([0, 0, 1, 1, 1])
    k = {0: 30, 1: 7}
    # A >= class sizes: every labelled item is an anchor
    sub = AnchorSubpool(index, n_anchors=5, n_neighbours=k, max_size=1000).select(labelled, labels)
    expected = mean_scores(
        vectors, labelled, [(a, k[c]) for a, c in zip(labelled, labels, strict=True)]
    )
    ids, scores = top(expected, 1000)
    assert sub.ids.tolist() == ids
    np.testing.assert_allclose(sub.scores, scores, rtol=1e-5)


def test_per_class_subpool_size_ranks_each_class_on_its_own(space, index):
    vectors, _ = space
    labelled = np.array([5, 17, 300, 640, 900])
    labels = np.array(["a", "a", "b", "b", "b"])
    m = {"a": 6, "b": 9}
    sub = AnchorSubpool(index, n_anchors=5, n_neighbours=20, max_size=m).select(labelled, labels)
    kept = {}
    for c in ("a", "b"):
        own = mean_scores(vectors, labelled, [(a, 20) for a in labelled[labels == c]])
        for i, s in zip(*top(own, m[c]), strict=True):
            kept[i] = max(kept.get(i, -np.inf), s)
    ids, scores = top(kept, len(kept))
    assert sub.ids.tolist() == ids
    np.testing.assert_allclose(sub.scores, scores, rtol=1e-5)
    assert len(sub) <= sum(m.values())


def test_per_class_quota_keeps_a_crowded_out_minority(space, index):
    """With one global M the majority's many anchors fill the subpool; a per-class M keeps the
    minority's neighbourhood, whatever the majority retrieves."""
    vectors, clusters = space
    minority = np.flatnonzero(clusters == 0)[:2]
    majority = np.flatnonzero(clusters != 0)[:40]
    labelled = np.r_[minority, majority]
    labels = np.r_[np.ones(2, int), np.zeros(40, int)]
    near_minority = set(
        np.concatenate([exact_neighbours(vectors, labelled, a, 15)[0] for a in minority]).tolist()
    )
    common = {"n_anchors": 10, "n_neighbours": 15, "random_state": 0}
    global_m = AnchorSubpool(index, max_size=30, **common).select(labelled, labels)
    per_class = AnchorSubpool(index, max_size={0: 30, 1: 30}, **common).select(labelled, labels)
    assert len(near_minority & set(per_class.ids.tolist())) == len(near_minority)
    assert len(near_minority & set(global_m.ids.tolist())) < len(near_minority)


def test_mapping_keys_and_labels_must_be_in_classes(index):
    with pytest.raises(ValueError, match="max_size has key 'c', which is not in classes"):
        AnchorSubpool(index, max_size={"c": 5}, classes=["a", "b"]).select([0], ["a"])
    with pytest.raises(ValueError, match="labels holds class 'z', which is not in classes"):
        AnchorSubpool(index, classes=["a", "b"]).select([0, 1], ["a", "z"])


# --- starved classes and exploration --------------------------------------------------------


def test_a_starved_class_is_named_in_a_warning(index):
    filt = AnchorSubpool(index, n_anchors=2, n_neighbours=10, max_size=30, classes=[0, 1, 2])
    with pytest.warns(StarvedClassWarning, match=r"no labelled item of class\(es\) \[2\]"):
        sub = filt.select([0, 1, 2, 3], [0, 0, 1, 1])
    assert sub.info["starved_classes"] == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", StarvedClassWarning)
        AnchorSubpool(index, classes=[0, 1]).select([0, 1], [0, 1])
        AnchorSubpool(index).select([0, 1], [0, 0])  # without classes nothing is known


def test_auto_exploration_gives_starved_classes_their_share(space, index):
    labelled = np.arange(20)
    labels = space[1][labelled] % 2
    common = {"n_anchors": 3, "n_neighbours": 10, "max_size": 60, "random_state": 3}
    with pytest.warns(StarvedClassWarning, match="exploration draws 0.33"):
        sub = AnchorSubpool(index, classes=[0, 1, 2], **common).select(labelled, labels)
    assert sub.info["exploration_share"] == pytest.approx(1 / 3)
    assert sub.info["n_explored"] == 20 == len(sub.info["explored_ids"])
    plain = AnchorSubpool(index, **common).select(labelled, labels)
    assert plain.info["n_explored"] == 0
    # the anchors are the same; the anchored part is the paper's top 40 of 60
    assert sub.info["anchors"].tolist() == plain.info["anchors"].tolist()
    anchored = np.setdiff1d(sub.ids, sub.info["explored_ids"])
    assert sorted(anchored.tolist()) == sorted(plain.ids[:40].tolist())
    # explored items lie outside every anchored neighbourhood
    vectors, _ = space
    retrieved = set()
    for a in sub.info["anchors"]:
        retrieved |= set(exact_neighbours(vectors, labelled, a, 10)[0].tolist())
    assert not retrieved & set(sub.info["explored_ids"].tolist())
    assert not np.isin(sub.info["explored_ids"], labelled).any()
    # their score: the mean similarity to all anchors; the subpool stays ranked
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    explored = sub.info["explored_ids"]
    expected = (unit[explored] @ unit[sub.info["anchors"]].T).mean(axis=1)
    got = dict(zip(sub.ids.tolist(), sub.scores.tolist(), strict=True))
    np.testing.assert_allclose([got[i] for i in explored.tolist()], expected, rtol=1e-5)
    assert np.all(np.diff(sub.scores) <= 0)


def test_exploration_zero_warns_but_never_explores(index):
    with pytest.warns(StarvedClassWarning, match="exploration=0 never looks for them"):
        sub = AnchorSubpool(index, classes=[0, 1], exploration=0.0).select([0, 1], [0, 0])
    assert sub.info["n_explored"] == 0


def test_fixed_exploration_share_within_the_pool(index):
    labelled = np.arange(10)
    pool = np.arange(10, 1200, 2)
    filt = AnchorSubpool(
        index, n_anchors=2, n_neighbours=8, max_size=50, exploration=0.2, random_state=0
    )
    sub = filt.select(labelled, labelled % 2, pool_ids=pool)
    assert sub.info["n_explored"] == 10 and len(sub) <= 50
    assert np.isin(sub.ids, pool).all()
    again = AnchorSubpool(
        index, n_anchors=2, n_neighbours=8, max_size=50, exploration=0.2, random_state=0
    ).select(labelled, labelled % 2, pool_ids=pool)
    assert again.ids.tolist() == sub.ids.tolist()  # seeded


def test_per_class_sizes_with_exploration(space, index):
    labelled = np.arange(30)
    labels = space[1][labelled] % 2
    m = {0: 20, 1: 10, 2: 30}  # class 2 is starved: its slots go to exploration
    filt = AnchorSubpool(
        index, n_anchors=3, n_neighbours=30, max_size=m, classes=[0, 1, 2], random_state=0
    )
    with pytest.warns(StarvedClassWarning):
        sub = filt.select(labelled, labels)
    share = 1 / 3
    assert sub.info["n_explored"] == int(share * 60)
    assert len(sub) <= sum(m[c] - int(share * m[c]) for c in (0, 1)) + int(share * 60)


def test_cold_start_is_a_random_draw(index):
    sub = AnchorSubpool(index, max_size={0: 5, 1: 7}, random_state=0).select([], [])
    assert sub.info["cold_start"] and len(sub) == 12
    assert sub.info["explored_ids"].tolist() == sorted(sub.ids.tolist())


def test_exploration_never_reads_the_whole_pool(space, index, monkeypatch):
    """Given the pool's sorted ids, exploration only reads O(M) of them and never lists the
    index's ids."""

    def no_full_scan(*args, **kwargs):
        raise AssertionError("index.ids() read the whole index")

    monkeypatch.setattr(index, "ids", no_full_scan)
    pool = np.arange(30, 1200)
    sub = AnchorSubpool(
        index, n_anchors=2, n_neighbours=5, max_size=40, exploration=0.5, random_state=0
    ).select(np.arange(30), np.arange(30) % 2, pool_ids=pool)
    assert sub.info["n_explored"] == 20

    class Tracked(np.ndarray):
        reads: ClassVar[list] = []

        def __getitem__(self, key):
            Tracked.reads.append(np.size(key))
            return super().__getitem__(key)

    big = np.arange(0, 4_000_000, 2).view(Tracked)
    drawn = _draw_outside(np.random.default_rng(0), big, np.arange(0, 2000, 2), 100)
    assert drawn.size == 100 and np.all(drawn >= 2000) and np.all(drawn % 2 == 0)
    assert max(Tracked.reads) < 1000  # positions drawn, not the 2M pool


def test_draw_outside_is_uniform_and_exact():
    pool = np.arange(0, 60, 3)
    exclude = np.array([0, 3, 30, 57])
    allowed = set(pool.tolist()) - set(exclude.tolist())
    seen = set()
    for seed in range(200):
        drawn = _draw_outside(np.random.default_rng(seed), pool, exclude, 5)
        assert drawn.size == 5 and np.unique(drawn).size == 5
        assert set(drawn.tolist()) <= allowed and np.all(np.diff(drawn) > 0)
        seen |= set(drawn.tolist())
    assert seen == allowed
    # more than what is left: everything left (the set-difference fallback)
    everything = _draw_outside(np.random.default_rng(0), pool, exclude, 100)
    assert set(everything.tolist()) == allowed


def test_paper_configuration_is_the_default_and_never_explores(index):
    assert {k: AnchorSubpool().get_params()[k] for k in PAPER_CONFIGURATION} == {
        **PAPER_CONFIGURATION,
        "exploration": "auto",
    }
    filt = AnchorSubpool(index, **PAPER_CONFIGURATION, classes=[0, 1, 2], random_state=0)
    with pytest.warns(StarvedClassWarning, match="never looks for them"):
        sub = filt.select(np.arange(30), np.arange(30) % 2)
    plain = AnchorSubpool(index, random_state=0).select(np.arange(30), np.arange(30) % 2)
    assert sub.ids.tolist() == plain.ids.tolist() and sub.info["n_explored"] == 0


def test_new_parameters_survive_clone_and_set_params(index):
    from sklearn.base import clone

    filt = AnchorSubpool(
        index, n_anchors={"min": 4}, max_size={"min": 50, "maj": 200}, classes=["min", "maj"],
        exploration=0.1,
    )  # fmt: skip
    copy = clone(filt)
    assert copy.index is index  # a fitted index is shared data, not a parameter to rebuild
    assert copy.get_params()["n_anchors"] == {"min": 4}
    assert copy.get_params()["classes"] == ["min", "maj"] and copy.exploration == 0.1
    copy.set_params(exploration="auto", n_neighbours={"maj": 5})
    assert copy.select([0, 1], ["min", "maj"]).info["exploration_share"] == 0.0


# --- the linear-probe share -----------------------------------------------------------------


@pytest.fixture(scope="module")
def halfspace():
    """Unit vectors whose minority is a thin half-space (x0 > 0.5) spread over the sphere, not
    a cluster: its items are far apart, so anchors' neighbourhoods find few of them."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 12)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    y = (vectors[:, 0] > 0.5).astype(int)
    labelled = np.concatenate([np.flatnonzero(y == 1)[:6], np.flatnonzero(y == 0)[:114]])
    return vectors, y, labelled


def test_probe_share_is_the_probes_top_scored_new_items(halfspace):
    from sklearn.linear_model import RidgeClassifier

    vectors, y, labelled = halfspace
    index = ExactIndex().add(vectors)
    common = {"n_anchors": 3, "n_neighbours": 20, "max_size": 200, "random_state": 0}
    plain = AnchorSubpool(index, **common).select(labelled, y[labelled])
    sub = AnchorSubpool(index, probe=0.25, **common).select(labelled, y[labelled])
    probed = sub.info["probed_ids"]
    assert sub.info["n_probed"] == probed.size == 50 and len(sub) <= 200
    # the anchors are the same and the anchored part is the paper's top 150
    assert sub.info["anchors"].tolist() == plain.info["anchors"].tolist()
    anchored = np.setdiff1d(sub.ids, probed)
    assert sorted(anchored.tolist()) == sorted(plain.ids[:150].tolist())
    # by hand: a balanced ridge probe on the labelled vectors; its 50 highest-scored
    # unlabelled items outside the anchored part (on unit vectors its score ranks as the
    # cosine to its direction, which the index searches)
    probe = RidgeClassifier(alpha=1.0, class_weight="balanced").fit(vectors[labelled], y[labelled])
    unlabelled = np.setdiff1d(np.arange(len(y)), np.concatenate([labelled, anchored]))
    score = vectors[unlabelled] @ probe.coef_.ravel()
    expected = unlabelled[np.argsort(-score, kind="stable")[:50]]
    assert sorted(probed.tolist()) == sorted(expected.tolist())
    # and they are where the rare class is: far richer in it than the pool or the anchors'
    assert y[probed].mean() > 4 * y.mean() and y[probed].mean() > 2 * y[anchored].mean()
    assert not np.isin(sub.ids, labelled).any() and np.unique(sub.ids).size == len(sub)
    assert np.all(np.diff(sub.scores) <= 0)


def test_probe_directions_skip_the_most_labelled_class(space, index):
    from skanchor.subpool import _probe_directions

    vectors, clusters = space
    labelled = np.arange(60)
    labels = np.where(clusters[labelled] < 2, clusters[labelled], 9)  # 9: the background
    directions = _probe_directions(vectors[labelled], labels)
    assert directions.shape == (np.unique(labels).size - 1, vectors.shape[1])
    # each direction scores its own class highest among the labelled items
    for row, c in zip(directions, [c for c in np.unique(labels) if c != 9], strict=True):
        assert labels[np.argmax(vectors[labelled] @ row)] == c
    # two classes: one direction, pointing at the less labelled one whichever label it has
    for rare in (0, 1):
        two = np.where(labels == 9, 1 - rare, rare)
        (row,) = _probe_directions(vectors[labelled], two)
        assert two[np.argmax(vectors[labelled] @ row)] == rare


def test_probe_stays_in_the_pool_with_exploration_and_is_seeded(halfspace):
    vectors, y, labelled = halfspace
    index = ExactIndex().add(vectors)
    pool = np.setdiff1d(np.arange(0, 3000, 3), labelled)

    def select():
        return AnchorSubpool(
            index, n_anchors=2, n_neighbours=15, max_size=100, probe=0.3, exploration=0.2,
            random_state=1,
        ).select(labelled, y[labelled], pool_ids=pool)  # fmt: skip

    sub = select()
    assert np.isin(sub.ids, pool).all() and len(sub) <= 100
    assert sub.info["n_probed"] == 30 and sub.info["n_explored"] == 20
    assert not set(sub.info["probed_ids"].tolist()) & set(sub.info["explored_ids"].tolist())
    assert select().ids.tolist() == sub.ids.tolist()


def test_probe_needs_two_labelled_classes(halfspace):
    vectors, y, labelled = halfspace
    index = ExactIndex().add(vectors)
    common = {"n_anchors": 2, "n_neighbours": 10, "max_size": 40, "random_state": 0}
    one_class = labelled[y[labelled] == 0]
    sub = AnchorSubpool(index, probe=0.5, **common).select(one_class, y[one_class])
    plain = AnchorSubpool(index, **common).select(one_class, y[one_class])
    assert sub.info["n_probed"] == 0 and sub.ids.tolist() == plain.ids.tolist()


def test_probe_zero_is_the_paper():
    replay_pinned(probe=0.0)


@pytest.mark.parametrize("probe", [1.0, -0.1, "half"])
def test_probe_share_is_validated(index, probe):
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'probe' parameter"):
        AnchorSubpool(index, probe=probe).select([0, 1], [0, 1])


# --- the query's share of the batch for a starved class ------------------------------------


def _entropy_model(space, labelled, labels):
    vectors, _ = space
    return make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression()).fit(
        labelled, labels
    )


def test_a_starved_class_gets_its_share_of_the_batch(space, index):
    """The model cannot rank a class it has no label of (entropy never picked the explored
    items: the preset found none of a 2% class in 15 rounds of 20, QA report, 2026-12-03), so
    while a class is starved, ``exploration_share * n_instances`` items of the batch (in
    expectation) are drawn at random from the explored items, the rest by the strategy."""
    labelled = np.arange(20)
    labels = space[1][labelled] % 2
    pool = np.setdiff1d(np.arange(1200), labelled)
    model = _entropy_model(space, labelled, labels)
    common = {"n_anchors": 3, "n_neighbours": 10, "max_size": 60, "random_state": 3}
    query = AnchoredQueryStrategy(
        AnchorSubpool(index, classes=[0, 1, 2], **common), "entropy", random_state=0
    )
    reserved = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvedClassWarning)
        for _ in range(30):
            positions, scores = query(model, pool, 6, labelled_ids=labelled, labels=labels)
            record = query.queries_[-1]
            k = record["n_reserved_explored"]
            reserved.append(k)
            assert np.unique(positions).size == 6
            tail = pool[positions[6 - k :]]  # the drawn items come last, without a score
            retrieved = set()  # every candidate of this round's anchors: not explored
            for a in record["anchors"]:
                retrieved |= set(exact_neighbours(space[0], labelled, a, 10)[0].tolist())
            assert not retrieved & set(tail.tolist())
            assert np.isnan(scores[6 - k :]).all() and not np.isnan(scores[: 6 - k]).any()
            assert record["n_selected_explored"] >= k
    assert set(reserved) == {2}  # 1/3 of 6, exactly
    query.set_params(random_state=1)
    odd = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StarvedClassWarning)
        for _ in range(300):
            query(model, pool, 4, labelled_ids=labelled, labels=labels)
            odd.append(query.queries_[-1]["n_reserved_explored"])
    assert set(odd) == {1, 2} and np.mean(odd) == pytest.approx(4 / 3, abs=0.1)


def test_no_share_of_the_batch_without_a_starved_class(space, index):
    """Every class labelled, or exploration=0: the batch is the strategy's alone, as before."""
    labelled = np.arange(30)
    labels = space[1][labelled] % 3
    pool = np.setdiff1d(np.arange(1200), labelled)
    model = _entropy_model(space, labelled, labels)
    common = {"n_anchors": 3, "n_neighbours": 10, "max_size": 60, "random_state": 3}
    for filt in (
        AnchorSubpool(index, classes=[0, 1, 2], **common),
        AnchorSubpool(index, classes=[0, 1, 2, 3], exploration=0.0, **common),
    ):
        query = AnchoredQueryStrategy(filt, "entropy", random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StarvedClassWarning)
            positions, scores = query(model, pool, 6, labelled_ids=labelled, labels=labels)
        assert query.queries_[-1]["n_reserved_explored"] == 0 and not np.isnan(scores).any()
        sub = clone(filt).select(labelled, labels, pool_ids=pool)  # the query's subpool
        proba = model.predict_proba(sub.ids)
        entropy = -(proba * np.log(proba)).sum(axis=1)
        assert sorted(pool[positions].tolist()) == sorted(
            sub.ids[np.argsort(-entropy)[:6]].tolist()
        )
