"""Approximate cosine index on hnswlib's HNSW graph (Malkov and Yashunin, 2018).

The paper's index (App. A.1): cosine space, ``M=64``, ``ef_construction=200``, ``ef=200``.
Masking uses hnswlib's ``mark_deleted`` rather than a ``filter=`` callable, which is tens of
times slower with several threads.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any, ClassVar

import hnswlib
import numpy as np

from skanchor._validation import _describe, check_positive_int
from skanchor.index.base import _exact_search, _StoredIndex

__all__ = ["HNSWIndex"]

_HNSW_FILE = "hnswlib.bin"
_FETCH_BLOCK = 1 << 16  # rows read from hnswlib at a time in the exact fallback
_EF_GROWTH = 4  # ef multiplier between retries when hnswlib finds fewer than k live items


def _check_num_threads(value: Any) -> int:
    if value == -1 and not isinstance(value, bool):
        return -1
    try:
        return check_positive_int(value, "num_threads")
    except (TypeError, ValueError):
        raise ValueError(
            f"num_threads must be a positive integer or -1 (all cores), got {_describe(value)}"
        ) from None


def _check_seed(value: Any) -> int:
    if value is None:
        return 100  # hnswlib's own default
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"random_state must be a non-negative integer or None, got {_describe(value)}"
        )
    return int(value)


class HNSWIndex(_StoredIndex):
    """Approximate cosine nearest-neighbour index (hnswlib HNSW, cosine space).

    Similarity is ``1 - distance`` of hnswlib's cosine space. Masked items are hnswlib
    "deleted" items: still stored, skipped by search. Search uses ``max(ef, k)`` as hnswlib's
    ``ef`` (hnswlib needs ``ef >= k``); if hnswlib cannot find ``k`` live items (many masked
    items, small ``ef``) the search is retried with a larger ``ef`` and finally answered by an
    exact scan over the live items, so it never fails for valid input. When at most
    ``max(ef, k)`` items are live the exact scan is used directly.

    Not safe for concurrent calls from several Python threads (search sets hnswlib's ``ef``);
    use ``num_threads`` for parallelism instead.

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
        search, so it can be changed any time with :meth:`set_ef` or by assignment; it is
        saved and restored by :meth:`save` / :meth:`load`.
    max_elements : int, optional
        Initial capacity; the graph is resized (capacity doubled) as needed. Defaults to the
        size of the first batch.
    num_threads : int, default=1
        Threads used by hnswlib for adding and searching; -1 uses all cores.
    random_state : int or None, default=100
        Seed of hnswlib's level generator (None: hnswlib's default, 100).

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
    _param_names: ClassVar[tuple[str, ...]] = (
        "dim",
        "M",
        "ef_construction",
        "ef",
        "max_elements",
        "num_threads",
        "random_state",
    )

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
        self.ef = check_positive_int(ef, "ef")
        if hasattr(self, "index_"):
            self.index_.set_ef(self.ef)

    @property
    def capacity_(self) -> int:
        """Items the graph can hold before its next resize (0 before the first add)."""
        return self.index_.get_max_elements() if hasattr(self, "index_") else 0

    # -- storage -----------------------------------------------------------------------------
    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        num_threads = _check_num_threads(self.num_threads)
        if not hasattr(self, "index_"):
            M = check_positive_int(self.M, "M")
            ef_construction = check_positive_int(self.ef_construction, "ef_construction")
            ef = check_positive_int(self.ef, "ef")
            capacity = len(vectors)
            if self.max_elements is not None:
                capacity = max(capacity, check_positive_int(self.max_elements, "max_elements"))
            index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
            index.init_index(
                max_elements=capacity,
                ef_construction=ef_construction,
                M=M,
                random_seed=_check_seed(self.random_state),
            )
            index.set_ef(ef)
            self.index_ = index
        needed = self.n_items + len(vectors)
        if needed > self.capacity_:  # amortised doubling
            self.index_.resize_index(max(needed, 2 * self.capacity_))
        self.index_.add_items(vectors, ids, num_threads=num_threads)

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
        ef = max(check_positive_int(self.ef, "ef"), k)
        num_threads = _check_num_threads(self.num_threads)
        if len(self) <= ef:  # the graph would have to surface nearly every live item
            return self._exact_live_search(queries, k)
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
            self.index_.set_ef(self.ef)
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
        dim = check_positive_int(self.dim, "dim")
        index = hnswlib.Index(space="cosine", dim=dim)
        index.load_index(str(path / _HNSW_FILE))
        index.set_ef(check_positive_int(self.ef, "ef"))  # hnswlib does not persist ef
        self.index_ = index

    def _after_load(self) -> None:
        """Rebuild the side copy of masked vectors (hnswlib saved them as deleted)."""
        hidden = self.row_ids_[self.masked_]
        if hidden.size:
            for label in hidden.tolist():
                self.index_.unmark_deleted(label)
            self._on_mask_change(hidden, True)
