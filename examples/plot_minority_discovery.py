"""
Minority discovery on a synthetic imbalanced pool
=================================================

A pool of 20,000 items in which one class is 1%: how many minority items does each pool filter
surface in 12 rounds of 20 labels, with the same classifier and the same entropy sampling?
The filters only decide *which* items the strategy may score: the whole pool (No-Op), a random
subpool (RandSub) or the anchored subpool of AnchorAL.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import AnchoredQueryStrategy, AnchorSubpool, FullPool, HNSWIndex, RandomSubpool

# %%
# A pool with a rare class
# ------------------------
# Majority items come from 40 broad clusters, the minority from 4 tight ones scattered among
# them. Ids ``0 .. N-1`` identify items everywhere: the index, the pool and the classifier,
# whose first step looks the vectors up.

rng = np.random.default_rng(0)
dim, n_major, n_minor = 32, 19_800, 200
centres = rng.normal(size=(44, dim))
major = centres[rng.integers(0, 40, n_major)] + 0.9 * rng.normal(size=(n_major, dim))
minor = centres[40 + rng.integers(0, 4, n_minor)] + 0.5 * rng.normal(size=(n_minor, dim))
vectors = np.vstack([major, minor]).astype(np.float32)
y = np.r_[np.zeros(n_major, int), np.ones(n_minor, int)]
index = HNSWIndex().add(vectors)

initial = np.r_[
    rng.choice(n_major, 45, replace=False), n_major + rng.choice(n_minor, 5, replace=False)
]

# %%
# The same loop for every filter
# ------------------------------


def run(pool_filter, rounds=12, batch=20):
    query = AnchoredQueryStrategy(pool_filter, strategy="entropy", random_state=0)
    labelled = initial.copy()
    found = [int(y[labelled].sum())]
    for _ in range(rounds):
        model = make_pipeline(
            FunctionTransformer(vectors.__getitem__),
            LogisticRegression(class_weight="balanced", max_iter=1000),
        ).fit(labelled, y[labelled])
        pool = np.setdiff1d(np.arange(len(y)), labelled)
        positions, _ = query(
            model, pool, n_instances=batch, labelled_ids=labelled, labels=y[labelled]
        )
        labelled = np.r_[labelled, pool[positions]]
        found.append(int(y[labelled].sum()))
    return np.array(found), query


results = {
    "AnchorAL": run(
        AnchorSubpool(index, n_anchors=10, n_neighbours=50, max_size=500, random_state=0)
    ),
    "RandSub": run(RandomSubpool(index, max_size=500, random_state=0)),
    "No-Op (whole pool)": run(FullPool(index)),
}

# %%
# Minority items found, and what each round cost
# ----------------------------------------------
# The records of :class:`~skanchor.AnchoredQueryStrategy` keep the subpool size and the time of
# every phase.

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
labels = len(initial) + 20 * np.arange(13)
for name, (found, query) in results.items():
    size = np.median([q["subpool_size"] for q in query.queries_])
    ax.plot(labels, found, marker="o", ms=3, label=f"{name} (scores {size:,.0f} items/round)")
ax.set_xlabel("labelled items")
ax.set_ylabel("minority items found")
ax.legend()
plt.show()
