"""AnchorAL in one picture, drawn by skanchor itself on a toy pool.

The pool lives on a plane in 3-d, ``(x, y, 3)``: cosine similarity between such vectors falls
with their distance on the plane, so the plane can be drawn as it is searched.
"""

import matplotlib.pyplot as plt
import numpy as np

from skanchor import AnchorSubpool, ExactIndex

rng = np.random.default_rng(3)
majority = rng.normal(0, 1.0, size=(900, 2))
minority = np.vstack(
    [rng.normal((2.4, 1.6), 0.25, (20, 2)), rng.normal((-2.2, 1.9), 0.25, (12, 2))]
)
points = np.vstack([majority, minority])
y = np.r_[np.zeros(len(majority), int), np.ones(len(minority), int)]
index = ExactIndex().add(np.c_[points, np.full(len(points), 3.0)])

labelled = np.r_[rng.choice(len(majority), 40, replace=False), len(majority) + np.arange(3)]
subpool = AnchorSubpool(index, n_anchors=3, n_neighbours=30, max_size=60, random_state=0).select(
    labelled, y[labelled]
)
anchors = subpool.info["anchors"]

fig, ax = plt.subplots(figsize=(7.5, 4.6))
ax.scatter(*points.T, s=6, c="0.82", label="unlabelled pool")
ax.scatter(*points[subpool.ids].T, s=18, c="tab:orange", label=f"subpool (top M = {len(subpool)})")
hidden = np.isin(np.arange(len(points)), labelled, invert=True) & (y == 1)
ax.scatter(
    *points[hidden].T,
    s=26,
    facecolors="none",
    edgecolors="tab:red",
    linewidths=0.8,
    label="minority items (hidden labels)",
)
for cls, colour, name in ((0, "tab:blue", "majority"), (1, "tab:red", "minority")):
    mask = y[labelled] == cls
    ax.scatter(*points[labelled[mask]].T, s=30, c=colour, marker="s", label=f"labelled {name}")
ax.scatter(
    *points[anchors].T,
    s=220,
    marker="*",
    c="gold",
    edgecolors="k",
    linewidths=0.6,
    label="anchors (k-means++ per class)",
    zorder=5,
)
ax.set_title("One AnchorAL round: anchors, their nearest unlabelled neighbours, the subpool")
ax.set_xticks([])
ax.set_yticks([])
ax.legend(loc="lower left", fontsize=7, ncols=2, frameon=True)
