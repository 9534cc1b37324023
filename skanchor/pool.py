"""Pool identity: how the rows of a modAL ``X_pool`` are tied to the index's stable ids.

modAL users delete queried rows from ``X_pool`` between rounds, so positions shift while the
index speaks ids. Two bridges:

- **ids** (recommended for large pools): ``X_pool`` *is* an integer array of index ids and the
  classifier's pipeline turns ids into features (e.g. a ``FunctionTransformer`` that looks up
  vectors or texts). Per query: one vectorised pass over the ids to check they are sorted and
  unique (an argsort if they are not), then O(M log N) to place the subpool.
- **rows** (:class:`RowLookup`): ``X_pool`` holds raw vectors or texts; a lookup built once from
  the corpus maps each row's content to its id. Per query this hashes every pool row — linear
  in the pool, cheap next to model inference but not constant: prefer ids for large pools.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import _num_samples

from skanchor._validation import check_ids, describe

if TYPE_CHECKING:
    from skanchor.index.base import VectorIndex

__all__ = ["RowLookup", "as_pool_ids", "sort_pool_ids"]


def as_pool_ids(
    X_pool: Any,
    name: str = "X_pool",
    *,
    what: str = "index ids",
    advice: str = "; to query raw vectors or texts pass lookup=RowLookup().fit(corpus)",
) -> np.ndarray:
    """``X_pool`` given as ids: a 1-d (or (n, 1)) integer array → unique int64 ids (an error
    names them as ``what``, followed by ``advice``)."""
    arr = np.asarray(X_pool)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise TypeError(
            f"{name} must be a 1-d integer array of {what} (got dtype {arr.dtype}, shape "
            f"{arr.shape}){advice}"
        )
    return check_ids(arr, name, unique=False)


def sort_pool_ids(
    pool_ids: np.ndarray, index: VectorIndex | None = None, name: str = "X_pool"
) -> tuple[np.ndarray, np.ndarray | None]:
    """The ids of the pool rows sorted, and the permutation from sorted ids back to rows.

    ``pool_ids`` (validated int64, one per row of ``X_pool``) must be unique and, when
    ``index`` is given, every one must be stored in it: an id the index does not hold
    raises, wherever it lies. Cost: one vectorised pass to see whether the ids are already
    increasing (an argsort if not), then ``index.first_missing`` on the sorted ids: O(1) when
    the index's ids are ``0..N-1``, O(P log N) otherwise.

    Parameters
    ----------
    pool_ids : array-like of int
        The index id of each row of ``X_pool`` (from :func:`as_pool_ids` or
        :meth:`RowLookup.ids_for`); checked (whole, non-negative) and made int64.
    index : VectorIndex, optional
        The index every id must be stored in; None skips that check.
    name : str, default="X_pool"
        Name used in error messages.

    Returns
    -------
    pool_sorted : ndarray of int64
        ``pool_ids`` in increasing order.
    order : ndarray of int64 or None
        Row of each sorted id (``pool_sorted == pool_ids[order]``); None when ``pool_ids``
        was already increasing (then rows and sorted positions coincide).
    """
    pool_ids = check_ids(pool_ids, name, unique=False)  # a list, int32, a negative id
    order = None
    pool_sorted = pool_ids
    if (np.diff(pool_ids) <= 0).any():
        order = np.argsort(pool_ids, kind="stable")
        pool_sorted = pool_ids[order]
        dup = np.diff(pool_sorted) == 0
        if dup.any():
            raise ValueError(f"{name} holds duplicated ids, e.g. {int(pool_sorted[1:][dup][0])}")
    if index is not None:
        missing = index.first_missing(pool_sorted, assume_sorted=True)
        if missing is not None:
            raise ValueError(f"{name} holds an id that is not in the index: {missing}")
    return pool_sorted, order


def _row_keys(rows: Any, name: str) -> list:
    """Hashable content keys, one per row: the string itself, or the row's float32 bytes.

    Texts come as a list/tuple of str or a 1-d str/object array (a pandas Series of texts);
    an entry that is not a str (None, NaN) is an error naming its position, never a key
    such as ``"None"``.
    """
    if isinstance(rows, (list, tuple)) and rows and isinstance(rows[0], str):
        return _text_keys(rows, name)
    arr = np.asarray(rows)
    if arr.dtype.kind in "US" and arr.ndim == 1:
        return [str(r) for r in arr]
    if arr.dtype == object and arr.ndim == 1:
        return _text_keys(arr.tolist(), name)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a list of texts or a 2-d numeric array, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return [row.tobytes() for row in arr]


def _text_keys(rows: Any, name: str) -> list[str]:
    for j, row in enumerate(rows):
        if not isinstance(row, str):
            raise TypeError(
                f"{name}[{j}] is {describe(row)}, not a text: every row must be a str "
                "(or pass a 2-d numeric array of vectors)"
            )
    return list(rows)


class RowLookup(BaseEstimator):
    """Map rows (texts or vectors) of a corpus to their index ids by content.

    ``fit(corpus, ids=None)`` builds a hash table once (ids default to ``0..len(corpus)-1``,
    i.e. the order the corpus was indexed in). Identical rows are legitimate (duplicated
    texts): they share a key, and :meth:`ids_for` hands their ids out in order, skipping ids
    listed in ``exclude`` (the labelled ones), so every row still gets a distinct id.

    Like an index, the fitted lookup is the pool's data: ``sklearn.base.clone`` returns the
    lookup itself (see :meth:`__sklearn_clone__`), so clones of an
    :class:`~skanchor.AnchoredQueryStrategy` share it instead of copying its table.

    Examples
    --------
    >>> from skanchor.pool import RowLookup
    >>> lookup = RowLookup().fit(["a", "b", "b"])
    >>> lookup.ids_for(["b", "a", "b"]).tolist()
    [1, 0, 2]
    """

    def fit(self, corpus: Any, ids: Any = None) -> RowLookup:
        """Index ``corpus`` rows under ``ids``."""
        keys = _row_keys(corpus, "corpus")
        if ids is None:
            ids = np.arange(len(keys), dtype=np.int64)
        ids = check_ids(ids, "ids")
        if ids.size != len(keys):
            raise ValueError(f"ids has {ids.size} entries, corpus has {len(keys)} rows")
        table: dict[Any, list[int]] = defaultdict(list)
        for key, i in zip(keys, ids.tolist(), strict=True):
            table[key].append(i)
        self.table_ = dict(table)
        self.n_rows_ = len(keys)
        return self

    def __sklearn_clone__(self) -> RowLookup:
        """The lookup itself: it holds no parameters, only the corpus's table (read-only
        after ``fit``), which clones share as they share an index."""
        return self

    def ids_for(self, rows: Any, exclude: Any = None, name: str = "X_pool") -> np.ndarray:
        """The id of each row of ``rows`` (int64). Unknown content raises ``ValueError``."""
        if not hasattr(self, "table_"):
            raise ValueError("RowLookup is not fitted: call fit(corpus) first")
        if _num_samples(rows) == 0:
            return np.empty(0, dtype=np.int64)
        excluded = set() if exclude is None else set(np.asarray(exclude).ravel().tolist())
        used: dict[Any, int] = {}
        out = np.empty(_num_samples(rows), dtype=np.int64)
        for j, key in enumerate(_row_keys(rows, name)):
            candidates = self.table_.get(key)
            if candidates is None:
                raise ValueError(f"{name} row {j} is not in the corpus the lookup was fitted on")
            if len(candidates) == 1:
                out[j] = candidates[0]
                continue
            cursor = used.get(key, 0)  # the next copy to hand out: linear in the copies
            while cursor < len(candidates) and candidates[cursor] in excluded:
                cursor += 1
            if cursor == len(candidates):
                raise ValueError(
                    f"{name} row {j} appears more often than in the corpus the lookup was fitted on"
                )
            out[j] = candidates[cursor]
            used[key] = cursor + 1
        return out
