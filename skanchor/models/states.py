"""The frozen lower layers of a text encoder, run once per text: :class:`FrozenEncoder` and the
cache of their outputs, :class:`StateCache`.

:class:`~skanchor.models.TopLayersClassifier` fine-tunes only the top layer(s) of an encoder.
The layers below never change, so their output for a text (one vector per token, the
*states*) is computed once and reused by every later ``fit`` and ``predict_proba``: the
labelled set, the test set and the texts of past subpools cost only the top layer(s).

The cache follows the ideas of :class:`skanchor.EmbeddingCache`: entries are keyed by the
SHA-256 of the text, inside a space keyed by the frozen part's identity (a hash of its weights,
its tokenizer and ``max_length``), so a changed model can never read stale states; only texts
actually seen are stored; states are float16 (half the memory of float32; 384-d MiniLM states
of a 64-token text take 48 KiB). In memory the cache is bounded (least recently used entries
go first); with a ``directory`` it also keeps append-only shards on disk, shared by processes
and sessions, written atomically (:func:`skanchor._io.atomic_path`) and memory-mapped when
read. One cache per identity and folder lives in each process (:func:`get_state_cache`), so
fresh classifiers, clones and unpickled ones share it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from skanchor._hf import quiet_transformers
from skanchor._io import atomic_path, atomic_write
from skanchor._validation import describe

__all__ = [
    "FrozenEncoder",
    "StateCache",
    "StateCacheWarning",
    "clear_state_caches",
    "get_frozen_encoder",
    "get_state_cache",
    "text_digests",
]

_DIGEST_BYTES = 16  # of SHA-256: collisions are out of reach for any corpus
_FORMAT = 1


def text_digests(texts: Sequence[str]) -> list[bytes]:
    """The cache key of each text: the first 16 bytes of the SHA-256 of its UTF-8 encoding."""
    return [hashlib.sha256(t.encode("utf-8")).digest()[:_DIGEST_BYTES] for t in texts]


class StateCacheWarning(UserWarning):
    """A shard of a state cache on disk was unreadable or inconsistent and is ignored."""


# --------------------------------------------------------------------------------------------
# The frozen part of an encoder
# --------------------------------------------------------------------------------------------


class _PassThroughEmbeddings(nn.Module):
    """Stands in for a model's embedding layer: returns the states it is given as
    ``inputs_embeds`` (the only floating-point tensor among its arguments)."""

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        states = kwargs.get("inputs_embeds")
        if states is None:
            states = next(a for a in args if torch.is_tensor(a) and a.is_floating_point())
        return states


def _layer_list(model: nn.Module) -> tuple[nn.Module, str]:
    """``(owner, attribute)`` of the ``nn.ModuleList`` of transformer layers of an encoder."""
    for owner_name, attribute in (("encoder", "layer"), ("transformer", "layer")):
        owner = getattr(model, owner_name, None)
        if owner is not None and isinstance(getattr(owner, attribute, None), nn.ModuleList):
            return owner, attribute
    raise ValueError(
        f"{type(model).__name__} has no encoder.layer or transformer.layer list: "
        "TopLayersClassifier needs a BERT-style encoder (BERT, MiniLM, RoBERTa, MPNet, "
        "DistilBERT, ...)"
    )


class FrozenEncoder:
    """An encoder split into a frozen lower part and a pristine copy of its top layers.

    Parameters
    ----------
    checkpoint : str
        A Hugging Face model id or local directory (``AutoModel`` and ``AutoTokenizer``).
    n_trainable_layers : int
        How many of the top transformer layers :meth:`upper` copies; the embeddings and the
        layers below are frozen (evaluation mode, no gradients). 0: the whole encoder is
        frozen and the upper part only pools.
    device : str or torch.device
        Where the frozen part runs.

    Attributes
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
    hidden_size, n_layers, n_frozen : int
    identity : str
        SHA-256 over the frozen weights, the tokenizer and ``n_frozen``: the cache space.
    """

    def __init__(
        self, checkpoint: str, n_trainable_layers: int, device: Any = "cpu", quiet: bool = True
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        with quiet_transformers(quiet):
            try:
                self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
                model = AutoModel.from_pretrained(checkpoint)
            except (OSError, ValueError) as exc:
                raise ValueError(
                    f"checkpoint={describe(checkpoint, 300)} could not be loaded as a Hugging "
                    f"Face encoder and tokenizer: {exc}"
                ) from exc
        # transformers >= 5.25 swaps Hub kernels into a model on load and again on every
        # train()/eval() switch, finding the device from a parameter: the upper part cut
        # below has none when n_trainable_layers=0. The cut model keeps torch's own layers.
        if getattr(model, "use_kernels", False):
            model.use_kernels = False
        if self.tokenizer.pad_token is None:
            raise ValueError(
                f"the tokenizer of checkpoint={describe(checkpoint, 300)} has no padding token"
            )
        owner, attribute = _layer_list(model)
        layers = list(getattr(owner, attribute))
        self.n_layers = len(layers)
        if n_trainable_layers > self.n_layers:
            raise ValueError(
                f"n_trainable_layers={n_trainable_layers} exceeds the {self.n_layers} layers of "
                f"checkpoint={describe(checkpoint, 300)}"
            )
        self.n_frozen = self.n_layers - n_trainable_layers
        self.hidden_size = int(model.config.hidden_size)
        self.device = device
        model.eval()
        # The upper part: the same model class (its own masks, position biases) without the
        # embedding table and the frozen layers; it reads the cached states as inputs_embeds.
        # Pooling is the classifier's (mean or first token): BERT's pooler is not used.
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        embeddings = model.embeddings
        model.embeddings = _PassThroughEmbeddings()
        setattr(owner, attribute, nn.ModuleList(layers[self.n_frozen :]))
        self._upper = copy.deepcopy(model).cpu()
        model.embeddings = embeddings
        setattr(owner, attribute, nn.ModuleList(layers[: self.n_frozen]))
        self.lower = model.requires_grad_(False).to(device)
        self.identity = self._identity()

    def _identity(self) -> str:
        h = hashlib.sha256()
        h.update(f"{type(self.lower).__name__}:{self.n_frozen}:{_FORMAT}".encode())
        for name, tensor in sorted(self.lower.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        h.update((backend.to_str() if backend is not None else repr(self.tokenizer)).encode())
        return h.hexdigest()

    def upper(self) -> nn.Module:
        """A fresh copy of the pretrained top layers (the model with its embedding table
        replaced by a pass-through: call it with ``inputs_embeds=states``)."""
        return copy.deepcopy(self._upper)

    def encode(self, texts: Sequence[str], max_length: int, batch_size: int) -> list[np.ndarray]:
        """The frozen states of each text, ``(n_tokens, hidden_size)`` float16, texts truncated
        to ``max_length`` tokens; batches of similar lengths (no padding wasted)."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(lengths, kind="stable")
        out: list[np.ndarray | None] = [None] * len(texts)
        keys = [k for k in encoded.keys() if k in ("input_ids", "attention_mask", "token_type_ids")]
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self.tokenizer.pad(
                    {k: [encoded[k][i] for i in rows] for k in keys}, return_tensors="pt"
                )
                batch = {k: v.to(self.device) for k, v in batch.items()}
                states = self.lower(**batch).last_hidden_state
                states = states.to(torch.float16).cpu().numpy()
                for j, i in enumerate(rows):
                    out[i] = np.ascontiguousarray(states[j, : lengths[i]])
        return out  # type: ignore[return-value]


_ENCODERS: dict[tuple, FrozenEncoder] = {}
_CACHES: dict[tuple, StateCache] = {}
_LOCK = threading.Lock()


def get_frozen_encoder(
    checkpoint: str, n_trainable_layers: int, device: Any = "cpu", quiet: bool = True
) -> FrozenEncoder:
    """The process's :class:`FrozenEncoder` for these arguments (loaded on first use)."""
    key = (str(checkpoint), int(n_trainable_layers), str(device))
    with _LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = FrozenEncoder(checkpoint, n_trainable_layers, device, quiet)
        return _ENCODERS[key]


def get_state_cache(
    identity: str, max_bytes: int, directory: str | Path | None = None
) -> StateCache:
    """The process's :class:`StateCache` for ``identity`` and ``directory`` (its memory bound
    set to ``max_bytes``, the latest caller's)."""
    folder = None if directory is None else Path(directory).expanduser().resolve()
    key = (identity, None if folder is None else str(folder))
    with _LOCK:
        if key not in _CACHES:
            _CACHES[key] = StateCache(identity, max_bytes, folder)
        cache = _CACHES[key]
        cache.max_bytes = int(max_bytes)
        return cache


def clear_state_caches() -> None:
    """Release the process's frozen encoders and in-memory states (disk shards stay)."""
    with _LOCK:
        _ENCODERS.clear()
        _CACHES.clear()


# --------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------


class StateCache:
    """Frozen states by text digest: a bounded in-memory LRU over optional disk shards.

    Parameters
    ----------
    identity : str
        The frozen part's identity (:attr:`FrozenEncoder.identity` and ``max_length``).
    max_bytes : int
        Bound on the states held in memory; least recently used entries are dropped first
        (they stay on disk when there is a ``directory``).
    directory : pathlib.Path or None
        Folder for the shards of every identity (one sub-folder per identity). None: memory
        only.

    Attributes
    ----------
    hits, misses : int
        Texts found (in memory or on disk) and not found, over the cache's life.
    """

    def __init__(self, identity: str, max_bytes: int, directory: Path | None = None) -> None:
        self.identity = identity
        self.max_bytes = int(max_bytes)
        self.folder = None if directory is None else Path(directory) / identity[:40]
        self.hits = 0
        self.misses = 0
        self._memory: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._disk: dict[bytes, tuple[int, int, int]] = {}  # digest -> shard, offset, length
        self._shards: list[np.ndarray] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    @property
    def n_bytes(self) -> int:
        """Bytes of states held in memory."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, digests: Sequence[bytes]) -> list[np.ndarray | None]:
        """The cached states of each digest, or None where absent."""
        with self._lock:
            out: list[np.ndarray | None] = []
            scanned = False
            for digest in digests:
                states = self._memory.get(digest)
                if states is not None:
                    self._memory.move_to_end(digest)
                elif self.folder is not None:
                    if digest not in self._disk and not scanned:
                        self._scan()
                        scanned = True
                    where = self._disk.get(digest)
                    if where is not None:
                        shard, offset, length = where
                        states = np.array(self._shards[shard][offset : offset + length])
                        self._remember(digest, states)
                out.append(states)
            found = sum(s is not None for s in out)
            self.hits += found
            self.misses += len(out) - found
            return out

    def put(self, digests: Sequence[bytes], states: Sequence[np.ndarray]) -> None:
        """Store new states (float16 ``(n_tokens, dim)`` arrays); written to disk as one shard
        when the cache has a folder."""
        with self._lock:
            new = [(d, s) for d, s in zip(digests, states, strict=True) if d not in self._disk]
            for digest, array in zip(digests, states, strict=True):
                if digest not in self._memory:
                    self._remember(digest, array)
            if self.folder is not None and new:
                self._write_shard(new)

    # -- memory ------------------------------------------------------------------------------
    def _remember(self, digest: bytes, states: np.ndarray) -> None:
        self._memory[digest] = states
        self._bytes += states.nbytes
        while self._bytes > self.max_bytes and len(self._memory) > 1:
            _, dropped = self._memory.popitem(last=False)
            self._bytes -= dropped.nbytes

    # -- disk --------------------------------------------------------------------------------
    def _write_shard(self, entries: list[tuple[bytes, np.ndarray]]) -> None:
        assert self.folder is not None
        name = f"shard-{uuid.uuid4().hex}"
        lengths = np.array([s.shape[0] for _, s in entries], dtype=np.int64)
        index = np.zeros(
            len(entries), dtype=[("digest", f"S{_DIGEST_BYTES}"), ("offset", "<i8"), ("n", "<i8")]
        )
        index["digest"] = [d for d, _ in entries]
        index["offset"] = np.r_[0, np.cumsum(lengths)[:-1]]
        index["n"] = lengths
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            identity = self.folder / "identity.json"
            if not identity.exists():
                atomic_write(
                    identity,
                    lambda f: json.dump({"identity": self.identity, "format": _FORMAT}, f),
                    text=True,
                )
            with atomic_path(self.folder / f"{name}.states.npy") as tmp:
                np.save(tmp, np.concatenate([s for _, s in entries]).astype(np.float16))
            with atomic_path(self.folder / f"{name}.index.npy") as tmp:  # the commit
                np.save(tmp, index)
        except OSError as exc:
            warnings.warn(
                f"state cache folder {str(self.folder)!r} is not writable ({exc}); states are "
                "kept in memory only",
                StateCacheWarning,
                stacklevel=4,
            )
            return
        self._seen.add(name)
        self._add_shard(np.load(self.folder / f"{name}.states.npy", mmap_mode="r"), index)

    def _add_shard(self, states: np.ndarray, index: np.ndarray) -> None:
        shard = len(self._shards)
        self._shards.append(states)
        for digest, offset, n in index.tolist():
            self._disk.setdefault(digest, (shard, offset, n))

    def _scan(self) -> None:
        """Load the index of shards written since the last scan (by any process)."""
        if self.folder is None or not self.folder.is_dir():
            return
        identity = self.folder / "identity.json"
        try:
            stored = json.loads(identity.read_text()).get("identity")
        except (OSError, ValueError, AttributeError):
            stored = None
        if stored != self.identity:
            if identity.exists():
                warnings.warn(
                    f"{identity} names another model's states; the folder is ignored",
                    StateCacheWarning,
                    stacklevel=4,
                )
            return
        for path in sorted(self.folder.glob("shard-*.index.npy")):
            name = path.name[: -len(".index.npy")]
            if name in self._seen:
                continue
            self._seen.add(name)
            try:
                index = np.load(path, allow_pickle=False)
                states = np.load(self.folder / f"{name}.states.npy", mmap_mode="r")
                dim = self._dim()
                ends = index["offset"] + index["n"]
                if (
                    states.dtype != np.float16
                    or states.ndim != 2
                    or (dim is not None and states.shape[1] != dim)
                    or index["digest"].dtype.itemsize != _DIGEST_BYTES
                    or (len(index) and (index["offset"].min() < 0 or ends.max() > len(states)))
                ):
                    raise ValueError("shape, dtype or offsets do not match")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                warnings.warn(
                    f"state cache shard {path} is unreadable and ignored: {exc}",
                    StateCacheWarning,
                    stacklevel=4,
                )
                continue
            self._add_shard(states, index)

    def _dim(self) -> int | None:
        for states in self._shards:
            return int(states.shape[1])
        for states in self._memory.values():
            return int(states.shape[1])
        return None
