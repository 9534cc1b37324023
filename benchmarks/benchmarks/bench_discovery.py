"""Minority discovery on a real task: Reuters-21578 "coffee" one-vs-rest (0.9% of the
LEWISSPLIT train pool, 12,865 documents), TF-IDF + SVD-384 features (``benchlib.task_tfidf``,
cached in ``benchmarks/.cache``: MiniLM embeddings of the 18k texts take over half an hour on
2 busy cores, too long for an asv fixture),
``LogisticRegression``, entropy sampling behind each filter, 5 minority + 95 majority items to
start and 10 rounds of 25. Skipped without ``../shared/data`` (or ``$SKANCHOR_DATA``)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .common import BATCH, FILTERS, benchlib

ROUNDS = 10


class MinorityDiscovery:
    params = (FILTERS,)
    param_names: ClassVar[list[str]] = ["filter"]
    timeout = 600

    def setup_cache(self):
        try:
            task = benchlib.task_tfidf("reuters-coffee")
        except FileNotFoundError:
            return None
        X, y = task["pool_X"], task["pool_y"]
        spec = {
            "n": len(X),
            "dim": X.shape[1],
            "seed": 0,
            "n_clusters": "reuters-coffee-tfidf",
            "data_version": 1,
        }
        benchlib.get_index(X, spec)  # build once (~20 s) into the cache
        return {"X": X, "y": y, "spec": spec}

    setup_cache.timeout = 1800

    def setup(self, cached, name):
        if cached is None:
            raise NotImplementedError("real corpora not found")

    def track_minority_found(self, cached, name):
        """Minority items among the 250 picked in 10 rounds (the initial 5 not counted)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        from skanchor import AnchoredQueryStrategy, AnchorSubpool, RandomSubpool
        from skanchor.subpool import FullPool, SEALSSubpool

        X, y = cached["X"], cached["y"]
        index, _ = benchlib.get_index(X, cached["spec"], build=False)
        filt = {
            "anchoral": lambda: AnchorSubpool(index, 10, 50, 1000, random_state=0),
            "randsub": lambda: RandomSubpool(index, max_size=10_000, random_state=0),
            "seals": lambda: SEALSSubpool(index, n_neighbours=50),
            "noop": lambda: FullPool(index),
        }[name]()
        query = AnchoredQueryStrategy(filt, strategy="entropy", random_state=0)
        rng = np.random.default_rng([0, 11])
        labelled = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(y == 1), 5, replace=False),
                    rng.choice(np.flatnonzero(y == 0), 95, replace=False),
                ]
            )
        )
        features = FunctionTransformer(lambda ids: X[np.asarray(ids).ravel()])
        for _ in range(ROUNDS):
            model = make_pipeline(features, LogisticRegression(max_iter=1000))
            model.fit(labelled, y[labelled])
            pool_ids = np.setdiff1d(np.arange(len(X), dtype=np.int64), labelled)
            positions, _ = query(
                model, pool_ids, n_instances=BATCH, labelled_ids=labelled, labels=y[labelled]
            )
            labelled = np.sort(np.concatenate([labelled, pool_ids[positions]]))
        return int(y[labelled].sum()) - 5

    track_minority_found.unit = "items"
