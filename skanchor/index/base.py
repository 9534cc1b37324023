"""The vector index protocol: what a pool filter needs from a nearest-neighbour store.

An index holds unit-normalised vectors under stable non-negative integer ids. Labelled
items are *masked*: they stay in the index (their vectors are still readable with
:meth:`VectorIndex.vectors`, so anchors can be built from them) but :meth:`VectorIndex.search`
never returns them. Similarities are cosine similarities (higher is closer).
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skanchor._validation import _describe, check_ids, check_positive_int, check_vectors

__all__ = ["VectorIndex"]


class VectorIndex(abc.ABC):
    """Abstract base of :class:`~skanchor.ExactIndex` and :class:`~skanchor.HNSWIndex`.

    Contract (every implementation):

    - ``add(vectors, ids=None)`` stores rows; ``ids`` default to ``n_items, n_items + 1, ...``.
      Re-using an id is an error.
    - ``search(queries, k)`` returns ``(ids, similarities)``, both shaped
      ``(n_queries, min(k, n_live))``, ids ``int64`` and similarities ``float32``, each row sorted
      by decreasing similarity, over live (unmasked) items only.
    - ``mask(ids)`` / ``unmask(ids)`` hide / restore items; ``is_masked(ids)`` reads the state;
      ``masked_ids()`` lists the masked ids; ``set_mask(ids)`` makes exactly ``ids`` masked
      (what pool filters do with the labelled set each round).
    - ``vectors(ids)`` returns the stored unit-norm ``float32`` rows, masked or not.
    - ``contains(ids)`` tells which ids are stored; ``ids()`` lists every stored id (O(N)).
    - ``save(path)`` / ``load(path)`` round-trip everything, masks and search settings included.
    - ``len(index)`` is the number of live items; ``n_items`` counts masked ones too.
    """

    #: Short name used in reprs and by the experiment layer.
    kind: ClassVar[str] = "abstract"

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Dimension of the stored vectors."""

    @property
    @abc.abstractmethod
    def n_items(self) -> int:
        """Number of stored items, masked ones included."""

    @property
    @abc.abstractmethod
    def n_masked(self) -> int:
        """Number of masked items."""

    def __len__(self) -> int:
        return self.n_items - self.n_masked

    def _new_ids(self, ids: Any, n: int, items: str) -> np.ndarray:
        """The ids for ``n`` items about to be added: ``ids`` checked (unique, one per item), or
        ``n_items, n_items + 1, ...``; none may be stored already. ``items`` describes the
        items in the length error (``"vectors has 4 rows"``)."""
        if ids is None:
            ids = np.arange(self.n_items, self.n_items + n, dtype=np.int64)
        else:
            ids = check_ids(ids, "ids", unique=True)
            if len(ids) != n:
                raise ValueError(f"ids has {len(ids)} entries but {items}")
        known = self.contains(ids)
        if known.any():
            raise ValueError(
                f"ids holds an id already in the index: {int(ids[known][0])} "
                "(ids default to n_items, n_items + 1, ...; pass ids explicitly)"
            )
        return ids

    @abc.abstractmethod
    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
        """Store ``vectors`` (n, dim) under ``ids`` (n,); return ``self``."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, len(self))`` most similar live items of each query row."""

    @abc.abstractmethod
    def mask(self, ids: np.ndarray) -> None:
        """Hide ``ids`` from :meth:`search` (idempotent)."""

    @abc.abstractmethod
    def unmask(self, ids: np.ndarray) -> None:
        """Make ``ids`` searchable again (idempotent)."""

    @abc.abstractmethod
    def is_masked(self, ids: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``ids`` are masked."""

    @abc.abstractmethod
    def masked_ids(self) -> np.ndarray:
        """Sorted int64 array of the masked ids; O(n_masked), never O(N)."""

    def set_mask(self, ids: np.ndarray) -> None:
        """Mask exactly ``ids``: unmask every other masked item, mask the new ones.

        Costs O(n_masked + len(ids)) (log factors aside), independent of the index size.
        """
        target = np.unique(np.asarray(ids, dtype=np.int64))
        current = self.masked_ids()
        stale = np.setdiff1d(current, target, assume_unique=True)
        if stale.size:
            self.unmask(stale)
        new = np.setdiff1d(target, current, assume_unique=True)
        if new.size:
            self.mask(new)

    @abc.abstractmethod
    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``ids`` are stored."""

    @abc.abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored unit-norm vectors of ``ids`` as a float32 (len(ids), dim) array."""

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """Every stored id (masked ones included) as a sorted int64 array. O(N)."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` (a directory); :meth:`load` reads it back."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        """Read an index written by :meth:`save`."""


# ----------------------------------------------------------------------------------------------
# Shared machinery of the concrete indexes (ExactIndex, HNSWIndex). Private: the protocol above
# is the public contract.
# ----------------------------------------------------------------------------------------------

_META_FILE = "meta.json"
_IDS_FILE = "ids.npy"
_MASKED_FILE = "masked.npy"
_FORMAT = "skanchor.index"
_FORMAT_VERSION = 1

#: Upper bound on the elements of one (queries x items) score block in exact search (64 MiB).
_SCORE_BLOCK = 1 << 24
_QUERY_BLOCK = 1024


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """A new float32 array: the rows of ``vectors`` (checked non-zero) scaled to unit norm."""
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _topk(scores: np.ndarray, col_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` columns of each row of ``scores``, sorted by (similarity desc, id asc).

    ``col_ids`` is (m,) or (n, m). Ties at the k-th place go to the smaller id, so results do
    not depend on storage order (duplicate documents give exactly tied scores).
    """
    n, m = scores.shape
    col_ids = np.broadcast_to(col_ids, scores.shape)
    if k < m:
        cols = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        sims = np.take_along_axis(scores, cols, axis=1)
        kth = sims.min(axis=1, keepdims=True)
        split = (scores == kth).sum(axis=1) > (sims == kth).sum(axis=1)
        for r in np.flatnonzero(split):  # a tie straddles the cut: rare, fixed row by row
            above = np.flatnonzero(scores[r] > kth[r])
            tied = np.flatnonzero(scores[r] == kth[r])
            tied = tied[np.argsort(col_ids[r, tied], kind="stable")][: k - above.size]
            cols[r] = np.concatenate([above, tied])
        sims = np.take_along_axis(scores, cols, axis=1)
    else:
        cols = np.broadcast_to(np.arange(m), (n, m))
        sims = scores
    ids = np.take_along_axis(col_ids, cols, axis=1)
    order = np.lexsort((ids, -sims), axis=1)
    return (
        np.take_along_axis(ids, order, axis=1).astype(np.int64, copy=False),
        np.take_along_axis(sims, order, axis=1).astype(np.float32, copy=False),
    )


def _exact_search(
    queries: np.ndarray,
    k: int,
    n_cols: int,
    read_block: Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    max_block: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force cosine top-``k`` of unit ``queries`` over ``n_cols`` stored items.

    ``read_block(start, stop)`` returns ``(ids, unit_vectors, excluded)`` for items
    ``start:stop`` (``excluded``: boolean mask of items to skip, or None). Work is blocked so
    that no score matrix exceeds ``_SCORE_BLOCK`` elements and no block ``max(k, max_block)``
    items; ``k`` must not exceed the number of non-excluded items.
    """
    out_ids = np.empty((len(queries), k), dtype=np.int64)
    out_sims = np.empty((len(queries), k), dtype=np.float32)
    for q0 in range(0, len(queries), _QUERY_BLOCK):
        q = queries[q0 : q0 + _QUERY_BLOCK]
        step = _SCORE_BLOCK // len(q)
        if max_block is not None:
            step = min(step, max_block)
        step = max(k, step)
        parts_ids, parts_sims = [], []
        for c0 in range(0, n_cols, step):
            ids, vecs, excluded = read_block(c0, min(c0 + step, n_cols))
            scores = q @ vecs.T
            n_valid = len(ids)
            if excluded is not None and excluded.any():
                scores[:, excluded] = -np.inf
                n_valid -= int(excluded.sum())
            if n_valid:
                top = _topk(scores, ids, min(k, n_valid))
                parts_ids.append(top[0])
                parts_sims.append(top[1])
        if len(parts_ids) == 1:
            ids, sims = parts_ids[0], parts_sims[0]
        else:
            ids, sims = _topk(np.hstack(parts_sims), np.hstack(parts_ids), k)
        out_ids[q0 : q0 + len(q)] = ids
        out_sims[q0 : q0 + len(q)] = sims
    return out_ids, out_sims


class _StoredIndex(VectorIndex):
    """Id bookkeeping, masks, validation and persistence shared by the concrete indexes.

    Rows are numbered in insertion order. ``row_ids_`` maps row -> id, ``sorted_ids_`` /
    ``sorted_rows_`` give id -> row by binary search, and ``masked_`` is a boolean per row, so
    mask / unmask / is_masked / contains cost O(len(ids) log N), never O(N). Subclasses store
    the vectors and implement :meth:`search` and :meth:`vectors`, plus the storage hooks
    ``_store``, ``_on_mask_change``, ``_save_storage`` and ``_load_storage``.
    """

    #: Constructor parameter names, in signature order (for get_params, repr, save).
    _param_names: ClassVar[tuple[str, ...]] = ("dim",)

    # -- parameters --------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Dimension of the stored vectors (the ``dim`` parameter, None until known)."""
        return self.dim_ if hasattr(self, "dim_") else self._dim

    @dim.setter
    def dim(self, value: int | None) -> None:
        if hasattr(self, "dim_") and value != self.dim_:
            raise ValueError(f"dim={value!r} does not match the stored vectors (dim {self.dim_})")
        self._dim = value

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> _StoredIndex:
        """Set constructor parameters (scikit-learn convention); return ``self``."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(
                    f"{name!r} is not a parameter of {type(self).__name__}; "
                    f"valid: {', '.join(self._param_names)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params}) <n_items={self.n_items}, n_masked={self.n_masked}>"

    @classmethod
    def from_vectors(
        cls, vectors: np.ndarray, ids: np.ndarray | None = None, **params: Any
    ) -> _StoredIndex:
        """Build an index with ``params`` and :meth:`add` ``vectors`` under ``ids``."""
        return cls(**params).add(vectors, ids)

    # -- sizes and ids -----------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.row_ids_) if hasattr(self, "row_ids_") else 0

    @property
    def n_masked(self) -> int:
        return getattr(self, "n_masked_", 0)

    def ids(self) -> np.ndarray:
        if not hasattr(self, "sorted_ids_"):
            return np.empty(0, dtype=np.int64)
        return self.sorted_ids_.copy()

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For validated int64 ``ids``: (known mask, their positions in ``sorted_ids_``).

        Positions of unknown ids are arbitrary. When the stored ids are exactly ``0..N-1``
        (the default) an id is its own position, so no binary search over the N ids is needed.
        """
        n = len(self.sorted_ids_)
        if self.dense_ids_:
            known = ids < n
            return known, np.where(known, ids, 0)
        pos = np.searchsorted(self.sorted_ids_, ids)
        np.minimum(pos, n - 1, out=pos)
        return self.sorted_ids_[pos] == ids, pos

    def contains(self, ids: np.ndarray) -> np.ndarray:
        ids = check_ids(ids, "ids", unique=False)
        if not hasattr(self, "sorted_ids_") or not len(ids):
            return np.zeros(len(ids), dtype=bool)
        return self._positions(ids)[0]

    def _rows(self, ids: Any, name: str = "ids") -> np.ndarray:
        """Rows of ``ids`` (validated); unknown ids raise a ValueError naming ``name``."""
        ids = check_ids(ids, name, unique=False)
        if not len(ids):
            return np.empty(0, dtype=np.int64)
        if not hasattr(self, "sorted_ids_"):
            raise ValueError(f"{name} holds an id that is not in the index: {int(ids[0])}")
        known, pos = self._positions(ids)
        if not known.all():
            bad = int(ids[~known][0])
            raise ValueError(f"{name} holds an id that is not in the index: {bad}")
        return self.sorted_rows_[pos]

    # -- masks -------------------------------------------------------------------------------
    def is_masked(self, ids: np.ndarray) -> np.ndarray:
        rows = self._rows(ids)
        return self.masked_[rows] if len(rows) else np.zeros(0, dtype=bool)

    def masked_ids(self) -> np.ndarray:
        masked = getattr(self, "masked_set_", ())
        return np.sort(np.fromiter(masked, dtype=np.int64, count=len(masked)))

    def set_mask(self, ids: np.ndarray) -> None:
        """Mask exactly ``ids``. O(len(ids)) when the current mask is a subset of ``ids`` (the
        usual case: the labelled set only grows), else O(n_masked + len(ids))."""
        rows = np.unique(self._rows(ids))
        new = rows[~self.masked_[rows]]
        if self.n_masked != rows.size - new.size:  # some masked item is not in ids
            super().set_mask(self.row_ids_[rows])
            return
        if new.size:
            self._set_masked(self.row_ids_[new], True)

    def mask(self, ids: np.ndarray) -> None:
        self._set_masked(ids, True)

    def unmask(self, ids: np.ndarray) -> None:
        self._set_masked(ids, False)

    def _set_masked(self, ids: Any, value: bool) -> None:
        rows = np.unique(self._rows(ids))
        if not len(rows):
            return
        rows = rows[self.masked_[rows] != value]
        if len(rows):
            changed = self.row_ids_[rows]
            self._on_mask_change(changed, value)
            self.masked_[rows] = value
            self.n_masked_ += len(rows) if value else -len(rows)
            if value:
                self.masked_set_.update(changed.tolist())
            else:
                self.masked_set_.difference_update(changed.tolist())

    def _on_mask_change(self, ids: np.ndarray, value: bool) -> None:
        """Hook: propagate a mask change of ``ids`` (all changing state) to the storage."""

    # -- adding ------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> _StoredIndex:
        """Store ``vectors`` (n, dim) under ``ids`` (default ``n_items, n_items + 1, ...``).

        Vectors are checked (finite, non-zero, right dimension) and stored unit-normalised;
        an id already stored, or repeated within ``ids``, is an error. Returns ``self``.
        """
        dim = self.dim
        if dim is not None:
            dim = check_positive_int(dim, "dim")
        vectors = check_vectors(vectors, "vectors", dim=dim)
        n = len(vectors)
        ids = self._new_ids(ids, n, f"vectors has {n} rows")
        self._store(vectors, ids)  # may raise: bookkeeping below only on success
        self.dim_ = vectors.shape[1]
        self._append_ids(ids)
        return self

    def _store(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Hook: store validated float32 ``vectors`` under new ``ids`` (rows n_items...)."""
        raise NotImplementedError

    def _append_ids(self, ids: np.ndarray) -> None:
        n_old = self.n_items
        if n_old == 0:
            self.row_ids_ = ids.copy()
            self.masked_ = np.zeros(len(ids), dtype=bool)
            self.n_masked_ = 0
            self.masked_set_: set[int] = set()
            self.sorted_rows_ = np.argsort(ids, kind="stable")
            self.sorted_ids_ = ids[self.sorted_rows_]
            self._update_dense()
            return
        self.row_ids_ = np.concatenate([self.row_ids_, ids])
        self.masked_ = np.concatenate([self.masked_, np.zeros(len(ids), dtype=bool)])
        new_rows = np.argsort(ids, kind="stable")
        all_ids = np.concatenate([self.sorted_ids_, ids[new_rows]])
        all_rows = np.concatenate([self.sorted_rows_, n_old + new_rows])
        order = np.argsort(all_ids, kind="stable")  # merges two sorted runs in O(N)
        self.sorted_ids_ = all_ids[order]
        self.sorted_rows_ = all_rows[order]
        self._update_dense()

    def _update_dense(self) -> None:
        """Whether the (unique, sorted) ids are exactly 0..N-1: ids are then positions."""
        ids = self.sorted_ids_
        self.dense_ids_ = bool(ids[0] == 0 and ids[-1] == len(ids) - 1)

    # -- searching ---------------------------------------------------------------------------
    def _check_search(self, queries: Any, k: Any) -> tuple[np.ndarray, int]:
        """Validated unit-norm float32 queries (1-d = one query) and ``min(k, len(self))``."""
        k = check_positive_int(k, "k")
        arr = np.asarray(queries)
        if arr.ndim == 1:
            arr = arr[None, :]
        arr = check_vectors(arr, "queries", dim=self.dim)
        return _unit_rows(arr), min(k, len(self))

    @staticmethod
    def _empty_result(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.empty((n_queries, 0), dtype=np.int64),
            np.empty((n_queries, 0), dtype=np.float32),
        )

    # -- persistence -------------------------------------------------------------------------
    def _saved_params(self) -> dict[str, Any]:
        """Parameters as JSON values (numpy scalars, e.g. ``ef=np.int64(50)``, become Python)."""
        return {
            k: v.item() if isinstance(v, np.generic) else v for k, v in self.get_params().items()
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path`` (created if needed)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        fitted = self.n_items > 0
        if fitted:
            np.save(path / _IDS_FILE, self.row_ids_)
            np.save(path / _MASKED_FILE, self.masked_)
            self._save_storage(path)
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "kind": self.kind,
            "params": self._saved_params(),
            "fitted": fitted,
        }
        # Written last, so a half-written directory is not mistaken for an index.
        (path / _META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike) -> _StoredIndex:
        """Read an index written by :meth:`save` of the same class."""
        path = Path(path)
        meta_file = path / _META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"path={str(path)!r} holds no saved skanchor index (no {_META_FILE})"
            )
        try:
            meta = json.loads(meta_file.read_text())
        except ValueError as exc:
            raise ValueError(f"path={str(path)!r}: unreadable {_META_FILE}: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError(f"path={str(path)!r} does not hold a skanchor index")
        if meta.get("kind") != cls.kind:
            raise ValueError(
                f"path={str(path)!r} holds a {meta.get('kind')!r} index, not {cls.kind!r}: "
                f"load it with the matching class, not {cls.__name__}"
            )
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"path={str(path)!r} has index format version "
                f"{_describe(meta.get('format_version'))}; this skanchor reads {_FORMAT_VERSION}"
            )
        index = cls(**meta["params"])
        if meta["fitted"]:
            ids = np.load(path / _IDS_FILE, allow_pickle=False)
            masked = np.load(path / _MASKED_FILE, allow_pickle=False)
            if ids.shape != masked.shape:
                raise ValueError(f"path={str(path)!r}: {_IDS_FILE} and {_MASKED_FILE} disagree")
            index._load_storage(path)
            index.dim_ = int(meta["params"]["dim"])
            index._append_ids(ids.astype(np.int64, copy=False))
            index.masked_ = masked.astype(bool, copy=True)
            index.n_masked_ = int(index.masked_.sum())
            index.masked_set_ = set(index.row_ids_[index.masked_].tolist())
            index._after_load()
        return index

    def _after_load(self) -> None:
        """Hook: rebuild derived storage state once ids and masks are restored."""

    def _save_storage(self, path: Path) -> None:
        """Hook: write the stored vectors (and engine state) into the directory ``path``."""
        raise NotImplementedError

    def _load_storage(self, path: Path) -> None:
        """Hook: read what :meth:`_save_storage` wrote; parameters are already set."""
        raise NotImplementedError
