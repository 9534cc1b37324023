"""Shared fixtures: clustered synthetic embeddings and the location of the real corpora."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """``$SKANCHOR_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    for candidate in (os.environ.get("SKANCHOR_DATA"), REPO.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def clustered(
    n: int = 2000, dim: int = 32, n_clusters: int = 10, seed: int = 0, spread: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters around random unit centres; returns (vectors, cluster labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, size=n)
    vectors = centres[labels] + spread / np.sqrt(dim) * rng.normal(size=(n, dim))
    return vectors.astype(np.float32), labels


@pytest.fixture(scope="session")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    return clustered()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if path is None:
        pytest.skip("real corpora not found: set SKANCHOR_DATA or place ../shared/data")
    return path
