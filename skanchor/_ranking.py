"""Top-k ranking with deterministic ties: the one implementation the index and the strategies share.

Both rank by score and break ties by the smaller id (or, without ids, the smaller position),
so results never depend on storage order or on numpy's partition algorithm: duplicated
documents give exactly tied scores, and which of them comes first must not change between
runs or machines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["top_k", "top_k_rows"]


def top_k_rows(
    scores: Any, k: int, *, ids: Any = None, largest: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best entries of each row of ``scores``, best first, ties to the smaller id.

    O(n m) for an (n, m) ``scores`` (a partition per row, then a sort of the ``k`` kept
    entries); a tie that straddles the k-th place is resolved row by row, which is rare.

    Parameters
    ----------
    scores : array-like of shape (n, m)
        Scores of ``m`` columns for each of ``n`` rows. ``-inf`` (with ``largest=True``)
        ranks last, so it can hide columns.
    k : int
        Entries kept per row; ``min(k, m)`` are returned.
    ids : array-like of shape (m,) or (n, m), optional
        The id of each column (shared by every row, or one per entry); ties at equal score
        go to the smaller id. Default: the column positions.
    largest : bool, default=True
        Rank by decreasing score (True) or by increasing score (False).

    Returns
    -------
    ids : ndarray of shape (n, min(k, m))
        The ids (or column positions) of the kept entries, best first.
    scores : ndarray of shape (n, min(k, m))
        Their scores, in the dtype of ``scores``.

    Examples
    --------
    >>> top_k_rows([[0.5, 0.9, 0.5, 0.1]], 3, ids=[7, 8, 3, 9])
    (array([[8, 3, 7]]), array([[0.9, 0.5, 0.5]]))
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-d (n, m) array, got shape {scores.shape}")
    n, m = scores.shape
    k = min(int(k), m)
    col_ids = np.arange(m) if ids is None else np.asarray(ids)
    col_ids = np.broadcast_to(col_ids, scores.shape)
    if k <= 0:
        return col_ids[:, :0].copy(), scores[:, :0].copy()
    if scores.dtype.kind in "bu":  # negating unsigned (or bool) scores would wrap around
        scores = scores.astype(np.int64)
    # Rank by increasing key: the best entry has the smallest key.
    key = -scores if largest else scores
    if n == 1:  # one row (a strategy's scores): partition the values, not the positions
        cols = _best_columns(key[0], col_ids[0], k)[None, :]
        return np.take_along_axis(col_ids, cols, axis=1), np.take_along_axis(scores, cols, axis=1)
    if k < m:
        cols = np.argpartition(key, k - 1, axis=1)[:, :k]
        kept = np.take_along_axis(key, cols, axis=1)
        kth = kept.max(axis=1, keepdims=True)
        split = (key == kth).sum(axis=1) > (kept == kth).sum(axis=1)
        for r in np.flatnonzero(split):  # a tie straddles the cut: rare, fixed row by row
            better = np.flatnonzero(key[r] < kth[r])
            tied = np.flatnonzero(key[r] == kth[r])
            tied = tied[np.argsort(col_ids[r, tied], kind="stable")][: k - better.size]
            cols[r] = np.concatenate([better, tied])
    else:
        cols = np.broadcast_to(np.arange(m), (n, m))
    kept_ids = np.take_along_axis(col_ids, cols, axis=1)
    order = np.lexsort((kept_ids, np.take_along_axis(key, cols, axis=1)), axis=1)
    cols = np.take_along_axis(cols, order, axis=1)
    return np.take_along_axis(col_ids, cols, axis=1), np.take_along_axis(scores, cols, axis=1)


def _best_columns(key: np.ndarray, ids: np.ndarray | None, k: int) -> np.ndarray:
    """Columns of the ``k`` smallest of the 1-d ``key``, smallest first, ties to the smaller id
    (``ids`` None: the smaller column).

    Every entry tied with the k-th value is a candidate, so the cut never depends on how
    ``np.partition`` orders equal values.
    """
    if k < key.size:
        kth = np.partition(key, k - 1)[k - 1]
        candidates = np.flatnonzero(key <= kth)  # increasing columns
    else:
        candidates = np.arange(key.size)
    if ids is None:  # a stable sort keeps tied columns in increasing order
        order = np.argsort(key[candidates], kind="stable")
    else:
        order = np.lexsort((ids[candidates], key[candidates]))
    return candidates[order[:k]]


def top_k(scores: Any, k: int, *, largest: bool = True) -> np.ndarray:
    """Positions of the ``k`` best of the 1-d ``scores``, best first, ties to the smaller position.

    What :func:`top_k_rows` returns for a single row with the positions as ids (the same
    code), without the 2-d bookkeeping.

    Parameters
    ----------
    scores : array-like of shape (n,)
        One score per item.
    k : int
        Number of positions returned (``min(k, n)``).
    largest : bool, default=True
        Best means largest (True) or smallest (False).

    Returns
    -------
    positions : ndarray of int64, shape (min(k, n),)
        Positions into ``scores``, best first.

    Examples
    --------
    >>> top_k([0.2, 0.7, 0.7, 0.1], 2)
    array([1, 2])
    >>> top_k([0.2, 0.7, 0.7, 0.1], 2, largest=False)
    array([3, 0])
    """
    scores = np.asarray(scores)
    if scores.ndim != 1:
        raise ValueError(f"scores must be a 1-d array, got shape {scores.shape}")
    k = min(int(k), scores.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if scores.dtype.kind in "bu":
        scores = scores.astype(np.int64)
    return _best_columns(-scores if largest else scores, None, k).astype(np.int64, copy=False)
