"""The Milvus connection layer on a real Milvus Lite: URIs, reconnecting, copies, and which
failed writes are retried (decided on gRPC / Milvus status codes, never on message text).

Timeouts are real where they can be: a client method is wrapped so that its first call runs
with a one-microsecond deadline against the real server (gRPC answers DEADLINE_EXCEEDED), or
raises pymilvus' own exception class with the code a Milvus server sends."""

from __future__ import annotations

import itertools
import os
import pickle

import numpy as np
import pytest

pymilvus = pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")
grpc = pytest.importorskip("grpc")

from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skanchor.index import MilvusIndex  # noqa: E402
from skanchor.index._milvus_connection import (  # noqa: E402
    MILVUS_TIMEOUT_CODE,
    WRITE_RETRIES,
    MilvusConnection,
    is_timeout,
    uri_kind,
)

pytestmark = pytest.mark.distributed

_names = (f"conn{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus-conn") / "conn.db")


@pytest.fixture
def data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)


def _record_writes(monkeypatch, client, first_call=None) -> list[tuple[str, float]]:
    """Wrap the client's insert and upsert: record (method, timeout) of every call; the first
    call runs ``first_call(real_method, args, kwargs)`` instead, when given."""
    calls: list[tuple[str, float]] = []
    for name in ("insert", "upsert"):
        real = getattr(client, name)

        def wrapped(*args, _real=real, _name=name, **kwargs):
            calls.append((_name, kwargs.get("timeout")))
            if first_call is not None and len(calls) == 1:
                return first_call(_real, args, kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(client, name, wrapped)
    return calls


def test_real_deadline_is_retried_as_upsert(lite_db, data, monkeypatch):
    index = MilvusIndex(lite_db, collection_name=next(_names), timeout=5)
    index._create_collection(data.shape[1])

    def with_tiny_deadline(real, args, kwargs):
        return real(*args, **{**kwargs, "timeout": 1e-6})  # the real server, a real deadline

    calls = _record_writes(monkeypatch, index.client_, with_tiny_deadline)
    index.add(data)
    assert calls == [("insert", 5.0), ("upsert", 15.0)]
    assert index._count() == len(data)  # the upsert did not duplicate rows
    assert np.array_equal(index.search(data[:3], k=1)[0][:, 0], [0, 1, 2])
    index.close()


@pytest.mark.parametrize("message", ["context deadline exceeded", "request timed out"])
def test_server_timeout_code_is_retried(lite_db, data, monkeypatch, message):
    index = MilvusIndex(lite_db, collection_name=next(_names))
    index._create_collection(data.shape[1])

    def server_timeout(real, args, kwargs):
        raise pymilvus.exceptions.MilvusException(code=MILVUS_TIMEOUT_CODE, message=message)

    calls = _record_writes(monkeypatch, index.client_, server_timeout)
    index.add(data)
    assert [name for name, _ in calls] == ["insert", "upsert"] and index._count() == len(data)
    index.close()


def test_other_errors_are_not_retried_whatever_their_message(lite_db, data, monkeypatch):
    name = "deadline_" + next(_names)  # every error about this collection mentions "deadline"
    index = MilvusIndex(lite_db, collection_name=name).add(data[:10])
    index.client_.drop_collection(name)  # behind the index's back
    calls = _record_writes(monkeypatch, index.client_)
    with pytest.raises(pymilvus.exceptions.MilvusException, match="deadline_") as info:
        index.add(data[10:20])
    assert not is_timeout(info.value) and calls == [("insert", 10.0)]
    index.close()


def test_a_timeout_that_persists_is_raised_after_the_retries(lite_db, data, monkeypatch):
    index = MilvusIndex(lite_db, collection_name=next(_names))
    index._create_collection(data.shape[1])
    index._connection.timeout = 1e-6  # connected: from now on every request runs out of time
    calls = _record_writes(monkeypatch, index.client_)
    with pytest.raises(grpc.RpcError) as info:
        index.add(data)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert [name for name, _ in calls] == ["insert"] + ["upsert"] * WRITE_RETRIES
    np.testing.assert_allclose([t for _, t in calls], 1e-6 * 3 ** np.arange(WRITE_RETRIES + 1))
    index.close()


def test_is_timeout_reads_codes():
    exceptions = pymilvus.exceptions
    assert is_timeout(exceptions.MilvusException(code=MILVUS_TIMEOUT_CODE, message="x"))
    # pymilvus' retry loop reports the gRPC status it gave up on as the code
    assert is_timeout(exceptions.MilvusException(code=grpc.StatusCode.DEADLINE_EXCEEDED))
    assert not is_timeout(exceptions.MilvusException(code=100, message="deadline exceeded"))
    assert not is_timeout(exceptions.MilvusException(code=grpc.StatusCode.UNAVAILABLE))
    assert not is_timeout(TimeoutError("deadline"))
    assert not is_timeout(grpc.RpcError("deadline"))  # no status code at all


def test_uri_kinds_and_validation_before_connecting(tmp_path):
    assert uri_kind(None) == "temporary"
    assert uri_kind(tmp_path / "x.db") == "lite"
    assert uri_kind("https://milvus.example:443") == "server"
    with pytest.raises(ValueError, match=r"uri='pool.sqlite' is neither a server URI"):
        uri_kind("pool.sqlite")
    # parameters are checked before any connection is tried (port 9 has no server)
    for params, name in [
        ({"M": 0}, "M"),
        ({"masking": "hide"}, "masking"),
        ({"timeout": 0}, "timeout"),
        ({"batch_size": "10"}, "batch_size"),
        ({"index_params": "M=8"}, "index_params"),
    ]:
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of MilvusIndex"):
            MilvusIndex("http://127.0.0.1:9", **params).add(np.eye(4))
    with pytest.raises(InvalidParameterError, match="'ef' parameter of MilvusIndex"):
        MilvusIndex.open("http://127.0.0.1:9", ef=0)


def test_close_then_reconnect_and_shared_lite_server(lite_db, data):
    first = MilvusIndex(lite_db, collection_name=next(_names)).add(data)
    second = MilvusIndex(lite_db, collection_name=next(_names)).add(data[:50])
    expected = first.search(data[:4], k=5)
    first.close()  # the other index keeps the in-process Lite server alive
    assert second.search(data[:2], k=1)[0][:, 0].tolist() == [0, 1]
    got = first.search(data[:4], k=5)  # reconnects
    assert np.array_equal(got[0], expected[0])
    first.close()
    second.close()


def test_copies_of_a_temporary_database_share_it(data):
    index = MilvusIndex(collection_name="temp").add(data)
    temp_dir = index._connection.temp_dir
    copy = pickle.loads(pickle.dumps(index))
    assert copy.uri == index._connection.uri and copy.n_items == len(data)
    assert np.array_equal(copy.search(data[:3], k=4)[0], index.search(data[:3], k=4)[0])
    copy.close()
    index.close()  # the temporary directory goes with the original
    assert temp_dir is not None and not os.path.exists(temp_dir)


def test_connection_closed_for_good(tmp_path):
    conn = MilvusConnection(tmp_path / "c.db", token=None, timeout=5)
    assert conn.client.list_collections() == [] and conn.is_open
    conn.close()
    assert not conn.is_open
    with pytest.raises(RuntimeError, match="was closed"):
        conn.client  # noqa: B018
