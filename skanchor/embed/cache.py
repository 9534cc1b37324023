"""The on-disk embedding cache: :class:`EmbeddingCache` and its shard format.

Layout of a cache directory::

    <cache>/
        <slug>-<sha256 of the model key>/      one folder per model key
            identity.json                      what the key stands for (SentenceEmbedder)
            shard-<time>-<pid>-<random>.npz    append-only shards of vectors
            shard-....npz.rejected             shards that failed a check (kept for inspection)

A folder name is a readable slug of the key's first 32 characters (letters, digits, ``-``
and ``_`` only) followed by the sha256 of the full key, so any key (``".."``, an absolute
path, a NUL, two keys sharing their first 32 characters) gets a folder of its own inside the
cache. Each shard records the full key in its metadata and is only used for that key.

Caches written before this layout kept a key's shards in a folder named by the key's first
32 characters. Those *legacy* folders are still read (never written): their shards of the key
are used, shards of other keys sharing the prefix are skipped without a warning, and new
vectors go to the new folder. Nothing is moved, so older skanchor versions sharing the
directory keep working.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
import warnings
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from skanchor._io import atomic_write
from skanchor._validation import check_texts

__all__ = ["EmbeddingCache", "EmbeddingCacheWarning"]

_CACHE_FORMAT = "skanchor.embedding-cache"
_CACHE_VERSION = 1
_KEY_DTYPE = np.dtype("S32")  # sha256 digest of the UTF-8 text
_VEC_DTYPE = np.dtype("<f4")
_SHARD_PREFIX = "shard-"
_SHARD_SUFFIX = ".npz"
_REJECTED_SUFFIX = ".rejected"
_IDENTITY_FILE = "identity.json"
_NORM_TOLERANCE = 1e-3
#: Characters of the key shown in its folder name (and the length of a legacy folder name).
_SLUG_LENGTH = 32
#: A legacy folder name that stays inside the cache: no separator, NUL or leading dot.
_LEGACY_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class EmbeddingCacheWarning(UserWarning):
    """A cache shard was unreadable or inconsistent and is ignored (its texts are re-embedded)."""


def _text_digests(texts: list[str]) -> np.ndarray:
    """sha256 of each text's UTF-8 bytes as an (n,) ``S32`` array."""
    sha = hashlib.sha256
    return np.array(
        [sha(t.encode("utf-8", "surrogatepass")).digest() for t in texts], dtype=_KEY_DTYPE
    )


def _checksum(keys: np.ndarray, vectors: np.ndarray) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(keys))
    digest.update(np.ascontiguousarray(vectors))
    return digest.hexdigest()


def _folder_name(model_key: str) -> str:
    """The folder of ``model_key``: a readable slug of its start and the sha256 of all of it."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", model_key[:_SLUG_LENGTH]).strip("_") or "key"
    digest = hashlib.sha256(model_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{slug}-{digest}"


def _legacy_folder_name(model_key: str) -> str | None:
    """The folder the key's shards had before the slug-and-hash layout, if it was safe."""
    name = model_key[:_SLUG_LENGTH]
    return name if _LEGACY_NAME.fullmatch(name) else None


def _check_key(model_key: str) -> str:
    if not model_key:
        raise ValueError("model_key must be a non-empty string, got ''")
    return model_key


class _Space:
    """The loaded shards of one model key: sorted digests, and where each vector lives."""

    def __init__(self, key: str, directory: Path, legacy: Path | None):
        self.key = key
        self.directory = directory
        self.legacy = legacy
        self.seen: set[str] = set()  # shard paths already loaded (or rejected, or foreign)
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

    Layout: one folder per model key (:attr:`SentenceEmbedder.model_key_
    <skanchor.embed.SentenceEmbedder.model_key_>`, or any non-empty string given to
    :meth:`store`), named by a readable slug of the key and the key's full sha256 (see
    :meth:`directory`), holding a readable ``identity.json`` and append-only *shards*:
    ``shard-*.npz`` files of ``keys`` (sha256 of each UTF-8 text), ``vectors`` (float32) and
    ``meta`` (format, full model key, shape, sha256 checksum). Each shard is written to a
    temporary file and moved into place (``skanchor._io.atomic_write``), so processes
    sharing the directory never see half-written shards and never contend on a common
    manifest: the directory listing is the manifest.

    Loaded shards stay in memory (lookups are vectorised binary searches over the sorted
    digests, fine for millions of entries); each lookup rescans the directory and loads only
    shards it has not seen, so vectors written by other processes are picked up.

    A shard that cannot be read or fails a check (truncated or garbled file, checksum
    mismatch, wrong dtype or dimension, another model's key, non-unit vectors) is reported
    with an :class:`EmbeddingCacheWarning`, renamed to ``*.rejected`` and not used; its
    texts are embedded again and stored in a new shard. A directory that cannot be written
    gives a warning too: vectors are still returned, just not cached. Folders of the earlier
    layout (named by the key's first 32 characters) are still read, never written.

    Parameters
    ----------
    path : str or os.PathLike
        Cache directory (created on first write; ``~`` is expanded).

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
    >>> cache.directory("my-model-key").name[:20]
    'my-model-key-1469a8e'
    >>> tmp.cleanup()
    """

    @validate_params({"path": [str, os.PathLike]}, prefer_skip_nested_validation=True)
    def __init__(self, path: str | os.PathLike):
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
    @validate_params(
        {
            "model_key": [str],
            "texts": "no_validation",
            "dim": [None, Interval(Integral, 1, None, closed="left")],
        },
        prefer_skip_nested_validation=True,
    )
    def lookup(
        self, model_key: str, texts: Any, dim: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(found, vectors)``: which texts are cached for ``model_key``, and their vectors.

        Parameters
        ----------
        model_key : str
            The model identity the vectors were stored under (any non-empty string).
        texts : sequence of str
            The texts to look up.
        dim : int, optional
            The expected dimension: shards of another dimension are rejected.

        Returns
        -------
        found : ndarray of bool
            Which of ``texts`` are cached.
        vectors : ndarray of float32
            The rows of the found texts, in order.
        """
        texts = check_texts(texts, "texts")
        return self._get(_check_key(model_key), _text_digests(texts), dim)

    @validate_params(
        {"model_key": [str], "texts": "no_validation", "vectors": ["array-like"]},
        prefer_skip_nested_validation=True,
    )
    def store(self, model_key: str, texts: Any, vectors: Any) -> None:
        """Write the unit-norm ``vectors`` of ``texts`` under ``model_key`` (one new shard).

        Parameters
        ----------
        model_key : str
            The model identity (any non-empty string; see :meth:`directory`).
        texts : sequence of str
            The texts, one per row of ``vectors``.
        vectors : array-like of shape (len(texts), dim)
            Their unit-norm embeddings.
        """
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

    @validate_params({"model_key": [str]}, prefer_skip_nested_validation=True)
    def n_entries(self, model_key: str) -> int:
        """Number of valid cached vectors for ``model_key`` (after loading new shards).

        Parameters
        ----------
        model_key : str
            The model identity.

        Returns
        -------
        int
            Distinct texts cached for it.
        """
        space = self._space(_check_key(model_key))
        self._refresh(space, None)
        return space.n_entries

    @validate_params({"model_key": [str]}, prefer_skip_nested_validation=True)
    def directory(self, model_key: str) -> Path:
        """The folder that holds the shards of ``model_key`` (it may not exist yet).

        Its name is a slug of the key's first 32 characters (letters, digits, ``-``, ``_``)
        and the sha256 of the whole key, so it always lies inside ``path``.

        Parameters
        ----------
        model_key : str
            The model identity (any non-empty string).

        Returns
        -------
        pathlib.Path
            ``path / "<slug>-<sha256 of model_key>"``.
        """
        return self.path / _folder_name(_check_key(model_key))

    # -- internals ---------------------------------------------------------------------------
    def _space(self, key: str) -> _Space:
        space = self._spaces.get(key)
        if space is None:
            legacy = _legacy_folder_name(key)
            space = self._spaces[key] = _Space(
                key, self.path / _folder_name(key), None if legacy is None else self.path / legacy
            )
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
        if space.dim is None:  # a fresh handle: the dimension other handles wrote, if any
            self._refresh(space, None)
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
        name = f"{_SHARD_PREFIX}{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        path = space.directory / f"{name}{_SHARD_SUFFIX}"
        try:
            if identity is not None and not (space.directory / _IDENTITY_FILE).exists():
                atomic_write(
                    space.directory / _IDENTITY_FILE,
                    lambda f: json.dump({"model_key": key, **identity}, f, indent=2),
                    text=True,
                )
            atomic_write(
                path,
                lambda f: np.savez(
                    f, keys=digests, vectors=vectors, meta=np.array(json.dumps(meta))
                ),
            )
            space.seen.add(str(path))
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
        new = []
        for folder, legacy in ((space.legacy, True), (space.directory, False)):
            if folder is None:
                continue
            try:
                paths = sorted(
                    entry.path
                    for entry in os.scandir(folder)
                    if entry.name.startswith(_SHARD_PREFIX)
                    and entry.name.endswith(_SHARD_SUFFIX)
                    and entry.path not in space.seen
                )
            except (FileNotFoundError, NotADirectoryError):
                continue
            for path in paths:
                space.seen.add(path)
                loaded = self._load_shard(space, Path(path), dim, legacy)
                if loaded is not None:
                    new.append(loaded)
                    if space.dim is None:
                        space.dim = loaded[1].shape[1]
        space.merge(new)

    def _load_shard(
        self, space: _Space, path: Path, dim: int | None, legacy: bool
    ) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if (
                    legacy
                    and isinstance(meta, dict)
                    and meta.get("format") == _CACHE_FORMAT
                    and meta.get("model_key") != space.key
                ):
                    return None  # a legacy folder is shared by keys with the same first 32 chars
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
            # a sound shard, only not what this caller expects: skipped, never quarantined
            return self._reject(path, f"dimension {shard_dim}, expected {expected}", keep=True)
        if meta.get("checksum") != _checksum(keys, vectors):
            return self._reject(path, "checksum mismatch")
        if n and not np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1) < _NORM_TOLERANCE):
            return self._reject(path, "holds vectors that are not unit-norm (or not finite)")
        return keys, vectors

    def _reject(self, path: Path, reason: str, keep: bool = False) -> None:
        """Warn that the shard at ``path`` is not used; unless ``keep``, rename it aside."""
        where = ""
        if not keep:
            target = path.with_name(path.name + _REJECTED_SUFFIX)
            try:
                os.replace(path, target)
                where = f"; renamed to {target.name}"
            except OSError:
                pass
        warnings.warn(
            f"embedding cache: ignoring shard {str(path)!r}: {reason}{where}. "
            "Its texts will be embedded again.",
            EmbeddingCacheWarning,
            stacklevel=4,
        )
        return None
