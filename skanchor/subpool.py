"""Pool filters: which unlabelled items the query strategy gets to score this round.

One interface, four implementations:

- :class:`AnchorSubpool` — AnchorAL (Lesci & Vlachos, 2024, Algorithm 1): per-class anchors,
  their K nearest unlabelled neighbours, mean similarity, top-M; optionally per-class A, K, M,
  an exploration share drawn outside the anchored neighbourhoods and a share retrieved along
  a linear probe's class directions.
- :class:`RandomSubpool` — RandSub (Ertekin et al., 2007): M items uniformly at random.
- :class:`SEALSSubpool` — SEALS (Coleman et al., 2022): the union of the K nearest neighbours
  of every labelled item; grows with each newly labelled item.
- :class:`FullPool` — No-Op: the whole pool.

Every filter's :meth:`~PoolFilter.select` takes the labelled ids and labels (ids into the
filter's :class:`~skanchor.index.VectorIndex`) and returns a :class:`Subpool`: ids sorted by
decreasing score (ties: smaller id first), their scores, and ``info`` with the anchors, the
candidate count, the exploration draw and the time of each phase (``anchor_selection``,
``search``, ``aggregation``, in seconds). The last result is also kept as ``last_subpool_``.
Constructor parameters are checked once per ``select`` (scikit-learn's
``_parameter_constraints``).

Labelled items are hidden from the index's search by masking: each ``select`` makes the
index's mask exactly the labelled set it is given (:meth:`VectorIndex.set_mask`, cost
O(labelled items)), so one index serves run after run, and filters compared on the same
labelled set can share it. Items that must never be proposed but are not labelled (a test
split stored in the index) are excluded by passing ``pool_ids``, not by masking.
"""

from __future__ import annotations

import abc
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import RidgeClassifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _num_samples

from skanchor._params import PerClass, RoundState, check_per_class_keys, label_key, per_class
from skanchor._validation import check_ids
from skanchor.anchors import (
    ANCHOR_STRATEGY_CONSTRAINTS,
    DEFAULT_ANCHOR_STRATEGY,
    DEFAULT_N_ANCHORS,
    N_ANCHORS_CONSTRAINTS,
    _resolve_strategy,
    _select_class_anchors,
    check_labels,
)
from skanchor.index.base import VectorIndex

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_N_NEIGHBOURS",
    "PAPER_CONFIGURATION",
    "AnchorSubpool",
    "FullPool",
    "PoolFilter",
    "RandomSubpool",
    "SEALSSubpool",
    "StarvedClassWarning",
    "Subpool",
]

PHASES = ("anchor_selection", "search", "aggregation")

#: Neighbours retrieved per anchor (K) when nothing else is said: the paper's value.
DEFAULT_N_NEIGHBOURS = 50

#: Largest anchored subpool (M) when nothing else is said: the paper's value.
DEFAULT_MAX_SIZE = 1000

#: The plain paper configuration of :class:`AnchorSubpool` (App. A.3: A = 10, K = 50,
#: M = 1,000, k-means++ anchors; no linear-probe share, and no exploration even when
#: ``classes`` names a starved class), the reference every other configuration is measured
#: against:
#: ``AnchorSubpool(index, **PAPER_CONFIGURATION, random_state=seed)``.
PAPER_CONFIGURATION: Mapping[str, Any] = MappingProxyType(
    {
        "n_anchors": DEFAULT_N_ANCHORS,
        "n_neighbours": DEFAULT_N_NEIGHBOURS,
        "max_size": DEFAULT_MAX_SIZE,
        "anchor_strategy": DEFAULT_ANCHOR_STRATEGY,
        "exploration": 0.0,
        "probe": 0.0,
    }
)

_POSITIVE_INT = Interval(Integral, 1, None, closed="left")

# Stream number of the exploration draw, derived from each round's anchor seed, so that the
# anchors of a round do not depend on whether (or how much) it explores.
_EXPLORATION_STREAM = 1

# The linear probe of ``AnchorSubpool(probe=...)``: ridge regression on +-1 targets with
# balanced class weights, solved in closed form (O(L d^2 + d^3) per round, d the embedding size).
_PROBE_PARAMS: Mapping[str, Any] = MappingProxyType({"alpha": 1.0, "class_weight": "balanced"})


class StarvedClassWarning(UserWarning):
    """A class of the task has no labelled item, so AnchorAL has no anchor for it.

    Its items enter the subpool only as neighbours of other classes' anchors, or through
    :class:`AnchorSubpool`'s exploration share.
    """


@dataclass
class Subpool:
    """The result of a pool filter.

    Attributes
    ----------
    ids : ndarray of int64
        Index ids of the subpool, sorted by decreasing ``scores`` (ties: smaller id first).
    scores : ndarray of float64
        The filter's score of each id (AnchorAL: mean similarity to the anchors that retrieved
        it — to all anchors for an exploration draw; SEALS: highest similarity to a labelled
        item; RandSub/No-Op: 0).
    info : dict
        ``filter`` (name), ``anchors`` (anchor ids), ``anchor_classes`` (their classes),
        ``n_candidates`` (distinct items retrieved before the top-M cut), ``cold_start``
        (bool), ``exploration_share`` (the share of the subpool's slots drawn at random),
        ``explored_ids`` (sorted ids of those draws), ``n_explored`` (their number),
        ``probed_ids`` and ``n_probed`` (the same for the linear-probe share),
        ``starved_classes`` (listed classes without a labelled item) and ``timings``
        (seconds per phase in :data:`PHASES`).
    """

    ids: np.ndarray
    scores: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.ids.size)


def _rank(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by decreasing score, ties by increasing id (deterministic)."""
    order = np.lexsort((ids, -scores))
    return ids[order], scores[order]


def _in_sorted(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``ids`` occur in the sorted array ``sorted_ids``. O(len(ids) log N)."""
    if sorted_ids.size == 0:
        return np.zeros(ids.shape, dtype=bool)
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos == sorted_ids.size] = 0
    return sorted_ids[pos] == ids


#: AnchorSubpool's parameters that may be given per class (``{class: value}``).
_PER_CLASS = ("n_anchors", "n_neighbours", "max_size", "anchor_strategy")

#: The most a neighbour search is widened (times K) when ``pool_ids`` is a part of the index's
#: live items: the search then finds about K pool items per query, and stays bounded.
_MAX_WIDENING = 10


def _search_pool(
    index: VectorIndex, queries: np.ndarray, k: int, pool_ids: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's nearest live items, and each hit's rank among the query's hits inside
    ``pool_ids`` (1, 2, ...; 0 outside it). With a pool that is only a part of the live items
    (a test split stored in the index), ``k`` is widened by live items per pool item (at most
    :data:`_MAX_WIDENING` times), so that ranks 1..k are about the k nearest pool items, as if
    the rest were masked; with the whole index as the pool, this is the plain k search."""
    live = len(index)
    width = k
    if pool_ids is not None and 0 < pool_ids.size < live:
        width = min(live, -(-k * live // pool_ids.size), _MAX_WIDENING * k)
    ids, sims = index.search(queries, width)
    inside = np.ones(ids.shape, dtype=bool) if pool_ids is None else _in_sorted(pool_ids, ids)
    rank = np.where(inside, np.cumsum(inside, axis=1), 0)
    return ids, sims, rank


def _mean_by_id(ids: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``ids`` (sorted) and the mean of their ``sims`` (Algorithm 1, line 8)."""
    cand, inverse = np.unique(ids, return_inverse=True)
    scores = np.bincount(inverse, weights=sims, minlength=cand.size) / np.bincount(
        inverse, minlength=cand.size
    )
    return cand, scores


def _probe_directions(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One row per labelled class but the most frequent: the direction along which a linear
    probe fitted on the labelled ``vectors`` scores that class (rows of a balanced
    :class:`~sklearn.linear_model.RidgeClassifier`'s ``coef_``). Needs two labelled classes."""
    probe = RidgeClassifier(**_PROBE_PARAMS).fit(vectors, labels)
    counts = np.array([np.count_nonzero(labels == c) for c in probe.classes_])
    coef = np.atleast_2d(probe.coef_)
    if counts.size == 2:  # one row, for classes_[1]; classes_[0] scores along its negation
        coef = np.vstack([-coef[0], coef[0]])
    coef = coef[np.arange(counts.size) != int(np.argmax(counts))]
    # no direction where the classes' labelled vectors do not differ (the same text
    # labelled both ways): such a class has no probe share this round
    return coef[np.linalg.norm(coef, axis=1) > 0].astype(np.float32)


def _draw_outside(
    rng: np.random.Generator, pool: np.ndarray, exclude: np.ndarray, size: int
) -> np.ndarray:
    """Up to ``size`` ids of the sorted ``pool`` outside the sorted ``exclude``, uniformly
    without replacement; sorted.

    Rejection sampling: positions are drawn with replacement, excluded and repeated ids are
    dropped, and the first ``size`` survivors kept (a uniform sample), so the cost is
    O(size log(size + len(exclude))) while ``exclude`` is a small part of ``pool``. Only when
    it covers most of ``pool`` (then a small pool) does it fall back to the set difference.
    """
    if size <= 0 or pool.size == 0:
        return np.empty(0, dtype=np.int64)
    chosen = np.empty(0, dtype=np.int64)
    for _ in range(8):
        need = size - chosen.size
        drawn = pool[rng.integers(0, pool.size, size=2 * need + 16)]
        drawn = drawn[~_in_sorted(exclude, drawn)]
        _, first = np.unique(drawn, return_index=True)
        drawn = drawn[np.sort(first)]  # draw order kept: the survivors stay a uniform sample
        drawn = drawn[~_in_sorted(np.sort(chosen), drawn)]
        chosen = np.concatenate([chosen, drawn[:need]])
        if chosen.size == size:
            return np.sort(chosen)
    rest = pool[~_in_sorted(exclude, pool)]
    rest = rest[~_in_sorted(np.sort(chosen), rest)]
    extra = rng.choice(rest, size=min(size - chosen.size, rest.size), replace=False)
    return np.sort(np.concatenate([chosen, extra]).astype(np.int64))


class PoolFilter(RoundState, BaseEstimator, abc.ABC):
    """Base class of the pool filters (see the module docstring for the protocol).

    ``set_params`` drops the state built from the old parameters (the random stream, SEALS's
    neighbour cache): the next ``select`` starts afresh with the new ones."""

    #: Name recorded in ``Subpool.info["filter"]``.
    name: str = "filter"

    _parameter_constraints: ClassVar[dict] = {"index": [VectorIndex]}

    def __init__(self, index: VectorIndex | None = None):
        self.index = index

    # -- the protocol -------------------------------------------------------------------
    def select(
        self,
        labelled_ids: Any,
        labels: Any,
        *,
        model: Any = None,
        X_labelled: Any = None,
        pool_ids: np.ndarray | None = None,
    ) -> Subpool:
        """Choose this round's subpool.

        Parameters
        ----------
        labelled_ids : array-like of int
            Index ids of the labelled items (unique, all stored in the index).
        labels : array-like
            Their labels, aligned with ``labelled_ids`` (no ``None`` or NaN).
        model : classifier, optional
            The current model; needed only by "entropy" anchors (``predict_proba``).
        X_labelled : any, optional
            The labelled items as ``model`` takes them, aligned with ``labelled_ids``;
            defaults to ``labelled_ids``.
        pool_ids : array-like of int, optional
            Ids of the current unlabelled pool (sorted here if they are not; every one must
            be in the index); the subpool is restricted to it. Without it, every live
            (unmasked) item of the index is the pool.

        Returns
        -------
        Subpool
            The subpool, its scores and ``info``.
        """
        self._validate_params()
        labelled_ids, labels = self._check_labelled(labelled_ids, labels)
        if X_labelled is not None and _num_samples(X_labelled) != labelled_ids.size:
            raise ValueError(
                f"X_labelled has {_num_samples(X_labelled)} rows but labelled_ids has "
                f"{labelled_ids.size} ids: they must be aligned"
            )
        if pool_ids is not None:  # sorted and known: filters search it by bisection
            pool_ids = check_ids(pool_ids, "pool_ids", unique=False)
            if pool_ids.size > 1 and not (pool_ids[1:] > pool_ids[:-1]).all():
                pool_ids = np.unique(pool_ids)
            missing = self.index.first_missing(pool_ids, assume_sorted=True)
            if missing is not None:
                raise ValueError(f"pool_ids holds id {missing}, which the index does not hold")
        timings = dict.fromkeys(PHASES, 0.0)
        result = self._select(
            labelled_ids,
            labels,
            model=model,
            X_labelled=X_labelled,
            pool_ids=pool_ids,
            timings=timings,
        )
        result.info.setdefault("anchors", np.empty(0, dtype=np.int64))
        result.info.setdefault("anchor_classes", np.empty(0, dtype=object))
        result.info.setdefault("n_candidates", len(result))
        result.info.setdefault("cold_start", False)
        result.info.setdefault("exploration_share", 0.0)
        result.info.setdefault("explored_ids", np.empty(0, dtype=np.int64))
        result.info["n_explored"] = int(result.info["explored_ids"].size)
        result.info.setdefault("probed_ids", np.empty(0, dtype=np.int64))
        result.info["n_probed"] = int(result.info["probed_ids"].size)
        result.info.setdefault("starved_classes", [])
        result.info["filter"] = self.name
        result.info["timings"] = timings
        self.last_subpool_ = result
        return result

    @abc.abstractmethod
    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings) -> Subpool:
        """Filter-specific work; fill ``timings`` for the phases it runs."""

    # -- shared helpers -----------------------------------------------------------------
    def _check_labelled(self, labelled_ids: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        index = self.index
        if index.n_items == 0:
            raise ValueError("index is empty: add the pool's vectors before selecting")
        labelled_ids = check_ids(labelled_ids, "labelled_ids")
        labels = check_labels(labels)
        if labels.shape[0] != labelled_ids.shape[0]:
            raise ValueError(
                f"labels must be aligned with labelled_ids ({labelled_ids.shape[0]} ids), "
                f"got {labels.shape[0]} labels"
            )
        if labelled_ids.size:
            known = index.contains(labelled_ids)
            if not known.all():
                raise ValueError(
                    f"labelled_ids holds ids unknown to the index, e.g. "
                    f"{labelled_ids[~known][:5].tolist()}"
                )
        return labelled_ids, labels

    def _rng(self) -> np.random.RandomState:
        """The filter's random stream, created from ``random_state`` on first use."""
        if getattr(self, "random_state_", None) is None:
            self.random_state_ = check_random_state(getattr(self, "random_state", None))
        return self.random_state_

    def _live_pool(self, labelled_ids: np.ndarray, pool_ids: np.ndarray | None) -> np.ndarray:
        """Sorted ids of unlabelled pool items: ``pool_ids`` minus labelled ids, or the index's
        live items. O(N): used by the filters that must see the whole pool."""
        if pool_ids is None:
            ids = self.index.ids()
            return ids[~self.index.is_masked(ids)]
        return pool_ids[~np.isin(pool_ids, labelled_ids)]

    def _random_subset(
        self, labelled_ids: np.ndarray, pool_ids: np.ndarray | None, size: int
    ) -> np.ndarray:
        """Up to ``size`` unlabelled pool ids drawn uniformly at random.

        With ``pool_ids`` this draws positions in O(size) and rejects labelled ones, so it
        never touches the whole pool (``pool_ids`` is read, not scanned).
        """
        rng = self._rng()
        if pool_ids is None:
            live = self._live_pool(labelled_ids, None)
            take = min(size, live.size)
            return np.sort(live[rng.choice(live.size, take, replace=False)])
        take = min(size + labelled_ids.size, pool_ids.size)
        drawn = np.sort(pool_ids[rng.choice(pool_ids.size, take, replace=False)])
        drawn = drawn[~_in_sorted(np.sort(labelled_ids), drawn)]
        if drawn.size > size:
            drawn = np.sort(drawn[rng.choice(drawn.size, size, replace=False)])
        return drawn


_PER_CLASS_INT = [_POSITIVE_INT, PerClass(_POSITIVE_INT)]


class AnchorSubpool(PoolFilter):
    """AnchorAL's anchored subpool (Algorithm 1, lines 3-9), with discovery knobs.

    Each round: up to ``n_anchors`` anchors per class among the labelled items
    (``anchor_strategy``), the ``n_neighbours`` nearest unlabelled items of each anchor from
    the index, each candidate scored by its mean similarity over the anchors that retrieved
    it, and the top ``min(n_candidates, max_size)`` kept. The work is O(A·C·K + L·d) per round
    (L labelled items), independent of the pool size.

    **The paper's configuration** is what ``AnchorSubpool(index)`` does with integer
    ``n_anchors``, ``n_neighbours`` and ``max_size`` and without ``classes``: A = 10, K = 50,
    M = 1,000, k-means++ anchors, no exploration. It is the reference every other
    configuration is measured against, and it stays exactly what it was (same subpools for
    the same seed); :data:`PAPER_CONFIGURATION` names it
    (``AnchorSubpool(index, **PAPER_CONFIGURATION)`` never explores, whatever ``classes``).

    **Per-class knobs.** Minority and majority classes may differ in every knob:
    ``anchor_strategy``, ``n_anchors`` (A), ``n_neighbours`` (K) and ``max_size`` (M) each take
    one value or a ``{class: value}`` mapping; classes a mapping does not list get the default
    (:data:`~skanchor.anchors.DEFAULT_ANCHOR_STRATEGY`, :data:`~skanchor.anchors.DEFAULT_N_ANCHORS`,
    :data:`DEFAULT_N_NEIGHBOURS`, :data:`DEFAULT_MAX_SIZE`). Per-class A and K change how many
    anchors a class gets and how far each one searches; the aggregation stays the paper's.
    A ``max_size`` mapping switches to **per-class ranking**: each class's candidates (the
    items its own anchors retrieved) are scored by their mean similarity to those anchors
    only, the top ``max_size[c]`` of each class are kept, and the union (an item kept by
    several classes counted once, with its highest score) is the subpool, at most
    ``sum(max_size[c])`` items. A class's quota is then its own: a large majority class can
    no longer crowd the minority's neighbourhood out of the top M.

    **Starved classes and exploration.** A class with no labelled item has no anchor: AnchorAL
    only sees its items when they happen to neighbour another class's anchors, and can miss it
    for good (on iris, labels of two classes and BADGE never found the third in 18 queries).
    Pass ``classes`` (every label the task has) and each ``select`` warns
    (:class:`StarvedClassWarning`) naming the classes without a labelled item. The
    ``exploration`` share of the subpool's slots (M, or the sum of the listed classes' M_c)
    is drawn uniformly at random from the pool *outside* the anchored neighbourhoods (every
    candidate the anchors retrieved is excluded), and the anchored part gives up the same
    share of its slots (of M, or of each class's M_c). The draw costs O(M log M) from the
    sorted pool ids (it never reads the whole pool) and uses its own random stream, so a
    round's anchors are the same with or without exploration. ``info["explored_ids"]`` lists
    the draws; their score is their mean similarity to all anchors. While a class is starved,
    :class:`~skanchor.AnchoredQueryStrategy` also draws that share of each batch from them: a
    model that knows nothing of the class would rarely rank its items first.

    The default, ``exploration="auto"``, is the paper's configuration (share 0) unless
    ``classes`` names a class without labelled items; then the share is the starved classes'
    fraction of the classes (1/3 for one of three), the share of the subpool an anchored class
    would get. Why: without ``classes`` nothing says a class is missing and the paper's
    subpool is kept bit for bit; with them, a class that AnchorAL cannot anchor on would
    otherwise be found only by chance, and a silent miss costs more than a share of
    exploration. A float share explores always (e.g. ``0.1`` for pockets of known classes
    that no anchor reaches); ``0.0`` never does (the warning stays).

    **The linear-probe share.** Anchors find what lies *near* known items; a rare class spread
    thinly across the space (a sentiment, a style) is not near anything. ``probe`` is a share
    of the subpool's slots (given up by the anchored part, as for exploration) filled with the
    items that a linear probe fitted on the labelled items' vectors scores highest for each
    class but the most labelled one: a balanced ridge classifier (closed form,
    O(L·d² + d³) per round) whose class directions are searched in the index like anchors.
    On unit vectors in a cosine index the search ranks exactly by the probe's score, so the
    share holds both the likeliest items of the rare classes anywhere in the pool and the
    background items the probe confuses with them, at the cost of one search per direction,
    independent of the pool size. ``info["probed_ids"]`` lists them (items the anchored part
    already holds are skipped); their score is their mean similarity to all anchors. It needs
    two labelled classes (with one, the anchored part keeps every slot).

    Cold start: with no labelled item at all there is nothing to anchor on, so the subpool is
    ``max_size`` items (the sum of the listed classes' for a mapping) drawn uniformly at
    random from the pool (``info["cold_start"] = True``) — RandSub for a round.

    Parameters
    ----------
    index : VectorIndex
        The fixed index over the pool's (and labelled items') embeddings.
    n_anchors : int or dict, default=10
        Anchors per class (A), or ``{class: A}``.
    n_neighbours : int or dict, default=50
        Neighbours retrieved per anchor (K), or ``{class: K}`` for that class's anchors.
    max_size : int or dict, default=1000
        Largest subpool (M), or ``{class: M_c}`` for per-class ranking (see above).
    anchor_strategy : str or dict, default="kmeans++"
        "kmeans++", "random" or "entropy", or ``{class label: name}`` to use different
        strategies for, e.g., minority and majority classes (unlisted classes: "kmeans++").
    random_state : int, RandomState instance or None, default=None
        Seeds anchor selection, the exploration draws and the cold-start draw.
    classes : array-like, optional
        Every class label of the task (labels outside it are an error, and so are mapping
        keys outside it). Enables the starved-class warning and ``exploration="auto"``.
    exploration : float in [0, 1) or "auto", default="auto"
        Share of the subpool drawn at random outside the anchored neighbourhoods (see
        above).
    probe : float in [0, 1), default=0.0
        Share of the subpool taken by a linear probe's top-scored items (see above); 0 is
        the paper's subpool.

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor import AnchorSubpool, ExactIndex
    >>> rng = np.random.default_rng(0)
    >>> index = ExactIndex().add(rng.normal(size=(500, 16)))
    >>> subpool = AnchorSubpool(index, n_anchors=2, n_neighbours=20, max_size=30,
    ...                         random_state=0).select([0, 1, 2, 3], [0, 0, 1, 1])
    >>> len(subpool) <= 30, bool(np.isin(subpool.ids, [0, 1, 2, 3]).any())
    (True, False)

    The minority class (1) gets more anchors, a wider search and its own quota, and one
    third of the subpool explores for class 2, which has no label yet:

    >>> import warnings
    >>> rare = AnchorSubpool(index, n_anchors={1: 4}, n_neighbours={1: 40},
    ...                      max_size={0: 20, 1: 20, 2: 20}, classes=[0, 1, 2], random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     subpool = rare.select([0, 1, 2, 3], [0, 0, 1, 1])
    >>> subpool.info["starved_classes"], subpool.info["n_explored"], str(caught[0].message)[:40]
    ([2], 20, 'AnchorSubpool: no labelled item of class')
    """

    name = "anchoral"

    _parameter_constraints: ClassVar[dict] = {
        **PoolFilter._parameter_constraints,
        "n_anchors": N_ANCHORS_CONSTRAINTS,
        "n_neighbours": _PER_CLASS_INT,
        "max_size": _PER_CLASS_INT,
        "anchor_strategy": ANCHOR_STRATEGY_CONSTRAINTS,
        "random_state": ["random_state"],
        "classes": ["array-like", None],
        "exploration": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "probe": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        index: VectorIndex | None = None,
        n_anchors: int | Mapping = DEFAULT_N_ANCHORS,
        n_neighbours: int | Mapping = DEFAULT_N_NEIGHBOURS,
        max_size: int | Mapping = DEFAULT_MAX_SIZE,
        anchor_strategy: str | Mapping = DEFAULT_ANCHOR_STRATEGY,
        random_state: Any = None,
        classes: Any = None,
        exploration: float | str = "auto",
        probe: float = 0.0,
    ):
        self.index = index
        self.n_anchors = n_anchors
        self.n_neighbours = n_neighbours
        self.max_size = max_size
        self.anchor_strategy = anchor_strategy
        self.random_state = random_state
        self.classes = classes
        self.exploration = exploration
        self.probe = probe

    # -- classes ------------------------------------------------------------------------
    def _task_classes(self, labels: np.ndarray) -> tuple[list, list]:
        """(every class of the task, those without a labelled item); warns about the latter.

        Without ``classes`` the task's classes are the labelled ones and none is starved.
        """
        present = [label_key(c) for c in np.unique(labels)]
        if self.classes is None:
            # a key may name a class not labelled yet, but not one of another kind ("1" for 1)
            textual = {isinstance(c, str) for c in present}
            for name in _PER_CLASS:
                value = getattr(self, name)
                if isinstance(value, Mapping) and len(textual) == 1:
                    odd = [k for k in value if isinstance(label_key(k), str) not in textual]
                    if odd:
                        raise ValueError(
                            f"{name} has key {odd[0]!r}, of another kind than the labels "
                            f"({', '.join(map(repr, present[:5]))})"
                        )
            return present, []
        classes = [label_key(c) for c in np.unique(check_labels(self.classes, "classes"))]
        listed = set(classes)
        unknown = [c for c in present if c not in listed]
        if unknown:
            raise ValueError(f"labels holds class {unknown[0]!r}, which is not in classes")
        check_per_class_keys(self, _PER_CLASS, classes, "classes")
        starved = [c for c in classes if c not in set(present)]
        return classes, starved

    def _exploration_share(self, classes: list, starved: list) -> float:
        if self.exploration == "auto":  # of the slots the probe leaves
            return (len(starved) / len(classes) if classes else 0.0) * (1 - self.probe)
        if float(self.exploration) + self.probe >= 1:
            raise ValueError(
                f"exploration={self.exploration} and probe={self.probe} leave no slot to the "
                "anchored neighbourhoods: their sum must be below 1"
            )
        return float(self.exploration)

    # -- the round ----------------------------------------------------------------------
    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        index = self.index
        strategy = _resolve_strategy(self.anchor_strategy)
        classes, starved = self._task_classes(labels)
        share = self._exploration_share(classes, starved)
        per_class_m = isinstance(self.max_size, Mapping)
        if not per_class_m:
            slots = self.max_size
        elif classes:
            slots = sum(per_class(self.max_size, c, DEFAULT_MAX_SIZE) for c in classes)
        else:  # no labelled item and no ``classes``: the classes the mapping lists
            slots = sum(self.max_size.values()) or DEFAULT_MAX_SIZE
        if starved and labelled_ids.size:  # (a cold start is reported as such)
            warnings.warn(
                f"AnchorSubpool: no labelled item of class(es) {starved}: they get no anchors; "
                + (
                    f"exploration draws {share:.2g} of the subpool outside the anchored "
                    "neighbourhoods"
                    if share
                    else "exploration=0 never looks for them"
                ),
                StarvedClassWarning,
                stacklevel=3,
            )
        info = {"exploration_share": share, "starved_classes": starved}

        if labelled_ids.size == 0:
            t0 = time.perf_counter()
            ids = self._random_subset(labelled_ids, pool_ids, slots)
            timings["aggregation"] = time.perf_counter() - t0
            info.update(
                cold_start=True, n_candidates=int(ids.size), exploration_share=1.0, explored_ids=ids
            )
            return Subpool(ids, np.zeros(ids.size), info)

        # Anchor selection (lines 3-6).
        t0 = time.perf_counter()
        vectors = index.vectors(labelled_ids)
        proba = None
        uses_entropy = (
            (strategy == "entropy")
            if isinstance(strategy, str)
            else ("entropy" in strategy.values())
        )
        if uses_entropy:
            if model is None or not hasattr(model, "predict_proba"):
                raise TypeError(
                    "anchor_strategy 'entropy' needs a model with predict_proba, got "
                    f"{type(model).__name__}"
                )
            proba = model.predict_proba(labelled_ids if X_labelled is None else X_labelled)
        seed = int(self._rng().randint(np.iinfo(np.int32).max))
        by_class = _select_class_anchors(
            labels, vectors, self.n_anchors, strategy, random_state=seed, proba=proba
        )
        positions = np.concatenate(list(by_class.values()))
        anchor_classes = np.concatenate(
            [np.full(p.size, c, dtype=object) for c, p in by_class.items()]
        )
        anchors = labelled_ids[positions]
        probing = self.probe > 0 and np.unique(labels).size >= 2
        directions = _probe_directions(vectors, labels) if probing else None
        probing = probing and len(directions) > 0  # else its slots go to the anchors
        timings["anchor_selection"] = time.perf_counter() - t0

        # kNN of each anchor among unlabelled items (line 7): one search, with the largest K
        # when K differs between classes (each class then keeps its own first K columns).
        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        k_of = {c: per_class(self.n_neighbours, c, DEFAULT_N_NEIGHBOURS) for c in by_class}
        nn_ids, nn_sims, rank = _search_pool(
            index, vectors[positions], max(k_of.values()), pool_ids
        )
        bounds = np.cumsum([0] + [p.size for p in by_class.values()])
        hits = {  # each anchor's first K(class) neighbours in the pool, flat
            c: (rank[a:b] >= 1) & (rank[a:b] <= k_of[c])
            for c, a, b in zip(by_class, bounds[:-1], bounds[1:], strict=True)
        }
        if isinstance(self.n_neighbours, Mapping) or per_class_m:
            found = {
                c: (nn_ids[a:b][hits[c]], nn_sims[a:b][hits[c]])
                for c, a, b in zip(by_class, bounds[:-1], bounds[1:], strict=True)
            }
        else:
            keep = np.concatenate(list(hits.values()))
            found = {None: (nn_ids[keep], nn_sims[keep])}
        timings["search"] = time.perf_counter() - t0

        def anchored_quota(m: int) -> int:  # the slots of M left to the anchored candidates
            return m - int(share * m) - (int(self.probe * m) if probing else 0)

        # Mean similarity per distinct candidate, top-M (lines 8-9).
        t0 = time.perf_counter()
        probe_time = 0.0
        retrieved = np.unique(np.concatenate([ids.ravel() for ids, _ in found.values()]))
        n_candidates = int(retrieved.size)
        if per_class_m:
            kept = []
            for c, (ids, sims) in found.items():
                cand, scores = _mean_by_id(ids.ravel(), sims.ravel().astype(np.float64))
                if pool_ids is not None:
                    keep = _in_sorted(pool_ids, cand)
                    cand, scores = cand[keep], scores[keep]
                m_c = per_class(self.max_size, c, DEFAULT_MAX_SIZE)
                cand, scores = _rank(cand, scores)
                kept.append((cand[: anchored_quota(m_c)], scores[: anchored_quota(m_c)]))
            cand, scores = _rank(
                np.concatenate([ids for ids, _ in kept]),
                np.concatenate([sims for _, sims in kept]),
            )
            _, first = np.unique(cand, return_index=True)  # highest score of each item
            cand, scores = _rank(cand[first], scores[first])
        else:
            flat_ids = np.concatenate([ids.ravel() for ids, _ in found.values()])
            flat_sims = np.concatenate([sims.ravel() for _, sims in found.values()])
            cand, scores = _mean_by_id(flat_ids, flat_sims.astype(np.float64))
            if pool_ids is not None:
                keep = _in_sorted(pool_ids, cand)
                cand, scores = cand[keep], scores[keep]
            cand, scores = _rank(cand, scores)
            cand, scores = cand[: anchored_quota(slots)], scores[: anchored_quota(slots)]

        n_probe = int(self.probe * slots) if probing else 0
        if n_probe:
            t1 = time.perf_counter()
            probed = self._probe_search(directions, n_probe, np.sort(cand), pool_ids)
            probe_time = time.perf_counter() - t1
            sims = index.vectors(probed).astype(np.float64) @ vectors[positions].T
            cand, scores = _rank(
                np.concatenate([cand, probed]), np.concatenate([scores, sims.mean(axis=1)])
            )
            retrieved = np.union1d(retrieved, probed)
            info["probed_ids"] = np.sort(probed)

        n_explore = int(share * slots)
        if n_explore:
            rng = np.random.default_rng([seed, _EXPLORATION_STREAM])
            pool = self._live_pool(labelled_ids, None) if pool_ids is None else pool_ids
            explored = _draw_outside(rng, pool, np.union1d(retrieved, labelled_ids), n_explore)
            sims = index.vectors(explored).astype(np.float64) @ vectors[positions].T
            cand, scores = _rank(
                np.concatenate([cand, explored]), np.concatenate([scores, sims.mean(axis=1)])
            )
            info["explored_ids"] = explored
        timings["search"] += probe_time
        timings["aggregation"] = time.perf_counter() - t0 - probe_time
        info.update(anchors=anchors, anchor_classes=anchor_classes, n_candidates=n_candidates)
        return Subpool(cand, scores, info)

    def _probe_search(
        self, directions: np.ndarray, size: int, taken: np.ndarray, pool_ids: np.ndarray | None
    ) -> np.ndarray:
        """Up to ``size`` pool items outside the sorted ``taken`` that score highest along
        ``directions`` (best ranks first, taking each direction's in turn). The search widens
        (doubling k) while items outside the pool or already taken leave it short."""
        k = -(-size // len(directions)) + taken.size
        while True:
            found, _ = self.index.search(directions, k)
            probed = found.T.ravel()  # rank by rank across the directions
            if pool_ids is not None:
                probed = probed[_in_sorted(pool_ids, probed)]
            probed = probed[~_in_sorted(taken, probed)]
            _, first = np.unique(probed, return_index=True)
            probed = probed[np.sort(first)]
            if probed.size >= size or found.shape[1] < k or k >= 8 * (size + taken.size):
                return probed[:size]
            k *= 2


class RandomSubpool(PoolFilter):
    """RandSub (Ertekin et al., 2007): ``max_size`` unlabelled items uniformly at random.

    A fresh subset each round, from the filter's own random stream. O(M) per round when the
    pool is given as sorted ids (as :class:`~skanchor.AnchoredQueryStrategy` does).

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor import ExactIndex, RandomSubpool
    >>> index = ExactIndex().add(np.random.default_rng(0).normal(size=(100, 8)))
    >>> len(RandomSubpool(index, max_size=10, random_state=0).select([0, 1], [0, 1]))
    10
    """

    name = "randsub"

    _parameter_constraints: ClassVar[dict] = {
        **PoolFilter._parameter_constraints,
        "max_size": [_POSITIVE_INT],
        "random_state": ["random_state"],
    }

    def __init__(
        self, index: VectorIndex | None = None, max_size: int = 10_000, random_state: Any = None
    ):
        self.index = index
        self.max_size = max_size
        self.random_state = random_state

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        ids = self._random_subset(labelled_ids, pool_ids, self.max_size)
        timings["aggregation"] = time.perf_counter() - t0
        return Subpool(ids, np.zeros(ids.size))


class SEALSSubpool(PoolFilter):
    """SEALS (Coleman et al., 2022): the K nearest unlabelled neighbours of the labelled set.

    Stateful: each newly labelled item's ``n_neighbours`` nearest unlabelled items join the
    candidate set (``candidates_``, id -> highest similarity to a labelled item), which never
    shrinks except when its items get labelled. A labelled set that is not a superset of the
    one seen before (a new run) restarts the state. Per round the search covers only the new
    labelled items, but the subpool grows by up to K per labelled item, so the strategy's cost
    grows over the run. With no labelled item the subpool is empty.

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor import ExactIndex, SEALSSubpool
    >>> index = ExactIndex().add(np.random.default_rng(0).normal(size=(100, 8)))
    >>> seals = SEALSSubpool(index, n_neighbours=5)
    >>> len(seals.select([0], [1])), len(seals.select([0, 1], [1, 0])) <= 10
    (5, True)
    """

    name = "seals"

    _parameter_constraints: ClassVar[dict] = {
        **PoolFilter._parameter_constraints,
        "n_neighbours": [_POSITIVE_INT],
    }
    _round_state: ClassVar[tuple[str, ...]] = (
        *PoolFilter._round_state,
        "candidates_",
        "seen_labelled_",
    )

    def __init__(self, index: VectorIndex | None = None, n_neighbours: int = DEFAULT_N_NEIGHBOURS):
        self.index = index
        self.n_neighbours = n_neighbours

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        k = self.n_neighbours
        seen = getattr(self, "seen_labelled_", None)
        labelled = set(labelled_ids.tolist())
        if seen is None or not seen <= labelled:
            seen, self.candidates_ = set(), {}
        candidates = self.candidates_

        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        new = np.fromiter(labelled - seen, dtype=np.int64)
        if new.size:
            nn_ids, nn_sims, rank = _search_pool(
                self.index, self.index.vectors(np.sort(new)), k, pool_ids
            )
            hit = (rank >= 1) & (rank <= k)  # each labelled item's k nearest pool items
            for i, s in zip(nn_ids[hit].tolist(), nn_sims[hit].tolist(), strict=True):
                if s > candidates.get(i, -np.inf):
                    candidates[i] = s
        timings["search"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for i in labelled - seen:
            candidates.pop(i, None)
        self.seen_labelled_ = labelled
        ids = np.fromiter(candidates.keys(), dtype=np.int64, count=len(candidates))
        scores = np.fromiter(candidates.values(), dtype=np.float64, count=len(candidates))
        n_candidates = int(ids.size)
        if pool_ids is not None:
            keep = _in_sorted(pool_ids, ids)
            ids, scores = ids[keep], scores[keep]
        ids, scores = _rank(ids, scores)
        timings["aggregation"] = time.perf_counter() - t0
        return Subpool(ids, scores, {"n_candidates": n_candidates})


class FullPool(PoolFilter):
    """No-Op: the whole unlabelled pool (O(N) per round — the baseline AnchorAL avoids).

    Examples
    --------
    >>> import numpy as np
    >>> from skanchor import ExactIndex, FullPool
    >>> index = ExactIndex().add(np.random.default_rng(0).normal(size=(50, 4)))
    >>> len(FullPool(index).select([0, 1], [0, 1]))
    48
    """

    name = "noop"

    def __init__(self, index: VectorIndex | None = None):
        self.index = index

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        ids = self._live_pool(labelled_ids, pool_ids)
        timings["aggregation"] = time.perf_counter() - t0
        return Subpool(ids, np.zeros(ids.size))
