"""skanchor: AnchorAL active learning for large, imbalanced pools.

The data path, one module each: embeddings → :mod:`skanchor.index` (a fixed vector index
with stable ids) → :mod:`skanchor.anchors` (per-class anchors) → :mod:`skanchor.subpool`
(pool filters) → :mod:`skanchor.strategies` (modAL-protocol query strategies) →
:mod:`skanchor.query` (:class:`AnchoredQueryStrategy`, the piece that goes into modAL's
``ActiveLearner``). Adapters for other libraries live in :mod:`skanchor.integrations` and
are imported explicitly: the core never imports them (with modAL, call
``skanchor.integrations.modal.patch_modal()`` once before querying).
"""

from skanchor._version import __version__
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
    PAPER_CONFIGURATION,
    AnchorSubpool,
    FullPool,
    PoolFilter,
    RandomSubpool,
    SEALSSubpool,
    StarvedClassWarning,
    Subpool,
)

# Heavy optional stacks (torch, transformers, sentence-transformers, skorch) load on first use:
# ``import skanchor`` and the core stay light.
_LAZY = {
    "SentenceEmbedder": "skanchor.embed",
    "EmbeddingCache": "skanchor.embed",
    "build_index": "skanchor.embed",
    "TransformerClassifier": "skanchor.models",
    "IdsToTexts": "skanchor.models",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skanchor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "PAPER_CONFIGURATION",
    "STRATEGIES",
    "AnchorSubpool",
    "AnchorTransformer",
    "AnchoredQueryStrategy",
    "EmbeddingCache",
    "ExactIndex",
    "FullPool",
    "HNSWIndex",
    "IdsToTexts",
    "PoolFilter",
    "RandomSubpool",
    "RowLookup",
    "SEALSSubpool",
    "SentenceEmbedder",
    "StarvedClassWarning",
    "Subpool",
    "TransformerClassifier",
    "VectorIndex",
    "__version__",
    "badge_sampling",
    "build_index",
    "entropy_sampling",
    "ftbertkm_sampling",
    "get_strategy",
    "least_confidence_sampling",
    "margin_sampling",
    "random_sampling",
]
