"""Vector indexes: a small protocol and its implementations.

:class:`ExactIndex` (numpy) and :class:`HNSWIndex` (hnswlib) run in-process;
:class:`MilvusIndex` stores and searches the vectors in Milvus (Lite or a server) and imports
``pymilvus`` only when first connected. :func:`make_index` builds any of them from a name or
a Milvus URI (what a command line passes).
"""

from __future__ import annotations

from typing import Any

from skanchor.index._milvus_connection import SERVER_SCHEMES, is_server_uri
from skanchor.index.base import VectorIndex
from skanchor.index.exact import ExactIndex
from skanchor.index.hnsw import HNSWIndex
from skanchor.index.milvus import MilvusIndex

__all__ = ["ExactIndex", "HNSWIndex", "MilvusIndex", "VectorIndex", "make_index"]

_BY_NAME = {"exact": ExactIndex, "hnsw": HNSWIndex, "milvus": MilvusIndex}


def make_index(spec: str | None = "hnsw", **params: Any) -> VectorIndex:
    """An empty index from a backend name or a Milvus URI.

    ``"hnsw"`` (default), ``"exact"``, ``"milvus"`` (a temporary Milvus Lite database), a
    Milvus Lite path ending in ``.db`` or a server URI (``http://host:19530``; the schemes of
    ``SERVER_SCHEMES``); Milvus URIs may add ``#collection`` to name the collection.
    ``params`` go to the constructor.

    >>> make_index("exact")
    ExactIndex(dim=None) <n_items=0, n_masked=0>
    >>> make_index("http://milvus:19530#pool", M=32).get_params()["collection_name"]
    'pool'
    """
    if spec is None:
        spec = "hnsw"
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"index must be a backend name or a Milvus URI, got {spec!r}")
    name = spec.strip()
    if name.lower() in _BY_NAME:
        return _BY_NAME[name.lower()](**params)
    uri, _, collection = name.partition("#")
    if uri.endswith(".db") or is_server_uri(uri):
        if collection:
            params = {"collection_name": collection, **params}
        return MilvusIndex(uri=uri, **params)
    raise ValueError(
        f"index={spec!r} is not a backend ({', '.join(sorted(_BY_NAME))}), a Milvus Lite path "
        f"ending in .db, or a Milvus server URI ({', '.join(SERVER_SCHEMES)})"
    )
