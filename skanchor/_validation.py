"""Input checks shared by the public boundary: each error names the parameter and the value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "check_ids",
    "check_texts",
    "check_vectors",
]


def describe(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Floats represent every integer exactly only up to 2**53; a larger float id is already rounded.
_MAX_EXACT_FLOAT_ID = 2**53


def _float_ids(arr: np.ndarray, name: str) -> np.ndarray:
    """Float ids that hold whole numbers, as int64; anything else raises naming ``name``."""
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ValueError(f"{name} holds {arr[bad]} at position {bad}: ids must be integers")
    too_big = np.abs(arr) > _MAX_EXACT_FLOAT_ID
    if too_big.any():
        bad = int(np.argmax(too_big))
        raise ValueError(
            f"{name} holds the float {arr[bad]:g} at position {bad}: floats beyond 2**53 are "
            "not exact integers; pass ids as an integer array"
        )
    fractional = np.mod(arr, 1) != 0
    if fractional.any():
        bad = int(np.argmax(fractional))
        raise TypeError(
            f"{name} must hold integer ids, got {arr[bad]} at position {bad} (dtype {arr.dtype})"
        )
    return arr.astype(np.int64)


def check_vectors(
    vectors: Any,
    name: str = "vectors",
    *,
    dim: int | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, d) array of finite, non-zero rows.

    Cosine similarity is undefined for a zero vector, so all-zero rows are an error rather
    than a silent NaN further down; so are values that float32 cannot hold and sparse
    matrices. Rows of any other magnitude (``1e20`` or ``1e-30``) are valid: normalising them
    is the index's job; a float64 row too small for float32 is rescaled (its direction kept).
    """
    if sp.issparse(vectors):
        raise TypeError(
            f"{name} is a sparse matrix: the index stores dense vectors; reduce it first (e.g. "
            "TruncatedSVD) or pass .toarray() if its dimension is small"
        )
    arr = np.asarray(vectors)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    if arr.ndim == 1 and dim is not None and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (n_items, dim), got shape {arr.shape}")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} has dimension {arr.shape[1]}, expected {dim}")
    if not arr.size:
        return np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise ValueError(f"{name} contains NaN or inf (first bad row: {np.argmin(finite)})")
    limit = np.finfo(np.float32).max
    if (
        arr.dtype.kind == "f"
        and arr.dtype.itemsize > 4
        and (arr.max() > limit or arr.min() < -limit)
    ):
        bad = int(np.argmax((np.abs(arr) > limit).any(axis=1)))
        raise ValueError(
            f"{name} holds values beyond the float32 range (first in row {bad}, e.g. "
            f"{np.abs(arr[bad]).max():.3g}): vectors are stored as float32; rescale them"
        )
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        # rows too small for float32 (they would round to zero) are rescaled first: the
        # index compares directions only
        scale = np.abs(arr).max(axis=1)
        tiny = (scale > 0) & (scale < 1e-30)
        if tiny.any():
            arr = arr.copy()
            arr[tiny] /= scale[tiny, None]
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    # An exactly-zero row, not a zero norm: a tiny or huge row has a norm that under- or
    # overflows in float32 but a perfectly good direction (see index.base._unit_rows).
    nonzero = arr.any(axis=1)
    if not nonzero.all():
        raise ValueError(
            f"{name} has a zero-norm row (row {np.argmin(nonzero)}); cosine similarity is "
            "undefined for it"
        )
    return arr


def check_ids(
    ids: Any,
    name: str = "ids",
    *,
    unique: bool = True,
    allow_empty: bool = True,
) -> np.ndarray:
    """Return ``ids`` as a 1-d int64 array of non-negative integers (unique if asked).

    Float ids are accepted when they hold whole numbers up to 2**53 (beyond it a float is no
    longer an exact integer); NaN, inf and fractions are errors naming ``name``.
    """
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of integer ids, got shape {arr.shape}")
    if arr.size == 0:
        if not allow_empty:
            raise ValueError(f"{name} is empty")
        return np.empty(0, dtype=np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        arr = _float_ids(arr, name)
    elif arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"{name} must be non-negative, got {int(arr.min())}")
    if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds an id too large for int64: {int(arr.max())}")
    arr = arr.astype(np.int64, copy=False)
    if unique:
        uniq, counts = np.unique(arr, return_counts=True)
        if uniq.size != arr.size:
            raise ValueError(f"{name} holds duplicated ids, e.g. {int(uniq[counts > 1][0])}")
    return arr


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
            f"{describe(X)}; wrap it in a list"
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
        raise TypeError(f"{name} must be a sequence of texts, got {describe(X)}")
    if not texts:
        raise ValueError(f"{name} is empty: there are no texts")
    for i, text in enumerate(texts):
        if isinstance(text, str):
            if type(text) is not str:  # numpy.str_ and other subclasses
                text = texts[i] = str(text)
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise ValueError(
                        f"{name}[{i}] is not valid Unicode text: a lone surrogate "
                        f"{text[exc.start]!r} at position {exc.start}"
                    ) from None
            continue
        hint = "; decode it first" if isinstance(text, (bytes, bytearray)) else ""
        raise TypeError(
            f"{name}[{i}] must be a str, got {describe(text)} ({type(text).__name__}){hint}"
        )
    return texts
