"""Pool filters: which unlabelled items the query strategy gets to score this round.

One interface, four implementations:

- :class:`AnchorSubpool` — AnchorAL (Lesci & Vlachos, 2024, Algorithm 1): per-class anchors,
  their K nearest unlabelled neighbours, mean similarity, top-M.
- :class:`RandomSubpool` — RandSub (Ertekin et al., 2007): M items uniformly at random.
- :class:`SEALSSubpool` — SEALS (Coleman et al., 2022): the union of the K nearest neighbours
  of every labelled item; grows with each newly labelled item.
- :class:`FullPool` — No-Op: the whole pool.

Every filter's :meth:`~PoolFilter.select` takes the labelled ids and labels (ids into the
filter's :class:`~skanchor.index.VectorIndex`) and returns a :class:`Subpool`: ids sorted by
decreasing score (ties: smaller id first), their scores, and ``info`` with the anchors, the
candidate count and the time of each phase (``anchor_selection``, ``search``,
``aggregation``, in seconds). The last result is also kept as ``last_subpool_``.

Labelled items are hidden from the index's search by masking: each ``select`` makes the
index's mask exactly the labelled set it is given (:meth:`VectorIndex.set_mask`, cost
O(labelled items)), so one index serves run after run, and filters compared on the same
labelled set can share it. Items that must never be proposed but are not labelled (a test
split stored in the index) are excluded by passing ``pool_ids``, not by masking.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from skanchor._validation import check_ids, check_positive_int
from skanchor.anchors import check_anchor_strategy, select_class_anchors
from skanchor.index.base import VectorIndex

__all__ = [
    "AnchorSubpool",
    "FullPool",
    "PoolFilter",
    "RandomSubpool",
    "SEALSSubpool",
    "Subpool",
]

PHASES = ("anchor_selection", "search", "aggregation")


@dataclass
class Subpool:
    """The result of a pool filter.

    Attributes
    ----------
    ids : ndarray of int64
        Index ids of the subpool, sorted by decreasing ``scores`` (ties: smaller id first).
    scores : ndarray of float64
        The filter's score of each id (AnchorAL: mean similarity to the anchors that retrieved
        it; SEALS: highest similarity to a labelled item; RandSub/No-Op: 0).
    info : dict
        ``filter`` (name), ``anchors`` (anchor ids), ``anchor_classes`` (their classes),
        ``n_candidates`` (distinct items retrieved before the top-M cut), ``cold_start``
        (bool) and ``timings`` (seconds per phase in :data:`PHASES`).
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


class PoolFilter(BaseEstimator, abc.ABC):
    """Base class of the pool filters (see the module docstring for the protocol)."""

    #: Name recorded in ``Subpool.info["filter"]``.
    name: str = "filter"

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
            Their labels, aligned with ``labelled_ids``.
        model : classifier, optional
            The current model; needed only by "entropy" anchors (``predict_proba``).
        X_labelled : any, optional
            The labelled items as ``model`` takes them; defaults to ``labelled_ids``.
        pool_ids : ndarray of int64, optional
            Sorted ids of the current unlabelled pool; the subpool is restricted to it.
            Without it, every live (unmasked) item of the index is the pool.
        """
        labelled_ids, labels = self._check_labelled(labelled_ids, labels)
        if pool_ids is not None:
            pool_ids = np.asarray(pool_ids, dtype=np.int64)
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
        result.info["filter"] = self.name
        result.info["timings"] = timings
        self.last_subpool_ = result
        return result

    @abc.abstractmethod
    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings) -> Subpool:
        """Filter-specific work; fill ``timings`` for the phases it runs."""

    # -- shared helpers -----------------------------------------------------------------
    def _check_index(self) -> VectorIndex:
        if not isinstance(self.index, VectorIndex):
            raise TypeError(
                f"index must be a skanchor VectorIndex (e.g. HNSWIndex), got "
                f"{type(self.index).__name__}"
            )
        if self.index.n_items == 0:
            raise ValueError("index is empty: add the pool's vectors before selecting")
        return self.index

    def _check_labelled(self, labelled_ids: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        index = self._check_index()
        labelled_ids = check_ids(labelled_ids, "labelled_ids")
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != labelled_ids.shape[0]:
            raise ValueError(
                f"labels must be 1-d and aligned with labelled_ids ({labelled_ids.shape[0]} ids),"
                f" got shape {labels.shape}"
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


class AnchorSubpool(PoolFilter):
    """AnchorAL's anchored subpool (Algorithm 1, lines 3-9).

    Each round: up to ``n_anchors`` anchors per class among the labelled items
    (``anchor_strategy``), the ``n_neighbours`` nearest unlabelled items of each anchor from
    the index, each candidate scored by its mean similarity over the anchors that retrieved
    it, and the top ``min(n_candidates, max_size)`` kept. The work is O(A·C·K + L·d) per round
    (L labelled items), independent of the pool size.

    Cold start: a class without labelled items contributes no anchors. With no labelled item
    at all there is nothing to anchor on, so the subpool is ``max_size`` items drawn
    uniformly at random from the pool (``info["cold_start"] = True``) — RandSub for a round.

    Parameters
    ----------
    index : VectorIndex
        The fixed index over the pool's (and labelled items') embeddings.
    n_anchors : int, default=10
        Anchors per class (A).
    n_neighbours : int, default=50
        Neighbours retrieved per anchor (K).
    max_size : int, default=1000
        Largest subpool (M).
    anchor_strategy : str or dict, default="kmeans++"
        "kmeans++", "random" or "entropy", or ``{class label: name}`` to use different
        strategies for, e.g., minority and majority classes (unlisted classes: "kmeans++").
    random_state : int, RandomState instance or None, default=None
        Seeds anchor selection (and the cold-start draw).

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
    """

    name = "anchoral"

    def __init__(
        self,
        index: VectorIndex | None = None,
        n_anchors: int = 10,
        n_neighbours: int = 50,
        max_size: int = 1000,
        anchor_strategy: str | Mapping = "kmeans++",
        random_state: Any = None,
    ):
        self.index = index
        self.n_anchors = n_anchors
        self.n_neighbours = n_neighbours
        self.max_size = max_size
        self.anchor_strategy = anchor_strategy
        self.random_state = random_state

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        n_anchors = check_positive_int(self.n_anchors, "n_anchors")
        k = check_positive_int(self.n_neighbours, "n_neighbours")
        max_size = check_positive_int(self.max_size, "max_size")
        strategy = check_anchor_strategy(self.anchor_strategy)
        index = self.index

        if labelled_ids.size == 0:
            t0 = time.perf_counter()
            ids = self._random_subset(labelled_ids, pool_ids, max_size)
            timings["aggregation"] = time.perf_counter() - t0
            return Subpool(
                ids, np.zeros(ids.size), {"cold_start": True, "n_candidates": int(ids.size)}
            )

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
        per_class = select_class_anchors(
            labels, vectors, n_anchors, strategy, random_state=seed, proba=proba
        )
        positions = np.concatenate(list(per_class.values()))
        anchor_classes = np.concatenate(
            [np.full(p.size, c, dtype=object) for c, p in per_class.items()]
        )
        anchors = labelled_ids[positions]
        timings["anchor_selection"] = time.perf_counter() - t0

        # kNN of each anchor among unlabelled items (line 7).
        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        nn_ids, nn_sims = index.search(vectors[positions], k)
        timings["search"] = time.perf_counter() - t0

        # Mean similarity per distinct candidate, top-M (lines 8-9).
        t0 = time.perf_counter()
        flat_ids = nn_ids.ravel()
        flat_sims = nn_sims.ravel().astype(np.float64)
        cand, inverse = np.unique(flat_ids, return_inverse=True)
        scores = np.bincount(inverse, weights=flat_sims, minlength=cand.size) / np.bincount(
            inverse, minlength=cand.size
        )
        n_candidates = int(cand.size)
        if pool_ids is not None:
            keep = _in_sorted(pool_ids, cand)
            cand, scores = cand[keep], scores[keep]
        cand, scores = _rank(cand, scores)
        cand, scores = cand[:max_size], scores[:max_size]
        timings["aggregation"] = time.perf_counter() - t0
        return Subpool(
            cand,
            scores,
            {
                "anchors": anchors,
                "anchor_classes": anchor_classes,
                "n_candidates": n_candidates,
            },
        )


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

    def __init__(
        self, index: VectorIndex | None = None, max_size: int = 10_000, random_state: Any = None
    ):
        self.index = index
        self.max_size = max_size
        self.random_state = random_state

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        max_size = check_positive_int(self.max_size, "max_size")
        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        ids = self._random_subset(labelled_ids, pool_ids, max_size)
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

    def __init__(self, index: VectorIndex | None = None, n_neighbours: int = 50):
        self.index = index
        self.n_neighbours = n_neighbours

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        k = check_positive_int(self.n_neighbours, "n_neighbours")
        seen = getattr(self, "seen_labelled_", None)
        labelled = set(labelled_ids.tolist())
        if seen is None or not seen <= labelled:
            seen, self.candidates_ = set(), {}
        candidates = self.candidates_

        t0 = time.perf_counter()
        self.index.set_mask(labelled_ids)
        new = np.fromiter(labelled - seen, dtype=np.int64)
        if new.size:
            nn_ids, nn_sims = self.index.search(self.index.vectors(np.sort(new)), k)
            for i, s in zip(nn_ids.ravel().tolist(), nn_sims.ravel().tolist(), strict=True):
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
