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
from typing import Any

import numpy as np
from sklearn.utils.validation import _num_samples

from skanchor._validation import check_ids

__all__ = ["RowLookup", "as_pool_ids"]


def as_pool_ids(X_pool: Any, name: str = "X_pool") -> np.ndarray:
    """``X_pool`` given as ids: a 1-d (or (n, 1)) integer array → unique int64 ids."""
    arr = np.asarray(X_pool)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise TypeError(
            f"{name} must be a 1-d integer array of index ids (got dtype {arr.dtype}, shape "
            f"{arr.shape}); to query raw vectors or texts pass lookup=RowLookup().fit(corpus)"
        )
    return check_ids(arr, name, unique=False)


def _row_keys(rows: Any, name: str) -> list:
    """Hashable content keys, one per row: the string itself, or the row's float32 bytes."""
    if isinstance(rows, (list, tuple)) and rows and isinstance(rows[0], str):
        if not all(isinstance(r, str) for r in rows):
            raise TypeError(f"{name} mixes strings with other types")
        return list(rows)
    arr = np.asarray(rows)
    if arr.dtype.kind in "USO" and arr.ndim == 1:
        return [str(r) for r in arr]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a list of texts or a 2-d numeric array, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    return [row.tobytes() for row in arr]


class RowLookup:
    """Map rows (texts or vectors) of a corpus to their index ids by content.

    ``fit(corpus, ids=None)`` builds a hash table once (ids default to ``0..len(corpus)-1``,
    i.e. the order the corpus was indexed in). Identical rows are legitimate (duplicated
    texts): they share a key, and :meth:`ids_for` hands their ids out in order, skipping ids
    listed in ``exclude`` (the labelled ones), so every row still gets a distinct id.

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
            start = used.get(key, 0)
            free = [i for i in candidates[start:] if i not in excluded]
            if not free:
                raise ValueError(
                    f"{name} row {j} appears more often than in the corpus the lookup was fitted on"
                )
            out[j] = free[0]
            used[key] = candidates.index(free[0]) + 1
        return out
