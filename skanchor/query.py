"""`AnchoredQueryStrategy`: a pool filter plus a base strategy, behind modAL's protocol.

The core knows nothing of modAL: it is called as ``strategy(classifier, X_pool,
n_instances)`` and returns ``(positions, scores)``. What modAL's releases need on top of that
lives in :mod:`skanchor.integrations.modal` (``patch_modal()``, once, before querying).
"""

from __future__ import annotations

import inspect
import time
import warnings
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from sklearn.utils.validation import _num_samples

from skanchor._params import RegistryName, RoundState
from skanchor._validation import check_ids
from skanchor.index.base import VectorIndex
from skanchor.pool import RowLookup, as_pool_ids, sort_pool_ids
from skanchor.strategies import STRATEGIES, check_strategy_params, get_strategy
from skanchor.strategies._common import QUERY_CONTEXT, _check_pool_size, split_strategy_result
from skanchor.subpool import PoolFilter

__all__ = ["CONTEXT", "AnchoredQueryStrategy"]

#: Keywords :class:`AnchoredQueryStrategy` passes to a base strategy whose signature names them
#: (see the class docstring); ``random_state`` is passed on the same rule.
CONTEXT = QUERY_CONTEXT


_CALL_CONSTRAINTS = {"n_instances": [Interval(Integral, 1, None, closed="left")]}


def _named_parameters(strategy: Any) -> frozenset[str]:
    """The keyword parameters a callable's signature names explicitly (``**kwargs`` does not
    count: modAL's strategies pass theirs on to ``predict_proba``)."""
    try:
        parameters = inspect.signature(strategy).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return frozenset()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(p.name for p in parameters if p.kind in kinds)


def _describe_strategy(strategy: Any, given: Any) -> str:
    if isinstance(given, str):
        return repr(given)
    name = getattr(strategy, "__qualname__", None) or type(strategy).__qualname__
    module = getattr(strategy, "__module__", None)
    return f"{module}.{name}" if module else name


def _check_result(
    result: Any, name: str, n_rows: int, n_instances: int
) -> tuple[np.ndarray, np.ndarray]:
    """A strategy's return value as checked ``(positions, scores)``.

    Positions must be ``n_instances`` distinct integers in ``[0, n_rows)``: anything else
    (negative positions would silently wrap to the end of the pool) is an error naming the
    strategy. Scores are kept when they are one number per position, else NaN (e.g. modAL
    0.4.1-style ``(indices, rows)``).
    """
    try:
        positions, scores = split_strategy_result(result)
    except TypeError as exc:
        raise TypeError(f"strategy {name}: {exc}") from None
    positions = np.asarray(positions)
    if positions.ndim == 0:
        positions = positions.reshape(1)
    problem = None
    if positions.ndim != 1:
        problem = f"positions of shape {positions.shape}"
    elif positions.size and positions.dtype.kind not in "iu":
        problem = f"positions of dtype {positions.dtype}"
    elif positions.size != n_instances:
        problem = f"{positions.size} positions for n_instances={n_instances}"
    elif positions.min() < 0 or positions.max() >= n_rows:
        bad = positions[(positions < 0) | (positions >= n_rows)]
        problem = f"position {int(bad[0])}, outside [0, {n_rows})"
    elif np.unique(positions).size != positions.size:
        uniq, counts = np.unique(positions, return_counts=True)
        problem = f"position {int(uniq[counts > 1][0])} more than once"
    if problem is not None:
        raise ValueError(
            f"strategy {name} returned {problem}; it must return {n_instances} distinct "
            f"integer positions into the {n_rows} rows it was given"
        )
    if scores is not None:
        scores = np.asarray(scores)
        if scores.shape != positions.shape or scores.dtype.kind not in "iuf":
            scores = None
    if scores is None:
        return positions.astype(np.int64), np.full(positions.size, np.nan)
    return positions.astype(np.int64), scores.astype(np.float64)


class AnchoredQueryStrategy(RoundState, BaseEstimator):
    """Run a query strategy on a filtered subpool: AnchorAL as a modAL query strategy.

    Called as ``strategy(classifier, X_pool, n_instances=1)`` — which is what
    ``modAL.models.ActiveLearner.query(X_pool, n_instances=...)`` does — it

    1. maps the rows of ``X_pool`` to ids of ``pool_filter.index`` (see *Pool identity*),
    2. asks ``pool_filter`` for this round's subpool given the labelled set,
    3. runs the base ``strategy`` (entropy, BADGE, ...) on those rows of ``X_pool`` only,
    4. returns ``(positions, scores)``: positions into the ``X_pool`` it was given.

    The labelled set is read from a modAL-style learner (an object with ``X_training`` and
    ``y_training``, mapped to ids the same way as the pool) or passed as ``labelled_ids=``
    (or ``X_labelled=``) and ``labels=`` keyword arguments
    (``learner.query(X_pool, labelled_ids=..., labels=...)`` forwards them).

    Pool identity
        With ``lookup=None``, ``X_pool`` must be a 1-d integer array of index ids (the
        classifier's pipeline maps ids to features); every id must be in the index. modAL's
        usual ``np.delete`` of queried rows keeps ids sorted, so a query costs a vectorised
        sortedness and membership check plus O(M log N) to place the subpool; unsorted ids
        cost one argsort. With ``lookup=RowLookup().fit(corpus)``, ``X_pool`` holds raw
        vectors or texts and every pool row is hashed per query (linear in N): convenient,
        but prefer ids for large pools.

    Base strategies
        Any modAL-protocol callable ``strategy(classifier, X, n_instances=1, **kw)`` works,
        modAL's own included (``modAL.uncertainty.entropy_sampling``,
        ``modAL.batch.uncertainty_batch_sampling``, ...), returning ``(positions, scores)`` or
        bare positions. It is called as ``strategy(classifier, X_subpool, n_instances=n,
        **context, **strategy_params, **call_kwargs)``, where ``context`` holds
        ``random_state`` (an int seed, one per query) and the :data:`CONTEXT` keywords, each
        only if the strategy's signature names that parameter explicitly (a bare ``**kwargs``
        does not count: modAL's strategies pass theirs to ``predict_proba``):

        - ``pool_ids``: int64 index ids of the rows of ``X_subpool``;
        - ``index``: the filter's :class:`~skanchor.index.VectorIndex`;
        - ``labelled_ids``, ``labels``: the labelled set (ids and aligned labels);
        - ``X_labelled``: the labelled items as the classifier takes them (a modAL learner's
          ``X_training``, or the caller's), ``None`` when only ids are known;
        - ``subpool_scores``: float64 filter score of each row of ``X_subpool`` (NaN for rows
          added by the top-up below).

        ``strategy_params`` and call keywords override context values of the same name. The
        result must be ``n_instances`` distinct integer positions into ``X_subpool``;
        anything else is an error naming the strategy.

    modAL
        modAL is never imported here. Call :func:`skanchor.integrations.modal.patch_modal`
        once before querying through a modAL learner: it makes modAL's ``query`` accept
        ``(positions, scores)`` (modAL 0.4.1 expects bare indices and would hand the scores
        back as the queried rows) and its ``teach`` work on scikit-learn >= 1.8.

    If the subpool has fewer than ``n_instances`` items (few candidates, tiny pool), it is
    topped up with pool items drawn at random; the record says how many.

    While the filter reports a class without a labelled item (``AnchorSubpool(classes=...)``),
    the model cannot rank that class's items, so the subpool's ``exploration_share`` of the
    batch (``share * n_instances`` items in expectation) is drawn at random from its explored
    items and comes last, with a NaN score; the strategy selects the rest.

    Parameters
    ----------
    pool_filter : PoolFilter
        ``AnchorSubpool`` (AnchorAL), ``RandomSubpool``, ``SEALSSubpool`` or ``FullPool``.
    strategy : str or callable, default="entropy"
        A name from :data:`skanchor.strategies.STRATEGIES` (case-insensitive, ``-`` and ``_``
        alike) or a modAL-protocol function.
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
        whether the subpool was topped up, the exploration share, how many items it drew, how
        many of them were selected and how many of those were drawn for a starved class
        (``n_reserved_explored``), the starved classes, and ``timings`` in seconds
        (``anchor_selection``, ``search``, ``aggregation``, ``filter``, ``strategy``,
        ``total``).

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

    In a modAL loop (after ``patch_modal()``), ``learner.query(pool, n_instances=5)`` does the
    same and reads the labelled set from the learner.
    """

    _parameter_constraints: ClassVar[dict] = {
        "pool_filter": [PoolFilter],
        "strategy": [RegistryName(STRATEGIES), callable],
        "strategy_params": [dict, None],
        "lookup": [RowLookup, None],
        "random_state": ["random_state"],
    }

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
        taught = labelled_ids is None  # the items themselves, as a modAL learner keeps them
        if taught:
            labelled_ids = self._ids(X_labelled, "X_training")
        labelled_ids = check_ids(labelled_ids, "labelled_ids", unique=not taught)
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if taught and labels.shape[:1] == labelled_ids.shape:
            # An item taught twice (a corrected label) counts once, with its last label.
            _, last = np.unique(labelled_ids[::-1], return_index=True)
            if last.size < labelled_ids.size:
                keep = np.sort(labelled_ids.size - 1 - last)
                twice = np.setdiff1d(np.arange(labelled_ids.size), keep)
                warnings.warn(
                    f"the labelled items hold {twice.size} item(s) twice (e.g. id "
                    f"{int(labelled_ids[twice[0]])}, taught again): the query uses each "
                    "item's last label",
                    UserWarning,
                    stacklevel=3,
                )
                labelled_ids, labels = labelled_ids[keep], labels[keep]
                if X_labelled is not None:
                    X_labelled = _safe_indexing(X_labelled, keep)
        return labelled_ids, labels, X_labelled

    def _rng(self) -> np.random.RandomState:
        if getattr(self, "random_state_", None) is None:
            self.random_state_ = check_random_state(self.random_state)
        return self.random_state_

    def _top_up(self, sorted_positions, pool_sorted, order, labelled_ids, need):
        """``need`` random rows of ``X_pool`` outside the subpool and the labelled set.

        ``sorted_positions`` are the subpool's positions in ``pool_sorted``; the draws are made
        there too and mapped to ``X_pool``'s rows by ``order`` at the end."""
        rng = self._rng()
        n_pool = pool_sorted.size
        taken = set(sorted_positions.tolist())
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

    def _reserved(self, subpool: Any, n_instances: int) -> np.ndarray:
        """Rows of the subpool drawn for exploration while a class has no labelled item: a
        uniform draw of its explored items, ``exploration_share * n_instances`` of them in
        expectation (the fraction rounded up with that probability); none otherwise."""
        info = subpool.info
        if not info["starved_classes"] or info["cold_start"]:
            return np.empty(0, dtype=np.int64)
        rows = np.flatnonzero(np.isin(subpool.ids, info["explored_ids"]))
        rng = self._rng()
        expected = float(info["exploration_share"]) * n_instances
        k = min(rows.size, int(expected) + int(rng.random_sample() < expected % 1))
        return np.sort(rng.choice(rows, k, replace=False)) if k else np.empty(0, dtype=np.int64)

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
    ) -> tuple[np.ndarray, np.ndarray]:
        """Select ``n_instances`` rows of ``X_pool``.

        Parameters
        ----------
        classifier : object
            The current model (or a modAL learner wrapping it), passed to the base strategy.
        X_pool : array-like
            The unlabelled pool: index ids, or rows that ``lookup`` maps to ids.
        n_instances : int, default=1
            How many rows to select.
        labelled_ids, labels, X_labelled : array-like, optional
            The labelled set, when ``classifier`` does not carry it (see the class docstring).
        **kwargs
            Passed on to the base strategy.

        Returns
        -------
        positions : ndarray of int64
            Positions of the selected rows in ``X_pool``, in the base strategy's order.
        scores : ndarray of float64
            The base strategy's score of each (NaN if it returned none).
        """
        t_start = time.perf_counter()
        self._validate_params()
        validate_parameter_constraints(
            _CALL_CONSTRAINTS, {"n_instances": n_instances}, f"{type(self).__name__}.__call__"
        )
        strategy = get_strategy(self.strategy)
        check_strategy_params(strategy, self.strategy_params)
        name = _describe_strategy(strategy, self.strategy)
        n_pool = _num_samples(X_pool)
        _check_pool_size(n_instances, n_pool, "X_pool")
        labelled_ids, labels, X_labelled = self._labelled(
            classifier, labelled_ids, labels, X_labelled
        )

        # Pool rows -> sorted unique ids (+ the permutation back to rows when unsorted).
        pool_ids = self._ids(X_pool, "X_pool", exclude=labelled_ids)
        index = self.pool_filter.index
        pool_sorted, order = sort_pool_ids(
            pool_ids, index if isinstance(index, VectorIndex) else None, "X_pool"
        )

        # Filter, then place the subpool in X_pool.
        t0 = time.perf_counter()
        subpool = self.pool_filter.select(
            labelled_ids, labels, model=classifier, X_labelled=X_labelled, pool_ids=pool_sorted
        )
        t_filter = time.perf_counter() - t0
        sub_sorted_pos = np.searchsorted(pool_sorted, subpool.ids)
        positions = sub_sorted_pos if order is None else order[sub_sorted_pos]
        sub_scores = np.asarray(subpool.scores, dtype=np.float64)
        n_topped_up = max(0, n_instances - positions.size)
        if n_topped_up:
            extra = self._top_up(sub_sorted_pos, pool_sorted, order, labelled_ids, n_topped_up)
            positions = np.concatenate([positions, extra])
            sub_scores = np.concatenate([sub_scores, np.full(extra.size, np.nan)])

        # A class with no labelled item is one the model cannot rank: while there is one, the
        # exploration share of the batch is drawn at random from the subpool's explored items.
        reserved = self._reserved(subpool, n_instances)
        rest = np.setdiff1d(np.arange(positions.size), reserved)
        n_strategy = n_instances - reserved.size

        # Base strategy on the subpool rows only, with the context its signature asks for.
        t0 = time.perf_counter()
        seed = int(self._rng().randint(np.iinfo(np.int32).max))
        named = _named_parameters(strategy)
        sub_positions, scores = np.empty(0, dtype=np.int64), np.empty(0)
        if n_strategy:
            context = {
                "random_state": seed,
                "pool_ids": pool_ids[positions[rest]],
                "index": index,
                "labelled_ids": labelled_ids,
                "labels": labels,
                "X_labelled": X_labelled,
                "subpool_scores": sub_scores[rest],
            }
            result = strategy(
                classifier,
                _safe_indexing(X_pool, positions[rest]),
                n_instances=n_strategy,
                **{
                    **{key: value for key, value in context.items() if key in named},
                    **(self.strategy_params or {}),
                    **kwargs,
                },
            )
            sub_positions, scores = _check_result(result, name, rest.size, n_strategy)
        t_strategy = time.perf_counter() - t0
        chosen = np.concatenate([positions[rest][sub_positions], positions[reserved]])
        scores = np.concatenate([scores, np.full(reserved.size, np.nan)])
        selected_ids = pool_ids[chosen]
        explored = subpool.info["explored_ids"]

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
            "exploration_share": float(subpool.info["exploration_share"]),
            "n_explored": int(subpool.info["n_explored"]),
            "n_selected_explored": int(np.isin(selected_ids, explored).sum()),
            "n_reserved_explored": int(reserved.size),
            "starved_classes": list(subpool.info["starved_classes"]),
            "selected_ids": selected_ids,
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
        return chosen, scores
