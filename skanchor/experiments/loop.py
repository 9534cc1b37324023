"""The simulated annotation loop: one run of Algorithm 1 with the task's labels as the oracle.

Each round ``t`` (paper protocol, §3-4):

1. a **fresh** classifier is trained on the labelled set ``D_t`` (seeded per round from the
   run's model and data streams);
2. it is evaluated on the held-out test set (minority / majority F1, accuracy);
3. unless the budget is reached, the pool filter proposes a subpool, the query strategy
   picks ``batch_size`` items from it (:class:`~skanchor.AnchoredQueryStrategy` called
   directly, so every phase is timed), and the oracle labels them.

The record of a round (:data:`RECORD_FIELDS`) is written once all of this is done. The
labelled set after round ``t`` is the initial set plus the queried ids of rounds ``0..t``,
and every random draw of round ``t`` comes from ``(seed, stream, t)``
(:class:`~skanchor.experiments.seeds.Seeds`), so a run resumed from its records continues
exactly as if it had never stopped. Stateful filters (SEALS) are rebuilt by replaying their
past selections, which only searches the index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from skanchor.experiments.components import CLASSIFIERS, METHODS, ClassifierSpec, MethodSpec
from skanchor.experiments.config import Protocol, RunSpec
from skanchor.experiments.features import TaskFeatures
from skanchor.experiments.metrics import classification_metrics
from skanchor.experiments.store import ResultsDirError, RunStore, package_versions
from skanchor.experiments.tasks import Task
from skanchor.query import AnchoredQueryStrategy
from skanchor.strategies import with_minority

__all__ = ["RECORD_FIELDS", "Protocol", "initial_set", "simulate"]

#: Fields of a round record (``rounds.jsonl``), in order.
RECORD_FIELDS = (
    "round",
    "n_labelled",
    "n_minority_labelled",
    "labelled_per_class",
    "minority_f1",
    "majority_f1",
    "accuracy",
    "f1_per_class",
    "subpool_size",
    "subpool_minority",
    "subpool_minority_share",
    "n_candidates",
    "n_anchors",
    "n_topped_up",
    "cold_start",
    "queried_ids",
    "queried_labels",
    "n_queried_minority",
    "time_train",
    "time_test",
    "time_anchor_selection",
    "time_search",
    "time_aggregation",
    "time_filter",
    "time_strategy",
    "time_selection",
    "time_round",
    "elapsed",
)


def initial_set(task: Task, protocol: Protocol, rng: np.random.Generator) -> np.ndarray:
    """The initial labelled ids: ``n_initial_per_minority`` per minority class, the rest from
    the majority, uniformly at random (paper §4); sorted."""
    parts = []
    labels = task.pool_labels
    for label in task.minority:
        members = np.flatnonzero(labels == label)
        parts.append(rng.choice(members, protocol.n_initial_per_minority, replace=False))
    majority = np.flatnonzero(~task.is_minority(labels))
    n_rest = protocol.n_initial - protocol.n_initial_per_minority * len(task.minority)
    parts.append(rng.choice(majority, n_rest, replace=False))
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _class_counts(labels: np.ndarray, classes: tuple[str, ...]) -> dict[str, int]:
    values, counts = np.unique(labels.astype(str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist(), strict=True))
    return {c: int(found.get(c, 0)) for c in classes}


def _run_identity(run: RunSpec, task: Task, protocol: Protocol, params: dict) -> dict:
    """What a stored run must match to be resumed (as JSON gives it back: lists, not tuples)."""
    identity = {
        **run.to_dict(),
        "task": task.name,
        "task_fingerprint": task.fingerprint(),
        "protocol": protocol.identity(),
        **params,
    }
    return json.loads(json.dumps(identity))


@dataclass
class _Run:
    """A run in progress: what it is, where it stands (labelled set, filter state, records,
    time spent) and where it writes."""

    spec: RunSpec
    task: Task
    features: TaskFeatures
    protocol: Protocol
    method_params: dict | None
    strategy_params: dict | None
    classifier_params: dict | None
    store: RunStore | None
    records: list[dict]
    labelled_ids: np.ndarray
    unlabelled: np.ndarray
    persistent_filter: Any = None
    elapsed: float = 0.0

    @property
    def method(self) -> MethodSpec:
        return METHODS[self.spec.method]

    @property
    def classifier(self) -> ClassifierSpec:
        return CLASSIFIERS[self.spec.classifier]


def simulate(
    run: RunSpec,
    task: Task,
    features: TaskFeatures,
    protocol: Protocol,
    *,
    method_params: dict | None = None,
    strategy_params: dict | None = None,
    classifier_params: dict | None = None,
    store: RunStore | None = None,
    on_round: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> tuple[list[dict], str]:
    """Run (or resume) one simulated annotation run.

    Each round goes through its phases, one function each: ``_train`` a fresh model,
    ``_evaluate`` it, ``_query`` the next batch, ``_label`` it and ``_record`` the round;
    ``_set_up`` opens (or replays) the run before the first.

    Parameters
    ----------
    run : RunSpec
        Method, strategy, classifier and seeds.
    task : Task
        The pool, its oracle and the test set.
    features : TaskFeatures
        The task's vectors and the index over its pool.
    protocol : Protocol
        Initial set, batch size, budget and time limit.
    method_params, strategy_params, classifier_params : dict, optional
        Parameters of the method's filter, the strategy and the classifier (over their
        defaults).
    store : RunStore, optional
        Where the run is written. Records already there are replayed (the run continues
        after the last complete one) and each new record is appended as soon as its round
        completes.
    on_round : callable, optional
        Called with each new record.
    progress : bool, default=False
        Progress bars of the classifier (the transformer's training).

    Returns
    -------
    records : list of dict
        Every record of the run (:data:`RECORD_FIELDS`), replayed ones included.
    status : str
        ``"complete"`` (budget reached) or ``"time_limit"`` (``protocol.time_limit`` seconds
        of training, selection and testing spent first).
    """
    protocol.check(task)
    state = _set_up(
        run,
        task,
        features,
        protocol,
        method_params=method_params,
        strategy_params=strategy_params,
        classifier_params=classifier_params,
        store=store,
    )
    status = "complete" if len(state.records) > protocol.n_rounds else "running"
    try:
        for round_ in range(len(state.records), protocol.n_rounds + 1):
            if protocol.time_limit is not None and state.elapsed >= protocol.time_limit:
                status = "time_limit"
                break
            record, queried = _play_round(state, round_, progress)
            _record(state, record, queried, round_)
            if on_round is not None:
                on_round(record)
        else:
            status = "complete"
    except KeyboardInterrupt:
        if store is not None:
            store.update_manifest(status="interrupted")
        raise
    except Exception as exc:
        if store is not None:
            store.update_manifest(status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        features.index.set_mask(np.empty(0, dtype=np.int64))

    if store is not None:
        store.update_manifest(
            status=status, rounds_completed=len(state.records), elapsed=state.elapsed
        )
    return state.records, status


# -- set-up ----------------------------------------------------------------------------------


def _set_up(
    run: RunSpec,
    task: Task,
    features: TaskFeatures,
    protocol: Protocol,
    *,
    method_params: dict | None,
    strategy_params: dict | None,
    classifier_params: dict | None,
    store: RunStore | None,
) -> _Run:
    """Open the run (a new store, or the records of an interrupted one), then replay its
    records: the labelled set, the pool and a stateful filter's state."""
    method, classifier = METHODS[run.method], CLASSIFIERS[run.classifier]
    if method.strategy is not None and run.strategy != method.strategy:
        raise ValueError(
            f"method {run.method!r} brings its own strategy {method.strategy!r}, but the run "
            f"names {run.strategy!r}"
        )
    params = {
        "method_params": {**method.defaults, **(method_params or {})},
        "strategy_params": dict(strategy_params or {}),
        "classifier_params": {**classifier.defaults, **(classifier_params or {})},
        "embedding_dim": int(features.vectors.shape[1]),
        "index": features.index.kind,
    }
    identity = _run_identity(run, task, protocol, params)
    used = {  # for the reader of the manifest: what the filter and the strategy were given
        "method_params": method.used_params(method_params, task.classes),
        "strategy_params": _strategy_params(method, run, task, strategy_params),
    }
    initial = initial_set(task, protocol, run.seeds.generator("initial"))
    records = (
        _open_store(store, run, identity, initial, protocol, used) if store is not None else []
    )
    labelled_ids = _replay_labels(run, task, initial, records)
    unlabelled = np.ones(task.n_pool, dtype=bool)
    unlabelled[labelled_ids] = False
    features.index.set_mask(np.empty(0, dtype=np.int64))
    return _Run(
        spec=run,
        task=task,
        features=features,
        protocol=protocol,
        method_params=method_params,
        strategy_params=strategy_params,
        classifier_params=classifier_params,
        store=store,
        records=records,
        labelled_ids=labelled_ids,
        unlabelled=unlabelled,
        persistent_filter=_restore_filter(run, task, features, method_params, initial, records),
        elapsed=float(sum(r["time_round"] for r in records)),
    )


def _strategy_params(method: Any, run: RunSpec, task: Task, strategy_params: dict | None) -> dict:
    """The strategy's parameters in a run: the method's own (a preset's), the run's, and the
    task's minority for a strategy that takes one."""
    merged = {**method.strategy_params, **(strategy_params or {})}
    return with_minority(run.strategy, merged, task.minority, task.classes)


def _open_store(
    store: RunStore,
    run: RunSpec,
    identity: dict,
    initial: np.ndarray,
    protocol: Protocol,
    used: dict,
) -> list[dict]:
    """The records of a stored run made with the same configuration, or [] for a new run
    (whose folder and manifest are created; ``used`` is recorded beside the identity)."""
    if store.exists():
        manifest = store.read_manifest()
        if manifest.get("identity") != identity:
            old = manifest.get("identity") or {}
            diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
            raise ResultsDirError(
                f"run {run.run_id} in {store.path} was made with another configuration "
                f"(differs in: {', '.join(diff)}); use another results directory or "
                "--overwrite"
            )
        if manifest.get("initial_ids") != initial.tolist():
            raise ResultsDirError(f"run {run.run_id}: the stored initial set differs")
        return store.load_rounds()
    store.path.mkdir(parents=True, exist_ok=True)
    with open(store.rounds_path, "a"):
        pass
    store.write_manifest(
        {
            "run_id": run.run_id,
            "identity": identity,
            "used": json.loads(json.dumps(used, default=str)),
            "status": "running",
            "rounds_completed": 0,
            "rounds_total": protocol.n_rounds + 1,
            "n_labelled": int(initial.size),
            "time_limit": protocol.time_limit,
            "initial_ids": initial.tolist(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": package_versions(),
        }
    )
    return []


def _replay_labels(
    run: RunSpec, task: Task, initial: np.ndarray, records: list[dict]
) -> np.ndarray:
    """The labelled ids after ``records``, checking that no item was queried twice and that
    the stored labels are the oracle's."""
    labelled = [initial]
    seen = set(initial.tolist())
    for record in records:
        ids = np.asarray(record["queried_ids"] or [], dtype=np.int64)
        if seen.intersection(ids.tolist()) or np.unique(ids).size != ids.size:
            raise ResultsDirError(f"run {run.run_id}: round {record['round']} re-queries items")
        if [str(v) for v in task.oracle(ids)] != list(record["queried_labels"] or []):
            raise ResultsDirError(f"run {run.run_id}: round {record['round']} labels disagree")
        seen.update(ids.tolist())
        labelled.append(ids)
    return np.concatenate(labelled)


def _restore_filter(
    run: RunSpec,
    task: Task,
    features: TaskFeatures,
    method_params: dict | None,
    initial: np.ndarray,
    records: list[dict],
) -> Any:
    """A stateful method's filter (None for the others), brought to the state it had after
    ``records`` by replaying their selections (which only searches the index)."""
    method = METHODS[run.method]
    if not method.stateful:
        return None
    pool_filter = method.make(features.index, method_params)
    replay = initial
    for record in records:
        if record["queried_ids"] is None:
            break
        pool_filter.select(
            replay,
            task.oracle(replay),
            pool_ids=np.flatnonzero(~np.isin(np.arange(task.n_pool), replay)),
        )
        replay = np.concatenate([replay, np.asarray(record["queried_ids"], dtype=np.int64)])
    return pool_filter


# -- one round -------------------------------------------------------------------------------


def _play_round(state: _Run, round_: int, progress: bool) -> tuple[dict, np.ndarray]:
    """Train, evaluate and (unless the budget is reached) query and label: the round's
    record and the ids it labelled."""
    t_round = time.perf_counter()
    task = state.task
    y_labelled = task.oracle(state.labelled_ids)
    model, time_train = _train(state, y_labelled, round_, progress)
    record: dict[str, Any] = {
        "round": round_,
        "n_labelled": int(state.labelled_ids.size),
        "n_minority_labelled": int(task.is_minority(y_labelled).sum()),
        "labelled_per_class": _class_counts(y_labelled, task.classes),
        "time_train": time_train,
        **_evaluate(state, model),
    }
    n_query = min(state.protocol.batch_size, state.protocol.budget - state.labelled_ids.size)
    if n_query > 0:
        info, subpool = _query(state, model, y_labelled, n_query, round_)
        queried = np.asarray(info["selected_ids"], dtype=np.int64)
        record.update(_label(state, info, subpool, queried))
    else:  # budget reached: the last evaluation, no query (its fields stay None)
        queried = np.empty(0, dtype=np.int64)
    record["time_round"] = time.perf_counter() - t_round
    state.elapsed += record["time_round"]
    record["elapsed"] = state.elapsed
    return {k: record.get(k) for k in RECORD_FIELDS}, queried


def _train(state: _Run, y_labelled: np.ndarray, round_: int, progress: bool) -> tuple[Any, float]:
    """A fresh model fitted on the labelled set, seeded from the run's model and data streams
    for this round; and the time it took."""
    features, task = state.features, state.task
    table = (
        features.vectors
        if state.classifier.reads == "vectors"
        else np.concatenate([task.pool_texts, task.test_texts])
    )
    t0 = time.perf_counter()
    model = state.classifier.make(
        table,
        state.classifier_params,
        model_seed=state.spec.seeds.integer("model", round_),
        data_seed=state.spec.seeds.integer("data", round_),
        minority=task.minority,
        progress=progress,
    )
    model.fit(state.labelled_ids, y_labelled)
    return model, time.perf_counter() - t0


def _evaluate(state: _Run, model: Any) -> dict[str, Any]:
    """The model's scores on the test set (minority / majority F1, accuracy, per class) and
    the prediction time."""
    t0 = time.perf_counter()
    predicted = model.predict(state.features.test_ids)
    time_test = time.perf_counter() - t0
    task = state.task
    scores = classification_metrics(task.test_labels, predicted, task.minority, task.classes)
    return {**scores, "time_test": time_test}


def _query(
    state: _Run, model: Any, y_labelled: np.ndarray, n_query: int, round_: int
) -> tuple[dict, np.ndarray]:
    """The pool filter's subpool and the query strategy's ``n_query`` picks in it
    (:class:`~skanchor.AnchoredQueryStrategy` called directly, so every phase is timed):
    the query's record (``queries_[-1]``) and the subpool's ids."""
    pool_filter = state.persistent_filter
    if pool_filter is None:
        pool_filter = state.method.make(
            state.features.index,
            state.method_params,
            random_state=state.spec.seeds.integer("filter", round_),
            classes=state.task.classes,
        )
    query = AnchoredQueryStrategy(
        pool_filter,
        strategy=state.spec.strategy,
        strategy_params=_strategy_params(
            state.method, state.spec, state.task, state.strategy_params
        )
        or None,
        random_state=state.spec.seeds.integer("strategy", round_),
    )
    pool_ids = np.flatnonzero(state.unlabelled).astype(np.int64)
    query(model, pool_ids, n_instances=n_query, labelled_ids=state.labelled_ids, labels=y_labelled)
    return query.queries_[-1], pool_filter.last_subpool_.ids


def _label(state: _Run, info: dict, subpool: np.ndarray, queried: np.ndarray) -> dict[str, Any]:
    """The oracle's answers for the queried ids, and what the round's record says about the
    selection (subpool, anchors, timings)."""
    task = state.task
    answers = task.oracle(queried)
    sub_minority = int(task.is_minority(task.oracle(subpool)).sum())
    timings = info["timings"]
    return {
        "subpool_size": int(subpool.size),
        "subpool_minority": sub_minority,
        "subpool_minority_share": sub_minority / subpool.size if subpool.size else None,
        "n_candidates": int(info["n_candidates"]),
        "n_anchors": len(info["anchors"]),
        "n_topped_up": int(info["n_topped_up"]),
        "cold_start": bool(info["cold_start"]),
        "queried_ids": queried.tolist(),
        "queried_labels": [str(v) for v in answers],
        "n_queried_minority": int(task.is_minority(answers).sum()),
        "time_anchor_selection": timings["anchor_selection"],
        "time_search": timings["search"],
        "time_aggregation": timings["aggregation"],
        "time_filter": timings["filter"],
        "time_strategy": timings["strategy"],
        "time_selection": timings["total"],
    }


def _record(state: _Run, record: dict, queried: np.ndarray, round_: int) -> None:
    """Append the round's record (store first), then add its labels to the labelled set."""
    store = state.store
    if store is not None:
        store.append_round(record)
    state.records.append(record)
    state.labelled_ids = np.concatenate([state.labelled_ids, queried])
    state.unlabelled[queried] = False
    if store is not None:
        store.update_manifest(
            rounds_completed=len(state.records),
            n_labelled=int(state.labelled_ids.size),
            status="running" if round_ < state.protocol.n_rounds else "complete",
            time_limit=state.protocol.time_limit,
        )
