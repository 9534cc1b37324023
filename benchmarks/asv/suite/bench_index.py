"""HNSW index build, cached load and memory (paper settings: M = 64, ef_construction = 200)."""

from __future__ import annotations

from typing import ClassVar

from . import common, synthetic
from .common import SIZES, prepare_pools


class IndexBuild:
    """Building from scratch; kept small (a 100k build takes ~2.5 min, 1M ~19 min on 2 cores:
    those are recorded in each cached index's ``build_info.json``)."""

    params = ([5_000, 20_000],)
    param_names: ClassVar[list[str]] = ["n"]
    timeout = 300
    repeat = (1, 3, 60.0)
    number = 1

    def setup(self, n):
        spec = synthetic.pool_spec(n)
        self.X, _ = synthetic.make_pool(spec)

    def time_build(self, n):
        from skanchor import HNSWIndex

        HNSWIndex(M=64, ef_construction=200, num_threads=2, random_state=0).add(self.X)

    def peakmem_build(self, n):
        self.time_build(n)


class IndexLoad:
    """Loading a cached index, its graph size, and the peak memory of a query-ready process
    against the vectors plus the graph (target: <= 1.3x)."""

    params = (SIZES,)
    param_names: ClassVar[list[str]] = ["n"]
    timeout = 600
    number = 1
    repeat = (1, 3, 30.0)

    def setup_cache(self):
        return prepare_pools()

    setup_cache.timeout = 1200

    def setup(self, cached, n):
        if not cached.get(n):
            raise NotImplementedError(f"no cached index for N={n}")
        self.spec = synthetic.pool_spec(n)

    def time_load(self, cached, n):
        synthetic.get_index(None, self.spec, build=False)

    def track_graph_bytes_per_item(self, cached, n):
        return common.index(n).index_.index_file_size() / n

    track_graph_bytes_per_item.unit = "bytes"

    def track_peak_over_vectors_plus_graph(self, cached, n):
        """Peak RSS of this process once the pool is in memory, the index loaded and one
        AnchorAL round run, over (vectors + graph file) bytes."""
        X, _ = common.pool(n)
        idx = common.index(n)
        _, labelled, labels, pool_ids, _ = common.initial_state(n)
        common.make_filter("anchoral", n).select(labelled, labels, pool_ids=pool_ids)
        base = X.nbytes + idx.index_.index_file_size()
        return synthetic.peak_rss_bytes() / base

    track_peak_over_vectors_plus_graph.unit = "ratio"
