"""Fixtures shared by the asv benchmarks, on top of :mod:`.synthetic`.

Loaded objects (memory-mapped pools, HNSW indexes, fitted models) are memoised per process:
asv re-runs ``setup`` before every timed call, and a 1M index takes seconds to load.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from . import synthetic

#: Pool sizes of the scaling benchmarks. The 1M index is only loaded from the cache (a build
#: takes ~19 min on 2 cores): without it the 1M cases are skipped. ``SKANCHOR_BENCH_SIZES``
#: ("10000,100000") narrows the list.
SIZES = [int(s) for s in os.environ.get("SKANCHOR_BENCH_SIZES", "10000,100000,1000000").split(",")]
#: Sizes whose index setup_cache may build when missing (10k: ~15 s, 100k: ~2.5 min).
BUILDABLE = (10_000, 100_000)
FILTERS = ["anchoral", "randsub", "seals", "noop"]
N_INITIAL, BATCH = 1000, 25
A, K, M_SUB, M_RANDSUB = 10, 50, 1000, 10_000


def skip(msg: str):
    """asv's way to skip one parameter combination."""
    raise NotImplementedError(msg)


def prepare_pools(sizes=SIZES) -> dict:
    """setup_cache body: make sure the pools' ``.npy`` files and buildable indexes exist."""
    out = {}
    for n in sizes:
        spec = synthetic.pool_spec(n)
        if n in BUILDABLE or synthetic.have_index(spec):
            X, _, _ = synthetic.synthetic_pool(n)
            if not synthetic.have_index(spec):
                synthetic.get_index(np.ascontiguousarray(X), spec)
        out[n] = synthetic.have_index(spec)
    return out


@cache
def pool(n: int):
    """``(X, y)``: the synthetic pool, read into memory once per process."""
    X, y, _ = synthetic.synthetic_pool(n)
    return np.ascontiguousarray(X), y


@cache
def index(n: int):
    spec = synthetic.pool_spec(n)
    if not synthetic.have_index(spec):
        skip(f"no cached index for N={n} (build it with anchoring_overhead.py --build-only)")
    idx, _ = synthetic.get_index(None, spec, build=False)
    idx.set_params(num_threads=1)
    return idx


@cache
def initial_state(n: int):
    """The labelled set after one round (1,000 initial + 25) and the classifier fitted on it.

    Returns ``(initial, labelled, labels, pool_ids, model)``; ``initial`` is what a stateful
    filter (SEALS) has seen before the timed round.
    """
    from sklearn.linear_model import LogisticRegression

    X, y = pool(n)
    rng = np.random.default_rng([0, n, 7])
    initial = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y == 1), N_INITIAL // 10, replace=False),
                rng.choice(np.flatnonzero(y == 0), N_INITIAL - N_INITIAL // 10, replace=False),
            ]
        )
    )
    rest = np.setdiff1d(np.arange(n), initial)
    labelled = np.sort(np.concatenate([initial, rng.choice(rest, BATCH, replace=False)]))
    pool_ids = np.setdiff1d(np.arange(n, dtype=np.int64), labelled)
    model = LogisticRegression(max_iter=1000).fit(X[labelled], y[labelled])
    return initial, labelled, y[labelled], pool_ids, model


def make_filter(name: str, n: int, seed: int = 0):
    from skanchor import AnchorSubpool, RandomSubpool
    from skanchor.subpool import FullPool, SEALSSubpool

    idx = index(n)
    if name == "anchoral":
        return AnchorSubpool(idx, n_anchors=A, n_neighbours=K, max_size=M_SUB, random_state=seed)
    if name == "randsub":
        return RandomSubpool(idx, max_size=M_RANDSUB, random_state=seed)
    if name == "seals":
        return SEALSSubpool(idx, n_neighbours=K)
    return FullPool(idx)
