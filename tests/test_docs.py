"""The runnable examples in the docstrings stay runnable."""

import doctest
import importlib
import pkgutil

import pytest

import skanchor

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(skanchor.__path__, prefix="skanchor.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_main_classes_have_examples():
    for name in (
        "AnchoredQueryStrategy",
        "AnchorSubpool",
        "RandomSubpool",
        "SEALSSubpool",
        "FullPool",
        "HNSWIndex",
        "ExactIndex",
        "AnchorTransformer",
        "SentenceEmbedder",
        "EmbeddingCache",
        "TransformerClassifier",
    ):
        assert ">>>" in getattr(skanchor, name).__doc__, name
