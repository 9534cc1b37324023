"""Texts to an index in one call: :func:`build_index`."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, validate_params

from skanchor._validation import check_texts
from skanchor.embed.embedder import CacheInfo, SentenceEmbedder, _show_progress
from skanchor.index.base import VectorIndex

__all__ = ["build_index"]

#: Batch size assumed for the automatic progress bar of an embedder that is not a
#: SentenceEmbedder (sentence-transformers' default).
_OTHER_BATCH_SIZE = 32


# prefer_skip_nested_validation=False: the embedder and the index are objects the caller built,
# whose own parameters are validated when build_index fits / fills them.
@validate_params(
    {
        "texts": "no_validation",  # check_texts: a domain check with positions in its errors
        "embedder": [HasMethods(["transform"])],
        "index": [VectorIndex, None],
        "ids": ["array-like", None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "progress_bar": [None, "boolean"],
    },
    prefer_skip_nested_validation=False,
)
def build_index(
    texts: Any,
    embedder: Any,
    index: VectorIndex | None = None,
    *,
    ids: Any = None,
    chunk_size: int = 10_000,
    progress_bar: bool | None = None,
) -> VectorIndex:
    """Embed ``texts`` chunk by chunk and add them to ``index``; return the index.

    Parameters
    ----------
    texts : sequence of str
        The corpus.
    embedder : SentenceEmbedder or any fitted transformer of texts to vectors
        An unfitted :class:`~skanchor.embed.SentenceEmbedder` is fitted first (it keeps its
        cache).
    index : VectorIndex, optional
        Where the vectors go; default a new :class:`~skanchor.index.HNSWIndex` with the
        paper's settings. Items already in it stay.
    ids : array-like of int, optional
        Ids of the texts; default ``n_items, n_items + 1, ...`` of ``index`` (0..n-1 for a
        new one). Checked before anything is embedded: unique, one per text, not in the index.
    chunk_size : int, default=10_000
        Texts embedded and added per step (bounds the memory of the vectors in flight).
    progress_bar : bool or None, default=None
        One bar over all texts; None shows it when there are more than 10 batches.

    Returns
    -------
    VectorIndex
        ``index`` (or the new one) holding the texts' vectors.

    Examples
    --------
    >>> import tempfile
    >>> from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder, build_index
    >>> from skanchor.index import HNSWIndex
    >>> texts = ["the cat sat", "a dog barked", "stocks fell", "shares dropped", "a kitten"]
    >>> embedder = SentenceEmbedder(OFFLINE_MODEL, device="cpu")
    >>> index = build_index(texts, embedder, chunk_size=2)
    >>> index.n_items, index.dim
    (5, 384)
    >>> ids, sims = index.search(embedder.transform(["share prices went down"]), k=2)
    >>> sorted(ids[0].tolist())
    [2, 3]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     index.save(tmp)
    ...     loaded = HNSWIndex.load(tmp)
    >>> queries = index.vectors([0, 1, 2, 3, 4])
    >>> bool((loaded.search(queries, k=3)[0] == index.search(queries, k=3)[0]).all())
    True
    """
    texts = check_texts(texts, "texts")
    if index is None:
        from skanchor.index import HNSWIndex

        index = HNSWIndex()
    n = len(texts)
    given_ids = ids is not None
    ids = index._new_ids(ids, n, f"texts has {n}")  # before the (costly) embedding

    if isinstance(embedder, SentenceEmbedder):
        if not hasattr(embedder, "model_"):
            embedder.fit()
        if index.dim is not None and index.dim != embedder.dim_:  # before the embedding
            raise ValueError(
                f"index holds {index.dim}-d vectors but the embedder makes {embedder.dim_}-d ones"
            )
        batch_size = embedder.batch_size
        totals = np.zeros(2, dtype=np.int64)

        def embed(chunk: list[str]) -> np.ndarray:
            vectors = embedder._embed(chunk, progress_bar=False)
            totals[:] += (embedder.cache_info_.hits, embedder.cache_info_.misses)
            return vectors

    else:
        batch_size = _OTHER_BATCH_SIZE
        embed = embedder.transform

    from tqdm.auto import tqdm

    show = _show_progress(progress_bar, n, batch_size)
    with tqdm(total=n, unit="text", desc="Indexing", disable=not show) as bar:
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            try:
                index.add(embed(texts[start:stop]), ids[start:stop])
            except Exception as exc:  # what is stored stays: say how to go on, not restart
                if not start:
                    raise
                rest = f", ids=ids[{start}:]" if given_ids else ""
                message = (
                    f"build_index stopped in the chunk of texts {start}..{stop - 1} (a row "
                    f"number below counts from {start}): texts 0..{start - 1} are in the index "
                    f"under their ids. After fixing the cause, go on with build_index(texts"
                    f"[{start}:], embedder, index=index{rest}), not with every text again "
                    f"(that would store them twice). Cause: {exc}"
                )
                try:
                    error = type(exc)(message)
                except Exception:  # an exception class with another constructor
                    error = RuntimeError(message)
                raise error from exc
            bar.update(stop - start)
    if isinstance(embedder, SentenceEmbedder):
        embedder.cache_info_ = CacheInfo(n, int(totals.sum()), int(totals[0]), int(totals[1]))
    return index
