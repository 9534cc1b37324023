"""Tests of the vector indexes: ExactIndex (ground truth) and HNSWIndex (hnswlib)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import skanchor.index.base as index_base
from skanchor.index import ExactIndex, HNSWIndex, VectorIndex

KINDS = {"exact": ExactIndex, "hnsw": HNSWIndex}


def make(kind: str, **params) -> VectorIndex:
    if kind == "hnsw":  # a small ef so that searches of these small indexes go through hnswlib
        params = {"M": 16, "ef": 16, **params}  # (at most max(ef, k) live items: exact scan)
    return KINDS[kind](**params)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 3.0
    return (centres[rng.integers(0, n_clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


@pytest.fixture(params=sorted(KINDS))
def kind(request) -> str:
    return request.param


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)


@pytest.fixture
def index(kind, data) -> VectorIndex:
    return make(kind).add(data, ids=np.arange(1000, 1200))


# -- add / search -----------------------------------------------------------------------------


def test_search_shapes_and_dtypes(index, data):
    ids, sims = index.search(data[:7], k=10)
    assert ids.shape == sims.shape == (7, 10)
    assert ids.dtype == np.int64 and sims.dtype == np.float32
    assert (np.diff(sims, axis=1) <= 0).all()
    assert (ids[:, 0] == np.arange(1000, 1007)).all()  # each query finds itself first
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)


def test_search_matches_brute_force(index, data):
    queries = np.random.default_rng(1).normal(size=(5, 16))
    ids, sims = index.search(queries, k=5)
    expected = unit(queries) @ unit(data).T
    top = np.argsort(-expected, axis=1)[:, :5]
    assert (ids == top + 1000).all()
    np.testing.assert_allclose(sims, np.take_along_axis(expected, top, 1), atol=1e-5)


def test_single_query_vector_is_one_row(index, data):
    ids, sims = index.search(data[3], k=4)
    assert ids.shape == sims.shape == (1, 4)
    assert ids[0, 0] == 1003


def test_inputs_are_not_modified(kind, data):
    vectors = data.copy()
    idx = make(kind).add(vectors)
    queries = data[:3] * 5
    before = queries.copy()
    idx.search(queries, k=3)
    assert np.array_equal(vectors, data) and np.array_equal(queries, before)


def test_default_ids_follow_n_items(kind, data):
    idx = make(kind).add(data[:10]).add(data[10:15])
    assert np.array_equal(idx.ids(), np.arange(15))
    assert np.array_equal(idx.search(data[12], k=1)[0], [[12]])


def test_large_ids_round_trip(kind, data):
    ids = np.array([2**40, 5, 2**62 + 1], dtype=np.int64)
    idx = make(kind).add(data[:3], ids=ids)
    assert np.array_equal(idx.ids(), np.sort(ids))
    found, _ = idx.search(data[:3], k=1)
    assert found.dtype == np.int64 and np.array_equal(found[:, 0], ids)


def test_from_vectors_repr_and_params(kind, data):
    idx = KINDS[kind].from_vectors(data[:20], ids=np.arange(20) * 2, dim=16)
    assert isinstance(idx, KINDS[kind]) and idx.n_items == 20 and idx.dim == 16
    assert idx.get_params()["dim"] == 16
    assert "n_items=20" in repr(idx) and KINDS[kind].__name__ in repr(idx)
    with pytest.raises(ValueError, match=r"dim=8"):
        idx.set_params(dim=8)


def test_empty_index(kind):
    idx = make(kind)
    assert idx.n_items == 0 and len(idx) == 0 and idx.n_masked == 0
    assert idx.ids().dtype == np.int64 and idx.ids().size == 0
    assert not idx.contains([0, 1]).any()
    ids, sims = idx.search(np.ones((3, 4)), k=5)
    assert ids.shape == sims.shape == (3, 0)
    with pytest.raises(ValueError, match=r"ids.*not in the index: 0"):
        idx.mask([0])


def test_exact_ties_go_to_smaller_id():
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    idx = ExactIndex().add(np.repeat(v, 4, axis=0), ids=[9, 3, 7, 1, 8, 2, 6, 0])
    ids, sims = idx.search([1.0, 0.1], k=3)
    assert ids.tolist() == [[1, 3, 7]]
    assert np.all(sims == sims[0, 0])


def test_exact_blocked_search_matches_single_block(monkeypatch, data):
    idx = ExactIndex().add(data)
    idx.mask(np.arange(0, 200, 3))
    queries = np.random.default_rng(2).normal(size=(9, 16))
    expected = idx.search(queries, k=25)
    monkeypatch.setattr(index_base, "_SCORE_BLOCK", 64)  # ~7 items per block
    monkeypatch.setattr(index_base, "_QUERY_BLOCK", 4)
    got = idx.search(queries, k=25)
    assert np.array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-6)  # BLAS blocking: ULP noise


def test_exact_buffer_grows(data):
    idx = ExactIndex()
    for start in range(0, 200, 7):
        idx.add(data[start : start + 7])
    assert np.allclose(idx.vectors_, unit(data), atol=1e-6)
    assert np.allclose(idx.vectors(np.arange(200)), unit(data), atol=1e-6)


# -- masks --------------------------------------------------------------------------------------


def test_mask_excludes_and_unmask_restores(index, data):
    before = index.search(data[:5], k=10)
    hidden = before[0][:, :3].ravel()
    index.mask(hidden)
    ids, _ = index.search(data[:5], k=10)
    assert ids.shape == (5, 10) and not np.isin(ids, hidden).any()
    index.unmask(hidden)
    after = index.search(data[:5], k=10)
    assert np.array_equal(after[0], before[0]) and np.array_equal(after[1], before[1])


def test_mask_is_idempotent_and_counts(index):
    index.mask([1000, 1001, 1001])
    index.mask([1001])
    assert index.n_masked == 2 and len(index) == 198 and index.n_items == 200
    assert index.is_masked([1001, 1002, 1000]).tolist() == [True, False, True]
    index.unmask([1000, 1002])
    index.unmask([1000])
    assert index.n_masked == 1 and index.is_masked([1000, 1001]).tolist() == [False, True]
    index.mask([])
    assert index.n_masked == 1


def test_set_mask_and_masked_ids(index, kind, data, tmp_path):
    index.mask(np.array([1000, 1001, 1002]))
    assert index.masked_ids().tolist() == [1000, 1001, 1002]
    index.set_mask(np.array([1002, 1050]))
    assert index.masked_ids().tolist() == [1002, 1050]
    assert index.is_masked(np.array([1000, 1001, 1002, 1050])).tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert index.n_masked == 2
    found, _ = index.search(data[[50, 0]], k=1)
    assert found[0, 0] != 1050 and found[1, 0] == 1000
    index.save(tmp_path / "idx")
    assert type(index).load(tmp_path / "idx").masked_ids().tolist() == [1002, 1050]
    index.set_mask(np.array([], dtype=np.int64))
    assert index.n_masked == 0 and index.masked_ids().size == 0
    with pytest.raises(ValueError, match="not in the index"):
        index.set_mask(np.array([5]))


def test_hnsw_masked_vectors_survive_churn_and_reload(data, tmp_path):
    index = make("hnsw").add(data, ids=np.arange(1000, 1200))
    rng = np.random.default_rng(1)
    for _ in range(30):  # mask / unmask churn forces the side store to grow and compact
        index.set_mask(rng.choice(np.arange(1000, 1200), size=rng.integers(0, 150), replace=False))
        probe = rng.choice(np.arange(1000, 1200), size=40, replace=False)
        np.testing.assert_allclose(index.vectors(probe), unit(data[probe - 1000]), atol=1e-6)
    assert len(index.masked_slot_) == index.n_masked
    assert index.masked_store_.shape[0] <= 2 * (3 * index.n_masked + 64 + 150)
    index.save(tmp_path / "idx")
    loaded = HNSWIndex.load(tmp_path / "idx")
    hidden = loaded.masked_ids()
    assert hidden.size > 0
    np.testing.assert_allclose(loaded.vectors(hidden), unit(data[hidden - 1000]), atol=1e-6)
    assert (loaded.search(data[hidden - 1000], k=3)[0] != hidden[:, None]).all()


def test_k_larger_than_live_count(index, data):
    index.mask(np.arange(1000, 1190))
    ids, sims = index.search(data[:4], k=50)
    assert ids.shape == sims.shape == (4, 10)
    assert (np.sort(ids, axis=1) == np.arange(1190, 1200)).all()


def test_all_masked_gives_empty_rows(index, data):
    index.mask(index.ids())
    assert len(index) == 0
    ids, sims = index.search(data[:3], k=5)
    assert ids.shape == sims.shape == (3, 0)
    assert ids.dtype == np.int64 and sims.dtype == np.float32


# -- stored vectors and ids -------------------------------------------------------------------


def test_vectors_round_trip(index, data):
    index.mask([1004, 1002])
    want = [1004, 1000, 1002, 1004]
    got = index.vectors(want)
    assert got.dtype == np.float32 and got.shape == (4, 16)
    np.testing.assert_allclose(got, unit(data[[4, 0, 2, 4]]), atol=1e-6)
    assert index.is_masked([1004, 1002]).all()  # reading masked vectors keeps them masked
    assert not np.isin(index.search(data[[2, 4]], k=200)[0], [1002, 1004]).any()
    assert index.vectors([]).shape == (0, 16)


def test_ids_and_contains(kind, data):
    ids = np.random.default_rng(3).permutation(10_000)[:200]
    idx = make(kind).add(data, ids=ids)
    assert idx.ids().dtype == np.int64 and np.array_equal(idx.ids(), np.sort(ids))
    probe = np.array([ids[0], 10_001, ids[5], 10**12])
    assert idx.contains(probe).tolist() == [True, False, True, False]
    assert len(idx) == idx.n_items == 200


def test_dense_ids_fast_path_agrees_with_binary_search(kind, data):
    """Ids 0..N-1 are looked up as positions; gaps or out-of-range ids must still be right."""
    idx = make(kind).add(data[:100])  # default ids 0..99: dense
    assert idx.dense_ids_
    probe = np.array([0, 99, 100, 10**12, 57])
    assert idx.contains(probe).tolist() == [True, True, False, False, True]
    np.testing.assert_allclose(idx.vectors([57, 3]), unit(data[[57, 3]]), atol=1e-6)
    with pytest.raises(ValueError, match="not in the index: 100"):
        idx.vectors([3, 100])
    idx.add(data[100:150])  # 100..149: still dense
    assert idx.dense_ids_ and idx.contains([149, 150]).tolist() == [True, False]
    idx.add(data[150:], ids=np.arange(500, 550))  # a gap: binary search from now on
    assert not idx.dense_ids_
    assert idx.contains([149, 150, 499, 500, 549]).tolist() == [True, False, False, True, True]
    np.testing.assert_allclose(idx.vectors([549, 7]), unit(data[[199, 7]]), atol=1e-6)


def test_set_mask_grows_and_shrinks(kind, data):
    idx = make(kind).add(data)
    idx.set_mask([3, 1])
    idx.set_mask([1, 3, 5, 5])  # superset (the usual round): only 5 is new
    assert idx.masked_ids().tolist() == [1, 3, 5] and idx.n_masked == 3
    idx.set_mask([5, 7])  # not a superset: 1 and 3 are unmasked
    assert idx.masked_ids().tolist() == [5, 7] and idx.n_masked == 2
    assert not idx.is_masked([1, 3]).any()
    found = idx.search(data[[1, 3, 5]], k=1)[0][:, 0]
    assert found[0] == 1 and found[1] == 3 and found[2] != 5


# -- persistence --------------------------------------------------------------------------------


def test_save_load_round_trip(kind, data, tmp_path):
    params = {"ef": 37, "M": 12} if kind == "hnsw" else {}
    idx = make(kind, **params).add(data, ids=np.arange(200) * 3)
    idx.mask([0, 3, 30])
    queries = np.random.default_rng(4).normal(size=(6, 16))
    expected = idx.search(queries, k=20)
    idx.save(tmp_path / "nested" / "index")
    loaded = KINDS[kind].load(tmp_path / "nested" / "index")
    assert loaded.get_params() == idx.get_params()
    assert np.array_equal(loaded.ids(), idx.ids())
    assert loaded.n_masked == 3 and loaded.is_masked([0, 3, 30, 6]).tolist() == [1, 1, 1, 0]
    got = loaded.search(queries, k=20)
    assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    np.testing.assert_array_equal(loaded.vectors([0, 6]), idx.vectors([0, 6]))
    if kind == "hnsw":
        assert loaded.ef == 37
        assert loaded.index_.ef == 37  # hnswlib itself does not persist ef (it reloads as 10)
    loaded.add(data[:5] + 1, ids=[1, 2, 4, 5, 7])  # a loaded index keeps growing
    assert loaded.n_items == 205


def test_save_load_empty(kind, tmp_path):
    make(kind, dim=8).save(tmp_path)
    loaded = KINDS[kind].load(tmp_path)
    assert loaded.n_items == 0 and loaded.dim == 8


def test_load_errors(data, tmp_path):
    ExactIndex().add(data).save(tmp_path / "exact")
    with pytest.raises(ValueError, match=r"'exact' index.*HNSWIndex"):
        HNSWIndex.load(tmp_path / "exact")
    HNSWIndex().add(data).save(tmp_path / "hnsw")
    with pytest.raises(ValueError, match=r"'hnsw' index.*ExactIndex"):
        ExactIndex.load(tmp_path / "hnsw")
    with pytest.raises(FileNotFoundError, match=r"missing"):
        ExactIndex.load(tmp_path / "missing")


# -- bad inputs ---------------------------------------------------------------------------------


def _bad(value: float) -> np.ndarray:
    x = np.ones((3, 4))
    x[1, 2] = value
    return x


BAD_VECTORS = [
    pytest.param(_bad(np.nan), ValueError, "NaN or inf", id="nan"),
    pytest.param(_bad(np.inf), ValueError, "NaN or inf", id="inf"),
    pytest.param(np.vstack([np.ones(4), np.zeros(4)]), ValueError, "zero-norm", id="zero"),
    pytest.param(np.ones((2, 5)), ValueError, "dimension 5, expected 4", id="dim"),
    pytest.param(np.ones((2, 2, 4)), ValueError, "2-d", id="3d"),
    pytest.param(np.array([["a"] * 4]), TypeError, "numeric", id="str"),
    pytest.param(sp.csr_matrix(np.ones((2, 4))), TypeError, "sparse matrix", id="sparse"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_VECTORS)
def test_bad_vectors_for_add(kind, bad, error, message):
    idx = make(kind).add(np.ones((1, 4)))
    with pytest.raises(error, match=f"vectors.*{message}|{message}.*vectors"):
        idx.add(bad)
    assert idx.n_items == 1  # nothing half-added


@pytest.mark.parametrize(("bad", "error", "message"), BAD_VECTORS)
def test_bad_queries(kind, bad, error, message):
    idx = make(kind).add(np.eye(4))
    with pytest.raises(error, match=f"queries.*{message}|{message}.*queries"):
        idx.search(bad, k=2)


@pytest.mark.parametrize("k", [0, -3, 1.5, 2.0, "2", None])
def test_bad_k(kind, k):
    idx = make(kind).add(np.eye(4))
    with pytest.raises(
        (ValueError, TypeError), match=r"'k' parameter of \w+Index.search must be an int.*Got"
    ):
        idx.search(np.eye(4), k=k)


def test_bad_ids_for_add(kind):
    idx = make(kind).add(np.eye(4), ids=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"ids holds duplicated ids, e.g. 7"):
        idx.add(np.eye(4), ids=[5, 7, 7, 8])
    with pytest.raises(ValueError, match=r"ids holds an id already in the index: 2"):
        idx.add(np.eye(4), ids=[4, 5, 2, 6])
    with pytest.raises(ValueError, match=r"ids has 3 entries but vectors has 4 rows"):
        idx.add(np.eye(4), ids=[10, 11, 12])
    with pytest.raises(ValueError, match=r"ids must be non-negative, got -1"):
        idx.add(np.eye(4), ids=[10, -1, 12, 13])
    assert idx.n_items == 4


def test_add_default_ids_clash_with_custom_ids(kind):
    idx = make(kind).add(np.eye(4), ids=[4, 5, 6, 7])
    with pytest.raises(ValueError, match=r"already in the index: 4"):
        idx.add(np.eye(4))


@pytest.mark.parametrize("method", ["mask", "unmask", "is_masked", "vectors"])
def test_unknown_ids(index, method):
    with pytest.raises(ValueError, match=r"ids holds an id that is not in the index: 5"):
        getattr(index, method)([1000, 5])
    assert index.n_masked == 0


# -- HNSWIndex specifics ------------------------------------------------------------------------


def test_hnsw_paper_defaults():
    params = HNSWIndex().get_params()
    assert (params["M"], params["ef_construction"], params["ef"]) == (64, 200, 200)
    assert not hasattr(HNSWIndex(), "index_")  # the constructor only stores parameters


class _SpyIndex:
    """Wraps an hnswlib.Index: records the ef of each knn_query and can make it fail."""

    def __init__(self, inner, failures: int = 0, message: str = "contiguous 2D array"):
        self.inner, self.failures, self.message, self.calls = inner, failures, message, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def knn_query(self, *args, **kwargs):
        self.calls.append(self.inner.ef)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"Cannot return the results in a {self.message}.")
        return self.inner.knn_query(*args, **kwargs)


def test_hnsw_ef_is_max_of_ef_and_k(data):
    idx = HNSWIndex(ef=30).add(data)
    idx.index_ = spy = _SpyIndex(idx.index_)
    idx.search(data[:2], k=10)
    idx.search(data[:2], k=50)
    idx.set_ef(60)
    idx.search(data[:2], k=10)
    idx.ef = 45  # plain assignment works too
    idx.search(data[:2], k=10)
    assert spy.calls == [30, 50, 60, 45]
    assert spy.inner.ef == 45  # hnswlib's ef is left at the index's ef between searches
    with pytest.raises(ValueError, match=r"'ef' parameter of HNSWIndex .*Got 0 instead"):
        idx.set_ef(0)
    assert idx.ef == 45  # a rejected value is not set


def test_hnsw_retries_with_larger_ef_then_scans(data):
    exact = ExactIndex().add(data)
    idx = HNSWIndex(ef=10).add(data)
    for index in (exact, idx):
        index.mask(np.arange(100))
    queries = data[:5] + 0.5
    idx.index_ = spy = _SpyIndex(idx.index_, failures=1)
    ids, _ = idx.search(queries, k=20)
    assert spy.calls == [20, 80] and ids.shape == (5, 20)
    idx.index_ = spy = _SpyIndex(spy.inner, failures=99)  # never succeeds: exact fallback
    ids, sims = idx.search(queries, k=20)
    assert spy.calls == [20, 80, 200]
    expected = exact.search(queries, k=20)
    assert np.array_equal(ids, expected[0])
    np.testing.assert_allclose(sims, expected[1], atol=1e-5)
    assert spy.inner.ef == 10
    idx.index_ = _SpyIndex(spy.inner, failures=1, message="something else")
    with pytest.raises(RuntimeError, match=r"something else"):
        idx.search(queries, k=20)


@pytest.fixture(scope="module")
def many_deleted() -> tuple[np.ndarray, HNSWIndex]:
    X = clustered(2000, 32, 10, seed=5)
    return X, HNSWIndex(M=16).add(X)


@pytest.mark.parametrize("ef", [1, 200])
@pytest.mark.parametrize("k", [3, 5, 6, 7, 50])
def test_hnsw_many_deleted(many_deleted, ef, k):
    X, idx = many_deleted
    live = np.array([3, 400, 999, 1500, 1999, 77])
    idx.unmask(idx.ids())
    idx.mask(np.setdiff1d(np.arange(2000), live))
    idx.set_ef(ef)
    assert len(idx) == 6
    ids, sims = idx.search(X[:4], k=k)
    assert ids.shape == sims.shape == (4, min(k, 6))
    assert np.isin(ids, live).all() and (np.diff(sims, axis=1) <= 0).all()
    expected = unit(X[:4]) @ unit(X[live]).T
    top = live[np.argsort(-expected, axis=1)[:, : min(k, 6)]]
    if k >= 6:  # every live item is returned, in exact order
        assert np.array_equal(ids, top)
    else:
        assert np.array_equal(ids[:, 0], top[:, 0])


def test_hnsw_capacity_grows_by_doubling(data):
    idx = HNSWIndex(M=8, max_elements=50)
    idx.add(data[:10])
    assert idx.capacity_ == 50
    idx.add(data[10:60])
    assert idx.capacity_ == 100
    idx.add(data[60:200])
    assert idx.capacity_ == 200 and idx.n_items == 200
    assert np.array_equal(idx.search(data[150], k=1)[0], [[150]])


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("M", 1, r"'M' parameter of HNSWIndex must be an int in the range \[2, inf\). Got 1"),
        ("ef_construction", -1, r"'ef_construction' parameter .* Got -1"),
        ("ef", 2.5, r"'ef' parameter of HNSWIndex must be an int .* Got 2.5"),
        ("max_elements", 0, r"'max_elements' parameter .*or None. Got 0"),
        ("num_threads", 0, r"'num_threads' parameter .*among \{-1\}. Got 0"),
        ("random_state", -1, r"'random_state' parameter .* Got -1"),
        ("dim", 0, r"'dim' parameter of HNSWIndex .* Got 0"),
        ("dim", 5, "vectors has dimension 4, expected 5"),
    ],
)
def test_hnsw_bad_params(param, value, message):
    idx = HNSWIndex(**{param: value})  # stored as given ...
    with pytest.raises((ValueError, TypeError), match=message):
        idx.add(np.eye(4))  # ... and checked when the graph is built


def test_hnsw_recall_against_exact():
    X = clustered(5000, 64, 20, seed=0)
    rng = np.random.default_rng(1)
    hnsw = HNSWIndex(num_threads=2).add(X)
    exact = ExactIndex().add(X)
    masked = rng.choice(5000, 500, replace=False)
    hnsw.mask(masked)
    exact.mask(masked)
    queries = X[rng.choice(5000, 20, replace=False)]
    got, _ = hnsw.search(queries, k=50)
    want, _ = exact.search(queries, k=50)
    assert not np.isin(got, masked).any()
    recall = np.mean([np.intersect1d(g, w).size / 50 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95


# -- property test --------------------------------------------------------------------------------


@functools.cache
def _small_index(kind: str) -> VectorIndex:
    X = np.random.default_rng(6).normal(size=(40, 8)).astype(np.float32)
    return make(kind, **({"M": 8, "ef": 1} if kind == "hnsw" else {})).add(X, ids=np.arange(40) * 5)


@pytest.mark.parametrize("kind_name", sorted(KINDS))
@settings(max_examples=60, deadline=None)
@given(
    masked=st.sets(st.integers(0, 39)),
    k=st.integers(1, 50),
    query_seed=st.integers(0, 2**16),
)
def test_masked_ids_never_returned(kind_name, masked, k, query_seed):
    idx = _small_index(kind_name)
    idx.unmask(idx.ids())
    hidden = np.array(sorted(masked), dtype=np.int64) * 5
    idx.mask(hidden)
    queries = np.random.default_rng(query_seed).normal(size=(3, 8))
    ids, sims = idx.search(queries, k=k)
    assert ids.shape == sims.shape == (3, min(k, 40 - len(masked)))
    assert not np.isin(ids, hidden).any()
    assert all(len(set(row)) == len(row) for row in ids.tolist())


# -- loading validates what it reads ------------------------------------------------------------


def _saved(kind: str, data: np.ndarray, path, masked=(3, 30)):
    """A valid saved index of ``kind`` (ids 0, 3, 6, ...; two masked) at ``path``."""
    idx = make(kind).add(data, ids=np.arange(len(data)) * 3)
    idx.mask(list(masked))
    idx.save(path)
    return idx


def _edit_meta(path, edit) -> None:
    meta = json.loads((path / "meta.json").read_text())
    edit(meta)
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("key", ["params", "fitted"])
def test_load_meta_missing_key(kind, data, tmp_path, key):
    _saved(kind, data, tmp_path)
    _edit_meta(tmp_path, lambda meta: meta.pop(key))
    with pytest.raises(ValueError, match=rf"path='.*': meta.json has no '{key}' key"):
        KINDS[kind].load(tmp_path)


def test_load_meta_bad_params(kind, data, tmp_path):
    _saved(kind, data, tmp_path)
    _edit_meta(tmp_path, lambda meta: meta["params"].update(colour="blue"))
    with pytest.raises(ValueError, match=r"meta.json has params 'colour', not a parameter of"):
        KINDS[kind].load(tmp_path)
    _edit_meta(tmp_path, lambda meta: meta["params"].update(colour=None, dim=-2))
    _edit_meta(tmp_path, lambda meta: meta["params"].pop("colour"))
    with pytest.raises(ValueError, match=r"meta.json: The 'dim' parameter of \w+ must be"):
        KINDS[kind].load(tmp_path)
    _edit_meta(tmp_path, lambda meta: meta["params"].update(dim=None))
    with pytest.raises(ValueError, match=r"fitted index but has no params 'dim'"):
        KINDS[kind].load(tmp_path)
    _edit_meta(tmp_path, lambda meta: meta.update(fitted="yes"))
    with pytest.raises(ValueError, match=r"'fitted' must be a bool, got 'yes'"):
        KINDS[kind].load(tmp_path)


def test_load_meta_defaults_missing_params(data, tmp_path):
    _saved("hnsw", data, tmp_path)
    _edit_meta(tmp_path, lambda meta: meta["params"].pop("num_threads"))
    assert HNSWIndex.load(tmp_path).num_threads == 1  # the constructor's default
    _edit_meta(tmp_path, lambda meta: meta["params"].update(M=1))
    with pytest.raises(ValueError, match=r"meta.json: The 'M' parameter of HNSWIndex .* Got 1"):
        HNSWIndex.load(tmp_path)


def test_load_ids_and_masks_checked(kind, data, tmp_path):
    _saved(kind, data, tmp_path)
    ids = np.load(tmp_path / "ids.npy")
    np.save(tmp_path / "ids.npy", np.r_[ids[:-1], ids[0]])
    with pytest.raises(ValueError, match=r"ids.npy holds duplicated ids, e.g. 0"):
        KINDS[kind].load(tmp_path)
    np.save(tmp_path / "ids.npy", ids.astype(np.float64) + 0.5)
    with pytest.raises(TypeError, match=r"ids.npy must hold integer ids, got 0.5"):
        KINDS[kind].load(tmp_path)
    np.save(tmp_path / "ids.npy", ids)
    masked = np.load(tmp_path / "masked.npy")
    for bad in (masked[:-1], masked.astype(np.int8)):
        np.save(tmp_path / "masked.npy", bad)
        with pytest.raises(ValueError, match=r"masked.npy must hold one bool per id of ids.npy"):
            KINDS[kind].load(tmp_path)
    (tmp_path / "masked.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match=r"masked.npy is not a readable .npy file"):
        KINDS[kind].load(tmp_path)
    (tmp_path / "masked.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"masked.npy is missing"):
        KINDS[kind].load(tmp_path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda v: v[:-1],
            r"has shape \(199, 16\), but ids.npy and meta.json describe \(200, 16\)",
        ),
        (lambda v: np.vstack([v, v[:1]]), r"has shape \(201, 16\)"),
        (lambda v: v[:, :8], r"has shape \(200, 8\)"),
        (
            lambda v: np.where(np.arange(200)[:, None] == 5, np.nan, v),
            r"contains NaN or inf .*row: 5",
        ),
        (lambda v: v * 2, r"row 0 is not unit-norm"),
    ],
    ids=["fewer-rows", "more-rows", "dim", "nan", "not-unit"],
)
def test_load_exact_vectors_checked(data, tmp_path, edit, message):
    _saved("exact", data, tmp_path)
    vectors = np.load(tmp_path / "vectors.npy")
    np.save(tmp_path / "vectors.npy", edit(vectors))
    with pytest.raises(ValueError, match=rf"path='.*': vectors.npy {message}"):
        ExactIndex.load(tmp_path)


def _hnsw_file_from(index: HNSWIndex, tmp_path, target) -> None:
    index.save(tmp_path / "other")
    (target / "hnswlib.bin").write_bytes((tmp_path / "other" / "hnswlib.bin").read_bytes())


def test_load_hnsw_graph_checked_against_ids(data, tmp_path):
    target = tmp_path / "index"
    _saved("hnsw", data, target)
    ids = np.arange(200) * 3
    cases = [
        (make("hnsw").add(data[:150], ids=ids[:150]), r"holds 150 items, ids.npy lists 200"),
        (make("hnsw").add(np.vstack([data, data[:5]])), r"holds 205 items, ids.npy lists 200"),
        (
            make("hnsw").add(data[:, :8], ids=ids),
            r"holds vectors of dimension 8, meta.json says 16",
        ),
        (make("hnsw").add(data, ids=ids + 1), r"and ids.npy hold different ids \(e.g. 1\)"),
        (make("hnsw").add(data, ids=ids), r"and masked.npy disagree .* \(e.g. id 3\)"),
    ]
    for other, message in cases:
        _hnsw_file_from(other, tmp_path, target)
        with pytest.raises(ValueError, match=rf"path='.*': hnswlib.bin {message}"):
            HNSWIndex.load(target)
    good = make("hnsw").add(data, ids=ids)
    good.mask([3, 30])
    _hnsw_file_from(good, tmp_path, target)
    assert HNSWIndex.load(target).n_masked == 2  # the same state, saved elsewhere: accepted
    blob = (target / "hnswlib.bin").read_bytes()
    (target / "hnswlib.bin").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"hnswlib.bin is truncated"):
        HNSWIndex.load(target)
    (target / "hnswlib.bin").write_bytes(blob[:20])
    with pytest.raises(ValueError, match=r"hnswlib.bin is not an hnswlib index"):
        HNSWIndex.load(target)


def test_save_removes_meta_first(kind, data, tmp_path, monkeypatch):
    """An interrupted re-save leaves no meta.json, so the directory does not load as an index."""
    idx = _saved(kind, data, tmp_path)

    def crash(path):
        raise OSError("disk full")

    monkeypatch.setattr(idx, "_save_storage", crash)
    with pytest.raises(OSError, match="disk full"):
        idx.save(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no meta.json"):
        KINDS[kind].load(tmp_path)


# -- ids and vectors at the edges of their types ------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        (
            [1.0, 1e20],
            ValueError,
            r"ids holds the float 1e\+20 at position 1: floats beyond 2\*\*53",
        ),
        ([1.0, -1e20], ValueError, r"floats beyond 2\*\*53"),
        ([1.0, np.nan], ValueError, r"ids holds nan at position 1"),
        ([np.inf, 1.0], ValueError, r"ids holds inf at position 0"),
        ([2.0, 2.5], TypeError, r"ids must hold integer ids, got 2.5 at position 1"),
        (np.array([1, 2**63], dtype=np.uint64), ValueError, r"too large for int64"),
    ],
)
def test_check_ids_floats_and_overflow(ids, error, message):
    from skanchor._validation import check_ids

    with pytest.raises(error, match=message):
        check_ids(ids, "ids")
    assert check_ids([3.0, float(2**53)], "ids").tolist() == [3, 2**53]


def test_float_ids_for_add_are_exact_or_rejected(kind, data):
    idx = make(kind).add(data[:2], ids=[4.0, 9.0])
    assert idx.ids().tolist() == [4, 9]
    with pytest.raises(ValueError, match=r"ids holds the float 1e\+20"):
        idx.add(data[2:4], ids=[10.0, 1e20])
    assert idx.n_items == 2


@pytest.mark.parametrize("scale", [1e20, 1e-30, 1e36, 1e-50, 1e-300])
def test_vectors_of_extreme_magnitude_normalise(kind, data, scale):
    idx = make(kind).add(data[:50].astype(np.float64) * scale)
    stored = idx.vectors(np.arange(50))
    np.testing.assert_allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(stored, unit(data[:50]), atol=1e-5)
    ids, sims = idx.search(data[:5].astype(np.float64) * scale, k=1)
    assert ids[:, 0].tolist() == list(range(5))
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-5)


def test_vectors_beyond_float32_are_rejected(kind):
    x = np.ones((3, 4))
    x[2, 1] = 1e39
    with pytest.raises(ValueError, match=r"vectors holds values beyond the float32 range .*row 2"):
        make(kind).add(x)


def test_concurrent_searches_give_the_sequential_answers(kind):
    """One index shared by threads (clones share it): each search sets hnswlib's ef for its
    own k, so without a lock a thread could search with another's ef (QA report: 3-6 of 4,000
    concurrent HNSW searches returned other neighbours)."""
    import threading

    rng = np.random.default_rng(0)
    idx = make(kind, **({"M": 8, "ef": 10, "ef_construction": 20} if kind == "hnsw" else {}))
    idx.add(rng.normal(size=(3000, 8)).astype(np.float32))
    queries = rng.normal(size=(50, 8)).astype(np.float32)
    expected = [idx.search(queries[i], 5 + i % 20)[0] for i in range(50)]
    wrong = []

    def work():
        for _ in range(10):
            for i in range(50):
                if not np.array_equal(idx.search(queries[i], 5 + i % 20)[0], expected[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_unit_rows_mixes_safe_and_unsafe_rows():
    rows = np.array([[3.0, 4.0], [3e20, 4e20], [3e-30, 4e-30], [-1e-45, 0.0]], dtype=np.float32)
    out = index_base._unit_rows(rows)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8]] * 3 + [[-1.0, 0.0]], atol=1e-6)


# -- the cheap membership checks ------------------------------------------------------------------


def test_contains_and_first_missing(kind, data):
    dense = make(kind).add(data[:10])
    sparse = make(kind).add(data[:10], ids=np.arange(10) * 7)
    assert dense.contains([0, 9, 10, 3]).tolist() == [True, True, False, True]
    assert sparse.contains([0, 63, 64, 7, 8]).tolist() == [True, True, False, True, False]
    for idx, inside, gap in ((dense, [0, 4, 9], [2, 10, 11]), (sparse, [0, 28, 63], [7, 8, 63])):
        assert idx.first_missing(np.array(inside), assume_sorted=True) is None
        assert idx.first_missing(inside) is None
        assert idx.first_missing(np.array(gap), assume_sorted=True) == gap[1]
        assert idx.first_missing(gap[::-1]) == gap[1 if idx is sparse else 2]  # order given
    assert make(kind).first_missing(np.array([2]), assume_sorted=True) == 2
    with pytest.raises(ValueError, match=r"increasing int64 ids"):
        dense.first_missing(np.array([1.0]), assume_sorted=True)


def test_vector_index_load_reads_any_saved_kind(tmp_path):
    """VectorIndex.load(path) returned None (an abstract body); it now loads the class that
    meta.json names (QA report)."""
    from skanchor.index import VectorIndex

    X = np.random.default_rng(0).normal(size=(50, 4))
    for cls in (ExactIndex, HNSWIndex):
        cls().add(X).save(tmp_path / cls.kind)
        loaded = VectorIndex.load(tmp_path / cls.kind)
        assert type(loaded) is cls and loaded.n_items == 50
    with pytest.raises(ValueError, match="holds no readable saved skanchor index"):
        VectorIndex.load(tmp_path / "nothing")
