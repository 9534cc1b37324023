"""Vector indexes: a small protocol and two real implementations."""

from skanchor.index.base import VectorIndex
from skanchor.index.exact import ExactIndex
from skanchor.index.hnsw import HNSWIndex

__all__ = ["ExactIndex", "HNSWIndex", "VectorIndex"]
