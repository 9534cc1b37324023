import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skanchor.anchors import AnchorTransformer, select_anchors, select_class_anchors


def test_small_class_uses_all_items():
    vectors = np.eye(4)
    for strategy in ("kmeans++", "random"):
        assert select_anchors(vectors, 10, strategy, random_state=0).tolist() == [0, 1, 2, 3]
        assert select_anchors(vectors, 4, strategy, random_state=0).tolist() == [0, 1, 2, 3]


def test_kmeanspp_deduplicates_repeated_points():
    distinct = np.eye(3)
    vectors = np.repeat(distinct, 20, axis=0)  # 60 rows, 3 distinct points
    chosen = select_anchors(vectors, 5, "kmeans++", random_state=0)
    assert chosen.size == 3
    assert np.unique(vectors[chosen], axis=0).shape[0] == 3


def test_kmeanspp_unique_seeded_and_diverse(blobs):
    vectors, clusters = blobs
    a = select_anchors(vectors[:500], 10, "kmeans++", random_state=1)
    b = select_anchors(vectors[:500], 10, "kmeans++", random_state=1)
    c = select_anchors(vectors[:500], 10, "kmeans++", random_state=2)
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()
    assert np.unique(a).size == 10
    # k-means++ spreads anchors: they cover more clusters than a typical random pick would miss
    assert np.unique(clusters[:500][a]).size >= 7


def test_random_anchors_reproducible():
    vectors = np.random.default_rng(0).normal(size=(50, 4))
    a = select_anchors(vectors, 5, "random", random_state=3)
    assert a.tolist() == select_anchors(vectors, 5, "random", random_state=3).tolist()
    assert np.unique(a).size == 5


def test_entropy_anchors_take_the_most_uncertain():
    vectors = np.random.default_rng(0).normal(size=(5, 3))
    proba = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.5, 0.5]])
    # entropies: 0, ln2, .325, .673, ln2 -> top-3: positions 1, 4, 3
    assert select_anchors(vectors, 3, "entropy", proba=proba).tolist() == [1, 3, 4]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_anchors": 0}, ValueError, "n_anchors"),
        ({"n_anchors": 2.5}, TypeError, "n_anchors"),
        ({"strategy": "kmeans"}, ValueError, "kmeans"),
        ({"strategy": "entropy"}, ValueError, "probabilities"),
    ],
)
def test_select_anchors_bad_input(kwargs, error, match):
    params = {"n_anchors": 2, "strategy": "kmeans++"} | kwargs
    with pytest.raises(error, match=match):
        select_anchors(np.eye(5), params["n_anchors"], params["strategy"])


def test_class_anchors_per_class_strategy_and_membership(blobs):
    vectors, _ = blobs
    labels = np.array(["maj"] * 300 + ["min"] * 7)
    X = vectors[:307]
    proba = np.random.default_rng(0).dirichlet([1, 1], size=307)
    anchors = select_class_anchors(
        labels, X, 5, {"maj": "random", "min": "entropy"}, random_state=0, proba=proba
    )
    assert set(anchors) == {"maj", "min"}
    assert all(labels[p].tolist() == [c] * p.size for c, p in anchors.items())
    assert anchors["maj"].size == 5
    expected_min = np.sort(300 + select_anchors(X[300:], 5, "entropy", proba=proba[300:]))
    assert anchors["min"].tolist() == expected_min.tolist()
    # the minority class's anchors do not depend on the majority class's strategy
    other = select_class_anchors(
        labels, X, 5, {"maj": "kmeans++", "min": "entropy"}, random_state=0, proba=proba
    )
    assert other["min"].tolist() == anchors["min"].tolist()


def test_class_anchors_unknown_strategy_in_mapping():
    with pytest.raises(ValueError, match=r"strategy.*Got \{'b': 'nope'\}"):
        select_class_anchors(np.array(["a", "b"]), np.eye(2), 1, {"b": "nope"})


def test_transformer_similarity_semantics():
    X = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 3.0], [0.1, 1.0]])
    y = np.array([0, 0, 1, 1])
    tr = AnchorTransformer(n_anchors=5).fit(X, y)  # classes smaller than A: all rows are anchors
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(tr.transform(X), Xn @ Xn.T, rtol=1e-12)
    assert tr.anchor_labels_.tolist() == [0, 0, 1, 1]
    assert tr.get_feature_names_out().tolist()[0] == "anchor0_class0"
    assert tr.transform([[0.0, 0.0]]).tolist() == [[0.0] * 4]  # as cosine_similarity does
    with pytest.raises(ValueError, match="class 1 has only all-zero rows"):
        AnchorTransformer().fit([[1.0, 0.0], [0.0, 0.0]], [0, 1])
    zero_first = AnchorTransformer(n_anchors=1).fit([[0.0, 0.0], [1.0, 1.0]], [0, 0])
    assert zero_first.anchor_indices_.tolist() == [1]


def test_transformer_in_pipeline(blobs):
    vectors, clusters = blobs
    y = (clusters == 0).astype(int)
    pipe = make_pipeline(AnchorTransformer(n_anchors=10, random_state=0), LogisticRegression())
    pipe.fit(vectors[:1000], y[:1000])
    assert pipe.score(vectors[1000:], y[1000:]) > 0.95
    assert pipe[0].transform(vectors[:3]).shape == (3, 20)


def test_transformer_takes_sparse_features_and_checks_what_it_is_given():
    """TF-IDF -> AnchorTransformer is the obvious text pipeline (QA report: sparse input was
    refused); a per-class key that is no class, a proba of the wrong shape and foreign
    input feature names are errors, not silent defaults."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["cheap pills now", "win cash now", "lunch at noon", "see you at noon"] * 5
    y = np.array([1, 1, 0, 0] * 5)
    pipe = make_pipeline(TfidfVectorizer(), AnchorTransformer(n_anchors=2, random_state=0),
                         LogisticRegression())  # fmt: skip
    assert pipe.fit(texts, y).score(texts, y) == 1.0
    X = TfidfVectorizer().fit_transform(texts)
    tr = AnchorTransformer(n_anchors=2, random_state=0)
    np.testing.assert_allclose(tr.fit(X, y).transform(X), tr.fit(X.toarray(), y).transform(X))
    assert isinstance(tr.transform(sp.csr_matrix(X)), np.ndarray)
    with pytest.raises(ValueError, match=r"n_anchors has key 'Spam', which is not in the classes"):
        AnchorTransformer(n_anchors={"Spam": 2}).fit(X, np.where(y, "spam", "ham"))
    with pytest.raises(ValueError, match=r"anchor_strategy has key 2"):
        AnchorTransformer(anchor_strategy={2: "random"}).fit(X, y)
    with pytest.raises(ValueError, match=r"proba must have shape .* = \(20, 2\), got \(20, 1\)"):
        AnchorTransformer(anchor_strategy="entropy").fit(X, y, proba=np.full((20, 1), 0.5))
    with pytest.raises(ValueError, match="input_features"):
        AnchorTransformer().fit(np.eye(4), [0, 0, 1, 1]).get_feature_names_out(["a", "b"])


def test_transformer_parameters_are_declared():
    """Every constructor parameter has scikit-learn constraints, checked once in fit."""
    check_param_validation("AnchorTransformer", AnchorTransformer(n_anchors=3, random_state=0))
    X = np.eye(6)
    y = np.array([0, 0, 0, 1, 1, 1])
    tr = AnchorTransformer(n_anchors={1: 1}, anchor_strategy={0: "Random"}, random_state=0)
    assert tr.fit(X, y).anchor_labels_.tolist() == [0, 0, 0, 1]  # class 0: default A=10
    with pytest.raises(ValueError, match=r"'n_anchors' parameter of AnchorTransformer"):
        AnchorTransformer(n_anchors={1: 0}).fit(X, y)


def test_transformer_rejects_missing_labels():
    with pytest.raises(ValueError, match=r"y holds a missing label \(None\) at position 1"):
        AnchorTransformer().fit(np.eye(3), np.array([0, None, 1], dtype=object))


@parametrize_with_checks([AnchorTransformer(n_anchors=3, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
