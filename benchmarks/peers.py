"""small-text 1.4.1's ``AnchorSubsampling`` as a pool filter of the experiment machinery.

:class:`SmallTextAnchorSubpool` runs small-text's own subsampling code (its
``_get_subset_indices``: the ``k`` nearest unlabelled neighbours of every anchor, mean
similarity, top ``subsample_size``) on the run's HNSW graph, so the library's simulated
annotation loop (:func:`skanchor.experiments.loop.simulate`) can run it next to AnchorAL with
the same classifier, seeds, metrics and results store. The base strategy is the run's
strategy (``entropy`` for small-text's ``PredictionEntropy``: the same top-``n`` set).

Two deliberate differences from a stock ``AnchorSubsampling(PredictionEntropy()).query``:

- **seeded anchors**: small-text draws its k-means++ anchors from an unseeded
  ``np.random.RandomState()`` (not reproducible, so not resumable); here each class gets
  ``RandomState`` seeded from the round's ``random_state`` and the class position;
- **the graph**: small-text builds its own hnswlib index (l2 space, ``M=64``,
  ``ef_construction=200``, ``ef=200``) over the unlabelled items in its first query and marks
  newly labelled items deleted afterwards; here it searches the run's ``HNSWIndex`` (cosine
  space, the same ``M``/``ef`` values) whose mask marks exactly the labelled items deleted.
  Cosine and l2 distances rank unit vectors alike, and small-text's mean of ``1 - distance``
  is an affine function of the mean cosine, so the subsample is the same up to the graphs'
  approximation. Stock small-text also scores the whole dataset each round (its
  ``PredictionEntropy`` predicts every item, then keeps the subsample's scores): ~1 ms per
  item through ``np.apply_along_axis``, hours per run at these pool sizes.

:func:`check_against_stock` runs both side by side on one task (stock small-text with its
anchors' ``RandomState`` seeded the same way) and reports how often their selections agree::

    python -m benchmarks.peers --task sms-spam --rounds 10 --seeds 0 1

:func:`register` adds the method ``"smalltext-anchor"`` to
:data:`skanchor.experiments.components.METHODS` (done on import of
:mod:`benchmarks.discovery`).
"""

from __future__ import annotations

import argparse
import json
import time
import weakref
from typing import Any

import numpy as np

from skanchor.experiments.components import METHODS, MethodSpec
from skanchor.subpool import PoolFilter, Subpool

__all__ = ["SMALLTEXT_METHOD", "SmallTextAnchorSubpool", "check_against_stock", "register"]

#: Name of the method in the experiment registry.
SMALLTEXT_METHOD = "smalltext-anchor"


def _class_seed(random_state: Any, position: int) -> int:
    """Seed of class ``position``'s k-means++ draw in a round seeded by ``random_state``."""
    base = 0 if random_state is None else int(random_state)
    return int(np.random.SeedSequence([base, position]).generate_state(1)[0])


#: Every index's vectors by id (read once per index: hnswlib's ``get_items`` is slow, and
#: small-text's ``clf.embed`` hands it the stored embeddings).
_VECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _all_vectors(index: Any) -> np.ndarray:
    """Vectors of ``index`` as an array whose row ``i`` is id ``i`` (zeros for absent ids)."""
    ids = index.ids()
    cached = _VECTORS.get(index)
    if cached is None or cached[0] != ids.size:
        order = np.argsort(ids)
        vectors = np.zeros((int(ids.max()) + 1, index.dim), dtype=np.float32)
        vectors[ids[order]] = index.vectors(ids[order])
        cached = _VECTORS[index] = (ids.size, vectors)
    return cached[1]


class SmallTextAnchorSubpool(PoolFilter):
    """small-text 1.4.1's ``AnchorSubsampling`` subsample as a pool filter.

    Parameters
    ----------
    index : skanchor.index.HNSWIndex
        The pool's index (its hnswlib graph is searched as small-text searches its own).
    subsample_size : int, default=1000
        small-text's ``subsample_size`` (the paper's M).
    num_anchors : int, default=10
        Anchors per class (small-text's ``num_anchors``, the paper's A).
    k : int, default=50
        Neighbours per anchor (small-text's ``k``, the paper's K).
    random_state : int or None, default=None
        Seeds the k-means++ anchor draw of each class (see the module docstring).
    """

    name = SMALLTEXT_METHOD

    def __init__(
        self,
        index: Any = None,
        subsample_size: int = 1000,
        num_anchors: int = 10,
        k: int = 50,
        random_state: int | None = None,
    ):
        self.index = index
        self.subsample_size = subsample_size
        self.num_anchors = num_anchors
        self.k = k
        self.random_state = random_state

    def _strategy(self) -> Any:
        from small_text.query_strategies import AnchorSubsampling, PredictionEntropy

        return AnchorSubsampling(
            PredictionEntropy(),
            subsample_size=self.subsample_size,
            num_anchors=self.num_anchors,
            k=self.k,
        )

    def _anchors(self, embeddings: np.ndarray, labelled: np.ndarray, y: np.ndarray) -> np.ndarray:
        """small-text's ``_get_anchors`` with a seeded ``RandomState`` per class."""
        from small_text.utils.clustering import init_kmeans_plusplus_safe

        anchors: list[np.ndarray] = []
        for c in range(int(y.max()) + 1 if y.size else 0):
            members = labelled[y == c]
            n = min(members.size, self.num_anchors)
            if n == 0:
                continue
            rows = embeddings[members]
            _, positions = init_kmeans_plusplus_safe(
                rows,
                n,
                x_squared_norms=np.linalg.norm(rows, axis=1),  # as small-text passes them
                random_state=np.random.RandomState(_class_seed(self.random_state, c)),
            )
            anchors.append(members[positions])
        return np.concatenate(anchors) if anchors else np.empty(0, dtype=np.int64)

    def _select(self, labelled_ids, labels, *, model, X_labelled, pool_ids, timings):
        from sklearn.preprocessing import normalize

        index = self.index
        if not hasattr(index, "index_"):
            raise TypeError(
                f"method {SMALLTEXT_METHOD!r} searches an hnswlib graph: use index='hnsw', got "
                f"{type(index).__name__}"
            )
        pool = self._live_pool(labelled_ids, pool_ids)
        index.set_mask(labelled_ids)  # labelled items deleted from the graph, as small-text does
        if self.subsample_size > pool.size:  # small-text falls back to the whole pool
            return Subpool(pool, np.zeros(pool.size), {"n_candidates": int(pool.size)})
        t0 = time.perf_counter()
        embeddings = normalize(_all_vectors(index), axis=1)  # small-text normalises every round
        _, y = np.unique(np.asarray(labels).astype(str), return_inverse=True)
        anchors = self._anchors(embeddings, np.asarray(labelled_ids, dtype=np.int64), y)
        timings["anchor_selection"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        strategy = self._strategy()
        strategy.nn = index.index_
        strategy.indices_unlabeled = set(pool.tolist())  # nothing more to mark deleted
        subset = strategy._get_subset_indices(embeddings, pool, anchors)
        timings["search"] = time.perf_counter() - t0
        subset = np.sort(np.asarray(subset, dtype=np.int64))
        return Subpool(
            subset,
            np.zeros(subset.size),
            {"anchors": anchors, "n_candidates": int(subset.size)},
        )


def register() -> None:
    """Add ``"smalltext-anchor"`` to the experiment registry (idempotent)."""
    if SMALLTEXT_METHOD not in METHODS:
        METHODS[SMALLTEXT_METHOD] = MethodSpec(
            SMALLTEXT_METHOD,
            "small-text AnchorSubsampling",
            SmallTextAnchorSubpool,
            seeded=True,
        )


# ------------------------------------------------------------------------------------------
# Check: the same selections as stock small-text
# ------------------------------------------------------------------------------------------


class _SeededNumpy:
    """Stands in for ``numpy`` inside small-text's subsampling module while stock small-text
    draws its anchors: its unseeded ``np.random.RandomState()`` gets the next class's seeded
    state (as :class:`SmallTextAnchorSubpool` seeds them); everything else is numpy's."""

    def __init__(self, random_state: int):
        outer = self

        class _Random:
            def __getattr__(self, name: str) -> Any:
                return getattr(np.random, name)

            @staticmethod
            def RandomState(seed: Any = None) -> np.random.RandomState:
                if seed is not None:
                    return np.random.RandomState(seed)
                state = np.random.RandomState(_class_seed(outer.random_state, outer.position))
                outer.position += 1
                return state

        self.random_state, self.position, self.random = random_state, 0, _Random()

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def check_against_stock(
    task_name: str = "sms-spam", *, rounds: int = 10, seeds: tuple[int, ...] = (0,)
) -> dict:
    """Selections of :class:`SmallTextAnchorSubpool` + entropy vs stock small-text, per round.

    Both see the same labelled set each round (the stock selection is labelled), the same
    logistic regression (the registry's ``logreg``) and the same anchor seeds. Returns the
    share of rounds with identical selections, the mean overlap, and the time per query.
    """
    from unittest import mock

    from small_text import SklearnClassifier, SklearnDataset
    from small_text.classifiers.classification import EmbeddingMixin
    from small_text.query_strategies import AnchorSubsampling, PredictionEntropy, subsampling

    from benchmarks.discovery import load_task, task_config, task_vectors
    from skanchor import AnchoredQueryStrategy
    from skanchor.experiments.components import CLASSIFIERS
    from skanchor.experiments.features import make_index
    from skanchor.experiments.loop import Protocol, initial_set

    class EmbeddingClassifier(SklearnClassifier, EmbeddingMixin):
        def embed(self, data_set, pbar=None, **kw):
            return data_set.x

    config = task_config(task_name)
    task = load_task(task_name, config)
    vectors = task_vectors(task, config)
    X = vectors[: task.n_pool]
    classes = sorted(task.classes)
    y_all = np.searchsorted(classes, task.pool_labels.astype(str))
    protocol = Protocol.from_config(config)
    out: dict[str, Any] = {"task": task_name, "rounds": rounds, "per_seed": []}
    for seed in seeds:
        labelled = initial_set(task, protocol, np.random.default_rng(seed))
        index = make_index(X, "hnsw")
        stock = AnchorSubsampling(PredictionEntropy(), subsample_size=1000, num_anchors=10, k=50)
        dataset = SklearnDataset(X, y_all)
        same, overlap, t_stock, t_ours = 0, [], [], []
        for r in range(rounds):
            model = CLASSIFIERS["logreg"].make(X, model_seed=seed, data_seed=seed)
            model.fit(labelled, task.pool_labels[labelled])
            pool = np.setdiff1d(np.arange(task.n_pool), labelled)
            round_seed = seed * 1000 + r
            query = AnchoredQueryStrategy(
                SmallTextAnchorSubpool(index, random_state=round_seed), strategy="entropy"
            )
            t0 = time.perf_counter()
            positions, _ = query(
                model,
                pool,
                n_instances=25,
                labelled_ids=labelled,
                labels=task.pool_labels[labelled],
            )
            t_ours.append(time.perf_counter() - t0)
            ours = pool[np.asarray(positions)]
            clf = EmbeddingClassifier(model.named_steps["model"], num_classes=len(classes))
            t0 = time.perf_counter()
            with mock.patch.object(subsampling, "np", _SeededNumpy(round_seed)):
                picked = stock.query(clf, dataset, pool, labelled, y_all[labelled], n=25)
            t_stock.append(time.perf_counter() - t0)
            picked = np.asarray(picked, dtype=np.int64)
            common = np.intersect1d(ours, picked).size
            same += int(common == 25)
            overlap.append(common / 25)
            labelled = np.sort(np.concatenate([labelled, picked]))
        out["per_seed"].append(
            {
                "seed": seed,
                "identical_rounds": same,
                "mean_overlap": float(np.mean(overlap)),
                "stock_query_s": float(np.median(t_stock)),
                "filter_query_s": float(np.median(t_ours)),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=check_against_stock.__doc__.splitlines()[0])
    parser.add_argument("--task", default="sms-spam")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)
    print(
        json.dumps(check_against_stock(args.task, rounds=args.rounds, seeds=args.seeds), indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
