"""The vector index protocol: what a pool filter needs from a nearest-neighbour store.

An index holds unit-normalised vectors under stable non-negative integer ids. Labelled
items are *masked*: they stay in the index (their vectors are still readable with
:meth:`VectorIndex.vectors`, so anchors can be built from them) but :meth:`VectorIndex.search`
never returns them. Similarities are cosine similarities (higher is closer).
"""

from __future__ import annotations

import abc
import os
from typing import ClassVar

import numpy as np

__all__ = ["VectorIndex"]


class VectorIndex(abc.ABC):
    """Abstract base of :class:`~skanchor.ExactIndex` and :class:`~skanchor.HNSWIndex`.

    Contract (every implementation):

    - ``add(vectors, ids=None)`` stores rows; ``ids`` default to ``n_items, n_items + 1, ...``.
      Re-using an id is an error.
    - ``search(queries, k)`` returns ``(ids, similarities)``, both shaped
      ``(n_queries, min(k, n_live))``, ids ``int64`` and similarities ``float32``, each row sorted
      by decreasing similarity, over live (unmasked) items only.
    - ``mask(ids)`` / ``unmask(ids)`` hide / restore items; ``is_masked(ids)`` reads the state.
    - ``vectors(ids)`` returns the stored unit-norm ``float32`` rows, masked or not.
    - ``contains(ids)`` tells which ids are stored; ``ids()`` lists every stored id (O(N)).
    - ``save(path)`` / ``load(path)`` round-trip everything, masks and search settings included.
    - ``len(index)`` is the number of live items; ``n_items`` counts masked ones too.
    """

    #: Short name used in reprs and by the experiment layer.
    kind: ClassVar[str] = "abstract"

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Dimension of the stored vectors."""

    @property
    @abc.abstractmethod
    def n_items(self) -> int:
        """Number of stored items, masked ones included."""

    @property
    @abc.abstractmethod
    def n_masked(self) -> int:
        """Number of masked items."""

    def __len__(self) -> int:
        return self.n_items - self.n_masked

    @abc.abstractmethod
    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
        """Store ``vectors`` (n, dim) under ``ids`` (n,); return ``self``."""

    @abc.abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``min(k, len(self))`` most similar live items of each query row."""

    @abc.abstractmethod
    def mask(self, ids: np.ndarray) -> None:
        """Hide ``ids`` from :meth:`search` (idempotent)."""

    @abc.abstractmethod
    def unmask(self, ids: np.ndarray) -> None:
        """Make ``ids`` searchable again (idempotent)."""

    @abc.abstractmethod
    def is_masked(self, ids: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``ids`` are masked."""

    @abc.abstractmethod
    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``ids`` are stored."""

    @abc.abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored unit-norm vectors of ``ids`` as a float32 (len(ids), dim) array."""

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """Every stored id (masked ones included) as a sorted int64 array. O(N)."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ``path`` (a directory); :meth:`load` reads it back."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | os.PathLike) -> VectorIndex:
        """Read an index written by :meth:`save`."""
