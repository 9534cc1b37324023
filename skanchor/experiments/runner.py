"""Run a whole experiment into a results directory: the task, its vectors and its index
once, then every run (method x strategy x classifier x seeds), each resumable.

``run_experiment(ExperimentConfig(dataset="sms-spam", budget=400), "results/sms")`` is what
``skanchor run --dataset sms-spam --budget 400 --out results/sms`` does before reporting;
:func:`prepare` gives the task and its features for a loop of your own
(:func:`skanchor.experiments.loop.simulate`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skanchor.experiments.components import METHODS
from skanchor.experiments.config import ExperimentConfig, Protocol, RunSpec
from skanchor.experiments.features import TaskFeatures, featurise
from skanchor.experiments.loaders import build_task
from skanchor.experiments.loop import simulate
from skanchor.experiments.store import ResultsDir, ResultsDirError, package_versions
from skanchor.experiments.tasks import Task
from skanchor.strategies import check_strategy_params, with_minority

__all__ = ["ExperimentResult", "default_cache_dir", "embedding_cache", "prepare", "run_experiment"]


def default_cache_dir() -> Path:
    """``$SKANCHOR_CACHE``, else the per-user cache folder (``platformdirs.user_cache_dir``:
    ``$XDG_CACHE_HOME/skanchor`` or ``~/.cache/skanchor`` on Linux). Embeddings are cached
    in its ``embeddings`` folder unless told otherwise."""
    if os.environ.get("SKANCHOR_CACHE"):
        return Path(os.environ["SKANCHOR_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("skanchor", appauthor=False))


def embedding_cache(cache_dir: str | Path | bool | None = None) -> Path | None:
    """Where embeddings are cached: ``cache_dir``; None: ``embeddings`` in
    :func:`default_cache_dir` (shared by every experiment, safe across processes); False: no
    cache."""
    if cache_dir is None:
        return default_cache_dir() / "embeddings"
    if cache_dir is False:
        return None
    return Path(cache_dir)


@dataclass
class ExperimentResult:
    """Where the results are and how each run ended."""

    path: Path
    task: Task
    statuses: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _say(log: Callable[[str], None] | None, message: str) -> None:
    if log is not None:
        log(message)


def prepare(
    config: ExperimentConfig,
    *,
    task: Task | None = None,
    embedder: Any = None,
    cache_dir: str | Path | bool | None = None,
    progress: bool = True,
) -> tuple[Task, TaskFeatures]:
    """Build the task, embed it and index its pool (what every run shares).

    ``cache_dir`` is read as :func:`embedding_cache` reads it (None: the shared default).
    """
    if task is None:
        task = build_task(config.dataset, **config.task_options())
    _check_task(config, task)
    return task, _featurise(config, task, embedder, embedding_cache(cache_dir), progress)


def _check_task(config: ExperimentConfig, task: Task) -> None:
    """What can fail before any work: the protocol against the task, a strategy parameter
    that the strategy does not take, and a strategy's ``minority`` (a ``--set``) that is not a
    class of the task."""
    config.protocol.check(task)
    for method, strategy in dict.fromkeys((r.method, r.strategy) for r in config.runs()):
        params = {**METHODS[method].strategy_params, **config.strategy_params.get(strategy, {})}
        check_strategy_params(strategy, params)
        with_minority(strategy, params, task.minority, task.classes)


def _featurise(
    config: ExperimentConfig, task: Task, embedder: Any, cache_dir: Any, progress: bool
) -> TaskFeatures:
    """Embed the task and index its pool as ``config`` says (``embedder`` overrides it)."""
    return featurise(
        task,
        embedder if embedder is not None else config.embedder,
        index=config.index,
        index_params=config.index_params,
        embedder_params=config.embedder_params,
        batch_size=config.embed_batch_size,
        cache_dir=cache_dir,
        progress=progress,
    )


def _recorded(config: ExperimentConfig, custom_task: bool) -> tuple[dict, dict]:
    """``config``'s identity and fields as ``experiment.json`` records them. For a task given
    as an object, the task fields are null (its ``task`` entry describes the task that ran),
    not the defaults that did not make it (``dataset: bbc-news``)."""
    identity, data = config.identity(), config.to_dict()
    if custom_task:
        for f in dataclasses.fields(config):
            if f.metadata["section"] == "task":
                for recorded in (identity, data):
                    if f.name in recorded:
                        recorded[f.name] = None
    return identity, data


def _check_resume(results: ResultsDir, new_identity: dict, task: Task) -> dict:
    old = results.read_experiment()
    old_identity = old.get("identity", {})
    diff = sorted(
        k
        for k in set(old_identity) | set(new_identity)
        if old_identity.get(k) != new_identity.get(k)
    )
    if diff:
        raise ResultsDirError(
            f"cannot resume {results.path}: its experiment differs in "
            + ", ".join(
                f"{k} ({old_identity.get(k)!r} there, {new_identity.get(k)!r} now)"
                for k in diff[:5]
            )
        )
    if old.get("task", {}).get("fingerprint") != task.fingerprint():
        raise ResultsDirError(
            f"cannot resume {results.path}: the task's data differ from those it was run on"
        )
    return old


def run_experiment(
    config: ExperimentConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    cache_dir: str | Path | bool | None = None,
    task: Task | None = None,
    embedder: Any = None,
    features: TaskFeatures | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run every run of ``config`` into ``out_dir`` (see :mod:`skanchor.experiments.store`).

    Parameters
    ----------
    config : ExperimentConfig
    out_dir : path
        The results directory. If it already holds results, ``resume=True`` continues its
        runs (complete ones are kept, interrupted ones go on from their last complete
        round, new runs are added) and ``overwrite=True`` replaces them; otherwise it fails
        before anything is computed or written.
    cache_dir : path, False or None
        Embedding cache folder; None: the shared default (:func:`embedding_cache`); False:
        no caching.
    task : Task, optional
        A ready task instead of ``config.dataset`` (its name is recorded).
    embedder : transformer, optional
        Overrides ``config.embedder`` (e.g. a test featuriser).
    features : TaskFeatures, optional
        The vectors and index of ``task`` made by :func:`prepare` with the same embedder
        and index settings, for several experiments on one task (nothing is embedded or
        indexed again).
    progress : bool
        Progress bars (stderr) for embedding, runs and rounds.
    log : callable, optional
        Receives one-line messages (None: silent).
    """
    results = ResultsDir(out_dir)
    mode = results.check_writable(resume=resume, overwrite=overwrite)
    protocol = config.protocol
    identity, recorded = _recorded(config, custom_task=task is not None)
    if task is None:
        _say(log, f"loading {config.dataset} ...")
        task = build_task(config.dataset, **config.task_options())
    _check_task(config, task)
    if features is not None and features.n_pool != task.n_pool:
        raise ValueError(
            f"features hold {features.n_pool:,} pool items and the task {task.n_pool:,}: "
            "pass the features prepare() made for this task"
        )
    old = _check_resume(results, identity, task) if mode == "resume" else None
    cache_dir = embedding_cache(cache_dir)
    runs = config.runs()

    outcome = ExperimentResult(results.path, task)
    with results.lock():
        if mode == "overwrite":
            results.clear()
        known = list(dict.fromkeys([*(old or {}).get("runs", []), *(r.run_id for r in runs)]))
        results.write_experiment(
            {
                "created": (old or {}).get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
                "command": sys.argv,
                "identity": identity,
                "config": recorded,
                "task": {
                    "name": task.name,
                    "fingerprint": task.fingerprint(),
                    "minority": list(task.minority),
                    "classes": list(task.classes),
                    "counts": task.counts(),
                    "params": task.params,
                },
                "runs": known,
                "versions": package_versions(),
            }
        )
        _say(log, task.summary())
        runs, done = _pending(results, runs, protocol)
        outcome.statuses.update(done)
        if done:
            _say(log, f"{len(done)} run(s) already finished, {len(runs)} to go")
        if not runs:
            return outcome
        if features is None:
            t0 = time.perf_counter()
            n_texts = task.n_pool + task.test_texts.size
            _say(log, f"embedding {n_texts:,} texts ({config.embedder}) ...")
            features = _featurise(config, task, embedder, cache_dir, progress)
            outcome.timings.update(features.timings)
            _say(
                log,
                f"vectors {features.vectors.shape}, {config.index} index over "
                f"{task.n_pool:,} pool items ({time.perf_counter() - t0:.1f} s)",
            )
        outcome.statuses.update(
            _run_all(runs, config, task, features, protocol, results, progress=progress, log=log)
        )
    return outcome


def _pending(
    results: ResultsDir, runs: list[RunSpec], protocol: Protocol
) -> tuple[list[RunSpec], dict[str, str]]:
    """The runs left to do, and the statuses of those already finished (complete, or stopped
    at a time limit that is still in force)."""
    todo, done = [], {}
    for run in runs:
        store = results.run(run.run_id)
        if store.exists():
            manifest = store.read_manifest()
            status = manifest.get("status")
            if status == "complete":  # its rounds read only then: lost ones make it damaged
                status = store.status(manifest, store.load_rounds(repair=False))
            limit = protocol.time_limit
            if status == "complete" or (
                status == "time_limit"
                and limit is not None
                and manifest.get("elapsed", 0.0) >= limit
            ):
                done[run.run_id] = status
                continue
        todo.append(run)
    return todo, done


def _run_all(
    runs: list[RunSpec],
    config: ExperimentConfig,
    task: Task,
    features: TaskFeatures,
    protocol: Protocol,
    results: ResultsDir,
    *,
    progress: bool,
    log: Callable[[str], None] | None,
) -> dict[str, str]:
    from tqdm.auto import tqdm

    statuses: dict[str, str] = {}
    bar_runs = tqdm(runs, desc="runs", unit="run", disable=not progress, leave=True)
    for run in bar_runs:
        bar_runs.set_postfix_str(run.run_id)
        store = results.run(run.run_id)
        bar_rounds = tqdm(
            total=protocol.n_rounds + 1,
            desc="rounds",
            unit="round",
            leave=False,
            disable=not progress,
        )
        done = len(store.load_rounds(repair=False)) if store.exists() else 0
        bar_rounds.update(min(done, protocol.n_rounds + 1))

        def on_round(record: dict, bar: Any = bar_rounds) -> None:
            bar.update(1)
            bar.set_postfix(labels=record["n_labelled"], minF1=f"{record['minority_f1']:.2f}")

        try:
            records, status = simulate(
                run,
                task,
                features,
                protocol,
                method_params=config.method_params.get(run.method),
                strategy_params=config.strategy_params.get(run.strategy),
                classifier_params=config.classifier_params.get(run.classifier),
                store=store,
                on_round=on_round,
                progress=progress,
            )
        finally:
            bar_rounds.close()
        statuses[run.run_id] = status
        last = records[-1] if records else None
        if last is not None:
            _say(
                log,
                f"{run.run_id}: {status}, {last['n_labelled']} labels, "
                f"{last['n_minority_labelled']} minority, minority F1 {last['minority_f1']:.3f}",
            )
    bar_runs.close()
    return statuses
