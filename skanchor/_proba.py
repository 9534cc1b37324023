"""Scores of predicted class probabilities, shared by anchor selection and query strategies."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import entr

__all__ = ["predictive_entropy"]


def predictive_entropy(proba: Any) -> np.ndarray:
    """Row-wise entropy ``H = -sum_c p_c log p_c`` (natural log, ``0 log 0 = 0``).

    Each row is sorted before summing, so rows that hold the same probabilities in a different
    class order get bit-identical entropies (and tie exactly).

    >>> predictive_entropy([[0.5, 0.5], [1.0, 0.0]]).round(4).tolist()
    [0.6931, 0.0]
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be a 2-d (n_items, n_classes) array, got shape {proba.shape}")
    return entr(np.sort(proba, axis=1)).sum(axis=1)
