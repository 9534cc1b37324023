"""The one top-k (skanchor._ranking): ties to the smaller id or position, as a full sort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skanchor._ranking import top_k, top_k_rows


def _reference(scores: np.ndarray, ids: np.ndarray, k: int, largest: bool):
    """A full sort per row: by score (decreasing if largest), then by increasing id."""
    out_ids, out_scores = [], []
    for row, row_ids in zip(scores, ids, strict=True):
        key = -row if largest else row
        order = np.lexsort((row_ids, key))[:k]
        out_ids.append(row_ids[order])
        out_scores.append(row[order])
    return np.array(out_ids), np.array(out_scores)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 4),
    m=st.integers(1, 12),
    k=st.integers(1, 15),
    levels=st.integers(1, 4),  # few distinct values: many ties, often across the k-th place
    largest=st.booleans(),
    shared_ids=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_top_k_rows_matches_a_full_sort(n, m, k, levels, largest, shared_ids, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n, m)).astype(np.float32) / levels
    ids = rng.permutation(1000)[:m] if shared_ids else rng.permutation(1000)[: n * m].reshape(n, m)
    got_ids, got_scores = top_k_rows(scores, k, ids=ids, largest=largest)
    want_ids, want_scores = _reference(scores, np.broadcast_to(ids, (n, m)), min(k, m), largest)
    assert np.array_equal(got_ids, want_ids)
    assert np.array_equal(got_scores, want_scores) and got_scores.dtype == np.float32


def test_top_k_rows_hides_minus_inf_last_and_keeps_dtypes():
    scores = np.array([[0.1, -np.inf, 0.3, 0.3]], dtype=np.float32)
    ids, sims = top_k_rows(scores, 3, ids=np.array([9, 1, 7, 4], dtype=np.int64))
    assert ids.tolist() == [[4, 7, 9]] and ids.dtype == np.int64
    assert sims.dtype == np.float32
    assert top_k_rows(scores, 0)[0].shape == (1, 0)
    assert top_k_rows(np.array([[3, 1, 2]], dtype=np.uint8), 2)[0].tolist() == [[0, 2]]


@pytest.mark.parametrize(
    ("scores", "k", "largest", "expected"),
    [
        ([0.2, 0.7, 0.7, 0.1], 2, True, [1, 2]),
        ([0.2, 0.7, 0.7, 0.1], 1, True, [1]),
        ([0.5, 0.5, 0.5], 2, True, [0, 1]),
        ([0.2, 0.7, 0.7, 0.1], 2, False, [3, 0]),
        ([0.3, 0.1, 0.1, 0.1], 2, False, [1, 2]),
        ([1.0, 2.0], 5, True, [1, 0]),
    ],
)
def test_top_k_ties_go_to_the_smaller_position(scores, k, largest, expected):
    got = top_k(np.array(scores), k, largest=largest)
    assert got.tolist() == expected and got.dtype == np.int64


def test_top_k_shape_errors():
    with pytest.raises(ValueError, match=r"scores must be a 1-d array, got shape \(2, 2\)"):
        top_k(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match=r"scores must be a 2-d \(n, m\) array, got shape \(3,\)"):
        top_k_rows(np.ones(3), 1)
