"""
The anchoring step in a scikit-learn pipeline
=============================================

:class:`~skanchor.AnchorTransformer` picks per-class anchors among labelled embeddings and maps
any item to its cosine similarity with each anchor. Like any transformer it goes into a
``Pipeline`` and a ``GridSearchCV``.

It is AnchorAL's first step as a reusable component, not a better feature set: with one or two
anchors per class the similarities lose most of what the raw features say about a rare class,
and with a few dozen they carry about as much (the grid below, against logistic regression on
the raw features).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from skanchor import AnchorTransformer

X, y = make_classification(
    n_samples=600,
    n_features=20,
    n_informative=8,
    n_classes=3,
    n_clusters_per_class=3,
    weights=[0.8, 0.15, 0.05],
    random_state=0,
)
pipe = make_pipeline(AnchorTransformer(random_state=0), LogisticRegression(max_iter=1000))
search = GridSearchCV(
    pipe, {"anchortransformer__n_anchors": [1, 2, 5, 20, 50]}, scoring="f1_macro", cv=5
).fit(X, y)
raw = cross_val_score(LogisticRegression(max_iter=1000), X, y, scoring="f1_macro", cv=5).mean()

# %%
# Macro F1 by number of anchors per class
# ---------------------------------------

n = search.cv_results_["param_anchortransformer__n_anchors"].data.astype(int)
fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
ax.errorbar(
    n, search.cv_results_["mean_test_score"], search.cv_results_["std_test_score"], marker="o"
)
ax.axhline(raw, color="grey", linestyle="--", label="raw features")
ax.legend()
ax.set_xscale("log")
ax.set_xlabel("anchors per class (A)")
ax.set_ylabel("macro F1 (5-fold CV)")
print("best:", search.best_params_, round(search.best_score_, 3), "| raw features:", round(raw, 3))
print("anchor columns:", search.best_estimator_[0].get_feature_names_out()[:4], "...")
plt.show()
