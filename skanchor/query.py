"""`AnchoredQueryStrategy`: a pool filter plus a base strategy, behind modAL's protocol."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples

from skanchor._validation import check_ids, check_n_instances
from skanchor.pool import RowLookup, as_pool_ids
from skanchor.strategies import get_strategy
from skanchor.subpool import PoolFilter

__all__ = ["AnchoredQueryStrategy"]


def _is_modal_object(obj: Any) -> bool:
    return any(cls.__module__.split(".")[0] == "modAL" for cls in type(obj).__mro__)


def _split_result(result: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A strategy's return value as (positions, scores): ``(idx, scores)`` or bare ``idx``."""
    if isinstance(result, tuple) and len(result) == 2:
        return np.asarray(result[0]), np.asarray(result[1], dtype=np.float64)
    return np.asarray(result), None


class AnchoredQueryStrategy(BaseEstimator):
    """Run a query strategy on a filtered subpool: AnchorAL as a modAL query strategy.

    Called as ``strategy(classifier, X_pool, n_instances=1)`` — which is what
    ``modAL.models.ActiveLearner.query(X_pool, n_instances=...)`` does — it

    1. maps the rows of ``X_pool`` to ids of ``pool_filter.index`` (see *Pool identity*),
    2. asks ``pool_filter`` for this round's subpool given the labelled set,
    3. runs the base ``strategy`` (entropy, BADGE, ...) on those rows of ``X_pool`` only,
    4. returns positions into the ``X_pool`` it was given (and their scores).

    The labelled set is read from a modAL learner (``X_training``/``y_training``, mapped to
    ids the same way as the pool) or passed as ``labelled_ids=``/``labels=`` keyword arguments
    (``learner.query(X_pool, labelled_ids=..., labels=...)`` forwards them).

    Pool identity
        With ``lookup=None``, ``X_pool`` must be a 1-d integer array of index ids (the
        classifier's pipeline maps ids to features). modAL's usual ``np.delete`` of queried
        rows keeps ids sorted, so a query costs a vectorised sortedness check plus
        O(M log N) to place the subpool; unsorted ids cost one argsort. With
        ``lookup=RowLookup().fit(corpus)``, ``X_pool`` holds raw vectors or texts and every
        pool row is hashed per query (linear in N): convenient, but prefer ids for large pools.

    modAL compatibility
        The first time a modAL learner calls it, :func:`skanchor.integrations.modal.patch_modal`
        is applied (scikit-learn >= 1.8 broke ``teach``; modAL 0.4.1 and 0.4.2 expect different
        return shapes), and the return value has the shape the calling modAL expects. Called
        directly, it returns ``(positions, scores)``.

    If the subpool has fewer than ``n_instances`` items (few candidates, tiny pool), it is
    topped up with pool items drawn at random; the record says how many.

    Parameters
    ----------
    pool_filter : PoolFilter
        ``AnchorSubpool`` (AnchorAL), ``RandomSubpool``, ``SEALSSubpool`` or ``FullPool``.
    strategy : str or callable, default="entropy"
        A name from :data:`skanchor.strategies.STRATEGIES` or a modAL-protocol function.
    strategy_params : dict, optional
        Extra keyword arguments for ``strategy``.
    lookup : RowLookup, optional
        Maps raw rows to index ids; ``None`` means ``X_pool`` holds ids.
    random_state : int, RandomState instance or None, default=None
        Seeds the base strategy (one seed per query) and the top-up draw.

    Attributes
    ----------
    queries_ : list of dict
        One record per query: pool and subpool sizes, candidates, anchors, the selected ids,
        whether the subpool was topped up, and ``timings`` in seconds (``anchor_selection``,
        ``search``, ``aggregation``, ``filter``, ``strategy``, ``total``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skanchor import AnchoredQueryStrategy, AnchorSubpool, ExactIndex
    >>> rng = np.random.default_rng(0)
    >>> vectors = np.vstack([rng.normal(0, 1, (190, 8)), rng.normal(3, 1, (10, 8))])
    >>> y = np.r_[np.zeros(190, int), np.ones(10, int)]
    >>> index = ExactIndex().add(vectors)
    >>> labelled = np.r_[0:10, 190:192]
    >>> model = make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression())
    >>> model = model.fit(labelled, y[labelled])  # the classifier takes ids
    >>> query = AnchoredQueryStrategy(AnchorSubpool(index, n_anchors=2, n_neighbours=20),
    ...                               strategy="entropy", random_state=0)
    >>> pool = np.setdiff1d(np.arange(200), labelled)
    >>> positions, scores = query(model, pool, n_instances=5,
    ...                           labelled_ids=labelled, labels=y[labelled])
    >>> positions.shape, query.queries_[-1]["subpool_size"] <= 80
    ((5,), True)

    In a modAL loop, ``learner.query(pool, n_instances=5)`` does the same and reads the
    labelled set from the learner.
    """

    def __init__(
        self,
        pool_filter: PoolFilter | None = None,
        strategy: Any = "entropy",
        strategy_params: dict | None = None,
        lookup: RowLookup | None = None,
        random_state: Any = None,
    ):
        self.pool_filter = pool_filter
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.lookup = lookup
        self.random_state = random_state

    # -- pool identity ---------------------------------------------------------------
    def _ids(self, X: Any, name: str, exclude: Any = None) -> np.ndarray:
        if self.lookup is None:
            return as_pool_ids(X, name)
        if not isinstance(self.lookup, RowLookup):
            raise TypeError(f"lookup must be a RowLookup or None, got {type(self.lookup).__name__}")
        return self.lookup.ids_for(X, exclude=exclude, name=name)

    def _labelled(self, classifier, labelled_ids, labels, X_labelled):
        if labelled_ids is None and X_labelled is None:
            X_labelled = getattr(classifier, "X_training", None)
            if labels is None:
                labels = getattr(classifier, "y_training", None)
        if labels is None or (labelled_ids is None and X_labelled is None):
            raise TypeError(
                "the labelled set is unknown: call through a modAL learner (X_training, "
                "y_training) or pass labelled_ids= and labels="
            )
        if labelled_ids is None:
            labelled_ids = self._ids(X_labelled, "X_training")
        labelled_ids = check_ids(labelled_ids, "labelled_ids")
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        return labelled_ids, labels, X_labelled

    def _rng(self) -> np.random.RandomState:
        if getattr(self, "random_state_", None) is None:
            self.random_state_ = check_random_state(self.random_state)
        return self.random_state_

    def _top_up(self, positions, pool_sorted, order, labelled_ids, need):
        """``need`` random pool positions outside ``positions`` and the labelled set."""
        rng = self._rng()
        n_pool = pool_sorted.size
        taken = set(positions.tolist())
        labelled = set(labelled_ids.tolist())
        extra: list[int] = []
        for _ in range(20):
            for p in rng.randint(0, n_pool, size=2 * need + 8).tolist():
                pid = int(pool_sorted[p])
                if p not in taken and pid not in labelled:
                    taken.add(p)
                    extra.append(p)
                    if len(extra) == need:
                        break
            if len(extra) == need:
                break
        else:  # a nearly exhausted pool: scan it
            free = np.setdiff1d(np.arange(n_pool), np.fromiter(taken, dtype=np.int64))
            free = free[~np.isin(pool_sorted[free], labelled_ids)]
            if free.size < need - len(extra):
                raise ValueError(
                    f"n_instances is larger than the unlabelled pool ({free.size + len(extra)} "
                    "items left once labelled ids are removed)"
                )
            extra.extend(rng.choice(free, need - len(extra), replace=False).tolist())
        extra_arr = np.asarray(extra, dtype=np.int64)
        return extra_arr if order is None else order[extra_arr]

    # -- the modAL protocol ----------------------------------------------------------
    def __call__(
        self,
        classifier: Any,
        X_pool: Any,
        n_instances: int = 1,
        *,
        labelled_ids: Any = None,
        labels: Any = None,
        X_labelled: Any = None,
        **kwargs: Any,
    ):
        """Select ``n_instances`` rows of ``X_pool``; return their positions (and scores)."""
        t_start = time.perf_counter()
        if not isinstance(self.pool_filter, PoolFilter):
            raise TypeError(
                "pool_filter must be a PoolFilter (AnchorSubpool, RandomSubpool, SEALSSubpool, "
                f"FullPool), got {type(self.pool_filter).__name__}"
            )
        strategy = get_strategy(self.strategy)
        n_pool = _num_samples(X_pool)
        n_instances = check_n_instances(n_instances, n_pool)
        labelled_ids, labels, X_labelled = self._labelled(
            classifier, labelled_ids, labels, X_labelled
        )

        # Pool rows -> sorted unique ids (+ the permutation back to rows when unsorted).
        pool_ids = self._ids(X_pool, "X_pool", exclude=labelled_ids)
        order = None
        steps = np.diff(pool_ids)
        if (steps <= 0).any():
            order = np.argsort(pool_ids, kind="stable")
            pool_sorted = pool_ids[order]
            dup = np.diff(pool_sorted) == 0
            if dup.any():
                raise ValueError(
                    f"X_pool holds duplicated ids, e.g. {int(pool_sorted[1:][dup][0])}"
                )
        else:
            pool_sorted = pool_ids
        index = self.pool_filter.index
        ends = pool_sorted[[0, -1]]
        if index is not None and not index.contains(ends).all():
            raise ValueError(
                f"X_pool holds ids outside the index, e.g. {int(ends[~index.contains(ends)][0])}"
            )

        # Filter, then place the subpool in X_pool.
        t0 = time.perf_counter()
        subpool = self.pool_filter.select(
            labelled_ids, labels, model=classifier, X_labelled=X_labelled, pool_ids=pool_sorted
        )
        t_filter = time.perf_counter() - t0
        sub_sorted_pos = np.searchsorted(pool_sorted, subpool.ids)
        positions = sub_sorted_pos if order is None else order[sub_sorted_pos]
        n_topped_up = max(0, n_instances - positions.size)
        if n_topped_up:
            extra = self._top_up(positions, pool_sorted, order, labelled_ids, n_topped_up)
            positions = np.concatenate([positions, extra])

        # Base strategy on the subpool rows only.
        t0 = time.perf_counter()
        seed = int(self._rng().randint(np.iinfo(np.int32).max))
        result = strategy(
            classifier,
            _safe_indexing(X_pool, positions),
            n_instances=n_instances,
            random_state=seed,
            **(self.strategy_params or {}),
            **kwargs,
        )
        sub_positions, scores = _split_result(result)
        t_strategy = time.perf_counter() - t0
        chosen = positions[sub_positions.astype(np.int64)]
        if scores is None:
            scores = np.full(chosen.size, np.nan)

        record = {
            "n_pool": int(n_pool),
            "n_labelled": int(labelled_ids.size),
            "subpool_size": len(subpool),
            "n_candidates": int(subpool.info["n_candidates"]),
            "n_topped_up": int(n_topped_up),
            "cold_start": bool(subpool.info["cold_start"]),
            "filter": subpool.info["filter"],
            "anchors": subpool.info["anchors"],
            "anchor_classes": subpool.info["anchor_classes"],
            "selected_ids": pool_ids[chosen],
            "timings": {
                **subpool.info["timings"],
                "filter": t_filter,
                "strategy": t_strategy,
                "total": time.perf_counter() - t_start,
            },
        }
        if getattr(self, "queries_", None) is None:
            self.queries_ = []
        self.queries_.append(record)

        if _is_modal_object(classifier):
            from skanchor.integrations.modal import format_query_result, patch_modal

            formatted = format_query_result(chosen, scores, classifier)
            patch_modal()
            return formatted
        return chosen, scores
