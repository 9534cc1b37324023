"""The background worker: retrain on the store's labels, query the next items, refill the queue.

The worker runs in its own process (:func:`run`), at a lower priority than the web server,
so that whatever the model is doing the page's next item is already in the queue. It keeps
nothing that the store does not hold: a restarted worker retrains on the stored labels and
goes on. One :meth:`Worker.step`:

1. reads a snapshot of the store (labelled set, pool, free queue items, annotators);
2. with fewer than two classes labelled, fills the queue with a *diverse start*: k-means++
   seeds over (a sample of) the unlabelled pool;
3. otherwise, when ``retrain_every`` new labels have arrived (or the queue runs low),
   retrains the classifier and queries the next ``queue_size`` items (+ one per active
   annotator) with :class:`~skanchor.AnchoredQueryStrategy` on the session's filter and
   strategy, and replaces the queue's unclaimed items with them;
4. after a retraining, predicts the stop set, evaluates the stopping criterion over every
   recorded model, cross-validates the minority F1 on the labelled set, and records it all.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from typing import Any

import numpy as np

from skanchor.label.config import SessionConfig
from skanchor.label.store import LabelStore

__all__ = ["Worker", "run"]

#: Pool items k-means++ looks at for a diverse start (a random sample beyond this).
DIVERSE_SAMPLE = 20_000
#: The environment variable that hands the worker process its database URL (see ``main``).
WORKER_DB_ENV = "SKANCHOR_LABEL_DB"


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


class Worker:
    """Retrains and refills the queue of one session (see the module docstring).

    Parameters
    ----------
    store : LabelStore
        The session.
    index : VectorIndex
        Index over every item (ids = item ids).
    vectors : ndarray of shape (n_items, dim)
        The items' vectors (the ``logreg`` classifier's features; the diverse start).
    texts : list of str, optional
        The items' texts, for classifiers that read texts (``transformer``).
    """

    def __init__(self, store: LabelStore, index: Any, vectors: np.ndarray, texts: Any = None):
        from skanchor.experiments.components import get_classifier, get_method

        self.store = store
        self.config = SessionConfig.from_dict(store.config)
        self.index = index
        self.vectors = vectors
        self.classifier_spec = get_classifier(self.config.classifier)
        if self.classifier_spec.reads == "texts":
            if texts is None:
                texts = store.texts()
            self.table: Any = np.asarray(texts, dtype=object)
        else:
            self.table = vectors
        self.method = get_method(self.config.filter)
        self.stop_ids = store.stop_ids()
        self.model: Any = None
        self.model_n_labels = -1
        self.filter: Any = None

    # -- one step -------------------------------------------------------------------------
    def step(self) -> str | None:
        """Do what the store's state asks for (see the module docstring).

        Returns
        -------
        str or None
            ``"diverse"`` (a diverse start), ``"model"`` (retrained, queried, recorded),
            ``"query"`` (queried with the current model), ``"cv"`` (the latest model
            cross-validated, when nothing more urgent was left) or None (nothing to do).
        """
        cfg = self.config
        snap = self.store.worker_snapshot()
        labelled, labels = snap["labelled_ids"], snap["labels"]
        pool = snap["pool_ids"]
        n_query = cfg.queue_size + 2 * snap["n_active"]
        low = snap["n_free"] <= max(1, cfg.queue_size // 3)
        trainable = len(set(labels)) >= 2
        due = trainable and (
            snap["model_generation"] is None
            or labelled.size - snap["model_n_labels"] >= cfg.retrain_every
        )
        if not due and (not low or pool.size == 0 or pool.size <= snap["n_free"]):
            # nothing urgent (or nothing left to query): cross-validate the latest model
            return self._evaluate(labelled, labels, snap["generation"])
        if pool.size == 0:
            return None
        generation = snap["generation"] + 1
        if not trainable:
            self.store.set_worker_status(state="diverse start", generation=generation)
            ids = self._diverse(pool, min(n_query, pool.size), _seed(cfg.seed, generation, 0))
            self.store.replace_queue(ids, "diverse")
            self.store.set_worker_status(state="idle", generation=generation)
            return "diverse"

        timings: dict[str, float] = {}
        if due or self.model is None or self.model_n_labels != labelled.size:
            self.store.set_worker_status(
                state="training", generation=generation, n_labels=int(labelled.size)
            )
            t0 = time.perf_counter()
            self.model = self._fit(labelled, labels, generation)
            self.model_n_labels = int(labelled.size)
            timings["train_s"] = time.perf_counter() - t0
        self.store.set_worker_status(state="querying", generation=generation)
        t0 = time.perf_counter()
        ids, record = self._query(labelled, labels, pool, min(n_query, pool.size), generation)
        timings["query_s"] = time.perf_counter() - t0
        generation = self.store.replace_queue(ids, "model")
        if due:
            self._record_model(generation, labelled, labels, timings, record)
        self.store.set_worker_status(state="idle", generation=generation)
        return "model" if due else "query"

    # -- parts ----------------------------------------------------------------------------
    def _diverse(self, pool: np.ndarray, n: int, seed: int) -> np.ndarray:
        """k-means++ seeds over (a sample of) the pool: items far apart from each other."""
        from sklearn.cluster import kmeans_plusplus

        rng = np.random.default_rng(seed)
        sample = pool
        if sample.size > DIVERSE_SAMPLE:
            sample = np.sort(rng.choice(pool, DIVERSE_SAMPLE, replace=False))
        if n >= sample.size:
            return rng.permutation(sample)
        _, positions = kmeans_plusplus(
            np.asarray(self.vectors[sample], dtype=np.float64), n, random_state=seed
        )
        return sample[positions]

    def _minority(self, labels: list[str]) -> list[str]:
        if self.config.minority:
            return list(self.config.minority)
        counts = Counter(labels)
        return [min(sorted(counts), key=lambda c: counts[c])] if counts else []

    def _make_model(self, labels: list[str], generation: int) -> Any:
        return self.classifier_spec.make(
            self.table,
            self.config.classifier_params,
            model_seed=_seed(self.config.seed, generation, 1),
            data_seed=_seed(self.config.seed, generation, 2),
            minority=tuple(self._minority(labels)),
        )

    def _fit(self, labelled: np.ndarray, labels: list[str], generation: int) -> Any:
        model = self._make_model(labels, generation)
        return model.fit(labelled, np.asarray(labels, dtype=object))

    def _query(
        self,
        labelled: np.ndarray,
        labels: list[str],
        pool: np.ndarray,
        n: int,
        generation: int,
    ) -> tuple[np.ndarray, dict]:
        from skanchor.query import AnchoredQueryStrategy
        from skanchor.strategies import UnseenMinorityWarning
        from skanchor.subpool import StarvedClassWarning

        if self.filter is None:  # one filter for the session: stateful filters keep state
            self.filter = self.method.make(
                self.index,
                self.config.filter_params,
                random_state=_seed(self.config.seed, 3),
                classes=self.config.labels,
            )
        query = AnchoredQueryStrategy(
            self.filter,
            strategy=self.config.strategy,
            strategy_params=self._strategy_params(),
            random_state=_seed(self.config.seed, generation, 4),
        )
        with warnings.catch_warnings():  # expected while classes have no label yet
            warnings.simplefilter("ignore", StarvedClassWarning)
            warnings.simplefilter("ignore", UnseenMinorityWarning)
            positions, _ = query(
                self.model,
                pool,
                n_instances=n,
                labelled_ids=labelled,
                labels=np.asarray(labels, dtype=object),
            )
        record = query.queries_[-1]
        info = {
            "subpool_size": int(record["subpool_size"]),
            "cold_start": bool(record["cold_start"]),
            "filter_s": float(record["timings"]["filter"]),
            "strategy_s": float(record["timings"]["strategy"]),
        }
        return pool[np.asarray(positions, dtype=np.int64)], info

    def _strategy_params(self) -> dict | None:
        """The strategy's parameters, with the session's minority class(es) for strategies
        that take ``minority`` (the imbalance-aware ones) unless set explicitly."""
        from skanchor.strategies import with_minority

        params = with_minority(
            self.config.strategy,
            {**self.method.strategy_params, **self.config.strategy_params},
            self.config.minority,
            self.config.labels,
        )
        return params or None

    def _cv_f1(self, labelled: np.ndarray, labels: list[str], generation: int) -> float | None:
        from sklearn.metrics import f1_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = min(self.config.cv_folds, *Counter(labels).values())
        if self.config.cv_folds < 2 or folds < 2:
            return None
        y = np.asarray(labels, dtype=object)
        cv = StratifiedKFold(folds, shuffle=True, random_state=_seed(self.config.seed, generation))
        predicted = cross_val_predict(self._make_model(labels, generation), labelled, y, cv=cv)
        minority = self._minority(labels)
        return float(f1_score(y, predicted, labels=minority, average="macro", zero_division=0))

    def _record_model(
        self,
        generation: int,
        labelled: np.ndarray,
        labels: list[str],
        timings: dict,
        record: dict,
    ) -> None:
        """Record a retraining: its stop-set predictions and the stop signal over every
        recorded model (cheap). The cross-validated F1 comes later (:meth:`_evaluate`)."""
        codes = {label: i for i, label in enumerate(self.config.labels)}
        predictions = [codes[p] for p in self.model.predict(self.stop_ids).tolist()]
        names = np.asarray(self.config.labels, dtype=object)  # the criterion reads labels
        criterion = self.config.make_criterion()
        for previous in self.store.model_predictions():
            criterion.update(names[np.asarray(previous, dtype=np.int64)])
        criterion.update(names[np.asarray(predictions, dtype=np.int64)])
        history = list(criterion.history_)
        self.store.add_model(
            generation,
            int(labelled.size),
            predictions,
            stop_value=history[-1] if history else None,
            should_stop=criterion.should_stop,
            info={
                **timings,
                **record,
                "stop": self.config.stop,
                "stop_history": history[-criterion.window :],
                "stop_window": int(criterion.window),
                "stop_threshold": float(criterion.threshold),
                "minority": self._minority(labels),
            },
        )

    def _evaluate(self, labelled: np.ndarray, labels: list[str], generation: int) -> str | None:
        """Cross-validate the minority F1 on the labelled set for the latest model, if it
        has none yet. It runs only when no refill is due, so it never delays the queue."""
        latest = self.store.latest_model()
        if latest is None or latest["cv_n_labels"] is not None or self.config.cv_folds < 2:
            return None
        self.store.set_worker_status(state="evaluating", generation=generation)
        t0 = time.perf_counter()
        cv_f1 = self._cv_f1(labelled, labels, generation)
        self.store.set_model_cv(
            latest["generation"], cv_f1, int(labelled.size), time.perf_counter() - t0
        )
        self.store.set_worker_status(state="idle", generation=generation)
        return "cv"


# ----------------------------------------------------------------------------------------------
# The worker process
# ----------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (kill -9 of the server)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run(db: str, session_dir: str, parent_pid: int, poll: float = 0.2) -> None:
    """Entry point of the worker process: step until the parent (the server) is gone.

    Parameters
    ----------
    db : str
        The session's database URL.
    session_dir : str
        The session folder (the index).
    parent_pid : int
        The server's process id.
    poll : float, default=0.2
        Seconds to rest when there is nothing to do.
    """
    _die_with_parent()
    try:
        os.nice(10)  # the web server comes first
    except OSError:
        pass
    from threadpoolctl import threadpool_limits

    from skanchor.label.session import load_features

    store = LabelStore.open(db)
    store.set_worker_status(state="loading")
    try:
        features = load_features(store, session_dir, progress=False)
    except Exception as exc:  # the page shows it; the server goes on serving
        store.set_worker_status(state="error", error=f"{type(exc).__name__}: {exc}")
        raise
    worker = Worker(store, features.index, features.vectors, texts=features.texts)
    store.set_worker_status(state="idle")
    with threadpool_limits(1):
        while os.getppid() == parent_pid:
            try:
                did = worker.step()
            except Exception as exc:  # keep serving; the page shows the error
                traceback.print_exc(file=sys.stderr)
                try:
                    store.set_worker_status(state="error", error=f"{type(exc).__name__}: {exc}")
                except Exception:  # the database itself is away: try again after the rest
                    pass
                time.sleep(5.0)
                continue
            if did is None:
                time.sleep(poll)
    store.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m skanchor.label.worker SESSION_DIR PARENT_PID``, the database URL in
    ``$SKANCHOR_LABEL_DB``: how :func:`skanchor.label.app.serve` starts :func:`run`."""
    session_dir, parent_pid = argv if argv is not None else sys.argv[1:]
    # Ctrl+C in a terminal reaches the whole process group: the server ends the worker itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    db = os.environ.get(WORKER_DB_ENV)
    if not db:
        raise SystemExit(f"skanchor label worker: ${WORKER_DB_ENV} must hold the database URL")
    run(db, session_dir, int(parent_pid))


if __name__ == "__main__":
    main()
