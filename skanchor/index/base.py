"""The vector index protocol: what a pool filter needs from a nearest-neighbour store.

An index holds unit-normalised vectors under stable non-negative integer ids. Labelled
items are *masked*: they stay in the index (their vectors are still readable with
:meth:`VectorIndex.vectors`, so anchors can be built from them) but :meth:`VectorIndex.search`
never returns them. Similarities are cosine similarities (higher is closer).
"""

from __future__ import annotations

import abc
import inspect
import json
import os
from collections.abc import Callable
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)

from skanchor._io import atomic_write
from skanchor._ranking import top_k_rows
from skanchor._validation import check_ids, check_vectors, describe

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
    - ``contains(ids)`` tells which ids are stored, ``first_missing(ids)`` finds the first
      that is not (cheap on sorted ids); ``ids()`` lists every stored id (O(N)).
    - ``save(path)`` / ``load(path)`` round-trip everything, masks and search settings included.
    - ``len(index)`` is the number of live items; ``n_items`` counts masked ones too.

    An index is data, not a hyper-parameter: ``sklearn.base.clone`` returns the index
    itself (see :meth:`__sklearn_clone__`), so cloning a pool filter or an
    :class:`~skanchor.AnchoredQueryStrategy` (as ``GridSearchCV`` does) keeps its items.
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

    def __sklearn_clone__(self) -> VectorIndex:
        """The index itself: clones of an estimator that holds an index share it.

        ``sklearn.base.clone`` would otherwise rebuild the index from its parameters, as
        an empty index. Sharing rather than copying because an index is the pool's data
        (possibly millions of vectors, or a Milvus collection, which cannot be copied), and
        because sharing is safe: every pool filter sets the index's mask to its own labelled
        set at the start of each ``select``, so clones used one after the other never see
        each other's masks. Clones must not search the same index concurrently from several
        threads; process-based parallelism (joblib's default) pickles a copy per worker.
        ``copy.deepcopy`` and pickling still make independent copies of the in-memory indexes
        (:class:`~skanchor.index.ExactIndex`, :class:`~skanchor.index.HNSWIndex`); a copy of a
        :class:`~skanchor.index.MilvusIndex` is another client of the same collection, whose
        masks live in the collection (see its Notes).
        """
        return self

    def first_missing(self, ids: Any, *, assume_sorted: bool = False) -> int | None:
        """The first id of ``ids`` (in their order) that is not stored, or None if all are.

        What a caller needs to check a whole pool against the index in one call.

        Parameters
        ----------
        ids : array-like of int
            Ids to look up.
        assume_sorted : bool, default=False
            Promise that ``ids`` is a validated int64 array in increasing order, which lets
            an index skip the per-id check where it can (stored ids ``0..N-1``: only the
            largest id is compared). Otherwise every id is looked up with :meth:`contains`.

        Returns
        -------
        int or None
            The first id that is not stored, or None when every id is.
        """
        ids = check_ids(ids, "ids", unique=False)
        known = self.contains(ids)
        return None if known.all() else int(ids[np.argmin(known)])

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
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        """Read an index written by :meth:`save`.

        ``VectorIndex.load(path)`` reads any saved index: the class is the one its
        ``meta.json`` names (``kind``). Each index class reads its own folders.
        """
        if cls is not VectorIndex:
            raise NotImplementedError(f"{cls.__name__} does not implement load")
        from skanchor.index import _BY_NAME  # the index kinds, by name

        path = Path(path)
        try:
            kind = json.loads((path / _META_FILE).read_text()).get("kind")
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"path={str(path)!r} holds no readable saved skanchor index ({_META_FILE}: {exc})"
            ) from None
        if kind not in _BY_NAME:
            raise ValueError(
                f"path={str(path)!r}: {_META_FILE} names kind {kind!r}, not an index kind "
                f"({', '.join(sorted(_BY_NAME))})"
            )
        return _BY_NAME[kind].load(path)


# ----------------------------------------------------------------------------------------------
# Shared machinery of the concrete indexes (ExactIndex, HNSWIndex). Private: the protocol above
# is the public contract.
# ----------------------------------------------------------------------------------------------

_META_FILE = "meta.json"
_IDS_FILE = "ids.npy"
_MASKED_FILE = "masked.npy"
_FORMAT = "skanchor.index"
_FORMAT_VERSION = 1

_VAR = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
_POSITIVE_INT = Interval(Integral, 1, None, closed="left")
_SEARCH_CONSTRAINTS = {"k": [_POSITIVE_INT]}

#: Below this float32 norm a row's squares may have lost precision to underflow: rescale first.
_SAFE_NORM = 1e-15
#: Upper bound on the elements of one (queries x items) score block in exact search (64 MiB).
_SCORE_BLOCK = 1 << 24
_QUERY_BLOCK = 1024


def holds_vectors(index: VectorIndex, ids: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Which of ``ids`` (all stored in ``index``) it holds with these ``vectors``, up to the
    float32 rounding of their unit rows: a boolean per id. How a resumed build recognises
    its own rows (an id stored with another vector is someone else's)."""
    return np.all(np.isclose(index.vectors(ids), _unit_rows(vectors), atol=1e-4), axis=1)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """A new float32 array: the rows of ``vectors`` (finite, not all-zero) scaled to unit norm.

    A row whose float32 norm overflows (values around 1e20 square to inf) or underflows
    (values around 1e-25 square to 0) is first divided by its largest absolute value, so
    every valid row keeps its direction.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):  # detected below, and fixed
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unsafe = ~np.isfinite(norms[:, 0]) | (norms[:, 0] < _SAFE_NORM)
    if not unsafe.any():
        return vectors / norms
    out = np.empty_like(vectors)
    out[~unsafe] = vectors[~unsafe] / norms[~unsafe]
    rows = vectors[unsafe]
    rows = rows / np.abs(rows).max(axis=1, keepdims=True)
    out[unsafe] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


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
                top = top_k_rows(scores, min(k, n_valid), ids=ids)
                parts_ids.append(top[0])
                parts_sims.append(top[1])
        if len(parts_ids) == 1:
            ids, sims = parts_ids[0], parts_sims[0]
        else:
            ids, sims = top_k_rows(np.hstack(parts_sims), k, ids=np.hstack(parts_ids))
        out_ids[q0 : q0 + len(q)] = ids  # int64 / float32 by assignment
        out_sims[q0 : q0 + len(q)] = sims
    return out_ids, out_sims


class _StoredIndex(VectorIndex, BaseEstimator):
    """Id bookkeeping, masks, validation and persistence shared by the concrete indexes.

    Rows are numbered in insertion order. ``row_ids_`` maps row -> id, ``sorted_ids_`` /
    ``sorted_rows_`` give id -> row by binary search, and ``masked_`` is a boolean per row, so
    mask / unmask / is_masked / contains cost O(len(ids) log N), never O(N). Subclasses store
    the vectors and implement :meth:`search` and :meth:`vectors`, plus the storage hooks
    ``_store``, ``_on_mask_change``, ``_save_storage`` and ``_load_storage``.

    Parameters follow scikit-learn: the constructor stores them, ``_parameter_constraints``
    declares them, and they are checked by :meth:`add` (the index's ``fit``), :meth:`load` and
    :meth:`set_params`, the calls that put them to use. The build parameters
    (``_build_params``) shape the stored structure, so once the index holds items
    :meth:`set_params` refuses to change them. (``VectorIndex`` comes first in the bases so
    that its ``__sklearn_clone__`` wins over ``BaseEstimator``'s.)
    """

    _parameter_constraints: ClassVar[dict] = {"dim": [_POSITIVE_INT, None]}
    #: Parameters fixed once items are stored (changing them would need a rebuild).
    _build_params: ClassVar[frozenset[str]] = frozenset({"dim"})

    # -- parameters --------------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        """Parameter names (scikit-learn's introspection of ``__init__``), sorted.

        A subclass whose ``__init__`` forwards ``**kwargs`` to its parent's (say, one that
        fixes a few defaults) also has its parent's parameters: the names are collected along
        the class hierarchy down to the first ``__init__`` without ``**kwargs``.
        """
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            names.update(p.name for p in params if p.name != "self" and p.kind not in _VAR)
            if not any(p.kind == p.VAR_KEYWORD for p in params):
                break
        return sorted(names)

    @property
    def dim(self) -> int:
        """Dimension of the stored vectors (the ``dim`` parameter, None until known)."""
        return self.dim_ if hasattr(self, "dim_") else self._dim

    @dim.setter
    def dim(self, value: int | None) -> None:
        if hasattr(self, "dim_") and value != self.dim_:
            raise ValueError(f"dim={value!r} does not match the stored vectors (dim {self.dim_})")
        self._dim = value

    def set_params(self, **params: Any) -> _StoredIndex:
        """Set parameters (scikit-learn convention), all checked before any is set.

        Search-time parameters (HNSW's ``ef``, ``num_threads``) take effect at the next
        search. Build parameters (``dim``; HNSW's ``M``, ``ef_construction``,
        ``random_state``) can only be set to their current value once the index holds items.

        Parameters
        ----------
        **params : dict
            Parameter names and their new values.

        Returns
        -------
        self
            The index.
        """
        current = self.get_params(deep=False)
        if self.n_items:
            for name in sorted(self._build_params & params.keys()):
                if params[name] != current[name]:
                    raise ValueError(
                        f"{name}={params[name]!r} cannot be set on a {type(self).__name__} that "
                        f"holds items (built with {name}={current[name]!r}): build a new index"
                    )
        validate_parameter_constraints(
            self._parameter_constraints,
            {**current, **params},
            caller_name=type(self).__name__,
        )
        super().set_params(**params)
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
        if self.dense_ids_:
            return ids < len(self.sorted_ids_)
        return self._positions(ids)[0]

    def first_missing(self, ids: Any, *, assume_sorted: bool = False) -> int | None:
        """The first id of ``ids`` (in their order) that is not stored, or None if all are.

        Parameters
        ----------
        ids : array-like of int
            Ids to look up.
        assume_sorted : bool, default=False
            Promise that ``ids`` is a validated, increasing int64 array: the check then costs
            O(1) when the stored ids are ``0..N-1`` and one vectorised binary search,
            O(len(ids) log N), otherwise. Without it, :meth:`contains` checks every id.

        Returns
        -------
        int or None
            The first id that is not stored, or None when every id is.
        """
        if not assume_sorted:
            return super().first_missing(ids)
        ids = np.asarray(ids)
        if not ids.size:
            return None
        if ids.dtype != np.int64 or ids.ndim != 1 or ids[0] < 0:
            raise ValueError("first_missing(assume_sorted=True) needs increasing int64 ids >= 0")
        if not hasattr(self, "sorted_ids_"):
            return int(ids[0])
        if self.dense_ids_:
            n = len(self.sorted_ids_)
            return None if ids[-1] < n else int(ids[np.searchsorted(ids, n)])
        known = self._positions(ids)[0]
        return None if known.all() else int(ids[np.argmin(known)])

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
        if not self.n_items:  # an empty index: nothing to mask (unknown ids raised above)
            return
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
        self._validate_params()
        vectors = check_vectors(vectors, "vectors", dim=self.dim)
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
        validate_parameter_constraints(
            _SEARCH_CONSTRAINTS, {"k": k}, caller_name=f"{type(self).__name__}.search"
        )
        arr = queries if sp.issparse(queries) else np.asarray(queries)  # sparse: refused below
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
        """Write the index to the directory ``path`` (created if needed).

        ``meta.json`` is removed first and written last (atomically), so a directory whose
        save was interrupted is not mistaken for an index.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / _META_FILE).unlink(missing_ok=True)
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
        atomic_write(path / _META_FILE, lambda f: json.dump(meta, f, indent=2), text=True)

    @classmethod
    def load(cls, path: str | os.PathLike) -> _StoredIndex:
        """Read an index written by :meth:`save` of the same class.

        Everything read is checked before it is used: ``meta.json`` (its keys, the parameters
        against the class's constraints; a parameter missing from it takes its default), the
        ids (unique, non-negative), the masks (one boolean per id) and the stored vectors
        (one row per id, the saved dimension). A mismatch raises a ``ValueError`` naming the
        directory and the file.

        Parameters
        ----------
        path : str or os.PathLike
            The directory :meth:`save` wrote.

        Returns
        -------
        index
            The loaded index, masks and search settings included.
        """
        path = Path(path)
        meta = _read_meta(path, cls)
        where = f"path={str(path)!r}: {_META_FILE}"
        params = meta["params"]
        unknown = sorted(set(params) - set(cls._get_param_names()))
        if unknown:
            raise ValueError(
                f"{where} has params {unknown[0]!r}, not a parameter of {cls.__name__}"
            )
        index = cls(**params)
        try:
            index._validate_params()
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{where}: {exc}") from None
        if not meta["fitted"]:
            return index
        if params.get("dim") is None:
            raise ValueError(f"{where} describes a fitted index but has no params 'dim'")
        ids = _read_npy(path, _IDS_FILE)
        ids = check_ids(ids, f"path={str(path)!r}: {_IDS_FILE}", unique=True, allow_empty=False)
        masked = _read_npy(path, _MASKED_FILE)
        if masked.dtype != np.bool_ or masked.shape != ids.shape:
            raise ValueError(
                f"path={str(path)!r}: {_MASKED_FILE} must hold one bool per id of {_IDS_FILE} "
                f"({ids.size}), got dtype {masked.dtype}, shape {masked.shape}"
            )
        index.dim_ = int(params["dim"])
        index._append_ids(ids)
        index.masked_ = masked.copy()
        index.n_masked_ = int(masked.sum())
        index.masked_set_ = set(ids[masked].tolist())
        index._load_storage(path)
        index._after_load()
        return index

    def _after_load(self) -> None:
        """Hook: rebuild derived storage state once ids and masks are restored."""

    def _save_storage(self, path: Path) -> None:
        """Hook: write the stored vectors (and engine state) into the directory ``path``."""
        raise NotImplementedError

    def _load_storage(self, path: Path) -> None:
        """Hook: read and check what :meth:`_save_storage` wrote.

        Parameters, ``dim_``, the ids and the masks are already restored (and checked); the
        hook checks its files against them and raises a ``ValueError`` naming ``path`` and
        the file on any mismatch.
        """
        raise NotImplementedError


def _read_meta(path: Path, cls: type[_StoredIndex]) -> dict[str, Any]:
    """The checked ``meta.json`` of the saved index at ``path``, for loading with ``cls``."""
    meta_file = path / _META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(
            f"path={str(path)!r} holds no saved skanchor index (no {_META_FILE})"
        )
    where = f"path={str(path)!r}: {_META_FILE}"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{where} is unreadable: {exc}") from None
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
            f"{describe(meta.get('format_version'))}; this skanchor reads {_FORMAT_VERSION}"
        )
    for key, kind in (("params", dict), ("fitted", bool)):
        if key not in meta:
            raise ValueError(f"{where} has no {key!r} key")
        if not isinstance(meta[key], kind):
            raise ValueError(
                f"{where}: {key!r} must be a {kind.__name__}, got {describe(meta[key])}"
            )
    return meta


def _read_npy(path: Path, name: str) -> np.ndarray:
    """The array in the file ``name`` of the saved index at ``path`` (no pickles)."""
    file = path / name
    if not file.is_file():
        raise FileNotFoundError(f"path={str(path)!r}: {name} is missing")
    try:
        return np.load(file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"path={str(path)!r}: {name} is not a readable .npy file: {exc}") from None
