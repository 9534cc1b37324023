"""Brute-force cosine index: exact results, O(N * dim) per query.

Meant for small pools (up to ~1e5 items) and as the ground truth :class:`HNSWIndex` is
tested against.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from skanchor._validation import check_vectors
from skanchor.index.base import (
    _IDS_FILE,
    _META_FILE,
    _exact_search,
    _read_npy,
    _StoredIndex,
    _unit_rows,
)

__all__ = ["ExactIndex"]

_VECTORS_FILE = "vectors.npy"
_NORM_TOLERANCE = 1e-3  # float32 rows normalised by save are unit-norm to ~1e-7


class ExactIndex(_StoredIndex):
    """Exact cosine nearest-neighbour index over unit-normalised float32 rows (numpy only).

    Search is one matrix product per block of queries and items; masked items are scored
    ``-inf``. Ties are broken by the smaller id, so results are deterministic.

    Parameters
    ----------
    dim : int, optional
        Vector dimension; inferred from the first :meth:`add` when None.

    Attributes
    ----------
    dim_ : int
        Dimension of the stored vectors (set by the first :meth:`add`).
    vectors_ : ndarray of shape (n_items, dim), float32
        Stored unit-norm rows in insertion order (a view of a buffer that grows by doubling).
    row_ids_ : ndarray of shape (n_items,), int64
        Id of each row of ``vectors_``.
    masked_ : ndarray of shape (n_items,), bool
        Mask state of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor.index import ExactIndex
    >>> index = ExactIndex().add(np.eye(4) + 0.1, ids=[10, 11, 12, 13])
    >>> ids, sims = index.search([1.0, 0.1, 0.1, 0.1], k=2)
    >>> ids
    array([[10, 11]])
    >>> index.mask([10])
    >>> index.search([1.0, 0.1, 0.1, 0.1], k=2)[0]
    array([[11, 12]])
    >>> len(index), index.n_items
    (3, 4)
    """

    kind: ClassVar[str] = "exact"

    def __init__(self, dim: int | None = None):
        self.dim = dim

    @property
    def vectors_(self) -> np.ndarray:
        return self._buffer_[: self.n_items]

    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        unit = _unit_rows(vectors)
        n_old, n_new = self.n_items, self.n_items + len(unit)
        if n_old == 0:
            self._buffer_ = unit
            return
        if n_new > len(self._buffer_):  # amortised doubling: adds in small batches stay O(n)
            buffer = np.empty((max(n_new, 2 * len(self._buffer_)), self.dim_), dtype=np.float32)
            buffer[:n_old] = self._buffer_[:n_old]
            self._buffer_ = buffer
        self._buffer_[n_old:n_new] = unit

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, len(self))`` most similar live items of each query row (exact).

        ``queries`` is (n_queries, dim) or a single (dim,) vector. Returns ``(ids, sims)``,
        int64 and float32 arrays of shape (n_queries, min(k, len(self))), each row sorted by
        decreasing cosine similarity, ties by increasing id.
        """
        queries, k = self._check_search(queries, k)
        if k == 0:
            return self._empty_result(len(queries))
        masked = self.masked_ if self.n_masked else None
        vectors = self._buffer_

        def read_block(start: int, stop: int):
            excluded = None if masked is None else masked[start:stop]
            return self.row_ids_[start:stop], vectors[start:stop], excluded

        return _exact_search(queries, k, self.n_items, read_block)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored unit-norm float32 rows of ``ids`` (masked or not), in the order given."""
        rows = self._rows(ids)
        if not len(rows):
            return np.empty((0, self.dim or 0), dtype=np.float32)
        return self._buffer_[rows]

    def _save_storage(self, path: Path) -> None:
        np.save(path / _VECTORS_FILE, self.vectors_)

    def _load_storage(self, path: Path) -> None:
        vectors = _read_npy(path, _VECTORS_FILE)
        expected = (self.n_items, self.dim_)
        if vectors.shape != expected:
            raise ValueError(
                f"path={str(path)!r}: {_VECTORS_FILE} has shape {vectors.shape}, but "
                f"{_IDS_FILE} and {_META_FILE} describe {expected} (n_items, dim)"
            )
        vectors = check_vectors(vectors, f"path={str(path)!r}: {_VECTORS_FILE}")
        off = np.abs(np.linalg.norm(vectors, axis=1) - 1) > _NORM_TOLERANCE
        if off.any():
            raise ValueError(
                f"path={str(path)!r}: {_VECTORS_FILE} row {np.argmax(off)} is not unit-norm: "
                "save writes normalised rows, so the file was not written by save"
            )
        self._buffer_ = vectors
