"""The simulated annotation loop: protocol, records, seeds, resume, time limit, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from skanchor.experiments.components import CLASSIFIERS, DEFAULT_METHODS, METHODS, get_method
from skanchor.experiments.config import ExperimentConfig, RunSpec, parse_duration
from skanchor.experiments.features import featurise
from skanchor.experiments.loop import RECORD_FIELDS, Protocol, initial_set, simulate
from skanchor.experiments.seeds import Seeds
from skanchor.experiments.store import ResultsDirError, RunStore
from skanchor.experiments.tasks import Corpus, make_task
from tests.conftest import clustered

TIMING = {f for f in RECORD_FIELDS if f.startswith("time_")} | {"elapsed"}


class IndexEmbedder(TransformerMixin, BaseEstimator):
    """Texts "doc <i>" -> row i of a fixed matrix (an injected, instant featuriser)."""

    def __init__(self, vectors=None):
        self.vectors = vectors

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return self.vectors[[int(t.split()[1]) for t in X]]


@pytest.fixture(scope="module")
def toy():
    vectors, clusters = clustered(n=1600, dim=16, n_clusters=8, seed=3, spread=0.6)
    labels = np.where(clusters == 0, "rare", np.where(clusters < 4, "common", "other"))
    corpus = Corpus("toy", [f"doc {i}" for i in range(len(labels))], labels)
    task = make_task(corpus, "rare", rate=0.03, test_size=0.25, seed=0)
    features = featurise(task, IndexEmbedder(vectors), index="exact", progress=False)
    return task, features


PROTOCOL = Protocol(n_initial=40, n_initial_per_minority=4, batch_size=10, budget=100)


def strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def test_initial_set_follows_the_paper(toy):
    task, _ = toy
    ids = initial_set(task, PROTOCOL, Seeds.from_int(0).generator("initial"))
    assert ids.size == 40 and np.unique(ids).size == 40
    assert (task.oracle(ids) == "rare").sum() == 4
    again = initial_set(task, PROTOCOL, Seeds.from_int(0).generator("initial"))
    assert (ids == again).all()


@pytest.mark.parametrize("method", DEFAULT_METHODS)
def test_a_run_follows_the_protocol(toy, method):
    task, features = toy
    run = RunSpec(method, METHODS[method].strategy or "entropy", "logreg", Seeds(1))
    records, status = simulate(
        run,
        task,
        features,
        PROTOCOL,
        method_params=({"max_size": 200, "n_neighbours": 20} if method == "anchoral" else None),
    )
    assert status == "complete" and len(records) == PROTOCOL.n_rounds + 1 == 7
    assert [r["n_labelled"] for r in records] == [40, 50, 60, 70, 80, 90, 100]
    queried = np.concatenate([r["queried_ids"] for r in records[:-1]])
    initial = initial_set(task, PROTOCOL, Seeds(1).generator("initial"))
    everything = np.concatenate([initial, queried])
    assert np.unique(everything).size == everything.size == 100  # no label twice
    for r in records[:-1]:
        assert r["queried_labels"] == task.oracle(r["queried_ids"]).tolist()
        assert r["subpool_size"] >= 1 and 0 <= r["subpool_minority_share"] <= 1
        assert r["time_selection"] >= r["time_strategy"] >= 0
        assert r["time_train"] > 0 and r["elapsed"] >= r["time_round"]
    found = [r["n_minority_labelled"] for r in records]
    assert found[0] == 4 and found == sorted(found)
    assert records[-1]["queried_ids"] is None and records[-1]["time_selection"] is None
    assert 0 <= records[-1]["minority_f1"] <= 1
    if method == "anchoral":
        assert all(r["subpool_size"] <= 200 and r["n_anchors"] > 0 for r in records[:-1])
    if method in ("noop", "random"):
        assert records[0]["subpool_size"] == task.n_pool - 40


def test_the_last_batch_fills_the_budget_exactly(toy):
    task, features = toy
    protocol = Protocol(n_initial=40, n_initial_per_minority=4, batch_size=25, budget=100)
    records, _ = simulate(
        RunSpec("randsub", "margin", "logreg", Seeds(0)), task, features, protocol
    )
    assert [r["n_labelled"] for r in records] == [40, 65, 90, 100]
    assert len(records[2]["queried_ids"]) == 10


def test_seeds_make_runs_reproducible_and_streams_independent(toy):
    task, features = toy
    run = RunSpec("anchoral", "badge", "logreg", Seeds(2))
    a, _ = simulate(run, task, features, PROTOCOL)
    b, _ = simulate(run, task, features, PROTOCOL)
    assert strip(a) == strip(b)
    other = RunSpec("anchoral", "badge", "logreg", Seeds(2, 2, 2, 3))
    c, _ = simulate(other, task, features, PROTOCOL)
    assert c[0]["minority_f1"] == a[0]["minority_f1"]  # same initial set and model
    assert c[0]["queried_ids"] != a[0]["queried_ids"]  # another selection stream


def test_a_method_with_its_own_strategy_refuses_another(toy):
    """A preset runs its own strategy: a run naming another one is refused, not run with the
    preset's parameters silently given to (and ignored by) that other strategy."""
    task, features = toy
    with pytest.raises(ValueError, match="'discovery' brings its own strategy 'minority_mix'"):
        simulate(RunSpec("discovery", "entropy", "logreg", Seeds(1)), task, features, PROTOCOL)


def test_the_manifest_records_what_the_filter_and_strategy_were_given(toy, tmp_path):
    """The identity keeps the run's own settings; ``used`` adds the preset's strategy
    parameters, the task's minority and classes (QA report: a discovery run's manifest said
    ``strategy_params: {}``)."""
    task, features = toy
    store = RunStore(tmp_path / "run")
    simulate(RunSpec("discovery", "minority_mix", "logreg", Seeds(1)), task, features, PROTOCOL,
             store=store)  # fmt: skip
    used = store.read_manifest()["used"]
    assert used["strategy_params"] == {
        "per_class": True,
        "explore_prior": "labelled",
        "minority": list(task.minority),
    }
    assert used["method_params"]["classes"] == list(task.classes)


@pytest.mark.parametrize("method", ["anchoral", "seals", "randsub"])
def test_resume_from_any_round_equals_an_uninterrupted_run(toy, tmp_path, method):
    task, features = toy
    run = RunSpec(method, "entropy", "logreg", Seeds(5))
    full_store = RunStore(tmp_path / "full")
    full, _ = simulate(run, task, features, PROTOCOL, store=full_store)
    lines = full_store.rounds_path.read_bytes().split(b"\n")
    for cut in (1, 3, 6):
        store = RunStore(tmp_path / f"cut{cut}")
        store.path.mkdir()
        (store.path / "manifest.json").write_bytes(full_store.manifest_path.read_bytes())
        # `cut` complete records and half of the next one, as a kill -9 leaves them
        store.rounds_path.write_bytes(b"\n".join(lines[:cut]) + b"\n" + lines[cut][:17])
        store.update_manifest(status="running", rounds_completed=cut)
        resumed, status = simulate(run, task, features, PROTOCOL, store=store)
        assert status == "complete"
        assert strip(resumed) == strip(full)
        assert strip(store.load_rounds()) == strip(full)
        assert store.read_manifest()["status"] == "complete"
    again, _ = simulate(run, task, features, PROTOCOL, store=full_store)  # complete: no-op
    assert again == full_store.load_rounds()


def test_time_limit_stops_a_run_and_a_resume_finishes_it(toy, tmp_path):
    task, features = toy
    run = RunSpec("seals", "entropy", "logreg", Seeds(0))
    reference, _ = simulate(run, task, features, PROTOCOL)
    store = RunStore(tmp_path / "limited")
    limited = Protocol(**{**PROTOCOL.__dict__, "time_limit": 1e-9})
    records, status = simulate(run, task, features, limited, store=store)
    assert status == "time_limit" and len(records) == 1
    assert store.read_manifest()["status"] == "time_limit"
    records, status = simulate(run, task, features, PROTOCOL, store=store)
    assert status == "complete" and strip(records) == strip(reference)


def test_resume_refuses_another_configuration(toy, tmp_path):
    task, features = toy
    store = RunStore(tmp_path / "run")
    simulate(RunSpec("random", "random", "logreg", Seeds(0)), task, features, PROTOCOL, store=store)
    other = Protocol(**{**PROTOCOL.__dict__, "batch_size": 5})
    with pytest.raises(ResultsDirError, match=r"another configuration .*protocol"):
        simulate(
            RunSpec("random", "random", "logreg", Seeds(0)), task, features, other, store=store
        )


def test_protocol_errors_name_the_numbers(toy):
    task, _ = toy
    with pytest.raises(ValueError, match="smaller than one round"):
        Protocol(n_initial=100, batch_size=25, budget=110).check(task)
    with pytest.raises(ValueError, match="pool runs out before the budget"):
        Protocol(budget=task.n_pool + 1).check(task)
    with pytest.raises(ValueError, match=r"minority class 'rare' has .* the initial set needs 500"):
        Protocol(n_initial=1000, n_initial_per_minority=500, budget=2000).check(task)
    with pytest.raises(ValueError, match="leaves no majority item"):
        Protocol(n_initial=4, n_initial_per_minority=4, budget=100).check(task)


def test_config_names_and_values_are_validated():
    with pytest.raises(
        ValueError,
        match="unknown method 'anchors'; valid names: discovery, anchoral, randsub, seals, noop",
    ):
        ExperimentConfig(methods=["anchors"])
    with pytest.raises(ValueError, match="unknown strategy 'bald'; valid names: entropy"):
        ExperimentConfig(strategies=["bald"])
    with pytest.raises(
        ValueError, match="unknown classifier 'svm'; valid names: logreg, transformer"
    ):
        ExperimentConfig(classifiers=["svm"])
    with pytest.raises(ValueError, match=r"index='faiss' is not a backend \(exact, hnsw, milvus\)"):
        ExperimentConfig(index="faiss")
    assert ExperimentConfig(index="http://milvus:19530#pool").index == "http://milvus:19530#pool"
    with pytest.raises(ValueError, match="budget=110 is smaller than one round"):
        ExperimentConfig(budget=110)
    with pytest.raises(ValueError, match="unknown configuration key 'budjet'; did you mean"):
        ExperimentConfig.from_dict({"budjet": 10})
    # a file may use the command-line names; the shortcuts and cache options say where to go
    aliased = ExperimentConfig.from_dict({"task": {"initial": 50, "initial_per_minority": 3}})
    assert (aliased.n_initial, aliased.n_initial_per_minority) == (50, 3)
    with pytest.raises(ValueError, match=r"keys 'initial' and 'n_initial' name one setting"):
        ExperimentConfig.from_dict({"initial": 50, "n_initial": 60})
    with pytest.raises(ValueError, match=r"in a file set method_params.<method>.n_anchors"):
        ExperimentConfig.from_dict({"anchors": 5})
    with pytest.raises(ValueError, match=r"'no_cache' is not an experiment setting: pass --no-c"):
        ExperimentConfig.from_dict({"no_cache": True})
    with pytest.raises(ValueError, match="method 'anchoral' has no parameter 'k'"):
        ExperimentConfig(method_params={"anchoral": {"k": 3}})
    config = ExperimentConfig(methods=["AnchorAL", "No-Op"], strategies=["least-confidence"])
    assert config.methods == ["anchoral", "noop"] and config.strategies == ["least_confidence"]
    assert get_method("SEALS").name == "seals" and set(CLASSIFIERS) == {
        "logreg",
        "transformer",
        "transformer-top",
    }


def test_config_runs_and_seed_grid():
    config = ExperimentConfig(
        methods=["anchoral", "random"],
        strategies=["entropy", "badge"],
        seeds=[0, 1],
        budget=200,
    )
    ids = [r.run_id for r in config.runs()]
    assert ids == [
        "anchoral-entropy-logreg-seed0",
        "anchoral-entropy-logreg-seed1",
        "anchoral-badge-logreg-seed0",
        "anchoral-badge-logreg-seed1",
        "random-random-logreg-seed0",
        "random-random-logreg-seed1",
    ]
    grid = ExperimentConfig(
        methods=["noop"], seed_grid={"initial": [0, 1], "model": [0, 1], "data": [0, 1]}
    )
    assert len(grid.runs()) == 8 and grid.runs()[1].seeds == Seeds(0, 0, 1, 0)
    assert ExperimentConfig.from_dict(grid.to_dict()).runs() == grid.runs()
    assert parse_duration("6h") == 21600 and parse_duration("1h30m") == 5400
    assert parse_duration(None) is None
    with pytest.raises(ValueError, match="cannot read a duration"):
        parse_duration("soon")


@pytest.mark.slow  # a dozen fine-tunings of a tiny BERT, each loading it from disk
def test_the_transformer_classifier_runs_the_loop_reproducibly(tiny_bert):
    pytest.importorskip("skorch")
    vectors, clusters = clustered(n=240, dim=8, n_clusters=4, seed=0)
    labels = np.where(clusters == 0, "rare", "other")
    corpus = Corpus("tiny", [f"doc {i}" for i in range(len(labels))], labels)
    task = make_task(corpus, "rare", rate=0.05, test_size=0.2, seed=0)
    features = featurise(task, IndexEmbedder(vectors), index="exact", progress=False)
    small = Protocol(n_initial=20, n_initial_per_minority=3, batch_size=10, budget=30)
    params = {
        "checkpoint": str(tiny_bert),
        "max_epochs": 1,
        "min_steps": 2,
        "max_length": 8,
        "batch_size": 16,
        "device": "cpu",
    }
    for strategy in ("badge", "ftbertkm"):
        run = RunSpec("anchoral", strategy, "transformer", Seeds(0))
        kwargs = {"classifier_params": params, "method_params": {"max_size": 60}}
        a, status = simulate(run, task, features, small, **kwargs)
        b, _ = simulate(run, task, features, small, **kwargs)
        assert status == "complete" and [r["n_labelled"] for r in a] == [20, 30]
        assert strip(a) == strip(b)  # model init and batch order are seeded per round
