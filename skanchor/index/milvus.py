"""Cosine index on Milvus (pymilvus): Milvus Lite in a local directory, or a server by URI.

The same :class:`~skanchor.index.VectorIndex` protocol as :class:`~skanchor.index.HNSWIndex`,
with the vectors held and searched by Milvus. ``uri`` picks the engine:

- ``None`` (default): a Milvus Lite database in a new temporary directory (removed when the
  index is garbage-collected unless it was saved);
- a local path ending in ``.db`` (``"./pool.db"``): Milvus Lite, the embedded engine of the
  ``milvus-lite`` package, persisted in that directory;
- ``"http://host:19530"`` (or ``https://``, ``tcp://``): a Milvus standalone or cluster
  server (or Zilliz Cloud, with ``token`` or ``$MILVUS_TOKEN``).

Schema of the collection: ``id`` (INT64 primary key: the index id), ``vector``
(FLOAT_VECTOR, unit norm, metric COSINE) and ``masked`` (BOOL). Masking is either a scalar
field filter (``masking="filter"``, the default: searches add ``masked == false``) or
deletion (``masking="delete"``: masked rows are deleted from the collection and their vectors
kept client-side, re-inserted when unmasked); ``benchmarks/milvus_vs_hnsw.py`` measures both.

The client keeps the id bookkeeping of the other indexes (ids and mask state: 9 bytes per
item, e.g. 9 GB for 10^9 items, against ~1.5 TB of 384-d vectors held by Milvus), so
``contains`` / ``is_masked`` / ``masked_ids`` / ``set_mask`` never query the server.

``pymilvus`` is imported on first use; install with ``pip install "skanchor[milvus]"``.
"""

from __future__ import annotations

import contextvars
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skanchor._validation import _describe, check_positive_int
from skanchor.index.base import _META_FILE, _exact_search, _StoredIndex, _unit_rows

__all__ = ["MilvusIndex"]

#: Milvus' largest ``limit`` (topk) of one search; larger k is answered by an exact scan.
MAX_TOPK = 16384
#: Rows per ``get`` / ``upsert`` / ``delete`` request (keeps expressions and messages small).
_ID_BATCH = 4096
#: Largest HNSW ``ef`` tried before an exact scan (Milvus' own limit on ef).
_MAX_EF = 32768
#: Upper bound on ``n_queries x k`` result entries per search request.
_RESULT_BATCH = 1 << 16
_EF_GROWTH = 4
_WRITE_RETRIES = 3  # retries of a write that timed out (as an upsert, timeout x3 each time)
_LITE_DIR = "milvus.db"  # where save() puts a Milvus Lite database inside the save directory
_SAVED_LITE = "<saved milvus lite database>"
_MASKED_VECTORS_FILE = "masked_vectors.npy"
_ID, _VECTOR, _MASKED = "id", "vector", "masked"
_MASKINGS = ("filter", "delete")
_SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")

# Milvus Lite runs one in-process server per database directory (milvus_lite.server_manager);
# it is released when the last MilvusIndex using that directory closes.
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()
#: Lite directory of the saved index being loaded (MilvusIndex.load -> _load_storage).
_LOAD_PATH: contextvars.ContextVar[str] = contextvars.ContextVar("skanchor_milvus_load_path")


def _import_pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise ImportError(
            "MilvusIndex needs pymilvus (and milvus-lite for local databases): "
            'pip install "skanchor[milvus]"'
        ) from None
    return pymilvus


def _grpc_error() -> type[BaseException]:
    """grpc's RpcError (pymilvus lets DEADLINE_EXCEEDED through as one), or MilvusException."""
    try:
        import grpc
    except ImportError:  # pragma: no cover - pymilvus depends on grpcio
        return _import_pymilvus().exceptions.MilvusException
    return grpc.RpcError


def _client_has_partial_update() -> bool:
    """Whether pymilvus can send ``upsert(partial_update=True)`` (added in pymilvus 2.6)."""
    version = _import_pymilvus().__version__
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:  # a development build: try it, the server's answer decides
        return True
    return (major, minor) >= (2, 6)


def _is_server_uri(uri: str) -> bool:
    return uri.startswith(_SERVER_SCHEMES)


def _release_lite(path: str) -> None:
    with _LITE_LOCK:
        users = _LITE_USERS.get(path, 0) - 1
        if users > 0:
            _LITE_USERS[path] = users
            return
        _LITE_USERS.pop(path, None)
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:  # pragma: no cover - Lite was used, so it is importable
        return
    server_manager_instance.release_server(path)


def _cleanup(client: Any, lite_path: str | None, temp_dir: str | None) -> None:
    """Close the client, release the Lite server, remove a temporary database."""
    if client is not None:
        try:
            client.close()
        except Exception:  # best effort on teardown
            pass
    if lite_path is not None:
        _release_lite(lite_path)
    if temp_dir is not None:
        shutil.rmtree(temp_dir, ignore_errors=True)


class MilvusIndex(_StoredIndex):
    """Cosine nearest-neighbour index stored and searched by Milvus (Lite or server).

    Parameters
    ----------
    uri : str, os.PathLike or None, default=None
        Milvus Lite directory (a path ending in ``.db``), a server URI
        (``"http://localhost:19530"``), or None for a temporary Lite database.
    collection_name : str, default="skanchor"
        Collection holding the vectors. :meth:`add` creates it; if it already exists and holds
        rows, reopen it with :meth:`open` (or pass ``overwrite=True`` to drop it).
    dim : int, optional
        Vector dimension; inferred from the first :meth:`add` when None.
    index_type : str, default="HNSW"
        Milvus vector index: ``"HNSW"`` (parameters ``M`` / ``ef_construction`` / ``ef``, the
        paper's settings by default), or any other type the server supports (``"FLAT"``,
        ``"IVF_FLAT"``, ``"AUTOINDEX"``, ...), configured with ``index_params`` /
        ``search_params``.
    M, ef_construction, ef : int, default=64, 200, 200
        HNSW graph degree, build and search candidate-list sizes (search uses ``max(ef, k)``).
    index_params, search_params : dict, optional
        Extra build / search parameters passed to Milvus (override the HNSW ones).
    masking : {"filter", "delete"}, default="filter"
        How labelled items are hidden: a ``masked`` boolean field and the filter
        ``masked == false`` on each search, or deletion from the collection.
    batch_size : int, default=10_000
        Rows per insert request.
    timeout : float, default=10.0
        Seconds to wait for the server (connection and each request).
    token : str, optional
        Credentials (``"user:password"`` or an API key); default ``$MILVUS_TOKEN``. Never
        saved by :meth:`save`.
    overwrite : bool, default=False
        Drop an existing collection of that name at the first :meth:`add`.
    progress_bar : bool or None, default=None
        tqdm bar while inserting; None shows it for more than 10 insert batches.

    Attributes
    ----------
    client_ : pymilvus.MilvusClient
        The connection (opened on first use, closed by :meth:`close`).
    dim_ : int
        Dimension of the stored vectors.
    row_ids_, masked_ : ndarray
        Client-side id bookkeeping (insertion order), as in the other indexes.

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor.index import MilvusIndex
    >>> X = np.random.default_rng(0).normal(size=(500, 16))
    >>> index = MilvusIndex(M=16).add(X)
    >>> index.search(X[:2], k=3)[0][:, 0]
    array([0, 1])
    >>> index.mask([0])
    >>> bool((index.search(X[0], k=5)[0] == 0).any())
    False
    >>> index.close()
    """

    kind: ClassVar[str] = "milvus"
    _param_names: ClassVar[tuple[str, ...]] = (
        "uri",
        "collection_name",
        "dim",
        "index_type",
        "M",
        "ef_construction",
        "ef",
        "index_params",
        "search_params",
        "masking",
        "batch_size",
        "timeout",
        "token",
        "overwrite",
        "progress_bar",
    )

    def __init__(
        self,
        uri: str | os.PathLike | None = None,
        collection_name: str = "skanchor",
        dim: int | None = None,
        index_type: str = "HNSW",
        M: int = 64,
        ef_construction: int = 200,
        ef: int = 200,
        index_params: dict | None = None,
        search_params: dict | None = None,
        masking: str = "filter",
        batch_size: int = 10_000,
        timeout: float = 10.0,
        token: str | None = None,
        overwrite: bool = False,
        progress_bar: bool | None = None,
    ):
        self.uri = uri
        self.collection_name = collection_name
        self.dim = dim
        self.index_type = index_type
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.index_params = index_params
        self.search_params = search_params
        self.masking = masking
        self.batch_size = batch_size
        self.timeout = timeout
        self.token = token
        self.overwrite = overwrite
        self.progress_bar = progress_bar

    # -- connection ----------------------------------------------------------------------------
    @property
    def client_(self) -> Any:
        client = self.__dict__.get("_client")
        if client is None:
            client = self._connect()
        return client

    def _resolved_uri(self) -> tuple[str, str | None]:
        """(URI handed to pymilvus, absolute Lite directory or None for a server)."""
        uri = self.__dict__.get("_uri_in_use")
        if uri is not None:
            return uri, self.__dict__.get("_lite_path")
        if self.uri is None:
            temp = tempfile.mkdtemp(prefix="skanchor-milvus-")
            self._temp_dir = temp
            path = os.path.join(temp, _LITE_DIR)
            return path, path
        if isinstance(self.uri, os.PathLike):
            uri = os.fspath(self.uri)
        elif isinstance(self.uri, str) and self.uri.strip():
            uri = self.uri
        else:
            raise TypeError(
                f"uri must be None, a Milvus Lite path ending in .db or a server URI, "
                f"got {_describe(self.uri)}"
            )
        if _is_server_uri(uri):
            return uri, None
        if not uri.endswith(".db"):
            raise ValueError(
                f"uri={uri!r} is neither a server URI ({', '.join(_SERVER_SCHEMES)}) nor a "
                "Milvus Lite path ending in .db"
            )
        path = os.path.abspath(uri)
        return path, path

    def _connect(self) -> Any:
        pymilvus = _import_pymilvus()
        timeout = float(self.timeout)
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        uri, lite_path = self._resolved_uri()
        token = self.token if self.token is not None else os.environ.get("MILVUS_TOKEN", "")
        if lite_path is not None:
            Path(lite_path).parent.mkdir(parents=True, exist_ok=True)
            with _LITE_LOCK:
                _LITE_USERS[lite_path] = _LITE_USERS.get(lite_path, 0) + 1
        try:
            client = pymilvus.MilvusClient(uri=uri, token=token, timeout=timeout)
        except pymilvus.exceptions.MilvusException as exc:
            if lite_path is not None:
                _release_lite(lite_path)
            where = "Milvus Lite database" if lite_path else "Milvus server"
            hint = (
                "is milvus-lite installed (pip install milvus-lite) and the directory writable?"
                if lite_path
                else "start one (e.g. `docker compose up -d` with Milvus' standalone compose "
                "file, or `milvus-lite server --data-dir DIR --port 19530`) or pass a local "
                "Milvus Lite path ending in .db"
            )
            raise ConnectionError(
                f"cannot connect to the {where} at uri={uri!r} within {timeout:g} s: "
                f"{getattr(exc, 'message', exc)}; {hint}"
            ) from exc
        self._client = client
        self._uri_in_use = uri
        self._lite_path = lite_path
        self._finalizer = weakref.finalize(
            self, _cleanup, client, lite_path, self.__dict__.get("_temp_dir")
        )
        return client

    def close(self) -> None:
        """Close the connection (and the in-process Lite server when no index uses it).

        A temporary database (``uri=None``) is deleted; any other call reconnects.
        """
        finalizer = self.__dict__.pop("_finalizer", None)
        self.__dict__.pop("_client", None)
        if self.__dict__.get("_temp_dir") is None:
            self.__dict__.pop("_uri_in_use", None)
        if finalizer is not None:
            finalizer()

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Copies reconnect on first use; a copy of a temporary-database index shares the
        database (which lives as long as the original index)."""
        state = self.__dict__.copy()
        if state.get("_temp_dir") is not None and "_uri_in_use" in state:
            state["uri"] = state["_uri_in_use"]
        for key in (
            "_client",
            "_finalizer",
            "_temp_dir",
            "_uri_in_use",
            "_lite_path",
            "_no_partial_update",  # a property of the server, found again on reconnecting
        ):
            state.pop(key, None)
        return state

    @classmethod
    def open(
        cls,
        uri: str | os.PathLike,
        collection_name: str = "skanchor",
        **params: Any,
    ) -> MilvusIndex:
        """Reopen an existing collection (written by another process, e.g. the Ray pipeline).

        Reads every id and mask flag once (one O(N) scan of the scalar fields); vectors stay
        on the server. A collection that is not a skanchor index (wrong fields or metric) is
        an error naming what differs.
        """
        index = cls(uri=uri, collection_name=collection_name, **params)
        client = index.client_
        if not client.has_collection(collection_name):
            raise ValueError(f"uri={str(uri)!r} holds no collection {collection_name!r}")
        index._check_collection()
        index._collection_ready = True
        ids, masked = index._scan_ids()
        if index._check_masking() == "delete":
            masked = np.zeros(len(ids), dtype=bool)  # deleted rows are not in the collection
        if len(ids):
            index._append_ids(ids)
            index.masked_ = masked
            index.n_masked_ = int(masked.sum())
            index.masked_set_ = set(ids[masked].tolist())
        return index

    # -- collection ----------------------------------------------------------------------------
    def _check_masking(self) -> str:
        if self.masking not in _MASKINGS:
            raise ValueError(f"masking must be one of {_MASKINGS}, got {_describe(self.masking)}")
        return self.masking

    def _check_collection(self, expected: int | None = None) -> int:
        """Dimension of the existing collection; errors if it does not fit this index."""
        info = self.client_.describe_collection(self.collection_name)
        fields = {f["name"]: f for f in info["fields"]}
        where = f"collection {self.collection_name!r} at uri={self._uri_in_use!r}"
        for name in (_ID, _VECTOR, _MASKED):
            if name not in fields:
                raise ValueError(
                    f"{where} is not a skanchor index: it has no {name!r} field "
                    f"(fields: {', '.join(fields)})"
                )
        dim = int(fields[_VECTOR]["params"]["dim"])
        if expected is None:
            expected = self.dim_ if hasattr(self, "dim_") else self._dim
        if expected is not None and int(expected) != dim:
            raise ValueError(
                f"{where} holds vectors of dimension {dim}, but this index has dim={expected}: "
                "use another collection_name, or overwrite=True to replace it"
            )
        self.dim_ = dim
        state = self.client_.get_load_state(self.collection_name).get("state")
        if "NotLoad" in str(state):  # e.g. a saved Lite database reopened: load it to search
            self.client_.load_collection(self.collection_name, timeout=float(self.timeout))
        return dim

    def _index_spec(self) -> dict[str, Any]:
        index_type = self.index_type
        if not isinstance(index_type, str) or not index_type:
            raise ValueError(f"index_type must be a Milvus index type, got {_describe(index_type)}")
        params: dict[str, Any] = {}
        if index_type.upper() == "HNSW":
            params = {
                "M": check_positive_int(self.M, "M"),
                "efConstruction": check_positive_int(self.ef_construction, "ef_construction"),
            }
        params.update(self.index_params or {})
        return {"index_type": index_type, "params": params}

    def _create_collection(self, dim: int) -> None:
        pymilvus = _import_pymilvus()
        client = self.client_
        name = self.collection_name
        if client.has_collection(name):
            if self.overwrite:
                client.drop_collection(name)
            else:
                n = self._count()
                if n:
                    raise ValueError(
                        f"collection {name!r} at uri={self._uri_in_use!r} already holds {n} "
                        "rows: reopen it with MilvusIndex.open(uri, collection_name), or pass "
                        "overwrite=True to replace it"
                    )
                self._check_collection(dim)
                return
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(_ID, pymilvus.DataType.INT64, is_primary=True)
        schema.add_field(_VECTOR, pymilvus.DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field(_MASKED, pymilvus.DataType.BOOL)
        spec = self._index_spec()
        index_params = client.prepare_index_params()
        index_params.add_index(
            field_name=_VECTOR,
            index_type=spec["index_type"],
            metric_type="COSINE",
            params=spec["params"],
        )
        client.create_collection(
            name, schema=schema, index_params=index_params, consistency_level="Strong"
        )

    def _count(self) -> int:
        rows = self.client_.query(
            self.collection_name, filter="", output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"])

    def _iterate(self, filter: str, fields: list[str]):
        """Yield batches (lists of dicts) of every row matching ``filter``."""
        it = self.client_.query_iterator(
            self.collection_name,
            batch_size=10_000,
            filter=filter,
            output_fields=fields,
            consistency_level="Strong",
        )
        try:
            while batch := it.next():
                yield batch
        finally:
            it.close()

    def _scan_ids(self) -> tuple[np.ndarray, np.ndarray]:
        ids, masked = [], []
        for batch in self._iterate("", [_ID, _MASKED]):
            ids.append(np.fromiter((r[_ID] for r in batch), np.int64, len(batch)))
            masked.append(np.fromiter((r[_MASKED] for r in batch), bool, len(batch)))
        if not ids:
            return np.empty(0, np.int64), np.empty(0, bool)
        return np.concatenate(ids), np.concatenate(masked)

    # -- storage -------------------------------------------------------------------------------
    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        batch_size = check_positive_int(self.batch_size, "batch_size")
        self._check_masking()
        if self.n_items == 0 and "_collection_ready" not in self.__dict__:
            self._create_collection(vectors.shape[1])
            self._collection_ready = True
        unit = _unit_rows(vectors)
        from tqdm.auto import tqdm

        show = self.progress_bar
        if show is None:
            show = -(-len(unit) // batch_size) > 10
        with tqdm(total=len(unit), unit="vec", desc="Milvus insert", disable=not show) as bar:
            for start in range(0, len(unit), batch_size):
                stop = min(start + batch_size, len(unit))
                self._insert(ids[start:stop], unit[start:stop], masked=False)
                bar.update(stop - start)

    def _insert(
        self, ids: np.ndarray, unit: np.ndarray, masked: bool, upsert: bool = False
    ) -> None:
        rows = [
            {_ID: i, _VECTOR: v, _MASKED: masked} for i, v in zip(ids.tolist(), unit, strict=True)
        ]
        pymilvus = _import_pymilvus()
        timeout = float(self.timeout)
        for attempt in range(_WRITE_RETRIES + 1):
            write = self.client_.upsert if upsert else self.client_.insert
            try:
                write(self.collection_name, rows, timeout=timeout)
                return
            except (pymilvus.exceptions.MilvusException, _grpc_error()) as exc:
                # A write can outlast the timeout while the server flushes or compacts
                # (Milvus Lite does so inline). It may have been applied: retry as an upsert,
                # which is idempotent, with a longer timeout.
                if "deadline" not in str(exc).lower() or attempt == _WRITE_RETRIES:
                    raise
                upsert, timeout = True, timeout * 3

    def _fetch(self, ids: np.ndarray) -> np.ndarray:
        """Vectors of stored (not deleted) ``ids`` from Milvus, in the order given."""
        out = np.empty((len(ids), self.dim_), dtype=np.float32)
        for start in range(0, len(ids), _ID_BATCH):
            chunk = ids[start : start + _ID_BATCH]
            rows = self.client_.get(
                self.collection_name,
                ids=chunk.tolist(),
                output_fields=[_VECTOR],
                consistency_level="Strong",
            )
            got = np.fromiter((r[_ID] for r in rows), np.int64, len(rows))
            vecs = np.asarray([r[_VECTOR] for r in rows], dtype=np.float32)
            order = np.argsort(got)
            pos = np.searchsorted(got[order], chunk)
            if len(rows) != len(np.unique(chunk)) or not np.array_equal(got[order][pos], chunk):
                missing = np.setdiff1d(chunk, got)
                raise RuntimeError(
                    f"Milvus collection {self.collection_name!r} lost ids the index holds, "
                    f"e.g. {int(missing[0])}: was it modified by another client?"
                )
            out[start : start + len(chunk)] = vecs.reshape(len(rows), -1)[order][pos]
        return out

    def _on_mask_change(self, ids: np.ndarray, value: bool) -> None:
        name = self.collection_name
        if self._check_masking() == "delete":
            store = self.__dict__.setdefault("masked_vectors_", {})
            if value:
                vecs = self._fetch(ids)
                for start in range(0, len(ids), _ID_BATCH):
                    chunk = ids[start : start + _ID_BATCH].tolist()
                    self.client_.delete(name, ids=chunk, timeout=float(self.timeout))
                store.update(zip(ids.tolist(), vecs, strict=True))
            else:
                vecs = np.stack([store[i] for i in ids.tolist()])
                for start in range(0, len(ids), _ID_BATCH):
                    stop = start + _ID_BATCH
                    self._insert(ids[start:stop], vecs[start:stop], masked=False)
                for i in ids.tolist():
                    del store[i]
            return
        if "_no_partial_update" not in self.__dict__:
            self._no_partial_update = not _client_has_partial_update()
        for start in range(0, len(ids), _ID_BATCH):
            chunk = ids[start : start + _ID_BATCH]
            if not self._no_partial_update:
                try:
                    self.client_.upsert(
                        name,
                        [{_ID: i, _MASKED: value} for i in chunk.tolist()],
                        partial_update=True,
                        timeout=float(self.timeout),
                    )
                    continue
                except _import_pymilvus().exceptions.MilvusException:
                    # A server before Milvus 2.6 ignores partial_update and rejects the rows
                    # for lacking the vector: rewrite whole rows from now on.
                    self._no_partial_update = True
            self._insert(chunk, self._fetch(chunk), masked=value, upsert=True)

    # -- search --------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, len(self))`` most similar live items of each query row (approximate).

        Returns ``(ids, sims)``, int64 and float32 arrays of shape (n_queries, min(k,
        len(self))), each row sorted by decreasing cosine similarity, ties by increasing id
        (Milvus' own order is re-sorted). Searches use ``max(ef, k)`` as HNSW's ``ef``; rows
        where Milvus finds fewer than ``k`` live items are retried with a larger ``ef`` and
        finally answered by an exact scan, as is any ``k`` above Milvus' topk limit (16384).
        """
        queries, k = self._check_search(queries, k)
        if k == 0:
            return self._empty_result(len(queries))
        ef = max(check_positive_int(self.ef, "ef"), k)
        if k > MAX_TOPK:
            return self._exact_live_search(queries, k)
        ids = np.empty((len(queries), k), dtype=np.int64)
        sims = np.empty((len(queries), k), dtype=np.float32)
        step = max(1, _RESULT_BATCH // k)
        todo = np.arange(len(queries))
        while todo.size:
            short = []
            for start in range(0, len(todo), step):
                rows = todo[start : start + step]
                short.extend(self._milvus_search(queries[rows], rows, k, ef, ids, sims))
            todo = np.asarray(short, dtype=np.int64)
            if todo.size and ef >= min(self.n_items, _MAX_EF):
                ids[todo], sims[todo] = self._exact_live_search(queries[todo], k)
                break
            ef = max(k, min(ef * _EF_GROWTH, _MAX_EF, self.n_items))
        order = np.lexsort((ids, -sims), axis=1)
        return np.take_along_axis(ids, order, 1), np.take_along_axis(sims, order, 1)

    def _milvus_search(self, queries, rows, k, ef, ids, sims) -> list[int]:
        """Search ``queries`` (rows ``rows`` of the output) in Milvus; the rows found short."""
        params: dict[str, Any] = {}
        if str(self.index_type).upper() == "HNSW":
            params["ef"] = ef
        params.update(self.search_params or {})
        masked_filter = self.n_masked and self.masking == "filter"
        result = self.client_.search(
            self.collection_name,
            data=queries,
            limit=k,
            filter=f"{_MASKED} == false" if masked_filter else "",
            output_fields=[_ID],
            search_params={"metric_type": "COSINE", "params": params},
            anns_field=_VECTOR,
            consistency_level="Strong",
            timeout=float(self.timeout),
        )
        short = []
        for row, hits in zip(rows.tolist(), result, strict=True):
            if len(hits) < k:
                short.append(row)
                continue
            ids[row] = [h["id"] for h in hits]
            sims[row] = [h["distance"] for h in hits]
        return short

    def _exact_live_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the live items, streaming their vectors back from Milvus."""
        filt = f"{_MASKED} == false" if self.masking == "filter" and self.n_masked else ""
        ids, vecs = [], []
        for batch in self._iterate(filt, [_ID, _VECTOR]):
            ids.append(np.fromiter((r[_ID] for r in batch), np.int64, len(batch)))
            vecs.append(np.asarray([r[_VECTOR] for r in batch], dtype=np.float32))
        live_ids = np.concatenate(ids)
        live_vecs = _unit_rows(np.concatenate(vecs).reshape(len(live_ids), -1))

        def read_block(start: int, stop: int):
            return live_ids[start:stop], live_vecs[start:stop], None

        return _exact_search(queries, k, len(live_ids), read_block)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored unit-norm float32 rows of ``ids`` (masked or not), in the order given."""
        rows = self._rows(ids)
        if not len(rows):
            return np.empty((0, self.dim or 0), dtype=np.float32)
        labels = self.row_ids_[rows]
        if self.masking != "delete" or not self.n_masked:
            uniq, inverse = np.unique(labels, return_inverse=True)
            return self._fetch(uniq)[inverse]
        hidden = self.masked_[rows]
        out = np.empty((len(rows), self.dim_), dtype=np.float32)
        if not hidden.all():
            uniq, inverse = np.unique(labels[~hidden], return_inverse=True)
            out[~hidden] = self._fetch(uniq)[inverse]
        if hidden.any():
            store = self.masked_vectors_
            out[hidden] = np.stack([store[i] for i in labels[hidden].tolist()])
        return out

    # -- persistence ---------------------------------------------------------------------------
    def _saved_params(self) -> dict[str, Any]:
        params = super()._saved_params()
        params["token"] = None  # never write credentials
        params["overwrite"] = False
        if self.uri is not None and not isinstance(self.uri, str):
            params["uri"] = os.fspath(self.uri)
        if self.__dict__.get("_save_lite"):
            params["uri"] = _SAVED_LITE
        return params

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path``.

        Milvus Lite: the database is flushed and copied into ``path/milvus.db`` (unless it
        already is that directory) next to ``meta.json``, so the directory is self-contained.
        Server: ``meta.json`` records the URI and collection (not the token); the vectors
        stay on the server.
        """
        path = Path(path)
        lite = self.n_items > 0 and self._resolved_uri()[1] is not None
        self._save_lite = lite
        try:
            super().save(path)
        finally:
            self._save_lite = False

    def _save_storage(self, path: Path) -> None:
        client = self.client_
        client.flush(self.collection_name)
        if self.masking == "delete" and self.n_masked:
            masked = self.row_ids_[self.masked_]
            store = self.masked_vectors_
            np.save(path / _MASKED_VECTORS_FILE, np.stack([store[i] for i in masked.tolist()]))
        lite_path = self._lite_path
        if lite_path is None:
            return
        target = (path / _LITE_DIR).resolve()
        if Path(lite_path).resolve() == target:
            return
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(lite_path, target, ignore=shutil.ignore_patterns("LOCK"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> MilvusIndex:
        """Reopen an index written by :meth:`save` (a saved Lite database is used in place)."""
        path = Path(path)
        try:
            meta = json.loads((path / _META_FILE).read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("params", {}).get("uri") == _SAVED_LITE:
            token = _LOAD_PATH.set(str((path / _LITE_DIR).resolve()))
            try:
                return super().load(path)
            finally:
                _LOAD_PATH.reset(token)
        return super().load(path)

    def _load_storage(self, path: Path) -> None:
        if self.uri == _SAVED_LITE:
            self.uri = _LOAD_PATH.get()
        if not self.client_.has_collection(self.collection_name):
            raise ValueError(
                f"path={str(path)!r}: collection {self.collection_name!r} is missing at "
                f"uri={self._uri_in_use!r}"
            )
        self._collection_ready = True
        self._check_collection()
        if self.masking == "delete" and (path / _MASKED_VECTORS_FILE).is_file():
            self._pending_masked = np.load(path / _MASKED_VECTORS_FILE, allow_pickle=False)

    def _after_load(self) -> None:
        expected = self.n_items - (self.n_masked if self.masking == "delete" else 0)
        found = self._count()
        if found != expected:
            raise ValueError(
                f"collection {self.collection_name!r} at uri={self._uri_in_use!r} holds "
                f"{found} rows, the saved index expects {expected}: it was modified after save"
            )
        pending = self.__dict__.pop("_pending_masked", None)
        if pending is not None:
            masked = self.row_ids_[self.masked_]
            self.masked_vectors_ = dict(zip(masked.tolist(), pending, strict=True))


if importlib.util.find_spec("pymilvus") is None or importlib.util.find_spec("milvus_lite") is None:
    # The example needs Milvus Lite: keep doctest runs green where the extra is not installed.
    MilvusIndex.__doc__ = MilvusIndex.__doc__.split("    Examples\n")[0]
