"""MilvusIndex against a real Milvus Lite (the ``milvus-lite`` package, in-process).

The index-protocol contract tests of ``tests/test_index.py`` are re-run here on
``MilvusIndex`` (both masking modes); then what is Milvus-specific: recall against
``ExactIndex``, reopening, dimension and connection errors, and one AnchorAL round.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from skanchor import AnchoredQueryStrategy, AnchorSubpool
from skanchor.index import ExactIndex, MilvusIndex, make_index
from tests import test_index as contract
from tests.conftest import clustered
from tests.test_index import (  # noqa: F401 - re-run on MilvusIndex
    test_all_masked_gives_empty_rows,
    test_bad_vectors_for_add,
    test_default_ids_follow_n_items,
    test_empty_index,
    test_from_vectors_repr_and_params,
    test_ids_and_contains,
    test_k_larger_than_live_count,
    test_large_ids_round_trip,
    test_mask_excludes_and_unmask_restores,
    test_mask_is_idempotent_and_counts,
    test_save_load_empty,
    test_search_matches_brute_force,
    test_search_shapes_and_dtypes,
    test_set_mask_and_masked_ids,
    test_set_mask_grows_and_shrinks,
    test_single_query_vector_is_one_row,
    test_unknown_ids,
    test_vectors_round_trip,
)

pytestmark = pytest.mark.distributed

_names = (f"c{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory) -> str:
    """One Milvus Lite database for the module (one in-process server); a collection a test."""
    return str(tmp_path_factory.mktemp("milvus") / "tests.db")


def _test_class(db: str, masking: str) -> type[MilvusIndex]:
    class TestMilvusIndex(MilvusIndex):
        def __init__(self, uri=db, collection_name=None, masking=masking, **params):
            super().__init__(
                uri=uri,
                collection_name=collection_name or next(_names),
                masking=masking,
                **{"M": 16, "ef": 16, **params},
            )

    TestMilvusIndex.__name__ = f"MilvusIndex_{masking}"
    return TestMilvusIndex


@pytest.fixture(params=["milvus-filter", "milvus-delete"])
def kind(request, lite_db, monkeypatch) -> str:
    cls = _test_class(lite_db, request.param.split("-")[1])
    monkeypatch.setitem(contract.KINDS, request.param, cls)
    return request.param


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)


@pytest.fixture
def index(kind, data):
    idx = contract.KINDS[kind]().add(data, ids=np.arange(1000, 1200))
    yield idx
    idx.close()


@pytest.fixture(params=["filter", "delete"])
def masking(request) -> str:
    return request.param


# -- Milvus specifics -------------------------------------------------------------------------


def test_recall_against_exact_at_k50(lite_db, masking):
    X = clustered(5000, 64, n_clusters=20, seed=0)[0]
    rng = np.random.default_rng(1)
    masked = rng.choice(5000, 500, replace=False)
    milvus = MilvusIndex(lite_db, collection_name=f"recall_{masking}", masking=masking).add(X)
    exact = ExactIndex().add(X)
    milvus.mask(masked)
    exact.mask(masked)
    queries = X[rng.choice(5000, 20, replace=False)]
    got, sims = milvus.search(queries, k=50)
    want, _ = exact.search(queries, k=50)
    assert got.shape == (20, 50) and not np.isin(got, masked).any()
    assert (np.diff(sims, axis=1) <= 0).all()
    recall = np.mean([np.intersect1d(g, w).size / 50 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95
    milvus.close()


def test_save_load_round_trip_lite(lite_db, data, masking, tmp_path):
    idx = MilvusIndex(lite_db, collection_name=f"save_{masking}", masking=masking, ef=37)
    idx.add(data, ids=np.arange(200) * 3)
    idx.mask([0, 3, 30])
    queries = np.random.default_rng(4).normal(size=(6, 16))
    expected = idx.search(queries, k=20)
    idx.save(tmp_path / "nested" / "index")
    assert (tmp_path / "nested" / "index" / "milvus.db").is_dir()  # self-contained copy
    loaded = MilvusIndex.load(tmp_path / "nested" / "index")
    params = loaded.get_params()
    assert params.pop("uri") == str((tmp_path / "nested" / "index" / "milvus.db").resolve())
    want = idx.get_params()
    del want["uri"]
    assert params == want and loaded.ef == 37
    assert np.array_equal(loaded.ids(), idx.ids())
    assert loaded.is_masked([0, 3, 30, 6]).tolist() == [1, 1, 1, 0]
    got = loaded.search(queries, k=20)
    assert np.array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], atol=1e-6)
    np.testing.assert_allclose(loaded.vectors([0, 6]), idx.vectors([0, 6]), atol=1e-7)
    loaded.add(data[:5] + 1, ids=[1, 2, 4, 5, 7])
    assert loaded.n_items == 205
    loaded.save(tmp_path / "nested" / "index")  # saving in place keeps the database
    assert MilvusIndex.load(tmp_path / "nested" / "index").n_items == 205
    idx.close()
    loaded.close()


def test_open_existing_collection_and_dimension_mismatch(lite_db, data):
    idx = MilvusIndex(lite_db, collection_name="reopen").add(data, ids=np.arange(200) + 7)
    idx.mask([7, 8])
    reopened = MilvusIndex.open(lite_db, "reopen")
    assert np.array_equal(reopened.ids(), idx.ids()) and reopened.masked_ids().tolist() == [7, 8]
    assert reopened.dim == 16
    assert np.array_equal(reopened.search(data[:3], k=5)[0], idx.search(data[:3], k=5)[0])
    with pytest.raises(ValueError, match=r"already holds 200 rows.*MilvusIndex.open"):
        MilvusIndex(lite_db, collection_name="reopen").add(data)
    with pytest.raises(ValueError, match=r"dimension 16, but this index has dim=8"):
        MilvusIndex.open(lite_db, "reopen", dim=8)
    MilvusIndex(lite_db, collection_name="empty32", dim=32)._create_collection(32)
    with pytest.raises(ValueError, match=r"dimension 32, but this index has dim=16"):
        MilvusIndex(lite_db, collection_name="empty32").add(data)
    with pytest.raises(ValueError, match=r"no collection 'missing'"):
        MilvusIndex.open(lite_db, "missing")
    replaced = MilvusIndex(lite_db, collection_name="reopen", overwrite=True).add(data[:10])
    assert replaced.n_items == 10 and MilvusIndex.open(lite_db, "reopen").n_items == 10


def test_unreachable_server_fails_fast():
    start = time.monotonic()
    index = MilvusIndex("http://127.0.0.1:9", timeout=2)
    with pytest.raises(ConnectionError, match=r"cannot connect to the Milvus server.*:9"):
        index.add(np.eye(4))
    assert time.monotonic() - start < 10
    with pytest.raises(ValueError, match=r"neither a server URI"):
        MilvusIndex("pool.sqlite").add(np.eye(4))


def test_large_k_exact_fallback_and_many_masked(lite_db, monkeypatch):
    import skanchor.index.milvus as milvus_module

    X = clustered(600, 16, n_clusters=6, seed=2)[0]
    idx = MilvusIndex(lite_db, collection_name="fallback", M=8, ef=4).add(X)
    exact = ExactIndex().add(X)
    live = np.array([3, 100, 250, 599])
    for i in (idx, exact):
        i.set_mask(np.setdiff1d(np.arange(600), live))
    ids, _ = idx.search(X[:3], k=10)
    assert ids.shape == (3, 4) and np.array_equal(ids, exact.search(X[:3], k=10)[0])
    idx.set_mask([7])
    exact.set_mask([7])
    monkeypatch.setattr(milvus_module, "MAX_TOPK", 5)  # k above Milvus' topk: exact scan
    got = idx.search(X[:2], k=20)
    want = exact.search(X[:2], k=20)
    assert np.array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def test_make_index_specs(lite_db):
    assert isinstance(make_index("milvus"), MilvusIndex)
    idx = make_index(f"{lite_db}#named", ef=50)
    assert idx.collection_name == "named" and idx.ef == 50 and idx.uri == lite_db
    with pytest.raises(ValueError, match=r"not a backend"):
        make_index("faiss")


def test_anchoral_round_on_milvus(lite_db):
    from sklearn.linear_model import LogisticRegression

    vectors, clusters = clustered(n=1500, dim=16, n_clusters=8, seed=1)
    y = (clusters == 0).astype(int)
    rng = np.random.default_rng(0)
    labelled = np.sort(
        np.r_[
            rng.choice(np.flatnonzero(y == 1), 3, replace=False),
            rng.choice(np.flatnonzero(y == 0), 20, replace=False),
        ]
    )
    index = MilvusIndex(lite_db, collection_name="anchoral").add(vectors)
    params = {"n_anchors": 3, "n_neighbours": 30, "max_size": 60, "random_state": 0}
    sub = AnchorSubpool(index, **params).select(labelled, y[labelled])
    ref = AnchorSubpool(ExactIndex().add(vectors), **params).select(labelled, y[labelled])
    assert 0 < sub.ids.size <= 60 and not np.isin(sub.ids, labelled).any()
    assert np.intersect1d(sub.ids, ref.ids).size >= 0.9 * ref.ids.size
    model = LogisticRegression().fit(vectors[labelled], y[labelled])
    query = AnchoredQueryStrategy(AnchorSubpool(index, **params), strategy="entropy")
    pool = np.setdiff1d(np.arange(len(vectors)), labelled)
    lookup_model = _IdsModel(model, vectors)
    positions, _ = query(lookup_model, pool, 5, labelled_ids=labelled, labels=y[labelled])
    assert (
        positions.size == 5 and np.isin(pool[positions], query.pool_filter.last_subpool_.ids).all()
    )
    assert index.masked_ids().tolist() == labelled.tolist()


class _IdsModel:
    """A fitted classifier of vectors used on ids (what a FunctionTransformer pipeline does)."""

    def __init__(self, model, vectors):
        self.model, self.vectors, self.classes_ = model, vectors, model.classes_

    def predict_proba(self, ids):
        return self.model.predict_proba(self.vectors[np.asarray(ids)])


# -- loading a saved index: where it connects, and what meta.json may say ---------------------


def _saved(lite_db, data, tmp_path, masking="filter") -> tuple[MilvusIndex, Path]:
    index = MilvusIndex(lite_db, collection_name=f"saved_{masking}_{next(_names)}", masking=masking)
    index.add(data, ids=np.arange(len(data)) + 10)
    index.mask([10, 11])
    folder = tmp_path / "saved"
    index.save(folder)
    return index, folder


def _edit_meta(folder: Path, edit) -> None:
    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text())
    edit(meta)
    meta_file.write_text(json.dumps(meta))


def test_save_copies_only_its_collection(lite_db, data, tmp_path):
    MilvusIndex(lite_db, collection_name="neighbour").add(data[:5])  # shares the database
    index, folder = _saved(lite_db, data, tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["params"]["uri"] == "<saved milvus lite database>"  # no path outside the folder
    loaded = MilvusIndex.load(folder)
    assert loaded.client_.list_collections() == [index.collection_name]
    assert loaded.masked_ids().tolist() == [10, 11]
    assert np.array_equal(loaded.search(data[:4], k=6)[0], index.search(data[:4], k=6)[0])
    loaded.close()
    index.close()


def test_load_never_reaches_a_server_unasked(lite_db, data, tmp_path):
    index, folder = _saved(lite_db, data, tmp_path)
    _edit_meta(folder, lambda m: m["params"].update(uri="http://127.0.0.1:9"))
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"meta\.json' names the Milvus server uri='http://127"):
        MilvusIndex.load(folder)
    assert time.monotonic() - start < 2  # refused before any connection attempt
    with pytest.raises(ConnectionError, match=r"Milvus server at uri='http://127\.0\.0\.1:9'"):
        MilvusIndex.load(folder, allow_remote=True)  # asked: it connects
    # the caller names where the collection is: loaded from there
    loaded = MilvusIndex.load(folder, uri=lite_db)
    assert loaded.uri == lite_db and loaded.masked_ids().tolist() == [10, 11]
    loaded.close()
    # an empty saved index would connect on its first add: refused the same way
    MilvusIndex("http://127.0.0.1:9", dim=4).save(tmp_path / "empty")
    with pytest.raises(ValueError, match="allow_remote=True"):
        MilvusIndex.load(tmp_path / "empty")
    assert MilvusIndex.load(tmp_path / "empty", allow_remote=True).uri == "http://127.0.0.1:9"
    index.close()


def test_load_keeps_lite_files_inside_the_folder(lite_db, data, tmp_path):
    index, folder = _saved(lite_db, data, tmp_path)
    _edit_meta(folder, lambda m: m["params"].update(uri=lite_db))
    with pytest.raises(ValueError, match=r"Milvus Lite database uri=.* outside the folder"):
        MilvusIndex.load(folder)
    _edit_meta(folder, lambda m: m["params"].update(uri="<saved milvus lite database>"))
    database = folder / "milvus.db"
    database.rename(tmp_path / "elsewhere.db")
    database.symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(ValueError, match=r"milvus\.db' leads outside"):
        MilvusIndex.load(folder)
    index.close()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: m.pop("fitted"), r"meta\.json' has no 'fitted' key"),
        (lambda m: m.pop("params"), r"meta\.json' has no 'params' key"),
        (lambda m: m["params"].pop("masking"), r"meta\.json' has no 'params\.masking' key"),
        (lambda m: m["params"].update(colour="red"), r"unknown parameter\(s\): \['colour'\]"),
        (lambda m: m["params"].update(masking="hide"), r"'masking' parameter of '.*meta\.json'"),
        (lambda m: m["params"].update(dim=None), r"a fitted index needs 'params\.dim'"),
        (lambda m: m.update(params=[1]), r"'params' must be an object"),
    ],
)
def test_load_validates_meta(lite_db, data, tmp_path, edit, match):
    index, folder = _saved(lite_db, data, tmp_path)
    _edit_meta(folder, edit)
    with pytest.raises(ValueError, match=match):
        MilvusIndex.load(folder)
    index.close()


def test_load_unreadable_meta_and_missing_masked_vectors(lite_db, data, tmp_path):
    index, folder = _saved(lite_db, data, tmp_path, masking="delete")
    (folder / "masked_vectors.npy").unlink()
    with pytest.raises(ValueError, match=r"masked_vectors\.npy' must hold the 2 masked vectors"):
        MilvusIndex.load(folder)
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"meta\.json' is not valid JSON"):
        MilvusIndex.load(folder)
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        MilvusIndex.load(tmp_path / "nowhere")
    index.close()


def test_make_index_accepts_every_server_scheme():
    idx = make_index("unix:/tmp/milvus.sock#pool")  # no connection until first use
    assert isinstance(idx, MilvusIndex) and idx.uri == "unix:/tmp/milvus.sock"
    with pytest.raises(ValueError, match=r"unix:"):
        make_index("ftp://host")


@pytest.mark.parametrize("masking", ["filter", "delete"])
def test_experiment_index_reopens_its_own_collection(tmp_path, masking):
    """A run resumed with ``--index PATH.db`` finds the collection of its first attempt: it is
    reopened (rows the interrupted run had deleted as labelled put back, masks cleared), and a
    collection of other vectors is refused with the way out."""
    from skanchor.experiments.features import make_index as experiment_index

    db = str(tmp_path / "pool.db")
    vectors = np.random.default_rng(3).normal(size=(120, 8)).astype(np.float32)
    first = experiment_index(vectors, db, masking=masking, M=16)
    first.set_mask([0, 5, 7])  # the interrupted run's labelled items
    first.__dict__.pop("masked_vectors_", None)  # a crash loses what only the process held
    first.close()
    again = experiment_index(vectors, db, masking=masking, M=16)
    try:
        assert again.n_items == 120 and again.n_masked == 0
        assert np.array_equal(again.ids(), np.arange(120))
        ids, _ = again.search(vectors[[0, 5, 7]], k=1)
        assert ids[:, 0].tolist() == [0, 5, 7]
    finally:
        again.close()
    other = vectors[::-1].copy()
    with pytest.raises(ValueError, match=r"not this task's pool.*index.overwrite=true"):
        experiment_index(other, db, masking=masking, M=16)
    replaced = experiment_index(other, db, masking=masking, M=16, overwrite=True)
    try:
        assert replaced.search(other[:1], k=1)[0][0, 0] == 0
    finally:
        replaced.close()
