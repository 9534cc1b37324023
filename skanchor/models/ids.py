"""Ids → texts: the first step of a classifier pipeline on an ids pool."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from skanchor._validation import describe
from skanchor.pool import as_pool_ids

__all__ = ["IdsToTexts"]


class IdsToTexts(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Map integer ids to the texts of ``corpus`` at those positions (``corpus[i]``; for a
    pandas Series ``corpus.iloc[i]``, whatever its index labels).

    The first step of a classifier pipeline when the modAL pool is given as ids into the
    indexed corpus (skanchor's recommended pool identity, :mod:`skanchor.pool`):
    ``make_pipeline(IdsToTexts(corpus), TransformerClassifier(...))``. Stateless (``fit`` does
    nothing); ``transform`` costs O(len(ids)) and never copies the corpus.

    >>> IdsToTexts(["a cat", "a dog", "a cow"]).transform([2, 0]).tolist()
    ['a cow', 'a cat']
    """

    def __init__(self, corpus: Any = None) -> None:
        self.corpus = corpus

    def fit(self, X: Any, y: Any = None) -> IdsToTexts:
        """Check ``X`` (ids) against ``corpus``; nothing is learned."""
        self.transform(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The texts of ids ``X`` (a 1-d or (n, 1) integer array), as a 1-d object array."""
        corpus = self.corpus
        if corpus is None or isinstance(corpus, (str, bytes)) or not hasattr(corpus, "__len__"):
            raise TypeError(f"corpus must be a sequence of texts, got {describe(corpus)}")
        if np.size(X) == 0 and np.ndim(X) == 1:  # no ids (a [] is read as float64)
            return np.empty(0, dtype=object)
        ids = as_pool_ids(X, "X", what="positions into corpus", advice="")
        n = len(corpus)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            bad = ids[(ids < 0) | (ids >= n)][0]
            raise ValueError(f"X holds id {int(bad)}, outside the corpus (0..{n - 1})")
        if isinstance(corpus, np.ndarray):
            texts = corpus[ids]
        elif hasattr(corpus, "iloc"):
            texts = corpus.iloc[ids].to_numpy()
        else:
            texts = [corpus[i] for i in ids.tolist()]
        return np.asarray(texts, dtype=object)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``["text"]``: one text per id."""
        return np.asarray(["text"], dtype=object)

    def set_output(self, *, transform: Any = None) -> IdsToTexts:
        """Accepted, so that ``Pipeline.set_output`` configures the other steps; the texts
        stay a 1-d object array whatever ``transform`` says (text models and vectorisers
        take a sequence of texts, not a table)."""
        return self

    def __sklearn_clone__(self) -> IdsToTexts:
        """A new ``IdsToTexts`` on the same corpus object: cloning (``GridSearchCV``,
        ``cross_val_score``) never copies a corpus that may be large, as with indexes."""
        return type(self)(**self.get_params(deep=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        return tags
