"""Approximate cosine index on hnswlib's HNSW graph (Malkov and Yashunin, 2018).

The paper's index (App. A.1): cosine space, ``M=64``, ``ef_construction=200``, ``ef=200``.
Masking uses hnswlib's ``mark_deleted`` rather than a ``filter=`` callable, which is tens of
times slower with several threads.
"""

from __future__ import annotations

import threading
from numbers import Integral
from pathlib import Path
from typing import ClassVar

import hnswlib
import numpy as np
from sklearn.utils._param_validation import Interval, Options

from skanchor.index.base import (
    _IDS_FILE,
    _MASKED_FILE,
    _POSITIVE_INT,
    _exact_search,
    _StoredIndex,
    _unit_rows,
)

__all__ = ["HNSWIndex"]

_HNSW_FILE = "hnswlib.bin"
_FETCH_BLOCK = 1 << 16  # rows read from hnswlib at a time in the exact fallback
_EF_GROWTH = 4  # ef multiplier between retries when hnswlib finds fewer than k live items
# hnswlib's ef is a property of the graph: a search sets it, so searches from several threads
# (one index shared by clones) would use each other's ef. Each search holds this lock.
_SEARCH_LOCK = threading.Lock()
_DEFAULT_SEED = 100  # hnswlib's own default seed, used for random_state=None

#: The header hnswlib's ``saveIndex`` writes (hnswlib 0.6-0.8, little-endian), then one
#: ``size_per_element`` record per item: level-0 links (byte 2 holds the deleted flag), the
#: vector at ``offset_data``, the label (uint64) at ``label_offset``. Read to check a saved
#: graph against ``ids.npy``: hnswlib's API reports neither the dimension of a loaded file nor
#: which items are deleted.
_HNSW_HEADER = np.dtype(
    [
        ("offset_level0", "<u8"),
        ("max_elements", "<u8"),
        ("count", "<u8"),
        ("size_per_element", "<u8"),
        ("label_offset", "<u8"),
        ("offset_data", "<u8"),
        ("max_level", "<i4"),
        ("entry_point", "<u4"),
        ("max_M", "<u8"),
        ("max_M0", "<u8"),
        ("M", "<u8"),
        ("mult", "<f8"),
        ("ef_construction", "<u8"),
    ]
)
_DELETED_BYTE, _DELETED_MARK = 2, 0x01


def _read_layout(file: Path, where: str) -> tuple[int, np.ndarray, np.ndarray, int]:
    """(dim, labels, deleted flags, M) of the items of the hnswlib file ``file``, in storage
    order, read from the file itself in O(n_items); ``where`` prefixes errors."""
    try:
        header = np.fromfile(file, dtype=_HNSW_HEADER, count=1)
    except OSError as exc:
        raise ValueError(f"{where} is unreadable: {exc}") from None
    if header.size != 1:
        raise ValueError(f"{where} is not an hnswlib index (too short for its header)")
    h = {name: int(header[name][0]) for name in _HNSW_HEADER.names}
    count, size, label_offset = h["count"], h["size_per_element"], h["label_offset"]
    data_bytes = label_offset - h["offset_data"]
    if h["offset_level0"] != 0 or data_bytes <= 0 or data_bytes % 4:
        raise ValueError(f"{where} is not an hnswlib index (unexpected header)")
    if label_offset + 8 > size or _HNSW_HEADER.itemsize + count * size > file.stat().st_size:
        raise ValueError(f"{where} is truncated or not an hnswlib index")
    if not count:
        return data_bytes // 4, np.empty(0, np.int64), np.empty(0, bool), h["M"]
    records = np.memmap(
        file, dtype=np.uint8, mode="r", offset=_HNSW_HEADER.itemsize, shape=(count, size)
    )
    labels = np.ascontiguousarray(records[:, label_offset : label_offset + 8]).view("<u8")[:, 0]
    deleted = (records[:, _DELETED_BYTE] & _DELETED_MARK).astype(bool)
    return data_bytes // 4, labels.astype(np.int64), deleted, h["M"]


class HNSWIndex(_StoredIndex):
    """Approximate cosine nearest-neighbour index (hnswlib HNSW, cosine space).

    Similarity is ``1 - distance`` of hnswlib's cosine space. Masked items are hnswlib
    "deleted" items: still stored, skipped by search. Search uses ``max(ef, k)`` as hnswlib's
    ``ef`` (hnswlib needs ``ef >= k``); if hnswlib cannot find ``k`` live items (many masked
    items, small ``ef``) the search is retried with a larger ``ef`` and finally answered by an
    exact scan over the live items, so it never fails for valid input. When at most
    ``max(ef, k)`` items are live the exact scan is used directly.

    Searches from several Python threads are serialised by a lock (a search sets hnswlib's
    ``ef``, a property of the whole graph), so they return the sequential answers; use
    ``num_threads`` for parallelism within a search. Adding or masking items while another
    thread searches is not supported.

    Parameters
    ----------
    dim : int, optional
        Vector dimension; inferred from the first :meth:`add` when None.
    M : int, default=64
        Maximum out-degree of the graph (memory and recall grow with it).
    ef_construction : int, default=200
        Candidate-list size while building (build time and graph quality grow with it).
    ef : int, default=200
        Candidate-list size while searching: the recall / speed trade-off. Read at every
        search, so it can be changed any time with :meth:`set_ef` or :meth:`set_params`
        (which check it); it is saved and restored by :meth:`save` / :meth:`load`.
    max_elements : int, optional
        Initial capacity; the graph is resized (capacity doubled) as needed. Defaults to the
        size of the first batch.
    num_threads : int, default=1
        Threads used by hnswlib for adding and searching; -1 uses all cores.
    random_state : int or None, default=100
        Seed of hnswlib's level generator (None: hnswlib's default, 100).

    ``M``, ``ef_construction``, ``random_state`` and ``dim`` shape the graph: they are fixed
    once the index holds items (:meth:`set_params` refuses to change them). Parameters are
    checked by the first call that uses them (:meth:`add`, :meth:`load`, :meth:`set_params`).

    Attributes
    ----------
    index_ : hnswlib.Index
        The underlying graph (created by the first :meth:`add`).
    dim_ : int
        Dimension of the stored vectors.
    row_ids_ : ndarray of shape (n_items,), int64
        Ids in insertion order.
    masked_ : ndarray of shape (n_items,), bool
        Mask state of each item (row order).

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor.index import HNSWIndex
    >>> X = np.random.default_rng(0).normal(size=(1000, 16))
    >>> index = HNSWIndex(M=16, ef=50).add(X)
    >>> ids, sims = index.search(X[:2], k=5)
    >>> ids.shape, ids.dtype, sims.dtype
    ((2, 5), dtype('int64'), dtype('float32'))
    >>> ids[:, 0]
    array([0, 1])
    >>> index.mask([0])
    >>> bool((index.search(X[0], k=5)[0] == 0).any())
    False
    >>> index.set_ef(100)
    """

    kind: ClassVar[str] = "hnsw"
    _parameter_constraints: ClassVar[dict] = {
        **_StoredIndex._parameter_constraints,
        "M": [Interval(Integral, 2, None, closed="left")],
        "ef_construction": [_POSITIVE_INT],
        "ef": [_POSITIVE_INT],
        "max_elements": [_POSITIVE_INT, None],
        "num_threads": [_POSITIVE_INT, Options(Integral, {-1})],
        "random_state": [Interval(Integral, 0, 2**64 - 1, closed="both"), None],
    }
    _build_params: ClassVar[frozenset[str]] = _StoredIndex._build_params | {
        "M",
        "ef_construction",
        "random_state",
    }

    def __init__(
        self,
        dim: int | None = None,
        M: int = 64,
        ef_construction: int = 200,
        ef: int = 200,
        max_elements: int | None = None,
        num_threads: int = 1,
        random_state: int | None = 100,
    ):
        self.dim = dim
        self.M = M
        self.ef_construction = ef_construction
        self.ef = ef
        self.max_elements = max_elements
        self.num_threads = num_threads
        self.random_state = random_state

    def set_ef(self, ef: int) -> None:
        """Set the search-time candidate-list size (used as ``max(ef, k)`` by each search)."""
        self.set_params(ef=ef)
        if hasattr(self, "index_"):
            self.index_.set_ef(int(self.ef))

    @property
    def capacity_(self) -> int:
        """Items the graph can hold before its next resize (0 before the first add)."""
        return self.index_.get_max_elements() if hasattr(self, "index_") else 0

    # -- storage -----------------------------------------------------------------------------
    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if not hasattr(self, "index_"):  # parameters were checked by add
            capacity = max(len(vectors), self.max_elements or 0)
            seed = _DEFAULT_SEED if self.random_state is None else self.random_state
            index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
            index.init_index(
                max_elements=int(capacity),
                ef_construction=int(self.ef_construction),
                M=int(self.M),
                random_seed=int(seed),
            )
            index.set_ef(int(self.ef))
            self.index_ = index
        needed = self.n_items + len(vectors)
        if needed > self.capacity_:  # amortised doubling
            self.index_.resize_index(max(needed, 2 * self.capacity_))
        # Unit rows: hnswlib normalises too, but its float32 norm overflows for huge rows.
        self.index_.add_items(_unit_rows(vectors), ids, num_threads=int(self.num_threads))

    def _on_mask_change(self, ids: np.ndarray, value: bool) -> None:
        self._slot_lookup_ = None
        if value:  # keep a copy: hnswlib cannot read deleted items, anchors need them
            self._keep_masked_vectors(ids, self.index_.get_items(ids, return_type="numpy"))
            for label in ids.tolist():
                self.index_.mark_deleted(label)
        else:
            for label in ids.tolist():
                self.index_.unmark_deleted(label)
                del self.masked_slot_[label]

    def _keep_masked_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows to the side store of masked vectors (O(len(ids)) amortised).

        Slots of unmasked items are left behind; the store is compacted when more than half
        of it is stale, so it stays O(n_masked x dim).
        """
        store = getattr(self, "masked_store_", None)
        slots = getattr(self, "masked_slot_", None)
        if store is None:
            store, slots, self.masked_used_ = np.empty((0, self.dim_), np.float32), {}, 0
        used = self.masked_used_
        if used > 2 * len(slots) + 64:  # compact
            keep = np.fromiter(slots.values(), dtype=np.int64, count=len(slots))
            store[: len(slots)] = store[keep]
            slots = dict(zip(slots.keys(), range(len(slots)), strict=True))
            used = len(slots)
        needed = used + len(ids)
        if needed > len(store):
            grown = np.empty((max(needed, 2 * len(store)), self.dim_), np.float32)
            grown[:used] = store[:used]
            store = grown
        store[used:needed] = vectors
        slots.update(zip(ids.tolist(), range(used, needed), strict=True))
        self.masked_store_, self.masked_slot_, self.masked_used_ = store, slots, needed

    # -- search ------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, len(self))`` most similar live items of each query row (approximate).

        ``queries`` is (n_queries, dim) or a single (dim,) vector. Returns ``(ids, sims)``,
        int64 and float32 arrays of shape (n_queries, min(k, len(self))), each row sorted by
        decreasing cosine similarity (ties by increasing id).
        """
        queries, k = self._check_search(queries, k)
        if k == 0:
            return self._empty_result(len(queries))
        ef = max(int(self.ef), k)  # ef and num_threads were checked by add / set_params
        num_threads = int(self.num_threads)
        if len(self) <= ef:  # the graph would have to surface nearly every live item
            return self._exact_live_search(queries, k)
        with _SEARCH_LOCK:  # ef is the graph's, not the call's: one search at a time sets it
            return self._graph_search(queries, k, ef, num_threads)

    def _graph_search(
        self, queries: np.ndarray, k: int, ef: int, num_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        try:
            while True:
                self.index_.set_ef(ef)
                try:
                    labels, dists = self.index_.knn_query(queries, k=k, num_threads=num_threads)
                except RuntimeError as exc:
                    if "contiguous 2D array" not in str(exc):
                        raise
                    if ef >= self.n_items:  # fewer than k live items reached even so
                        break
                    ef = min(ef * _EF_GROWTH, self.n_items)
                    continue
                ids = labels.astype(np.int64)
                sims = (1.0 - dists).astype(np.float32)
                order = np.lexsort((ids, -sims), axis=1)  # hnswlib order + ties by smaller id
                return np.take_along_axis(ids, order, 1), np.take_along_axis(sims, order, 1)
        finally:
            self.index_.set_ef(int(self.ef))
        return self._exact_live_search(queries, k)

    def _exact_live_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over the live items, reading their vectors back from hnswlib."""
        live = self.row_ids_[~self.masked_]

        def read_block(start: int, stop: int):
            block = live[start:stop]
            return block, self.index_.get_items(block, return_type="numpy"), None

        return _exact_search(queries, k, len(live), read_block, max_block=_FETCH_BLOCK)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored unit-norm float32 rows of ``ids`` (masked or not), in the order given.

        hnswlib refuses to read deleted items, so masked items are read from a side copy
        taken when they were masked (O(n_masked x dim) memory: the labelled set).
        """
        rows = self._rows(ids)
        if not len(rows):
            return np.empty((0, self.dim or 0), dtype=np.float32)
        labels = self.row_ids_[rows]
        hidden = self.masked_[rows]
        out = np.empty((len(rows), self.dim_), dtype=np.float32)
        if not hidden.all():
            out[~hidden] = self.index_.get_items(labels[~hidden], return_type="numpy")
        if hidden.any():
            out[hidden] = self.masked_store_[self._slots(labels[hidden])]
        return out

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        """Side-store slots of masked ``ids`` by binary search in a sorted copy of the slot
        map, rebuilt only after the mask changed (a dict lookup per id cost ~0.5 ms per 1,000
        labelled items on every query)."""
        lookup = getattr(self, "_slot_lookup_", None)
        if lookup is None:
            keys = np.fromiter(self.masked_slot_.keys(), np.int64, len(self.masked_slot_))
            slots = np.fromiter(self.masked_slot_.values(), np.int64, len(self.masked_slot_))
            order = np.argsort(keys)
            lookup = self._slot_lookup_ = (keys[order], slots[order])
        keys, slots = lookup
        return slots[np.searchsorted(keys, ids)]

    # -- persistence -------------------------------------------------------------------------
    def _save_storage(self, path: Path) -> None:
        self.index_.save_index(str(path / _HNSW_FILE))

    def _load_storage(self, path: Path) -> None:
        """Load ``hnswlib.bin`` after checking it holds exactly the items of ``ids.npy``, at
        the saved dimension, with exactly the items of ``masked.npy`` marked deleted."""
        file = path / _HNSW_FILE
        where = f"path={str(path)!r}: {_HNSW_FILE}"
        if not file.is_file():
            raise FileNotFoundError(f"{where} is missing")
        dim, labels, deleted, M = _read_layout(file, where)
        if dim != self.dim_:
            raise ValueError(
                f"{where} holds vectors of dimension {dim}, meta.json says {self.dim_}"
            )
        if labels.size != self.n_items:
            raise ValueError(f"{where} holds {labels.size} items, {_IDS_FILE} lists {self.n_items}")
        order = np.argsort(labels)
        if not np.array_equal(labels[order], self.sorted_ids_):
            stray = np.setdiff1d(labels, self.sorted_ids_)
            example = stray[0] if stray.size else np.setdiff1d(self.sorted_ids_, labels)[0]
            raise ValueError(
                f"{where} and {_IDS_FILE} hold different ids (e.g. {int(example)}): they come "
                "from different saves"
            )
        disagree = deleted[order] != self.masked_[self.sorted_rows_]
        if disagree.any():
            raise ValueError(
                f"{where} and {_MASKED_FILE} disagree on which items are masked (e.g. id "
                f"{int(self.sorted_ids_[np.argmax(disagree)])}): they come from different saves"
            )
        index = hnswlib.Index(space="cosine", dim=int(dim))
        try:
            index.load_index(str(file))
        except RuntimeError as exc:
            raise ValueError(f"{where} cannot be read by hnswlib: {exc}") from None
        if index.element_count != labels.size or index.M != M:  # our reading of the format
            raise ValueError(f"{where} is in an hnswlib format this skanchor cannot check")
        index.set_ef(int(self.ef))  # hnswlib does not persist ef
        self.index_ = index
        # The masked items' vectors go back into the side store (hnswlib cannot read deleted
        # items): unmark them long enough to copy them out.
        hidden = self.row_ids_[self.masked_]
        if hidden.size:
            for label in hidden.tolist():
                index.unmark_deleted(label)
            self._on_mask_change(hidden, True)
