import doctest
import inspect
from math import log
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import InvalidParameterError

import skanchor.strategies as strategies_module
from skanchor._ranking import top_k as _top_k
from skanchor.strategies import (
    STRATEGIES,
    SupportsJointRepresentation,
    SupportsRepresentation,
    badge_sampling,
    check_strategy_params,
    entropy_sampling,
    ftbertkm_sampling,
    get_representation,
    get_strategy,
    gradient_embedding,
    least_confidence_sampling,
    margin_sampling,
    predictive_entropy,
    random_sampling,
)

# ---------------------------------------------------------------------------------------------
# Stubs
# ---------------------------------------------------------------------------------------------


class StubProba:
    """Fixed probabilities; X is an array of row ids into them (X is not numeric features)."""

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=float)

    def predict_proba(self, X):
        return self.proba[np.asarray(X, dtype=int)]


class StubRepr(StubProba):
    """Fixed probabilities and a fixed representation, both looked up by id."""

    def __init__(self, proba, rep):
        super().__init__(proba)
        self.rep = np.asarray(rep, dtype=float)

    def represent(self, X):
        return self.rep[np.asarray(X, dtype=int)]


class ReprLinear(LogisticRegression):
    """A 'network' whose penultimate layer is 2 * x."""

    def represent(self, X):
        return 2.0 * np.asarray(X, dtype=float)


THREE_CLASS = np.array(
    [
        [0.4, 0.4, 0.2],  # 0: margin 0
        [0.5, 0.25, 0.25],  # 1
        [0.34, 0.33, 0.33],  # 2: highest entropy and least confidence
        [0.6, 0.39, 0.01],  # 3
        [1.0, 0.0, 0.0],  # 4: certain
    ]
)
IDS5 = np.arange(5)


def _entropy(*p):
    return -sum(x * log(x) for x in p if x > 0)


def _clustered(n_per=20, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[5.0, 0.0], [0.0, 5.0], [-5.0, -5.0]])
    X = np.concatenate([c + 0.1 * rng.normal(size=(n_per, 2)) for c in centres])
    y = np.repeat([0, 1, 2], n_per)
    return X, y


# ---------------------------------------------------------------------------------------------
# Uncertainty strategies: hand-computed expectations
# ---------------------------------------------------------------------------------------------


def test_entropy_hand_computed():
    pos, scores = entropy_sampling(StubProba(THREE_CLASS), IDS5, n_instances=5)
    assert pos.tolist() == [2, 0, 1, 3, 4]
    expected = [
        _entropy(0.34, 0.33, 0.33),
        _entropy(0.4, 0.4, 0.2),
        _entropy(0.5, 0.25, 0.25),
        _entropy(0.6, 0.39, 0.01),
        0.0,
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-12, atol=1e-15)
    assert scores[-1] == 0.0  # 0 log 0 = 0, no NaN
    np.testing.assert_allclose(predictive_entropy(THREE_CLASS)[[2, 0, 1, 3, 4]], expected)


def test_margin_hand_computed():
    pos, scores = margin_sampling(StubProba(THREE_CLASS), IDS5, n_instances=5)
    assert pos.tolist() == [0, 2, 3, 1, 4]
    np.testing.assert_allclose(scores, [0.0, 0.01, 0.21, 0.25, 1.0], atol=1e-12)


def test_least_confidence_hand_computed():
    pos, scores = least_confidence_sampling(StubProba(THREE_CLASS), IDS5, n_instances=3)
    assert pos.tolist() == [2, 0, 1]
    np.testing.assert_allclose(scores, [0.66, 0.6, 0.5], atol=1e-12)


def test_single_class_proba():
    stub = StubProba(np.ones((4, 1)))
    assert entropy_sampling(stub, np.arange(4), 2)[1].tolist() == [0.0, 0.0]
    pos, scores = margin_sampling(stub, np.arange(4), 2)
    assert pos.tolist() == [0, 1]
    assert scores.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("strategy", [entropy_sampling, margin_sampling, least_confidence_sampling])
def test_ties_go_to_smaller_position(strategy):
    proba = [[0.9, 0.1], [0.5, 0.5], [0.7, 0.3], [0.5, 0.5], [0.3, 0.7], [0.5, 0.5]]
    stub = StubProba(proba)
    ids = np.arange(6)
    assert strategy(stub, ids, 2)[0].tolist() == [1, 3]
    assert strategy(stub, ids, 3)[0].tolist() == [1, 3, 5]
    # [0.7, 0.3] and [0.3, 0.7] tie exactly (entropy sums sorted rows)
    assert strategy(stub, ids, 5)[0].tolist() == [1, 3, 5, 2, 4]
    # a large pool of equal scores: the first positions, in order
    flat = StubProba(np.full((1000, 2), 0.5))
    assert strategy(flat, np.arange(1000), 4)[0].tolist() == [0, 1, 2, 3]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=40),
    st.integers(1, 40),
    st.booleans(),
)
def test_top_k_matches_lexsort(values, k, largest):
    scores = np.asarray(values, dtype=float)
    k = min(k, scores.size)
    key = -scores if largest else scores
    expected = np.lexsort((np.arange(scores.size), key))[:k]
    assert _top_k(scores, k, largest=largest).tolist() == expected.tolist()


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_returns_unique_int64_positions_and_float64_scores(name):
    X, y = _clustered()
    clf = LogisticRegression().fit(X, y)
    context = {"labels": y, "X_labelled": X}  # the labelled set, for strategies that read it
    pos, scores = get_strategy(name)(clf, X, n_instances=7, random_state=0, **context)
    assert pos.dtype == np.int64 and scores.dtype == np.float64
    assert pos.shape == scores.shape == (7,)
    assert np.unique(pos).size == 7
    assert ((pos >= 0) & (pos < len(X))).all()
    assert np.isfinite(scores).all()
    # extra modAL keyword arguments are swallowed
    get_strategy(name)(clf, X, 2, random_state=0, random_tie_break=False, **context)


# ---------------------------------------------------------------------------------------------
# Random
# ---------------------------------------------------------------------------------------------


def test_random_sampling_seeded():
    X = np.arange(1000)
    a = random_sampling(None, X, 10, random_state=1)
    b = random_sampling(None, X, 10, random_state=1)
    c = random_sampling(None, X, 10, random_state=2)
    assert a[0].tolist() == b[0].tolist()
    assert a[0].tolist() != c[0].tolist()
    assert np.unique(a[0]).size == 10
    assert (np.diff(a[1]) <= 0).all() and ((a[1] >= 0) & (a[1] < 1)).all()
    rs = np.random.RandomState(5)
    assert random_sampling(None, X, 3, random_state=rs)[0].size == 3
    g1 = random_sampling(None, X, 5, random_state=np.random.default_rng(0))
    g2 = random_sampling(None, X, 5, random_state=np.random.default_rng(0))
    assert g1[0].tolist() == g2[0].tolist()
    assert sorted(random_sampling(None, ["a", "b", "c"], 3, random_state=0)[0]) == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# BADGE
# ---------------------------------------------------------------------------------------------


def test_gradient_embedding_hand_computed():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    h = np.array([[1.0, 2.0], [3.0, -1.0]])
    expected = np.array(
        [
            # predicted class 0: weights (0.7 - 1, 0.2, 0.1)
            [-0.3, -0.6, 0.2, 0.4, 0.1, 0.2],
            # predicted class 2: weights (0.1, 0.3, 0.6 - 1)
            [0.3, -0.1, 0.9, -0.3, -1.2, 0.4],
        ]
    )
    np.testing.assert_allclose(gradient_embedding(proba, h), expected, atol=1e-12)
    G = gradient_embedding(proba, sp.csr_matrix(h))
    assert sp.issparse(G)
    np.testing.assert_allclose(G.toarray(), expected, atol=1e-12)


def test_badge_scores_are_gradient_norms_and_seeded():
    X, y = _clustered()
    clf = LogisticRegression().fit(X, y)
    pos, scores = badge_sampling(clf, X, 5, random_state=3)
    G = gradient_embedding(clf.predict_proba(X), X)
    np.testing.assert_allclose(scores, np.linalg.norm(G[pos], axis=1), rtol=1e-10)
    assert pos.tolist() == badge_sampling(clf, X, 5, random_state=3)[0].tolist()
    # diverse: the 3 clusters are covered
    assert np.unique(y[badge_sampling(clf, X, 3, random_state=0)[0]]).size >= 2


class JointRepr(StubRepr):
    """StubRepr that also answers both in one call, and counts every call."""

    def __init__(self, proba, rep):
        super().__init__(proba, rep)
        self.calls = []

    def predict_proba(self, X):
        self.calls.append("predict_proba")
        return super().predict_proba(X)

    def represent(self, X):
        self.calls.append("represent")
        return super().represent(X)

    def predict_proba_and_represent(self, X):
        self.calls.append("joint")
        return super().predict_proba(X), super().represent(X)


def test_badge_uses_one_joint_pass_when_offered():
    X, y = _clustered()
    clf = LogisticRegression().fit(X, y)
    proba, ids = clf.predict_proba(X), np.arange(len(X))
    want = badge_sampling(StubRepr(proba, X), ids, 6, random_state=2)
    joint = JointRepr(proba, X)
    assert isinstance(joint, SupportsJointRepresentation)
    got = badge_sampling(joint, ids, 6, random_state=2)
    assert joint.calls == ["joint"]
    assert got[0].tolist() == want[0].tolist()
    np.testing.assert_allclose(got[1], want[1])
    # the last step of a Pipeline gets the transformed items; a modAL-style learner is unwrapped
    joint.calls.clear()
    shift = FunctionTransformer(lambda Z: np.asarray(Z) - 1)
    got = badge_sampling(make_pipeline(shift, joint), ids + 1, 6, random_state=2)
    assert joint.calls == ["joint"] and got[0].tolist() == want[0].tolist()
    joint.calls.clear()
    learner = SimpleNamespace(estimator=joint, query_strategy=badge_sampling)
    learner.predict_proba = joint.predict_proba
    assert badge_sampling(learner, ids, 6, random_state=2)[0].tolist() == want[0].tolist()
    assert joint.calls == ["joint"]

    # its outputs are validated like the separate calls'
    class ShortRepr(JointRepr):
        def predict_proba_and_represent(self, X):
            p, h = super().predict_proba_and_represent(X)
            return p, h[:-1]

    with pytest.raises(ValueError, match=r"representation of X \(from ShortRepr\) has shape"):
        badge_sampling(ShortRepr(proba, X), ids, 3)
    bad = JointRepr(np.full_like(proba, np.nan), X)
    with pytest.raises(ValueError, match=r"JointRepr\.predict_proba returned NaN"):
        badge_sampling(bad, ids, 3)


@pytest.mark.parametrize("n_instances", [1, 3, 6, 10])
def test_badge_duplicated_points_unique_positions(n_instances):
    # 10 items, 2 distinct (proba, representation) pairs
    proba = np.array([[0.6, 0.4], [0.3, 0.7]] * 5)
    rep = np.array([[1.0, 0.0], [0.0, 1.0]] * 5)
    pos, scores = badge_sampling(StubRepr(proba, rep), np.arange(10), n_instances, random_state=0)
    assert pos.size == n_instances == np.unique(pos).size
    assert np.isfinite(scores).all()
    if n_instances == 10:
        assert sorted(pos.tolist()) == list(range(10))


def test_badge_tops_up_with_largest_gradient_norms():
    # only items 3 and 5 have non-zero gradients; the rest are certain
    proba = np.array([[1.0, 0.0]] * 8)
    proba[3] = [0.5, 0.5]
    proba[5] = [0.8, 0.2]
    rep = np.ones((8, 2))
    pos, _ = badge_sampling(StubRepr(proba, rep), np.arange(8), 4, random_state=0)
    assert np.unique(pos).size == 4
    assert {3, 5} <= set(pos.tolist())


def test_badge_zero_gradients_fall_back_to_entropy():
    proba = np.array([[0.9, 0.1], [0.5, 0.5], [0.99, 0.01], [0.6, 0.4]])
    rep = np.zeros((4, 3))  # zero representation: every gradient embedding is zero
    pos, scores = badge_sampling(StubRepr(proba, rep), np.arange(4), 2, random_state=0)
    assert pos.tolist() == [1, 3]
    assert scores.tolist() == [0.0, 0.0]
    confident = StubRepr(np.eye(2)[[0, 1, 0, 1]], np.ones((4, 2)))
    assert badge_sampling(confident, np.arange(4), 3, random_state=0)[0].tolist() == [0, 1, 2]


def test_badge_on_texts_through_tfidf_pipeline():
    texts = ["good movie", "bad movie", "great film", "awful film", "fine", "meh film"] * 3
    y = [1, 0, 1, 0, 1, 0] * 3
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, y)
    for strategy in (badge_sampling, ftbertkm_sampling):
        pos, _ = strategy(pipe, texts, 4, random_state=0)
        assert np.unique(pos).size == 4


def test_badge_and_ftbertkm_sparse_features():
    X, y = _clustered()
    Xs = sp.csr_matrix(X)
    clf = LogisticRegression().fit(Xs, y)
    for strategy in (badge_sampling, ftbertkm_sampling):
        pos, _ = strategy(clf, Xs, 5, random_state=0)
        assert np.unique(pos).size == 5


# ---------------------------------------------------------------------------------------------
# FT-BERTKM
# ---------------------------------------------------------------------------------------------


def test_ftbertkm_one_item_per_cluster():
    X, y = _clustered()
    clf = LogisticRegression().fit(X, y)
    pos, scores = ftbertkm_sampling(clf, X, 3, random_state=0)
    assert sorted(y[pos].tolist()) == [0, 1, 2]
    assert (scores >= 0).all() and (scores < 0.1).all()
    assert pos.tolist() == ftbertkm_sampling(clf, X, 3, random_state=0)[0].tolist()


def test_ftbertkm_uses_normalised_representation():
    # same direction, different lengths: one cluster after l2 normalisation
    rep = np.array([[1.0, 0.0], [3.0, 0.0], [10.0, 0.0], [0.0, 2.0]])
    stub = StubRepr(np.full((4, 2), 0.5), rep)
    pos, scores = ftbertkm_sampling(stub, np.arange(4), 2, random_state=0)
    assert set(pos.tolist()) == {0, 3}  # ties among the three identical directions: position 0
    np.testing.assert_allclose(scores, 0.0, atol=1e-12)


@pytest.mark.parametrize("n_instances", [2, 4, 9])
def test_ftbertkm_fewer_distinct_points_than_clusters(n_instances):
    rep = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]] * 3)
    stub = StubRepr(np.full((9, 2), 0.5), rep)
    pos, scores = ftbertkm_sampling(stub, np.arange(9), n_instances, random_state=0)
    assert pos.size == np.unique(pos).size == n_instances
    assert np.isfinite(scores).all()
    if n_instances == 9:
        assert sorted(pos.tolist()) == list(range(9))


# ---------------------------------------------------------------------------------------------
# Representations
# ---------------------------------------------------------------------------------------------


def test_representation_linear_model_is_x():
    X, y = _clustered()
    clf = LogisticRegression().fit(X, y)
    H = get_representation(clf, X)
    assert isinstance(H, np.ndarray) and H.dtype == np.float64
    np.testing.assert_array_equal(H, X)
    assert get_representation(clf, X.astype(np.float32)).dtype == np.float32  # kept
    Xi = np.rint(X).astype(int)
    assert get_representation(clf, Xi).dtype == np.float64


def test_representation_pipeline_is_transformed_x():
    X, y = _clustered()
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    expected = StandardScaler().fit(X).transform(X)
    np.testing.assert_allclose(get_representation(pipe, X), expected, rtol=1e-6)
    one_step = make_pipeline(LogisticRegression()).fit(X, y)
    np.testing.assert_array_equal(get_representation(one_step, X), X)


def test_representation_from_represent():
    X, y = _clustered()
    model = ReprLinear().fit(X, y)
    assert isinstance(model, SupportsRepresentation)
    assert not isinstance(LogisticRegression(), SupportsRepresentation)
    np.testing.assert_allclose(get_representation(model, X), 2 * X)
    # a Pipeline whose last step has represent: represent(pipeline[:-1].transform(X))
    pipe = make_pipeline(FunctionTransformer(lambda Z: Z + 1.0), ReprLinear()).fit(X, y)
    np.testing.assert_allclose(get_representation(pipe, X), 2 * (X + 1.0), rtol=1e-6)


def test_representation_sparse_densified_unless_accepted():
    X = sp.random(6, 4, density=0.5, random_state=0, format="csr")
    clf = LogisticRegression().fit(X, [0, 1] * 3)
    H = get_representation(clf, X)
    assert isinstance(H, np.ndarray)
    np.testing.assert_array_equal(H, X.toarray())
    assert sp.issparse(get_representation(clf, X, accept_sparse=True))


def test_representation_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _clustered()
    df = pd.DataFrame(X, columns=["a", "b"])
    clf = LogisticRegression().fit(df, y)
    np.testing.assert_array_equal(get_representation(clf, df), X)
    assert np.unique(badge_sampling(clf, df, 4, random_state=0)[0]).size == 4


def test_meta_estimator_not_unwrapped():
    # CalibratedClassifierCV.estimator is an unfitted template: it must not be used
    X, y = _clustered()
    cal = CalibratedClassifierCV(make_pipeline(StandardScaler(), LogisticRegression()), cv=2)
    cal.fit(X, y)
    np.testing.assert_array_equal(get_representation(cal, X), X)


def test_modal_active_learner_is_unwrapped():
    models = pytest.importorskip("modAL.models")
    X, y = _clustered()
    learner = models.ActiveLearner(
        estimator=make_pipeline(StandardScaler(), LogisticRegression()),
        query_strategy=entropy_sampling,
        X_training=X[::3],
        y_training=y[::3],
    )
    fitted = learner.estimator
    np.testing.assert_allclose(get_representation(learner, X), fitted[:-1].transform(X))
    for name, strategy in STRATEGIES.items():
        via_learner = strategy(learner, X, 4, random_state=0)
        direct = strategy(fitted, X, 4, random_state=0, labels=y[::3], X_labelled=X[::3])
        assert via_learner[0].tolist() == direct[0].tolist(), name
        np.testing.assert_allclose(via_learner[1], direct[1])

    svc = models.ActiveLearner(
        estimator=LinearSVC(), query_strategy=entropy_sampling, X_training=X, y_training=y
    )
    with pytest.raises(TypeError, match="LinearSVC"):
        entropy_sampling(svc, X, 1)
    piped = make_pipeline(StandardScaler(), LinearSVC()).fit(X, y)
    with pytest.raises(TypeError, match="Pipeline ending in LinearSVC has none"):
        margin_sampling(piped, X, 1)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategy",
    [entropy_sampling, margin_sampling, least_confidence_sampling, badge_sampling],
)
def test_no_predict_proba(strategy):
    X, y = _clustered()
    svc = LinearSVC().fit(X, y)
    with pytest.raises(TypeError, match=rf"{strategy.__name__}.*predict_proba.*LinearSVC"):
        strategy(svc, X, 1)
    # FT-BERTKM and random do not need probabilities
    assert ftbertkm_sampling(svc, X, 2, random_state=0)[0].size == 2
    assert random_sampling(svc, X, 2, random_state=0)[0].size == 2


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_bad_n_instances(name):
    strategy = get_strategy(name)
    X, y = _clustered(n_per=3)
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="n_instances"):
        strategy(clf, X, 0)
    with pytest.raises(TypeError, match="n_instances"):
        strategy(clf, X, 2.5)
    with pytest.raises(ValueError, match="larger than the pool"):
        strategy(clf, X, len(X) + 1)
    with pytest.raises(ValueError, match="empty"):
        strategy(clf, X[:0], 1)
    # n == len(X): every position once
    pos, _ = strategy(clf, X, len(X), random_state=0, labels=y, X_labelled=X)
    assert sorted(pos.tolist()) == list(range(len(X)))


def test_bad_probabilities():
    with pytest.raises(ValueError, match="shape"):
        entropy_sampling(StubProba(np.full((3, 2), 0.5)), np.array([[0, 1], [1, 2]]), 1)
    proba = np.full((3, 2), 0.5)
    proba[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        margin_sampling(StubProba(proba), np.arange(3), 1)


@pytest.mark.parametrize("strategy", [badge_sampling, ftbertkm_sampling])
def test_non_numeric_x_without_represent(strategy):
    stub = StubProba(np.full((3, 2), 0.5))
    with pytest.raises(TypeError, match="represent"):
        strategy(stub, np.arange(3), 1)  # 1-d ids
    texts = ["a", "b", "c"]

    class TextStub:
        def predict_proba(self, X):
            return np.full((len(X), 2), 0.5)

    with pytest.raises(TypeError, match="represent"):
        strategy(TextStub(), texts, 1)
    with pytest.raises(TypeError, match="represent"):
        get_representation(TextStub(), np.array(texts)[:, None])


def test_get_strategy():
    assert get_strategy("entropy") is entropy_sampling
    assert get_strategy(" BADGE ") is badge_sampling
    assert set(STRATEGIES) >= {
        "entropy",
        "margin",
        "least_confidence",
        "random",
        "badge",
        "ftbertkm",
        "galaxy",
        "direct",
        "minority",
        "minority_mix",
        "label_propagation",
    }

    def custom(classifier, X, n_instances=1, **kwargs):
        return np.arange(n_instances), np.zeros(n_instances)

    assert get_strategy(custom) is custom
    with pytest.raises(ValueError, match=r"entropy.*ftbertkm"):
        get_strategy("uncertainty")
    with pytest.raises(TypeError):
        get_strategy(3)


def test_a_misspelt_strategy_parameter_is_an_error():
    """skanchor's strategies ignore keywords they do not name (modAL passes some along), so a
    typo would change nothing without a word (QA report: ``{"exploitt": 1.0}`` selected what
    the defaults select)."""
    assert check_strategy_params("minority_mix", {"exploit": 1.0}) == {"exploit": 1.0}
    assert check_strategy_params("entropy", None) == {}
    with pytest.raises(TypeError, match=r"'exploitt' is not a parameter of strategy "
                       r"'minority_mix'; did you mean 'exploit'\?"):  # fmt: skip
        check_strategy_params("minority_mix", {"exploitt": 1.0})
    with pytest.raises(TypeError, match=r"'minorty' .* strategy 'entropy' \(its parameters: "):
        check_strategy_params(entropy_sampling, {"minorty": [1]})
    with pytest.raises(TypeError, match="'n_instances' is not a parameter"):
        check_strategy_params("badge", {"n_instances": 3})
    for name, strategy in STRATEGIES.items():  # every named parameter passes, at its default
        signature = inspect.signature(strategy).parameters
        named = set(signature) - {"classifier", "X", "n_instances", "kwargs"}
        check_strategy_params(name, {p: signature[p].default for p in named})
    # values are checked as well, now rather than at the first query
    with pytest.raises(ValueError, match=r"'exploit' parameter of strategy 'minority_mix' must"):
        check_strategy_params("minority_mix", {"exploit": 2})

    def custom(classifier, X, n_instances=1, **kwargs):  # not ours: kwargs may be meant
        return np.arange(n_instances), np.zeros(n_instances)  # for predict_proba

    assert check_strategy_params(custom, {"anything": 1}) == {"anything": 1}


@pytest.mark.parametrize(
    "name", ["least-confidence", "Least_Confidence", " LEAST-CONFIDENCE ", "least_confidence"]
)
def test_get_strategy_names_are_normalised(name):
    """The CLI's spelling (a hyphen) is a valid name everywhere."""
    assert get_strategy(name) is least_confidence_sampling


def test_every_registered_name_round_trips():
    for name, strategy in STRATEGIES.items():
        assert get_strategy(name.replace("_", "-").upper()) is strategy


@pytest.mark.parametrize(
    ("strategy", "kwargs", "param"),
    [
        (entropy_sampling, {"random_state": "seed"}, "random_state"),
        (random_sampling, {"n_instances": 1.5}, "n_instances"),
        (badge_sampling, {"n_local_trials": 0}, "n_local_trials"),
        (ftbertkm_sampling, {"n_init": "twice"}, "n_init"),
    ],
)
def test_strategy_parameters_are_declared(strategy, kwargs, param):
    X, y = _clustered(n_per=3)
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(
        InvalidParameterError, match=f"'{param}' parameter of {strategy.__name__} must be"
    ):
        strategy(clf, X, **({"n_instances": 1} | kwargs))


def test_one_entropy():
    """Anchor selection and the strategies share one predictive entropy."""
    import skanchor.anchors

    assert skanchor.anchors.predictive_entropy is predictive_entropy
    assert not hasattr(skanchor.anchors, "_entropy")
    assert predictive_entropy([[0.25, 0.75]])[0] == predictive_entropy([[0.75, 0.25]])[0]


def test_module_doctest():
    result = doctest.testmod(strategies_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
