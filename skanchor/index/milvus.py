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

A saved server index names its server in ``meta.json``: :meth:`MilvusIndex.load` connects
there only with ``allow_remote=True`` (or a ``uri`` from the caller).

Opening, sharing and closing the pymilvus client and retrying writes that timed out is
``skanchor.index._milvus_connection``; this module is the index. ``pymilvus`` is imported
on first use; install with ``pip install "skanchor[milvus]"``.
"""

from __future__ import annotations

import contextvars
import importlib.util
import json
import os
import shutil
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

from skanchor._io import atomic_path
from skanchor.index import _milvus_connection as connection
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
_LITE_DIR = "milvus.db"  # where save() puts a Milvus Lite database inside the save directory
_SAVED_LITE = "<saved milvus lite database>"
_MASKED_VECTORS_FILE = "masked_vectors.npy"
_ID, _VECTOR, _MASKED = "id", "vector", "masked"
#: The keys every saved meta.json holds.
_META_KEYS = ("format", "format_version", "kind", "params", "fitted")
#: The URI a saved index is loaded with (MilvusIndex.load -> _load_storage).
_LOAD_URI: contextvars.ContextVar[str | None] = contextvars.ContextVar("skanchor_milvus_load_uri")
_POSITIVE_INT = Interval(Integral, 1, None, closed="left")


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

    Notes
    -----
    Parameters are checked (``_parameter_constraints``) once, by :meth:`add`, :meth:`open`
    and :meth:`load`. The connection (``skanchor.index._milvus_connection``) opens on first
    use and reads ``uri``, ``token`` and ``timeout`` then; :meth:`close` ends it.

    Copies (``copy.deepcopy``, pickling, e.g. for process-based joblib workers) are further
    clients of the same collection, not independent indexes: the mask is stored in the
    collection (the ``masked`` field, or deleted rows), while each copy keeps its own
    bookkeeping of it, so a copy that changes the mask hides items from the others and makes
    their bookkeeping stale. Use one client per collection at a time; for an independent
    index, :meth:`save` it and :meth:`load` the copy (its Lite database is copied), or
    :meth:`open` the collection again once the other client is done. ``sklearn.base.clone``
    shares the index object itself, which is safe.

    A saved index names where its vectors are: :meth:`save` copies a Milvus Lite database
    into the folder, but a server index's ``meta.json`` records the server's URI, and loading
    it connects there. :meth:`load` therefore refuses a server URI from ``meta.json`` unless
    the caller passes ``allow_remote=True`` (or the URI itself), so that loading a folder from
    an untrusted source cannot reach a server; a Lite database must lie inside the folder.

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
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "uri": [None, str, os.PathLike],
        "collection_name": [str],
        "dim": [None, _POSITIVE_INT],
        "index_type": [str],
        "M": [_POSITIVE_INT],
        "ef_construction": [_POSITIVE_INT],
        "ef": [_POSITIVE_INT],
        "index_params": [None, dict],
        "search_params": [None, dict],
        "masking": [StrOptions({"filter", "delete"})],
        "batch_size": [_POSITIVE_INT],
        "timeout": [Interval(Real, 0, None, closed="neither")],
        "token": [None, str],
        "overwrite": ["boolean"],
        "progress_bar": [None, "boolean"],
    }
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

    # -- parameters and connection -------------------------------------------------------------
    def _validate_params(self) -> None:
        """Check the parameters against ``_parameter_constraints`` (as scikit-learn's
        ``BaseEstimator._validate_params``: an InvalidParameterError naming the parameter)."""
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )

    @property
    def client_(self) -> Any:
        """The ``pymilvus.MilvusClient`` (connecting on first use)."""
        return self._connection.client

    @property
    def _connection(self) -> connection.MilvusConnection:
        conn = self.__dict__.get("_conn")
        if conn is None:
            conn = self._conn = connection.MilvusConnection(
                self.uri, token=self.token, timeout=self.timeout
            )
        return conn

    def close(self) -> None:
        """Close the connection (and the in-process Lite server when no index uses it).

        A temporary database (``uri=None``) is deleted; any other call reconnects.
        """
        conn = self.__dict__.pop("_conn", None)
        if conn is not None:
            conn.close()

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Copies reconnect on first use; a copy of a temporary-database index shares the
        database (which lives as long as the original index)."""
        state = self.__dict__.copy()
        conn = state.pop("_conn", None)
        if conn is not None and conn.temp_dir is not None:
            state["uri"] = conn.uri
        state.pop("_no_partial_update", None)  # a property of the server, found again
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
        index._validate_params()
        client = index.client_
        if not client.has_collection(collection_name):
            raise ValueError(f"uri={str(uri)!r} holds no collection {collection_name!r}")
        index._check_collection()
        index._collection_ready = True
        ids, masked = index._scan_ids()
        if index.masking == "delete":
            masked = np.zeros(len(ids), dtype=bool)  # deleted rows are not in the collection
        if len(ids):
            index._append_ids(ids)
            index.masked_ = masked
            index.n_masked_ = int(masked.sum())
            index.masked_set_ = set(ids[masked].tolist())
        return index

    # -- collection ----------------------------------------------------------------------------
    def _check_collection(self, expected: int | None = None) -> int:
        """Dimension of the existing collection; errors if it does not fit this index."""
        info = self.client_.describe_collection(self.collection_name)
        fields = {f["name"]: f for f in info["fields"]}
        where = f"collection {self.collection_name!r} at uri={self._connection.uri!r}"
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
            self.client_.load_collection(self.collection_name, timeout=self._connection.timeout)
        return dim

    def _index_spec(self) -> dict[str, Any]:
        index_type = self.index_type
        params: dict[str, Any] = {}
        if index_type.upper() == "HNSW":
            params = {"M": self.M, "efConstruction": self.ef_construction}
        params.update(self.index_params or {})
        return {"index_type": index_type, "params": params}

    def _create_collection(self, dim: int) -> None:
        pymilvus = connection.import_pymilvus()
        client = self.client_
        name = self.collection_name
        if client.has_collection(name):
            if self.overwrite:
                client.drop_collection(name)
            else:
                n = self._count()
                if n:
                    raise ValueError(
                        f"collection {name!r} at uri={self._connection.uri!r} already holds {n} "
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
    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> MilvusIndex:
        """Store ``vectors`` (n, dim) under ``ids`` (default ``n_items, n_items + 1, ...``).

        The first call creates the collection. Parameters are validated here (the index's
        "fit"). Returns ``self``.
        """
        self._validate_params()
        return super().add(vectors, ids)

    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        batch_size = self.batch_size
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
        self._connection.write(self.collection_name, rows, upsert=upsert)

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
        timeout = self._connection.timeout
        if self.masking == "delete":
            store = self.__dict__.setdefault("masked_vectors_", {})
            if value:
                vecs = self._fetch(ids)
                for start in range(0, len(ids), _ID_BATCH):
                    chunk = ids[start : start + _ID_BATCH].tolist()
                    self.client_.delete(name, ids=chunk, timeout=timeout)
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
            self._no_partial_update = not connection.client_has_partial_update()
        for start in range(0, len(ids), _ID_BATCH):
            chunk = ids[start : start + _ID_BATCH]
            if not self._no_partial_update:
                try:
                    self.client_.upsert(
                        name,
                        [{_ID: i, _MASKED: value} for i in chunk.tolist()],
                        partial_update=True,
                        timeout=timeout,
                    )
                    continue
                except connection.import_pymilvus().exceptions.MilvusException:
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
        ef = max(self.ef, k)
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
            timeout=self._connection.timeout,
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
        kind = connection.uri_kind(self.uri)
        if kind == "lite" or (kind == "temporary" and self.n_items > 0):
            params["uri"] = _SAVED_LITE  # the database is (or will be) inside the folder
        elif self.uri is not None:
            params["uri"] = os.fspath(self.uri)
        return params

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path``.

        Milvus Lite: this index's collection is copied, through Milvus, into a new Lite
        database ``path/milvus.db`` (unless the index already lives there) next to
        ``meta.json``, so the directory is self-contained; ``meta.json`` names no path outside
        it. Server: ``meta.json`` records the URI and collection (not the token); the vectors
        stay on the server, and :meth:`load` connects there only when asked to.

        Parameters
        ----------
        path : str or os.PathLike
            The directory (created if needed).
        """
        super().save(path)

    def _save_storage(self, path: Path) -> None:
        client = self.client_
        client.flush(self.collection_name)
        if self.masking == "delete" and self.n_masked:
            masked = self.row_ids_[self.masked_]
            store = self.masked_vectors_
            with atomic_path(path / _MASKED_VECTORS_FILE) as tmp:
                np.save(tmp, np.stack([store[i] for i in masked.tolist()]))
        lite_path = self._connection.lite_path
        if lite_path is None:
            return
        target = (path / _LITE_DIR).resolve()
        if Path(lite_path).resolve() == target:
            return  # saved in place: the database is already in the folder
        if target.exists():
            shutil.rmtree(target)
        self._copy_collection(str(target))

    def _copy_collection(self, target: str) -> None:
        """Copy this index's collection into a new Milvus Lite database at ``target``.

        The rows are read and written through Milvus rather than copying the database's
        files: Milvus Lite compacts and builds index files in background threads, so a file
        copy can catch one half-written. Closing the copy waits for its own background work.
        """
        params = self.get_params()
        params.update(uri=target, overwrite=False, progress_bar=False)
        copy = type(self)(**params)
        try:
            copy._create_collection(self.dim_)
            write = copy._connection.write
            for batch in self._iterate("", [_ID, _VECTOR, _MASKED]):
                write(
                    self.collection_name,
                    [{k: r[k] for k in (_ID, _VECTOR, _MASKED)} for r in batch],
                )
            copy.client_.flush(self.collection_name)
        finally:
            copy.close()

    @classmethod
    @validate_params(
        {"path": [str, os.PathLike], "uri": [None, str, os.PathLike], "allow_remote": ["boolean"]},
        prefer_skip_nested_validation=True,
    )
    def load(
        cls,
        path: str | os.PathLike,
        uri: str | os.PathLike | None = None,
        *,
        allow_remote: bool = False,
    ) -> MilvusIndex:
        """Reopen an index written by :meth:`save`.

        A saved Milvus Lite database (``path/milvus.db``) is used in place; it must lie inside
        ``path``. A server index's ``meta.json`` names the server's URI: loading connects
        there, so it is refused unless ``allow_remote=True`` (trust the folder) or ``uri``
        names the server. ``meta.json`` is validated: missing or unknown keys and invalid
        parameters are errors naming the file and the key.

        Parameters
        ----------
        path : str or os.PathLike
            The directory written by :meth:`save`.
        uri : str, os.PathLike or None, default=None
            Where the collection is, instead of what ``meta.json`` says (a server that moved,
            a copy of the Lite database): the caller's choice, so it may be a server.
        allow_remote : bool, default=False
            Connect to the server URI that ``meta.json`` names.

        Returns
        -------
        MilvusIndex
            The index, connected to its collection (if it holds items).
        """
        path = Path(path)
        target = cls._load_target(path, cls._read_meta(path), uri, allow_remote)
        token = _LOAD_URI.set(target)
        try:
            index = super().load(path)
        finally:
            _LOAD_URI.reset(token)
        index.uri = target  # an empty index connects there on its first add
        return index

    @classmethod
    def _read_meta(cls, path: Path) -> dict[str, Any]:
        """``meta.json`` of a saved index, with its keys and parameters checked."""
        meta_file = path / _META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"path={str(path)!r} holds no saved skanchor index (no {_META_FILE})"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError as exc:
            raise ValueError(f"{str(meta_file)!r} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict):
            raise ValueError(
                f"{str(meta_file)!r} must hold a JSON object, got {type(meta).__name__}"
            )
        for key in _META_KEYS:
            if key not in meta:
                raise ValueError(f"{str(meta_file)!r} has no {key!r} key")
        params = meta["params"]
        if not isinstance(params, dict):
            raise ValueError(f"{str(meta_file)!r}: 'params' must be an object, got {params!r}")
        for key in cls._param_names:
            if key not in params:
                raise ValueError(f"{str(meta_file)!r} has no 'params.{key}' key")
        unknown = sorted(set(params) - set(cls._param_names))
        if unknown:
            raise ValueError(f"{str(meta_file)!r} has unknown parameter(s): {unknown}")
        if meta["fitted"] and params["dim"] is None:
            raise ValueError(f"{str(meta_file)!r}: a fitted index needs 'params.dim', got null")
        validate_parameter_constraints(
            cls._parameter_constraints, params, caller_name=repr(str(meta_file))
        )
        return meta

    @classmethod
    def _load_target(
        cls, path: Path, meta: dict[str, Any], uri: str | os.PathLike | None, allow_remote: bool
    ) -> str | None:
        """The URI a saved index is loaded with (see :meth:`load`)."""
        if uri is not None:
            connection.uri_kind(uri)  # a ValueError for anything else than Lite or server
            return os.fspath(uri)
        meta_file = str(path / _META_FILE)
        saved = meta["params"]["uri"]
        if saved is None:  # an empty index of a temporary database
            return None
        if saved == _SAVED_LITE:
            database = (path / _LITE_DIR).resolve()
            if not database.is_relative_to(path.resolve()):
                raise ValueError(
                    f"{str(path / _LITE_DIR)!r} leads outside {str(path)!r} (to "
                    f"{str(database)!r}): a saved Milvus Lite database must lie inside the folder"
                )
            return str(database)
        if connection.uri_kind(saved) != "server":
            raise ValueError(
                f"{meta_file!r} names the Milvus Lite database uri={saved!r} outside the folder: "
                f"pass uri= to open it"
            )
        if not allow_remote:
            raise ValueError(
                f"{meta_file!r} names the Milvus server uri={saved!r}: loading would connect "
                "there. Pass allow_remote=True if you trust this folder, or uri= to name the "
                "server yourself"
            )
        return saved

    def _load_storage(self, path: Path) -> None:
        self.uri = _LOAD_URI.get(self.uri)
        if not self.client_.has_collection(self.collection_name):
            raise ValueError(
                f"path={str(path)!r}: collection {self.collection_name!r} is missing at "
                f"uri={self._connection.uri!r}"
            )
        self._collection_ready = True
        self._check_collection()
        masked_file = path / _MASKED_VECTORS_FILE
        if self.masking == "delete":
            vectors = np.load(masked_file, allow_pickle=False) if masked_file.is_file() else None
            self._pending_masked = (masked_file, vectors)

    def _after_load(self) -> None:
        expected = self.n_items - (self.n_masked if self.masking == "delete" else 0)
        found = self._count()
        if found != expected:
            raise ValueError(
                f"collection {self.collection_name!r} at uri={self._connection.uri!r} holds "
                f"{found} rows, the saved index expects {expected}: it was modified after save"
            )
        masked_file, pending = self.__dict__.pop("_pending_masked", (None, None))
        if self.masking == "delete" and self.n_masked:
            shape = None if pending is None else pending.shape
            if shape != (self.n_masked, self.dim_):
                found = "no such file" if shape is None else f"shape {shape}"
                raise ValueError(
                    f"{str(masked_file)!r} must hold the {self.n_masked} masked vectors of "
                    f"dimension {self.dim_} (masking='delete'), got {found}"
                )
            masked = self.row_ids_[self.masked_]
            self.masked_vectors_ = dict(zip(masked.tolist(), pending, strict=True))


if importlib.util.find_spec("pymilvus") is None or importlib.util.find_spec("milvus_lite") is None:
    # The example needs Milvus Lite: keep doctest runs green where the extra is not installed.
    MilvusIndex.__doc__ = MilvusIndex.__doc__.split("    Examples\n")[0]
