"""The core (index -> anchors -> subpool -> strategies -> query) is light and knows no
integration: importing it loads neither modAL, skorch nor torch, nor any leaf module."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = ["skanchor.query", "skanchor.subpool", "skanchor.anchors", "skanchor.strategies",
        "skanchor.index"]  # fmt: skip
FORBIDDEN = ["modAL", "skorch", "torch", "transformers", "sentence_transformers"]
LEAVES = ["skanchor.integrations", "skanchor.experiments", "skanchor.label", "skanchor.models",
          "skanchor.embed"]  # fmt: skip


def test_core_imports_no_integration():
    """One fresh process (``import skanchor.<any core module>`` loads the package, and with it
    the whole core): nothing heavy, no leaf module."""
    code = textwrap.dedent(
        f"""
        import sys
        import {", ".join(CORE)}
        loaded = sorted(sys.modules)
        bad = [m for m in loaded if m.split(".")[0] in {FORBIDDEN!r}]
        bad += [m for m in loaded if any(m == p or m.startswith(p + ".") for p in {LEAVES!r})]
        assert not bad, bad
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_modal_learner_query_does_not_touch_modal():
    """Called by a modAL learner, the core neither imports the modAL adapter nor patches modAL:
    that is the user's one documented line, ``patch_modal()``."""
    pytest.importorskip("modAL")
    code = textwrap.dedent(
        """
        import sys, warnings
        import numpy as np
        from modAL.models import ActiveLearner
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer
        from skanchor import AnchoredQueryStrategy, AnchorSubpool, ExactIndex

        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(200, 8))
        y = (vectors[:, 0] > 0).astype(int)
        query = AnchoredQueryStrategy(AnchorSubpool(ExactIndex().add(vectors), n_anchors=2))
        learner = ActiveLearner(
            make_pipeline(FunctionTransformer(vectors.__getitem__), LogisticRegression()),
            query_strategy=query, X_training=np.arange(10), y_training=y[:10],
        )
        query_before = type(learner).query
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learner.query(np.arange(10, 200), n_instances=3)
        assert len(query.queries_) == 1
        assert type(learner).query is query_before, "modAL was patched"
        assert "skanchor.integrations.modal" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
