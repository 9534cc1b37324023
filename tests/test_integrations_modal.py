"""skanchor.integrations.modal against the real modAL, both releases in every environment.

The environment's modAL is tested in this process: 0.4.1 where pip resolved it (beside
skorch>=1.0, e.g. a fresh CI venv), 0.4.2.1 where it was installed without its skorch==0.9.0
pin. The other release runs in a subprocess, from the folder that
``.ci/install-modal-compat.sh`` fills (``.modal-compat/modal041`` or ``modal0421``). Fixtures
save and restore modAL's patched names, so each test sees modAL patched or unpatched as it
asks, whatever ran before it.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from skanchor.integrations import modal as skmodal
from skanchor.integrations.modal import (
    format_query_result,
    is_patched,
    modal_strategy,
    modal_version,
    patch_modal,
)

modAL_models = pytest.importorskip("modAL.models")
from modAL.models import ActiveLearner, Committee  # noqa: E402
from modAL.models.base import BaseCommittee, BaseLearner  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = ".ci/install-compat.sh"


# --- fixtures ---------------------------------------------------------------------------------


def _remember_modal_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make monkeypatch restore every name patch_modal() may replace, as it is now."""
    base = sys.modules["modAL.models.base"]
    for owner in skmodal._query_owners(base):
        monkeypatch.setattr(owner, "query", owner.__dict__["query"])
    for module in skmodal._modal_modules():
        for name in skmodal._FUNCTION_SHIMS:  # check_X_y, data_vstack
            if callable(module.__dict__.get(name)):
                monkeypatch.setattr(module, name, module.__dict__[name])


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> None:
    _remember_modal_names(monkeypatch)
    patch_modal()
    assert is_patched()


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """modAL as released for this test, even if something patched it before."""
    _remember_modal_names(monkeypatch)
    base = sys.modules["modAL.models.base"]
    for owner in skmodal._query_owners(base):
        query = owner.__dict__["query"]
        if getattr(query, "__skanchor_patched__", False):
            monkeypatch.setattr(owner, "query", query.__wrapped__)
    for module in skmodal._modal_modules():
        for name in skmodal._FUNCTION_SHIMS:
            func = module.__dict__.get(name)
            if getattr(func, "__skanchor_patched__", False):
                monkeypatch.setattr(module, name, func.__wrapped__)
    assert not is_patched()


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _seed(y: np.ndarray, per_class: int = 5) -> np.ndarray:
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])


class CountingStrategy:
    """Least-confidence sampling that counts its calls; returns (positions, scores) or bare."""

    def __init__(self, shape: str) -> None:
        self.shape = shape
        self.calls = 0
        self.last_scores: np.ndarray | None = None

    def __call__(self, classifier, X, n_instances=1):
        self.calls += 1
        uncertainty = 1.0 - classifier.predict_proba(X).max(axis=1)
        positions = np.argsort(-uncertainty, kind="stable")[:n_instances]
        self.last_scores = uncertainty[positions]
        if self.shape == "scored":
            return positions, self.last_scores
        return positions


def _learner(data, strategy) -> ActiveLearner:
    X, y = data
    seed = _seed(y)
    return ActiveLearner(
        LogisticRegression(max_iter=1000),
        query_strategy=strategy,
        X_training=X[seed],
        y_training=y[seed],
    )


def _needs_return_metrics() -> None:
    if "return_metrics" not in inspect.signature(BaseLearner.query).parameters:
        pytest.skip("this modAL's query has no return_metrics (modAL < 0.4.2)")


# --- the traps exist (skipped once a modAL release fixes them) --------------------------------


def test_unpatched_modal_calls_a_bare_index_strategy_twice(unpatched, data):
    if (modal_version() or (0,)) < (0, 4, 2):
        pytest.skip("modAL < 0.4.2 does not unpack (indices, scores)")
    strategy = CountingStrategy("bare")
    learner = _learner(data, strategy)
    learner.query(data[0], n_instances=3)
    if strategy.calls == 1:
        pytest.skip("this modAL calls a bare-index strategy once: trap fixed upstream")
    assert strategy.calls == 2


def test_unpatched_modal_collapses_two_bare_indices_to_one(unpatched, data):
    if (modal_version() or (0,)) < (0, 4, 2):
        pytest.skip("modAL < 0.4.2 does not unpack (indices, scores)")
    strategy = CountingStrategy("bare")
    idx, _ = _learner(data, strategy).query(data[0], n_instances=2)
    if np.ndim(idx) == 1:
        pytest.skip("this modAL keeps two bare indices: trap fixed upstream")
    assert np.ndim(idx) == 0


def test_unpatched_teach_fails_on_this_scikit_learn(unpatched, data):
    from sklearn.utils import check_X_y

    if "force_all_finite" in inspect.signature(check_X_y).parameters:
        pytest.skip("this scikit-learn still accepts force_all_finite")
    X, y = data
    learner = _learner(data, CountingStrategy("scored"))
    try:
        learner.teach(X[:2], y[:2])
    except TypeError as exc:
        assert "force_all_finite" in str(exc)
    else:
        pytest.skip("this modAL no longer passes force_all_finite: trap fixed upstream")


# --- patch_modal --------------------------------------------------------------------------------


def test_patch_modal_is_idempotent_and_keeps_signatures(unpatched):
    assert patch_modal() is True
    assert is_patched()
    assert patch_modal() is False
    assert is_patched()
    for cls in (BaseLearner, BaseCommittee):
        query = cls.__dict__["query"]
        assert query.__skanchor_patched__ is True
        assert inspect.signature(query) == inspect.signature(query.__wrapped__)
        assert query.__doc__ == query.__wrapped__.__doc__
        assert query.__name__ == "query"
    for name in ("check_X_y", "data_vstack", "retrieve_rows"):
        shims = [vars(m)[name] for m in skmodal._modal_modules() if name in vars(m)]
        assert shims and all(f.__skanchor_patched__ for f in shims), name


@pytest.mark.parametrize("shape", ["scored", "bare"])
def test_patched_loop_three_rounds(patched, data, shape):
    X, y = data
    strategy = CountingStrategy(shape)
    learner = _learner(data, strategy)
    pool = np.setdiff1d(np.arange(len(y)), _seed(y))
    n_start = len(learner.y_training)
    for round_ in range(3):
        idx, rows = learner.query(X[pool], n_instances=5)
        assert strategy.calls == round_ + 1
        assert np.asarray(idx).shape == (5,)
        np.testing.assert_array_equal(rows, X[pool][idx])
        learner.teach(X[pool][idx], y[pool][idx])
        pool = np.delete(pool, idx)
    assert len(learner.y_training) == n_start + 15
    assert learner.score(X, y) > 0.9


@pytest.mark.parametrize("shape", ["scored", "bare"])
def test_patched_query_keeps_exactly_two_indices(patched, data, shape):
    strategy = CountingStrategy(shape)
    idx, rows = _learner(data, strategy).query(data[0], n_instances=2)
    assert strategy.calls == 1
    assert np.asarray(idx).shape == (2,)
    assert rows.shape == (2, data[0].shape[1])


def test_patched_query_accepts_a_tuple_of_indices(patched, data):
    learner = _learner(data, lambda clf, X, n_instances=1: (4, 8, 15))
    idx, rows = learner.query(data[0])
    np.testing.assert_array_equal(idx, [4, 8, 15])
    np.testing.assert_array_equal(rows, data[0][[4, 8, 15]])


def test_patched_query_calls_a_failing_strategy_once(patched, data):
    calls = []

    def failing(classifier, X, n_instances=1):
        calls.append(1)
        raise ValueError("strategy failed")

    with pytest.raises(ValueError, match="strategy failed"):
        _learner(data, failing).query(data[0])
    assert len(calls) == 1


def test_patched_query_return_metrics(patched, data):
    _needs_return_metrics()
    strategy = CountingStrategy("scored")
    idx, rows, metrics = _learner(data, strategy).query(data[0], n_instances=3, return_metrics=True)
    assert strategy.calls == 1
    assert np.asarray(idx).shape == (3,)
    np.testing.assert_array_equal(rows, data[0][idx])
    np.testing.assert_array_equal(metrics, strategy.last_scores)

    bare = CountingStrategy("bare")
    with pytest.warns(UserWarning, match="return_metrics"):
        _, _, metrics = _learner(data, bare).query(data[0], n_instances=3, return_metrics=True)
    assert bare.calls == 1
    assert metrics is None


def test_patched_teach_fit_and_finite_check(patched, data):
    X, y = data
    learner = _learner(data, CountingStrategy("scored"))
    n = len(learner.y_training)
    learner.teach(X[:4], y[:4])
    assert len(learner.y_training) == n + 4
    learner.teach(X[_seed(y, 2)], y[_seed(y, 2)], only_new=True)
    learner.fit(X[:50], y[:50])
    assert len(learner.y_training) == 50

    module = next(m for m in skmodal._modal_modules() if "check_X_y" in vars(m))
    X_nan = X[:5].copy()
    X_nan[0, 0] = np.nan
    module.check_X_y(X_nan, y[:5], force_all_finite=False)  # passed on under the new name
    with pytest.raises(ValueError, match="NaN"):
        module.check_X_y(X_nan, y[:5], force_all_finite=True)


@pytest.mark.parametrize("shape", ["scored", "bare"])
def test_patched_committee(patched, data, shape):
    X, y = data
    seed = _seed(y)
    members = [
        ActiveLearner(
            LogisticRegression(C=c, max_iter=1000), X_training=X[seed], y_training=y[seed]
        )
        for c in (0.1, 1.0)
    ]
    calls = []

    def disagreement(committee, X_pool, n_instances=1):
        calls.append(1)
        spread = np.ptp(np.stack([m.predict_proba(X_pool)[:, 1] for m in committee]), axis=0)
        positions = np.argsort(-spread, kind="stable")[:n_instances]
        return (positions, spread[positions]) if shape == "scored" else positions

    committee = Committee(members, query_strategy=disagreement)
    for round_ in range(2):
        idx, _ = committee.query(X, n_instances=2)
        assert len(calls) == round_ + 1
        assert np.asarray(idx).shape == (2,)
        committee.teach(X[idx], y[idx])


# --- pandas pools --------------------------------------------------------------------------------


def _text_pool():
    """A Series of texts with a non-contiguous index (as after dropping rows) and labels."""
    pd = pytest.importorskip("pandas")
    words = ["goal", "match", "team", "stock", "bank", "market"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words[:3] if i % 2 else words[3:], 4)) for i in range(60)]
    labels = np.array([i % 2 for i in range(60)])
    return pd.Series(texts, index=np.arange(60) * 10 + 7, name="text"), labels


def _text_learner(texts, labels, strategy):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    seed = np.r_[0:3, 31:34]
    return ActiveLearner(
        make_pipeline(TfidfVectorizer(), LogisticRegression()),
        query_strategy=strategy,
        X_training=texts.iloc[seed],
        y_training=labels[seed],
    ), np.setdiff1d(np.arange(len(labels)), seed)


def test_unpatched_modal_mishandles_a_series_pool(unpatched):
    """0.4.1 rejects a Series pool; 0.4.2.x looks the positions up as index labels. Neither
    can teach pandas rows (no Series branch in data_vstack, DataFrame.append is gone)."""
    texts, labels = _text_pool()
    learner, pool = _text_learner(texts, labels, modal_strategy(CountingStrategy("scored")))
    with pytest.raises((TypeError, KeyError)):
        learner.query(texts.iloc[pool], n_instances=2)
    data_vstack = sys.modules["modAL.utils.data"].data_vstack  # what teach() stacks with
    with pytest.raises(TypeError, match="not supported"):
        data_vstack((texts.iloc[:2], texts.iloc[2:4]))
    with pytest.raises(AttributeError, match="append"):  # DataFrame.append: gone in pandas 2
        data_vstack((texts.iloc[:2].to_frame(), texts.iloc[2:4].to_frame()))


@pytest.mark.parametrize("frame", [False, True])
def test_patched_loop_on_pandas_pools(patched, data, frame):
    """A Series of texts (or a DataFrame of features) whose index is not 0..n-1: rows come
    back by position and teach() grows a pandas training set."""
    pd = pytest.importorskip("pandas")
    if frame:
        X, y = data
        index = np.arange(len(y))[::-1] * 3
        pool_data, labels = pd.DataFrame(X[:, :5], index=index), y
        seed = _seed(y)
        learner = ActiveLearner(
            LogisticRegression(max_iter=1000),
            query_strategy=CountingStrategy("scored"),
            X_training=pool_data.iloc[seed],
            y_training=labels[seed],
        )
        pool = np.setdiff1d(np.arange(len(y)), seed)
    else:
        pool_data, labels = _text_pool()
        learner, pool = _text_learner(pool_data, labels, CountingStrategy("bare"))
    X_pool = pool_data.iloc[pool]
    n_start = len(learner.y_training)
    for _ in range(3):
        idx, rows = learner.query(X_pool, n_instances=4)
        assert isinstance(rows, type(pool_data))
        pd.testing.assert_index_equal(rows.index, X_pool.index[idx])  # positions, not labels
        learner.teach(rows, labels[pool[idx]])
        X_pool, pool = X_pool.drop(X_pool.index[idx]), np.delete(pool, idx)
    assert isinstance(learner.X_training, type(pool_data))
    assert len(learner.X_training) == len(learner.y_training) == n_start + 12
    assert learner.score(pool_data.iloc[pool], labels[pool]) > 0.8
    # mixed blocks: an array taught into a pandas training set, and the reverse
    learner.teach(np.asarray(X_pool.iloc[:1]), labels[pool[:1]])
    assert isinstance(learner.X_training, type(pool_data))
    assert len(learner.X_training) == n_start + 13


# --- format_query_result / modal_strategy -------------------------------------------------------


def test_format_query_result_direct_calls():
    positions, scores = np.array([3, 1]), np.array([0.9, 0.8])
    for caller in (LogisticRegression(), object(), None):
        out = format_query_result(positions, scores, caller)
        assert out[0] is positions and out[1] is scores


def test_format_query_result_patched(patched, data):
    positions, scores = np.array([3, 1]), np.array([0.9, 0.8])
    learner = _learner(data, CountingStrategy("scored"))
    committee = Committee([learner])
    for caller in (learner, committee):  # a direct call with a patched modAL object
        out = format_query_result(positions, scores, caller)
        assert out[0] is positions and out[1] is scores


def test_format_query_result_unpatched(unpatched, data):
    positions, scores = np.array([3, 1]), np.array([0.9, 0.8])
    learner = _learner(data, CountingStrategy("scored"))
    out = format_query_result(positions, scores, learner)
    if "return_metrics" in inspect.signature(BaseLearner.query).parameters:  # 0.4.2.x
        assert out[0] is positions and out[1] is scores
    else:  # 0.4.1 (also covered by test_modal_041_in_subprocess)
        assert out is positions


def test_modal_strategy_decorator(patched, data):
    calls = []

    @modal_strategy
    def least_confident(classifier, X, n_instances=1):
        """Least-confidence sampling."""
        calls.append(1)
        uncertainty = 1.0 - classifier.predict_proba(X).max(axis=1)
        positions = np.argsort(-uncertainty, kind="stable")[:n_instances]
        return positions, uncertainty[positions]

    assert least_confident.__name__ == "least_confident"
    assert least_confident.__doc__ == "Least-confidence sampling."
    learner = _learner(data, least_confident)
    idx, _ = learner.query(data[0], n_instances=4)
    assert np.asarray(idx).shape == (4,) and len(calls) == 1
    positions, scores = least_confident(learner.estimator, data[0], n_instances=2)
    assert positions.shape == scores.shape == (2,)


def test_format_query_result_reads_no_call_stack(unpatched, data, monkeypatch):
    """The shape comes from the caller's class as it is now: no frame inspection, so it works
    where ``sys._getframe`` does not exist."""
    monkeypatch.delattr(sys, "_getframe")
    positions, scores = np.array([3, 1]), np.array([0.9, 0.8])
    learner = _learner(data, CountingStrategy("scored"))
    unpatched_shape = format_query_result(positions, scores, learner)
    patch_modal()
    patched_shape = format_query_result(positions, scores, learner)
    assert patched_shape[0] is positions and patched_shape[1] is scores
    if "return_metrics" in inspect.signature(BaseLearner.query.__wrapped__).parameters:
        assert unpatched_shape[0] is positions and unpatched_shape[1] is scores
    else:
        assert unpatched_shape is positions


# --- versions, errors, imports --------------------------------------------------------------------


def test_modal_version(monkeypatch):
    version = modal_version()
    assert version is not None and all(isinstance(p, int) for p in version)
    assert ".".join(map(str, version)) == importlib.metadata.version("modAL-python")

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert modal_version() is None


def test_patch_modal_without_modal_names_the_install(patched, monkeypatch):
    # ``patched``: also when an earlier call has found modAL patched
    for name in [n for n in sys.modules if n == "modAL" or n.startswith("modAL.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install"):
        patch_modal()


def _subprocess_env(*front: Path) -> dict[str, str]:
    import skanchor

    paths = [str(p) for p in front] + [str(Path(skanchor.__file__).resolve().parents[1])]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def test_adapter_never_imports_modal(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        from skanchor.integrations.modal import format_query_result, is_patched, modal_version
        assert format_query_result([1], [0.5], object()) == ([1], [0.5])
        assert is_patched() is False
        modal_version()
        assert not [m for m in sys.modules if m.split(".")[0] == "modAL"], "modAL imported"
        """
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_subprocess_env(), check=True)


# --- the other modAL release, in a subprocess ---------------------------------------------------

OTHER_MODAL_SCRIPT = """
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np

# 0.4.1 warns when a strategy returns a tuple and then hands it back as (indices, instances).
warnings.filterwarnings("error", message="Query strategies should no longer")

import modAL
import sklearn.utils
from modAL.models import ActiveLearner, Committee
from modAL.models.base import BaseLearner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from skanchor.integrations.modal import (
    format_query_result, is_patched, modal_strategy, modal_version, patch_modal,
)

target = Path(sys.argv[1]).resolve()
expected = tuple(int(part) for part in sys.argv[2].split("."))
assert Path(modAL.__file__).resolve().is_relative_to(target), modAL.__file__
assert modal_version() == expected, modal_version()
scored_protocol = expected >= (0, 4, 2)  # query unpacks (indices, scores), has return_metrics
assert ("return_metrics" in inspect.signature(BaseLearner.query).parameters) == scored_protocol

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
seed = np.concatenate([np.flatnonzero(y == c)[:5] for c in (0, 1)])
calls = []

def least_confident(classifier, X, n_instances=1):
    calls.append(1)
    uncertainty = 1.0 - classifier.predict_proba(X).max(axis=1)
    positions = np.argsort(-uncertainty, kind="stable")[:n_instances]
    return positions, uncertainty[positions]

def bare(classifier, X, n_instances=1):
    return least_confident(classifier, X, n_instances)[0]

def learner(strategy):
    return ActiveLearner(LogisticRegression(max_iter=1000), query_strategy=strategy,
                         X_training=X[seed], y_training=y[seed])

# --- unpatched: the shape this release expects, and its traps
first = learner(least_confident)
positions, scores = np.array([3, 1]), np.array([0.9, 0.8])
formatted = format_query_result(positions, scores, first)
if scored_protocol:
    assert formatted[0] is positions and formatted[1] is scores
else:
    assert formatted is positions
assert format_query_result(positions, scores, object())[0] is positions
idx, rows = learner(modal_strategy(least_confident)).query(X, n_instances=3)
assert np.asarray(idx).shape == (3,) and np.array_equal(rows, X[idx])
if scored_protocol:  # a bare-index strategy runs twice; two bare indices collapse to one
    del calls[:]
    learner(bare).query(X, n_instances=3)
    assert len(calls) == 2, calls
    idx, _ = learner(bare).query(X, n_instances=2)
    assert np.ndim(idx) == 0, idx
else:  # (indices, scores) comes back as (indices, "instances"): the scores
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx, rows = first.query(X, n_instances=3)
    assert np.shape(rows) == (3,), np.shape(rows)
if "force_all_finite" not in inspect.signature(sklearn.utils.check_X_y).parameters:
    try:
        first.teach(X[:2], y[:2])
    except TypeError as exc:
        assert "force_all_finite" in str(exc), exc
    else:
        raise AssertionError("unpatched teach worked on this scikit-learn: trap fixed?")
assert not is_patched()

# --- patched: the query of every learner, also one built before patching
patch_modal()
assert is_patched()
assert patch_modal() is False
idx, rows = first.query(X, n_instances=3)
assert np.asarray(idx).shape == (3,) and np.array_equal(rows, X[idx]), idx

# --- patched: both return shapes, one strategy call per query, teach works
for strategy in (least_confident, bare, modal_strategy(least_confident)):
    al = learner(strategy)
    pool = np.setdiff1d(np.arange(len(y)), seed)
    for round_ in range(3):
        del calls[:]
        idx, rows = al.query(X[pool], n_instances=5)
        assert len(calls) == 1, calls
        assert np.asarray(idx).shape == (5,) and np.array_equal(rows, X[pool][idx])
        al.teach(X[pool][idx], y[pool][idx])
        pool = np.delete(pool, idx)
    assert len(al.y_training) == len(seed) + 15
    del calls[:]
    idx, rows = al.query(X, n_instances=2)
    assert np.asarray(idx).shape == (2,) and len(calls) == 1
if scored_protocol:
    idx, rows, metrics = learner(least_confident).query(X, n_instances=3, return_metrics=True)
    assert np.asarray(idx).shape == (3,) and np.asarray(metrics).shape == (3,)

# --- patched: a Series of texts with a non-contiguous index
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline

texts = pd.Series([("goal match team " if i % 2 else "stock bank market ") + str(i)
                   for i in range(40)], index=np.arange(40) * 10 + 7)
labels = np.arange(40) % 2
text_learner = ActiveLearner(make_pipeline(TfidfVectorizer(), LogisticRegression()),
                             query_strategy=least_confident,
                             X_training=texts.iloc[:4], y_training=labels[:4])
X_pool, pool = texts.iloc[4:], np.arange(4, 40)
for _ in range(2):
    idx, rows = text_learner.query(X_pool, n_instances=3)
    assert rows.index.equals(X_pool.index[idx]), (rows.index, idx)
    text_learner.teach(rows, labels[pool[idx]])
    X_pool, pool = X_pool.drop(X_pool.index[idx]), np.delete(pool, idx)
assert isinstance(text_learner.X_training, pd.Series) and len(text_learner.X_training) == 10

def first_rows(committee, X, n_instances=1):
    return np.arange(n_instances), np.ones(n_instances)

committee = Committee([learner(least_confident) for _ in range(2)], query_strategy=first_rows)
idx, rows = committee.query(X, n_instances=2)
assert np.array_equal(idx, [0, 1]) and np.array_equal(rows, X[:2])
committee.teach(X[idx], y[idx])
print(f"modAL {sys.argv[2]} OK")
"""


def other_modal() -> tuple[str, Path]:
    """The modAL release this environment lacks, and where the install script puts it.

    0.4.1 beside 0.4.2.x, 0.4.2.1 beside 0.4.1, in ``$SKANCHOR_MODAL_COMPAT`` (default
    ``.modal-compat`` in the repository) ``/modal041`` or ``/modal0421``.
    """
    version = "0.4.1" if (modal_version() or (0,)) >= (0, 4, 2) else "0.4.2.1"
    root = Path(os.environ.get("SKANCHOR_MODAL_COMPAT", ".modal-compat"))
    root = root if root.is_absolute() else REPO_ROOT / root
    return version, root / ("modal" + version.replace(".", ""))


def other_modal_or_skip() -> tuple[str, Path]:
    version, target = other_modal()
    if not (target / "modAL" / "__init__.py").is_file():
        pytest.skip(f"modAL {version} is not installed in {target}: run {INSTALL_SCRIPT}")
    return version, target


def run_with_modal(target: Path, code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``python -c code *args`` with the modAL in ``target`` first on the path."""
    return subprocess.run(
        [sys.executable, "-c", code, str(target), *args],
        cwd=cwd,
        env=_subprocess_env(target),
        capture_output=True,
        text=True,
    )


def test_other_modal_release_in_subprocess(tmp_path):
    version, target = other_modal_or_skip()
    result = run_with_modal(target, OTHER_MODAL_SCRIPT, version, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"modAL {version} OK" in result.stdout


def test_both_releases_are_covered():
    """This process runs one release and the subprocess the other: never the same twice."""
    here = modal_version()
    version, _ = other_modal()
    assert here is not None and tuple(int(p) for p in version.split(".")) != here
    assert {here[:3], tuple(int(p) for p in version.split("."))[:3]} == {(0, 4, 1), (0, 4, 2)}
