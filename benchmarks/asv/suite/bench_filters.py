"""Per-round cost of each pool filter (AnchorAL, RandSub, SEALS, No-Op) as the pool grows.

Synthetic clustered unit vectors, d = 384 (``synthetic.make_pool``), N = 10k, 100k, 1M; HNSW
index with the paper's settings (M = 64, ef_construction = 200, ef = 200), 1 query thread.
State before each timed call: 1,000 labelled items + one round of 25 (SEALS has seen the
1,000, so its timed call is one incremental round), ``LogisticRegression`` fitted on them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .common import BATCH, FILTERS, SIZES, K, index, initial_state, make_filter, pool, prepare_pools


class FilterSuite:
    """``select`` alone and the full query (``select`` + entropy on what it keeps)."""

    params = (SIZES, FILTERS)
    param_names: ClassVar[list[str]] = ["n", "filter"]
    timeout = 600
    repeat = (1, 10, 20.0)
    number = 1

    def setup_cache(self):
        return prepare_pools()

    setup_cache.timeout = 1200

    def setup(self, cached, n, name):
        if not cached.get(n):
            raise NotImplementedError(f"no cached index for N={n}")
        initial, self.labelled, self.labels, self.pool_ids, self.model = initial_state(n)
        self.X = pool(n)[0]
        # Warm-up on the previous round's labelled set (first-call costs: lazy imports,
        # thread pools); the timed call then masks the round's 25 new items, as in a real run.
        # SEALS keeps state, so this is also what it has seen before the timed round.
        self.filter = make_filter(name, n)
        self.filter.select(initial, pool(n)[1][initial], pool_ids=self.pool_ids)

    def time_select(self, cached, n, name):
        self.filter.select(self.labelled, self.labels, pool_ids=self.pool_ids)

    def time_query(self, cached, n, name):
        from skanchor.strategies import entropy_sampling

        sub = self.filter.select(self.labelled, self.labels, pool_ids=self.pool_ids)
        entropy_sampling(self.model, self.X[sub.ids], BATCH)

    def peakmem_query(self, cached, n, name):
        self.time_query(cached, n, name)

    def track_subpool_size(self, cached, n, name):
        return len(self.filter.select(self.labelled, self.labels, pool_ids=self.pool_ids))

    track_subpool_size.unit = "items"


class AnchoringOverhead:
    """AnchorAL's ``select`` against raw hnswlib ``knn_query`` for the same anchors (target:
    <= 1.25x) and the raw floor itself."""

    params = (SIZES,)
    param_names: ClassVar[list[str]] = ["n"]
    timeout = 600
    number = 1

    def setup_cache(self):
        return prepare_pools()

    setup_cache.timeout = 1200

    def setup(self, cached, n):
        if not cached.get(n):
            raise NotImplementedError(f"no cached index for N={n}")
        _, self.labelled, self.labels, self.pool_ids, _ = initial_state(n)
        self.filter = make_filter("anchoral", n)
        self.state = self.filter._rng().get_state()
        sub = self.filter.select(self.labelled, self.labels, pool_ids=self.pool_ids)
        self.index = index(n)
        self.anchor_vectors = self.index.vectors(np.asarray(sub.info["anchors"]))
        self.raw = self.index.index_

    def _select(self):
        self.filter.random_state_.set_state(self.state)  # the same anchors every call
        self.filter.select(self.labelled, self.labels, pool_ids=self.pool_ids)

    def _raw(self):
        self.raw.set_ef(max(self.index.ef, K))
        self.raw.knn_query(self.anchor_vectors, k=K, num_threads=1)

    def time_select_same_anchors(self, cached, n):
        self._select()

    def time_raw_knn_query(self, cached, n):
        self._raw()

    def track_select_over_raw(self, cached, n):
        import time

        ratios = []
        for _ in range(7):  # interleaved, so machine load hits both alike
            t0 = time.perf_counter()
            self._select()
            t1 = time.perf_counter()
            self._raw()
            t2 = time.perf_counter()
            ratios.append((t1 - t0) / (t2 - t1))
        return float(np.median(ratios))

    track_select_over_raw.unit = "ratio"
