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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from skanchor.experiments.components import CLASSIFIERS, METHODS
from skanchor.experiments.config import ExperimentConfig, RunSpec
from skanchor.experiments.features import TaskFeatures
from skanchor.experiments.metrics import classification_metrics
from skanchor.experiments.store import ResultsDirError, RunStore, package_versions
from skanchor.experiments.tasks import Task
from skanchor.query import AnchoredQueryStrategy

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


@dataclass(frozen=True)
class Protocol:
    """The annotation protocol: initial set, batch size, budget and wall-clock limit."""

    n_initial: int = 100
    n_initial_per_minority: int = 5
    batch_size: int = 25
    budget: int = 5000
    time_limit: float | None = None

    @classmethod
    def from_config(cls, config: ExperimentConfig) -> Protocol:
        return cls(
            config.n_initial,
            config.n_initial_per_minority,
            config.batch_size,
            config.budget,
            config.time_limit,
        )

    @property
    def n_rounds(self) -> int:
        """Query rounds to reach the budget; a run has ``n_rounds + 1`` records."""
        return -(-(self.budget - self.n_initial) // self.batch_size)

    def identity(self) -> dict:
        data = asdict(self)
        data.pop("time_limit")
        return data

    def check(self, task: Task) -> None:
        """Fail early, naming the numbers, when ``task`` cannot run under this protocol."""
        if self.budget < self.n_initial + self.batch_size:
            raise ValueError(
                f"budget={self.budget} is smaller than one round: the initial set "
                f"({self.n_initial}) plus one batch ({self.batch_size})"
            )
        counts = task.counts()["pool"]
        for label in task.minority:
            if counts[label] < self.n_initial_per_minority:
                raise ValueError(
                    f"minority class {label!r} has {counts[label]} items in the pool; the "
                    f"initial set needs {self.n_initial_per_minority} "
                    "(lower n_initial_per_minority or raise the rate)"
                )
        n_majority_initial = self.n_initial - self.n_initial_per_minority * len(task.minority)
        n_majority = sum(counts[c] for c in task.majority)
        if n_majority_initial < 1:
            raise ValueError(
                f"n_initial={self.n_initial} leaves no majority item after "
                f"{self.n_initial_per_minority} per minority class ({len(task.minority)} classes)"
            )
        if n_majority_initial > n_majority:
            raise ValueError(
                f"the initial set needs {n_majority_initial} majority items; the pool has "
                f"{n_majority}"
            )
        if self.budget > task.n_pool:
            raise ValueError(
                f"the pool runs out before the budget: it has {task.n_pool:,} items and the "
                f"budget is {self.budget:,} labels (lower the budget or use a larger pool)"
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
    """Run (or resume) one simulated annotation run; returns its records and final status.

    With a ``store``, records already there are replayed (the run continues after the last
    complete one) and each new record is appended as soon as its round completes. Status:
    ``"complete"`` (budget reached) or ``"time_limit"`` (``protocol.time_limit`` seconds of
    training, selection and testing spent first).
    """
    protocol.check(task)
    method = METHODS[run.method]
    classifier = CLASSIFIERS[run.classifier]
    params = {
        "method_params": {**method.defaults, **(method_params or {})},
        "strategy_params": dict(strategy_params or {}),
        "classifier_params": {**classifier.defaults, **(classifier_params or {})},
        "embedding_dim": int(features.vectors.shape[1]),
        "index": features.index.kind,
    }
    identity = _run_identity(run, task, protocol, params)
    seeds = run.seeds
    initial = initial_set(task, protocol, seeds.generator("initial"))

    records: list[dict] = []
    if store is not None:
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
            records = store.load_rounds()
        else:
            store.path.mkdir(parents=True, exist_ok=True)
            with open(store.rounds_path, "a"):
                pass
            store.write_manifest(
                {
                    "run_id": run.run_id,
                    "identity": identity,
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

    # Replay: the labelled set, the pool, the filter's state.
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
    labelled_ids = np.concatenate(labelled)
    unlabelled = np.ones(task.n_pool, dtype=bool)
    unlabelled[labelled_ids] = False

    index = features.index
    index.set_mask(np.empty(0, dtype=np.int64))
    persistent_filter = method.make(index, method_params) if method.stateful else None
    if persistent_filter is not None and records:
        replay = initial
        for record in records:
            if record["queried_ids"] is None:
                break
            persistent_filter.select(
                replay,
                task.oracle(replay),
                pool_ids=np.flatnonzero(~np.isin(np.arange(task.n_pool), replay)),
            )
            replay = np.concatenate([replay, np.asarray(record["queried_ids"], dtype=np.int64)])

    elapsed = float(sum(r["time_round"] for r in records))
    status = "complete" if len(records) > protocol.n_rounds else "running"
    test_ids = features.test_ids
    table = (
        features.vectors
        if classifier.reads == "vectors"
        else np.concatenate([task.pool_texts, task.test_texts])
    )

    try:
        for round_ in range(len(records), protocol.n_rounds + 1):
            if protocol.time_limit is not None and elapsed >= protocol.time_limit:
                status = "time_limit"
                break
            t_round = time.perf_counter()
            y_labelled = task.oracle(labelled_ids)

            # 1. a fresh model on the labelled set
            t0 = time.perf_counter()
            model = classifier.make(
                table,
                classifier_params,
                model_seed=seeds.integer("model", round_),
                data_seed=seeds.integer("data", round_),
                minority=task.minority,
                progress=progress,
            )
            model.fit(labelled_ids, y_labelled)
            time_train = time.perf_counter() - t0

            # 2. evaluation on the test set
            t0 = time.perf_counter()
            predicted = model.predict(test_ids)
            time_test = time.perf_counter() - t0
            scores = classification_metrics(
                task.test_labels, predicted, task.minority, task.classes
            )

            record: dict[str, Any] = {
                "round": round_,
                "n_labelled": int(labelled_ids.size),
                "n_minority_labelled": int(task.is_minority(y_labelled).sum()),
                "labelled_per_class": _class_counts(y_labelled, task.classes),
                **scores,
                "time_train": time_train,
                "time_test": time_test,
            }

            # 3. selection and annotation
            n_query = min(protocol.batch_size, protocol.budget - labelled_ids.size)
            if n_query > 0:
                pool_filter = (
                    persistent_filter
                    if persistent_filter is not None
                    else method.make(
                        index, method_params, random_state=seeds.integer("filter", round_)
                    )
                )
                query = AnchoredQueryStrategy(
                    pool_filter,
                    strategy=run.strategy,
                    strategy_params=strategy_params or None,
                    random_state=seeds.integer("strategy", round_),
                )
                pool_ids = np.flatnonzero(unlabelled).astype(np.int64)
                query(
                    model,
                    pool_ids,
                    n_instances=n_query,
                    labelled_ids=labelled_ids,
                    labels=y_labelled,
                )
                info = query.queries_[-1]
                queried = np.asarray(info["selected_ids"], dtype=np.int64)
                answers = task.oracle(queried)
                subpool = pool_filter.last_subpool_.ids
                sub_minority = int(task.is_minority(task.oracle(subpool)).sum())
                timings = info["timings"]
                record.update(
                    subpool_size=int(subpool.size),
                    subpool_minority=sub_minority,
                    subpool_minority_share=sub_minority / subpool.size if subpool.size else None,
                    n_candidates=int(info["n_candidates"]),
                    n_anchors=len(info["anchors"]),
                    n_topped_up=int(info["n_topped_up"]),
                    cold_start=bool(info["cold_start"]),
                    queried_ids=queried.tolist(),
                    queried_labels=[str(v) for v in answers],
                    n_queried_minority=int(task.is_minority(answers).sum()),
                    time_anchor_selection=timings["anchor_selection"],
                    time_search=timings["search"],
                    time_aggregation=timings["aggregation"],
                    time_filter=timings["filter"],
                    time_strategy=timings["strategy"],
                    time_selection=timings["total"],
                )
            else:  # budget reached: the last evaluation, no query (its fields stay None)
                queried = np.empty(0, dtype=np.int64)
            record["time_round"] = time.perf_counter() - t_round
            elapsed += record["time_round"]
            record["elapsed"] = elapsed
            record = {k: record.get(k) for k in RECORD_FIELDS}

            if store is not None:
                store.append_round(record)
            records.append(record)
            labelled_ids = np.concatenate([labelled_ids, queried])
            unlabelled[queried] = False
            if store is not None:
                store.update_manifest(
                    rounds_completed=len(records),
                    n_labelled=int(labelled_ids.size),
                    status="running" if round_ < protocol.n_rounds else "complete",
                    time_limit=protocol.time_limit,
                )
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
        index.set_mask(np.empty(0, dtype=np.int64))

    if store is not None:
        store.update_manifest(status=status, rounds_completed=len(records), elapsed=elapsed)
    return records, status
