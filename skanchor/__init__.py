"""skanchor: AnchorAL active learning for large, imbalanced pools.

The data path, one module each: embeddings → :mod:`skanchor.index` (a fixed vector index
with stable ids) → :mod:`skanchor.anchors` (per-class anchors) → :mod:`skanchor.subpool`
(pool filters) → :mod:`skanchor.strategies` (modAL-protocol query strategies) →
:mod:`skanchor.query` (:class:`AnchoredQueryStrategy`, the piece that goes into modAL's
``ActiveLearner``). Adapters for other libraries live in :mod:`skanchor.integrations` and
are imported explicitly.
"""

from skanchor.anchors import AnchorTransformer
from skanchor.index import ExactIndex, HNSWIndex, VectorIndex
from skanchor.pool import RowLookup
from skanchor.query import AnchoredQueryStrategy
from skanchor.strategies import (
    STRATEGIES,
    badge_sampling,
    entropy_sampling,
    ftbertkm_sampling,
    get_strategy,
    least_confidence_sampling,
    margin_sampling,
    random_sampling,
)
from skanchor.subpool import (
    AnchorSubpool,
    FullPool,
    PoolFilter,
    RandomSubpool,
    SEALSSubpool,
    Subpool,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "STRATEGIES",
    "AnchorSubpool",
    "AnchorTransformer",
    "AnchoredQueryStrategy",
    "ExactIndex",
    "FullPool",
    "HNSWIndex",
    "PoolFilter",
    "RandomSubpool",
    "RowLookup",
    "SEALSSubpool",
    "Subpool",
    "VectorIndex",
    "__version__",
    "badge_sampling",
    "entropy_sampling",
    "ftbertkm_sampling",
    "get_strategy",
    "least_confidence_sampling",
    "margin_sampling",
    "random_sampling",
]
