"""Pool identity (skanchor.pool): ids given as X_pool, rows mapped by content, sorted pool ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from skanchor.index import ExactIndex, HNSWIndex
from skanchor.pool import RowLookup, as_pool_ids, sort_pool_ids

VECTORS = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)


# -- RowLookup ------------------------------------------------------------------------------------


def test_row_lookup_texts_and_duplicates():
    lookup = RowLookup().fit(["a", "b", "b", "c"], ids=[10, 11, 12, 13])
    assert lookup.ids_for(["b", "c", "b"]).tolist() == [11, 13, 12]
    assert lookup.ids_for(["b"], exclude=[11]).tolist() == [12]
    series = pd.Series(["c", "a"], index=[5, 9])  # a Series of texts: its values, not its index
    assert lookup.ids_for(series).tolist() == [13, 10]


@pytest.mark.parametrize(
    "corpus",
    [
        pd.Series(["a", None, "c"]),
        pd.Series(["a", np.nan, "c"]),
        pd.Series(["a", pd.NA, "c"], dtype=object),
        ["a", None, "c"],
        np.array(["a", None, "c"], dtype=object),
    ],
    ids=["series-none", "series-nan", "series-na", "list", "object-array"],
)
def test_row_lookup_rejects_missing_texts(corpus):
    with pytest.raises(TypeError, match=r"corpus\[1\] is (None|nan|<NA>), not a text"):
        RowLookup().fit(corpus)


def test_row_lookup_rejects_missing_rows_at_query_time():
    lookup = RowLookup().fit(["a", "b"])
    with pytest.raises(TypeError, match=r"X_pool\[0\] is (None|nan), not a text"):
        lookup.ids_for(pd.Series([None, "a"]))


def test_row_lookup_is_shared_by_clones():
    """A lookup is the corpus's table, like an index: an estimator whose clones share it (QA
    report: ``clone`` of a query deep-copied the table, and its repr was an address)."""
    from sklearn.base import clone

    from skanchor import AnchoredQueryStrategy, AnchorSubpool

    lookup = RowLookup().fit(["a", "b"])
    query = AnchoredQueryStrategy(AnchorSubpool(ExactIndex().add(VECTORS[:2])), lookup=lookup)
    assert clone(lookup) is lookup and clone(query).lookup is lookup
    assert "lookup=RowLookup()" in repr(query)


def test_row_lookup_vectors():
    lookup = RowLookup().fit(VECTORS[:5])
    assert lookup.ids_for(VECTORS[[3, 0]]).tolist() == [3, 0]
    with pytest.raises(ValueError, match=r"X_pool row 0 is not in the corpus"):
        lookup.ids_for(VECTORS[[7]])


# -- ids as X_pool ------------------------------------------------------------------------------


def test_as_pool_ids():
    assert as_pool_ids(np.array([[4], [2]])).tolist() == [4, 2]
    with pytest.raises(TypeError, match=r"X_pool must be a 1-d integer array of index ids"):
        as_pool_ids(VECTORS)


@pytest.mark.parametrize("cls", [ExactIndex, HNSWIndex])
def test_sort_pool_ids_checks_every_id_against_the_index(cls):
    sparse = cls().add(VECTORS, ids=np.arange(30) * 10)  # ids 0, 10, ..., 290
    pool = np.array([250, 20, 100, 0])
    pool_sorted, order = sort_pool_ids(pool, sparse)
    assert pool_sorted.tolist() == [0, 20, 100, 250]
    assert np.array_equal(pool[order], pool_sorted)
    inside_gap = np.array([0, 20, 105, 250])  # 105 lies within [min, max] but is not stored
    for ids in (inside_gap, inside_gap[::-1]):
        with pytest.raises(ValueError, match=r"X_pool holds an id that is not in the index: 105"):
            sort_pool_ids(ids, sparse)
    with pytest.raises(ValueError, match=r"X_pool holds duplicated ids, e.g. 20"):
        sort_pool_ids(np.array([20, 0, 20]), sparse)

    dense = cls().add(VECTORS)  # ids 0..29
    pool_sorted, order = sort_pool_ids(np.array([2, 5, 29]), dense)
    assert order is None and pool_sorted.tolist() == [2, 5, 29]
    with pytest.raises(ValueError, match=r"not in the index: 30"):
        sort_pool_ids(np.array([2, 5, 30, 31]), dense)
    assert sort_pool_ids(np.array([3, 1]))[0].tolist() == [1, 3]  # no index: no check
