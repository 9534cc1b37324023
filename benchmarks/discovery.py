"""Which configuration finds the most minority items for the same labels? (issue 12)

The tasks and their split into a **tuning half** and a **report half** are fixed here, before
any tuning (commit "discovery: fix the task list and its split before tuning"). Configurations
are chosen on the tuning half only; the report half is run once per candidate configuration
that is reported, and its results are never used to change a configuration.

The split was drawn with ``numpy.random.default_rng(20261202)``, stratified so that each half
holds one multiclass task (several minority classes) and one task with a 2,000-label budget:
per stratum (multiclass; budget 2,000; the eight one-vs-rest tasks), a permutation, the first
half to tuning. One task was added to the tuning half later (``reuters-multi-tune``, tuning
round 4 of ``benchmarks/RESULTS.md``), so that more than one multiclass task is tuned on; the
report half has not changed.
"""

from __future__ import annotations

#: Every task: a dataset of ``skanchor.experiments.loaders`` and the options of ``build_task``.
#: ``rate=None`` keeps Reuters' natural rates (0.4%-2.7% of the LEWISSPLIT train pool); the
#: others downsample the minority class(es) to 1% of the pool (never the test set).
TASKS: dict[str, dict] = {
    "reuters-coffee": {"dataset": "reuters", "minority": ["coffee"], "rate": "natural"},
    "reuters-gold": {"dataset": "reuters", "minority": ["gold"], "rate": "natural"},
    "reuters-ship": {"dataset": "reuters", "minority": ["ship"], "rate": "natural"},
    "reuters-sugar": {"dataset": "reuters", "minority": ["sugar"], "rate": "natural"},
    "reuters-crude": {"dataset": "reuters", "minority": ["crude"], "rate": "natural"},
    "reuters-multi": {
        "dataset": "reuters",
        "minority": ["cocoa", "copper", "cotton"],
        "rate": "natural",
    },
    # Added to the tuning half on 2026-12-03, after the report half had been run once.
    "reuters-multi-tune": {
        "dataset": "reuters",
        "minority": ["alum", "iron-steel", "livestock"],
        "rate": "natural",
    },
    "imdb-pos": {
        "dataset": "imdb",
        "minority": ["pos"],
        "rate": 0.01,
        "max_test_majority": 5000,
        "budget": 2000,
    },
    "sst2-neg": {"dataset": "sst2", "minority": ["negative"], "rate": 0.01, "budget": 2000},
    "sms-spam": {"dataset": "sms-spam", "minority": ["spam"], "rate": 0.01},
    "20ng-space": {"dataset": "20newsgroups", "minority": ["sci.space"], "rate": 0.01},
    "20ng-religion": {"dataset": "20newsgroups", "minority": ["talk.religion.misc"], "rate": 0.01},
    "20ng-multi": {
        "dataset": "20newsgroups",
        "minority": ["comp.graphics", "sci.med", "rec.sport.hockey"],
        "rate": 0.01,
    },
}

#: Settings every task shares (ExperimentConfig fields). MiniLM-L6-v2 embeds the first 128
#: word pieces of each text (the length it was trained at; its default of 256 doubles the
#: embedding cost of long documents for no measured gain here).
PROTOCOL: dict = {"embedder_params": {"max_seq_length": 128}}

#: Configurations are tuned on these tasks only.
TUNING = (
    "20ng-multi",
    "imdb-pos",
    "reuters-ship",
    "reuters-crude",
    "sms-spam",
    "reuters-gold",
    "reuters-multi-tune",  # added later (see the module docstring)
)
#: The targets are reported on these tasks; nothing is tuned on them.
REPORT = (
    "reuters-multi",
    "sst2-neg",
    "reuters-sugar",
    "20ng-space",
    "reuters-coffee",
    "20ng-religion",
)

assert sorted(TUNING + REPORT) == sorted(TASKS) and not set(TUNING) & set(REPORT)


# ------------------------------------------------------------------------------------------
# Everything below the fixed task list: configurations, the driver, the summary.
# ------------------------------------------------------------------------------------------
# ruff: noqa: E402  (the task list above is fixed and comes first; the code is built below it)

import argparse
import hashlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.metrics import precision_recall_fscore_support

from benchmarks import peers
from skanchor.experiments import ExperimentConfig, Task, build_task, run_experiment
from skanchor.experiments.components import (
    CLASSIFIERS,
    METHODS,
    check_strategy,
    get_classifier,
    get_method,
)
from skanchor.experiments.config import RunSpec
from skanchor.experiments.features import make_embedder
from skanchor.experiments.metrics import run_summary
from skanchor.experiments.runner import default_cache_dir
from skanchor.experiments.store import ResultsDir
from skanchor.presets import PRESETS, RECOMMENDED
from skanchor.strategies import STRATEGIES

peers.register()  # small-text's AnchorSubsampling as the method "smalltext-anchor"

#: Budget of a task whose entry names none (the paper's protocol, §4).
DEFAULT_BUDGET = 1000
#: Seeds of every run (each seeds the initial set, the model, the data order and selection).
SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Configuration:
    """What one row of the comparison runs: a method (pool filter), a query strategy, a
    classifier and their parameters, by the names of :mod:`skanchor.experiments.components`
    and :data:`skanchor.strategies.STRATEGIES`. Parameters left out take the registries'
    defaults (the classifier's is the library's default ``logreg``)."""

    method: str
    strategy: str = "entropy"
    method_params: dict = field(default_factory=dict)
    strategy_params: dict = field(default_factory=dict)
    classifier: str = "logreg"
    classifier_params: dict = field(default_factory=dict)
    description: str = ""

    def experiment(
        self,
        task: str,
        *,
        seeds: Sequence[int] = SEEDS,
        tasks: Mapping[str, dict] | None = None,
        **overrides: Any,
    ) -> ExperimentConfig:
        """The :class:`~skanchor.experiments.ExperimentConfig` of this configuration on
        ``task`` (an entry of ``tasks``, default :data:`TASKS`); ``overrides`` replace
        fields (e.g. ``embedder="tfidf"`` for a smoke run)."""
        method = get_method(self.method).name
        strategy = check_strategy(self.strategy)
        classifier = get_classifier(self.classifier).name
        data = task_settings(task, tasks)
        data.update(
            methods=[method], strategies=[strategy], classifiers=[classifier], seeds=list(seeds)
        )
        if self.method_params:
            data["method_params"] = {method: dict(self.method_params)}
        if self.strategy_params:
            data["strategy_params"] = {strategy: dict(self.strategy_params)}
        if self.classifier_params:
            data["classifier_params"] = {classifier: dict(self.classifier_params)}
        data.update(overrides)
        return ExperimentConfig.from_dict(data)


#: Every configuration by name: one line each. A new strategy or anchoring option is one more
#: line (or ``--methods/--strategies/--method-params`` on the command line).
CONFIGS: dict[str, Configuration] = {
    "random": Configuration("random", description="Random sampling"),
    "noop": Configuration("noop", description="No-Op: entropy over the whole pool"),
    "randsub": Configuration("randsub", description="RandSub: entropy over 10k random items"),
    "seals": Configuration("seals", description="SEALS: entropy over the labelled items' kNN"),
    "anchoral": Configuration("anchoral", description="AnchorAL, the paper's configuration"),
    "smalltext-anchor": Configuration(
        peers.SMALLTEXT_METHOD, description="small-text 1.4.1 AnchorSubsampling + entropy"
    ),
    # the recommended preset, as `skanchor run --methods discovery` runs it
    RECOMMENDED: Configuration(
        RECOMMENDED,
        PRESETS[RECOMMENDED].strategy,
        description=f"the recommended preset ({RECOMMENDED}): {PRESETS[RECOMMENDED].description}",
    ),
}
#: What every candidate is measured against (the issue's baselines, plain AnchorAL included).
BASELINES: tuple[str, ...] = ("random", "noop", "randsub", "seals", "anchoral", "smalltext-anchor")
#: Selection time per round is compared with this configuration's (plain AnchorAL).
REFERENCE = "anchoral"
#: The issue's targets on the report half.
TARGETS = {"found_ratio": 1.3, "auc_share": 0.8, "time_ratio": 2.0}


def task_settings(name: str, tasks: Mapping[str, dict] | None = None) -> dict:
    """``ExperimentConfig`` fields of task ``name``: :data:`PROTOCOL`, then its dataset and
    options, its budget."""
    tasks = TASKS if tasks is None else tasks
    if name not in tasks:
        raise ValueError(f"unknown task {name!r}; valid: {', '.join(tasks)}")
    data = {**PROTOCOL, **tasks[name]}
    data.setdefault("budget", DEFAULT_BUDGET)
    return data


def task_config(name: str, tasks: Mapping[str, dict] | None = None, **overrides: Any):
    """The experiment configuration of task ``name`` alone (no comparison chosen)."""
    return ExperimentConfig.from_dict({**task_settings(name, tasks), **overrides})


def load_task(name: str, config: ExperimentConfig | None = None) -> Task:
    """Task ``name`` built by the library's loaders, named after its :data:`TASKS` entry."""
    config = config or task_config(name)
    task = build_task(config.dataset, **config.task_options())
    task.name = name
    return task


def embedding_cache() -> Path:
    """The shared embedding cache: the library's default folder (``$SKANCHOR_CACHE``)."""
    return default_cache_dir() / "embeddings"


def _cache_for(config: ExperimentConfig) -> Path | bool:
    return False if config.embedder == "tfidf" else embedding_cache()


def task_vectors(task: Task, config: ExperimentConfig) -> np.ndarray:
    """Pool then test vectors of ``task``, as ``skanchor run`` embeds them (shared cache)."""
    cache = _cache_for(config)
    model = make_embedder(
        config.embedder,
        batch_size=config.embed_batch_size,
        cache_dir=cache or None,
        progress=False,
        params=config.embedder_params,
    )
    texts = np.concatenate([task.pool_texts, task.test_texts]).tolist()
    return np.asarray(model.fit_transform(texts), dtype=np.float32)


class TaskVectors(TransformerMixin, BaseEstimator):
    """The vectors of one task's pool then test texts, computed on first use by
    :func:`task_vectors` (the library's embedder and cache) and handed out again to every
    configuration run on the task (``run_experiment(embedder=...)``), so the model is loaded
    and the cache read once per task, not once per configuration."""

    def __init__(self, task: Task | None = None, config: ExperimentConfig | None = None):
        self.task = task
        self.config = config

    def fit(self, X: Any = None, y: Any = None) -> TaskVectors:
        return self

    def transform(self, X: Any) -> np.ndarray:
        expected = np.concatenate([self.task.pool_texts, self.task.test_texts])
        if len(X) != expected.size or list(X) != expected.tolist():
            raise ValueError(f"TaskVectors holds the texts of task {self.task.name!r} only")
        if getattr(self, "vectors_", None) is None:
            self.vectors_ = task_vectors(self.task, self.config)
        return self.vectors_


def select_tasks(half: str | None = None, names: Iterable[str] | None = None) -> list[str]:
    """Task names of a half (``"tuning"``, ``"report"``, ``"all"``) or as listed."""
    if names:
        names = list(names)
        unknown = [n for n in names if n not in TASKS]
        if unknown:
            raise ValueError(f"unknown task {unknown[0]!r}; valid: {', '.join(TASKS)}")
        return names
    halves = {"tuning": list(TUNING), "report": list(REPORT), "all": list(TASKS)}
    if half not in halves:
        raise ValueError(f"half must be one of {', '.join(halves)}, got {half!r}")
    return halves[half]


# ------------------------------------------------------------------------------------------
# Where results go: one results directory per task and configuration
# ------------------------------------------------------------------------------------------


def default_results_dir() -> Path:
    """``$SKANCHOR_CACHE/discovery`` (``~/.cache/skanchor/discovery``): shared by every
    checkout on the machine, so runs done once are reused (each directory is resumable)."""
    return default_cache_dir() / "discovery"


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def effective_settings(config: ExperimentConfig) -> dict:
    """Everything that shapes a run of ``config`` except its seeds: the configuration's
    identity plus the parameters the filter, the strategy and the classifier take by default
    and a preset's strategy parameters (so a changed library default or preset gives a new
    results directory, never a mixed one)."""
    (method,) = config.methods
    (classifier,) = config.classifiers
    spec = METHODS[method]
    filt = spec.make(None, config.method_params.get(method))
    filter_params = {
        k: v for k, v in filt.get_params(deep=False).items() if k not in ("index", "random_state")
    }
    model = CLASSIFIERS[classifier].make(
        None, config.classifier_params.get(classifier), model_seed=0, data_seed=0
    )
    model_params = {
        k: v
        for k, v in model.named_steps["model"].get_params(deep=False).items()
        if k not in ("random_state", "data_random_state")
    }
    strategy = spec.strategy or config.strategies[0]
    strategy_settings = [strategy, str(inspect.signature(STRATEGIES[strategy]))]
    if spec.strategy_params:  # a preset's own ones are not in the configuration's identity
        strategy_settings.append(dict(spec.strategy_params))
    return _jsonable(
        {
            "identity": config.identity(),
            "filter": [type(filt).__qualname__, filter_params],
            "strategy": strategy_settings,
            "classifier": [type(model.named_steps["model"]).__qualname__, model_params],
        }
    )


def run_dir(root: str | Path, task: str, name: str, config: ExperimentConfig) -> Path:
    """``root/<task>/<configuration>-<hash of its effective settings>``."""
    blob = json.dumps(effective_settings(config), sort_keys=True).encode()
    return Path(root) / task / f"{name}-{hashlib.sha256(blob).hexdigest()[:10]}"


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


def _log_to(path: Path | None) -> Callable[[str], None]:
    def log(message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        if path is not None:
            with open(path, "a") as f:
                f.write(line + "\n")

    return log


def embed(names: Sequence[str], *, log: Callable[[str], None] = print) -> None:
    """Embed the pool and test texts of tasks ``names`` into the shared cache."""
    for name in names:
        t0 = time.perf_counter()
        config = task_config(name)
        task = load_task(name, config)
        vectors = task_vectors(task, config)
        log(
            f"{name}: {vectors.shape[0]:,} texts ({task.n_pool:,} pool) embedded or found in "
            f"{embedding_cache()} in {time.perf_counter() - t0:.0f} s"
        )


def _all_complete(out: Path, config: ExperimentConfig) -> bool:
    """Whether every run of ``config`` in ``out`` has finished (read-only, no lock taken)."""
    store = ResultsDir(out)
    for spec in config.runs():
        run = store.run(spec.run_id)
        if not run.exists() or run.read_manifest().get("status") != "complete":
            return False
    return True


def run(
    names: Sequence[str],
    configs: Mapping[str, Configuration],
    *,
    seeds: Sequence[int] = SEEDS,
    root: str | Path | None = None,
    tasks: Mapping[str, dict] | None = None,
    overrides: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Run (or resume) every configuration on every task; returns wall seconds per task and
    configuration spent in this call (0 for runs found complete)."""
    root = Path(root) if root is not None else default_results_dir()
    overrides = dict(overrides or {})
    spent: dict[str, dict[str, float]] = {}
    for task_name in names:
        base = task_config(task_name, tasks, **overrides)
        task = load_task(task_name, base)
        vectors = TaskVectors(task, base)  # embedded (or read from the cache) once per task
        spent[task_name] = {}
        for name, conf in configs.items():
            config = conf.experiment(task_name, seeds=seeds, tasks=tasks, **overrides)
            out = run_dir(root, task_name, name, config)
            if _all_complete(out, config):  # read without the lock: other processes may check too
                spent[task_name][name] = 0.0
                log(f"{task_name} / {name}: complete (0 s) -> {out}")
                continue
            t0 = time.perf_counter()
            result = run_experiment(
                config,
                out,
                resume=True,
                cache_dir=_cache_for(config),
                task=task,
                embedder=vectors,
                progress=False,
                log=None,
            )
            spent[task_name][name] = time.perf_counter() - t0
            statuses = sorted(set(result.statuses.values()))
            log(
                f"{task_name} / {name}: {', '.join(statuses) or 'nothing to do'} "
                f"({spent[task_name][name]:.0f} s, load {os.getloadavg()[0]:.1f}) -> {out}"
            )
    return spent


# ------------------------------------------------------------------------------------------
# Summary: per task and configuration, then the targets
# ------------------------------------------------------------------------------------------

#: Reported per task and configuration (median and quartiles over seeds).
METRICS = {
    "minority_found": "minority items in the labelled set at the budget (initial ones included)",
    "auc_minority_f1": "minority-F1 AUC (trapezoid, one unit per round: the paper's AUC)",
    "final_minority_f1": "minority F1 at the budget",
    "final_majority_f1": "majority F1 at the budget",
    "selection_time": "total selection time of the run (s)",
    "selection_per_round": "median selection time per round (s)",
}


def quartiles(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and IQR (linear interpolation, as ``metrics.median_iqr``)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {"median": float("nan"), "q1": float("nan"), "q3": float("nan"), "iqr": 0.0}
    q1, q2, q3 = np.percentile(x, [25, 50, 75])
    return {"median": float(q2), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1)}


def run_metrics(records: Sequence[dict]) -> dict[str, float]:
    """One complete run's figures (``metrics.run_summary`` plus the per-round time)."""
    summary = run_summary(records)
    times = [r["time_selection"] for r in records if r.get("time_selection") is not None]
    summary["selection_per_round"] = float(np.median(times)) if times else float("nan")
    return summary


def collect(
    root: str | Path,
    names: Sequence[str],
    configs: Mapping[str, Configuration],
    *,
    seeds: Sequence[int] = SEEDS,
    tasks: Mapping[str, dict] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, dict]]:
    """``{task: {configuration: cell}}`` from the results directories; a cell holds the
    quartiles of every :data:`METRICS` entry over the complete runs, their count and seeds,
    the elapsed time of the runs, the task's pool counts and each run's :data:`PAIRED` figures
    by seed (``per_seed``, for :func:`paired`). Missing runs are left out."""
    out: dict[str, dict[str, dict]] = {}
    for task_name in names:
        out[task_name] = {}
        for name, conf in configs.items():
            config = conf.experiment(task_name, seeds=seeds, tasks=tasks, **(overrides or {}))
            results = ResultsDir(run_dir(root, task_name, name, config))
            if not results.is_results_dir():
                continue
            per_run, done, elapsed = [], [], 0.0
            for spec in config.runs():
                store = results.run(spec.run_id)
                if not store.exists():
                    continue
                manifest = store.read_manifest()
                records = store.load_rounds(repair=False)
                elapsed += float(sum(r["time_round"] for r in records))
                if manifest.get("status") == "complete" and records:
                    per_run.append(run_metrics(records))
                    done.append(spec.seeds.label)
            if not per_run:
                continue
            cell = {k: quartiles([m[k] for m in per_run]) for k in METRICS}
            cell.update(
                runs=len(per_run),
                seeds=done,
                per_seed={
                    seed: {k: m[k] for k in PAIRED} for seed, m in zip(done, per_run, strict=True)
                },
                budget=int(np.median([m["budget"] for m in per_run])),
                elapsed_s=elapsed,
                pool=results.read_experiment().get("task", {}).get("counts", {}).get("pool"),
            )
            out[task_name][name] = cell
    return out


#: The figures compared seed by seed between two configurations (:func:`paired`).
PAIRED = ("auc_minority_f1", "minority_found")


def paired(
    cells: Mapping[str, Mapping[str, dict]],
    candidate: str,
    reference: str,
    metric: str = "auc_minority_f1",
) -> dict:
    """``candidate`` - ``reference`` seed by seed on every task where both ran the same seed.

    Two configurations run with the same seed share the initial labels, the model's seeds and
    the data order, so their difference on that seed is free of the seed-to-seed spread that
    the quartiles carry. Returns the differences by task and seed, their mean and median, the
    counts of positive, negative and equal pairs (``|d| <= 1e-9`` is equal), and the two-sided
    sign test's p-value over the unequal pairs (``scipy.stats.binomtest``): how often a coin
    would split the pairs at least as unevenly.
    """
    from scipy.stats import binomtest

    by_task: dict[str, dict[str, float]] = {}
    for task, row in cells.items():
        if candidate not in row or reference not in row:
            continue
        ours, theirs = row[candidate]["per_seed"], row[reference]["per_seed"]
        common = [seed for seed in ours if seed in theirs]
        if common:
            by_task[task] = {s: ours[s][metric] - theirs[s][metric] for s in common}
    d = np.array([v for row in by_task.values() for v in row.values()], dtype=np.float64)
    up, down = int((d > 1e-9).sum()), int((d < -1e-9).sum())
    return {
        "reference": reference,
        "metric": metric,
        "per_task": by_task,
        "pairs": int(d.size),
        "mean": float(d.mean()) if d.size else float("nan"),
        "median": float(np.median(d)) if d.size else float("nan"),
        "positive": up,
        "negative": down,
        "equal": int(d.size) - up - down,
        "sign_test_p": float(binomtest(up, up + down).pvalue) if up + down else 1.0,
    }


def targets(
    cells: Mapping[str, Mapping[str, dict]],
    candidate: str,
    baselines: Sequence[str] = BASELINES,
    reference: str = REFERENCE,
) -> dict:
    """The issue's three targets for ``candidate`` over the tasks of ``cells``.

    - ``found_ratio``: per task, the candidate's median minority found divided by the best
      median of the baselines (every baseline but the candidate itself); the median over
      tasks (target >= 1.3);
    - ``auc_share``: share of tasks where the candidate's median minority-F1 AUC is at least
      the lower quartile of the best baseline's (its median within the best's IQR or above;
      target >= 0.8);
    - ``time_ratio``: per task, the candidate's median selection time per round divided by
      ``reference``'s; the median and the largest over tasks (target <= 2).
    """
    found, auc_ok, time_ratio, best = {}, {}, {}, {}
    for task, row in cells.items():
        if candidate not in row:
            continue
        others = {b: row[b] for b in baselines if b != candidate and b in row}
        if others:
            top_found = max(others, key=lambda b: others[b]["minority_found"]["median"])
            top_auc = max(others, key=lambda b: others[b]["auc_minority_f1"]["median"])
            denominator = others[top_found]["minority_found"]["median"]
            found[task] = row[candidate]["minority_found"]["median"] / max(denominator, 1e-12)
            auc_ok[task] = bool(
                row[candidate]["auc_minority_f1"]["median"]
                >= others[top_auc]["auc_minority_f1"]["q1"]
            )
            best[task] = {"found": top_found, "auc": top_auc}
        if reference in row and reference != candidate:
            ref = row[reference]["selection_per_round"]["median"]
            time_ratio[task] = row[candidate]["selection_per_round"]["median"] / max(ref, 1e-12)
    summary = {
        "tasks": len(found),
        "found_ratio": {
            "per_task": found,
            "median": float(np.median(list(found.values()))) if found else float("nan"),
        },
        "auc_share": {
            "per_task": auc_ok,
            "share": float(np.mean(list(auc_ok.values()))) if auc_ok else float("nan"),
        },
        "time_ratio": {
            "per_task": time_ratio,
            "median": float(np.median(list(time_ratio.values()))) if time_ratio else float("nan"),
            "max": float(max(time_ratio.values())) if time_ratio else float("nan"),
        },
        "best_baseline": best,
    }
    summary["met"] = {
        "found_ratio": summary["found_ratio"]["median"] >= TARGETS["found_ratio"],
        "auc_share": summary["auc_share"]["share"] >= TARGETS["auc_share"],
        "time_ratio": summary["time_ratio"]["max"] <= TARGETS["time_ratio"] if time_ratio else None,
    }
    return summary


def _cell(q: dict, digits: int) -> str:
    if not np.isfinite(q["median"]):
        return "-"
    return f"{q['median']:.{digits}f} ± {q['iqr']:.{digits}f}"


def markdown(report: dict) -> str:
    """Markdown tables of :func:`summarise`'s report (for RESULTS.md)."""
    lines: list[str] = []
    header = (
        "| configuration | runs | found | min-F1 AUC | final min F1 | final maj F1 "
        "| selection (s) | per round (ms) |"
    )
    for task, row in report["cells"].items():
        if not row:
            continue
        first = next(iter(row.values()))
        pool = first.get("pool") or {}
        counts = ", ".join(f"{k} {v:,}" for k, v in pool.items())
        minutes = sum(cell["elapsed_s"] for cell in row.values()) / 60
        lines += [
            f"**{task}** (pool: {counts}; budget {first['budget']:,}; the runs below took "
            f"{minutes:.0f} min of training, selection and testing)",
            "",
            header,
        ]
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, cell in row.items():
            lines.append(
                f"| {name} | {cell['runs']} | {_cell(cell['minority_found'], 0)} "
                f"| {_cell(cell['auc_minority_f1'], 2)} | {_cell(cell['final_minority_f1'], 3)} "
                f"| {_cell(cell['final_majority_f1'], 3)} | {_cell(cell['selection_time'], 1)} "
                f"| {_cell({k: 1e3 * v for k, v in cell['selection_per_round'].items()}, 1)} |"
            )
        lines.append("")
    lines.append(
        "Cells: median ± interquartile range over seeds. Found: minority items in the labelled "
        "set at the budget (the initial ones included). AUC: trapezoid under the minority-F1 "
        "curve, one unit per round. Selection: total selection time of a run; per round: its "
        "median round."
    )
    if report.get("targets"):
        lines += [
            "",
            "| configuration | found ÷ best baseline (median over tasks) | tasks with AUC ≥ best "
            "baseline's Q1 | selection time ÷ AnchorAL's (median, max) |",
            "|---|---:|---:|---:|",
        ]
        for name, t in report["targets"].items():
            time_ratio = t["time_ratio"]
            times = (
                f"{time_ratio['median']:.2f}, {time_ratio['max']:.2f}"
                if time_ratio["per_task"]
                else "- (the reference)"
                if name == REFERENCE
                else "-"
            )
            auc = t["auc_share"]
            lines.append(
                f"| {name} | {t['found_ratio']['median']:.2f} "
                f"| {auc['share']:.0%} ({sum(auc['per_task'].values())}/{len(auc['per_task'])}) "
                f"| {times} |"
            )
        lines += [
            "",
            f"Targets (issue 12, report half): found ratio ≥ {TARGETS['found_ratio']}, AUC share "
            f"≥ {TARGETS['auc_share']:.0%}, selection time ≤ {TARGETS['time_ratio']} times plain "
            "AnchorAL's. The baselines of each row are all the others of "
            f"{', '.join(BASELINES)}.",
        ]
    if report.get("paired"):
        reference = next(iter(report["paired"].values()))["reference"]
        lines += [
            "",
            f"| configuration | min-F1 AUC - {reference}'s, seed by seed: mean (median) "
            "| pairs +/-/= | sign test p | mean per task |",
            "|---|---:|---:|---:|---|",
        ]
        for name, p in report["paired"].items():
            per_task = ", ".join(
                f"{task} {np.mean(list(d.values())):+.2f}" for task, d in p["per_task"].items()
            )
            lines.append(
                f"| {name} | {p['mean']:+.3f} ({p['median']:+.3f}) "
                f"| {p['positive']}/{p['negative']}/{p['equal']} | {p['sign_test_p']:.2f} "
                f"| {per_task} |"
            )
    return "\n".join(lines)


def plot(
    root: str | Path,
    names: Sequence[str],
    configs: Mapping[str, Configuration],
    out_dir: str | Path,
    *,
    seeds: Sequence[int] = SEEDS,
    tasks: Mapping[str, dict] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> list[Path]:
    """The library's figures per task (``plots.plot_group``: minority found vs labels, F1
    curves, subpool share, selection time), one line per configuration."""
    import pandas as pd

    from skanchor.experiments.plots import plot_group
    from skanchor.experiments.report import load_rounds

    written: list[Path] = []
    for task_name in names:
        frames = []
        for name, conf in configs.items():
            config = conf.experiment(task_name, seeds=seeds, tasks=tasks, **(overrides or {}))
            path = run_dir(root, task_name, name, config)
            if not ResultsDir(path).is_results_dir():
                continue
            rounds = load_rounds(path)
            if rounds.empty:
                continue
            wanted = {spec.run_id for spec in config.runs()}
            rounds = rounds[rounds["run_id"].isin(wanted)].copy()
            rounds["run_id"] = name + "/" + rounds["run_id"]
            rounds["method"] = name  # one line per configuration
            frames.append(rounds)
        if frames:
            written += plot_group(
                pd.concat(frames, ignore_index=True), Path(out_dir) / task_name, task_name
            )
    return written


def summarise(
    root: str | Path,
    names: Sequence[str],
    configs: Mapping[str, Configuration],
    out_dir: str | Path,
    *,
    seeds: Sequence[int] = SEEDS,
    tasks: Mapping[str, dict] | None = None,
    overrides: Mapping[str, Any] | None = None,
    plots: bool = True,
    paired_with: str | None = None,
) -> dict:
    """Collect the results, compute the targets of every configuration that is not a
    baseline (and of each baseline against the others), and write ``summary.json``,
    ``summary.md`` and the figures into ``out_dir``. With ``paired_with``, every other
    configuration is also compared with that one seed by seed (:func:`paired`). Returns the
    report."""
    if paired_with is not None and paired_with not in configs:
        raise ValueError(f"paired_with={paired_with!r} is not one of {list(configs)}")
    kwargs = {"seeds": seeds, "tasks": tasks, "overrides": overrides}
    cells = collect(root, names, configs, **kwargs)
    report = {
        "tasks": list(names),
        "configs": {
            k: {
                "method": c.method,
                "strategy": c.strategy,
                "method_params": c.method_params,
                "strategy_params": c.strategy_params,
                "classifier": c.classifier,
                "classifier_params": c.classifier_params,
                "description": c.description,
            }
            for k, c in configs.items()
        },
        "seeds": list(seeds),
        "results_dir": str(root),
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg()},
        "cells": cells,
        "targets": {name: targets(cells, name) for name in configs},
    }
    if paired_with is not None:
        report["paired"] = {
            name: paired(cells, name, paired_with) for name in configs if name != paired_with
        }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    (out_dir / "summary.md").write_text(markdown(report) + "\n")
    if plots:
        plot(root, names, configs, out_dir / "plots", **kwargs)
    return report


# ------------------------------------------------------------------------------------------
# Pool-size check: selection time per round at 10k vs 100k items, side by side
# ------------------------------------------------------------------------------------------


def refit(
    root: str | Path,
    task_name: str,
    name: str,
    conf: Configuration,
    rounds: Sequence[int],
    *,
    split: int | None = None,
    seeds: Sequence[int] = SEEDS,
    tasks: Mapping[str, dict] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, dict[str, float]]]:
    """Minority precision, recall and F1 (means over the minority classes, then over the
    complete runs) of ``conf``'s classifier refitted on each run's labelled set at the start
    of ``rounds``, on the test set: a diagnosis of its minority F1. With ``split``, also on the
    initial items plus the first ``split`` items of every batch only (``"first"``) and plus
    the others only (``"rest"``); for ``minority_mix`` the first ones are the exploited share.
    ``{round: {"all" | "first" | "rest": {"precision", "recall", "f1", "runs"}}}``."""
    if split is not None and split < 1:
        raise ValueError(f"split must be a positive number of items, got {split!r}")
    config = conf.experiment(task_name, seeds=seeds, tasks=tasks, **(overrides or {}))
    task = load_task(task_name, config)
    vectors = task_vectors(task, config)
    pool, test = vectors[: task.n_pool], vectors[task.n_pool :]
    results = ResultsDir(run_dir(root, task_name, name, config))
    (classifier,) = config.classifiers
    params = config.classifier_params.get(classifier)
    scores: dict[int, dict[str, list]] = {r: {} for r in rounds}
    for spec in config.runs():
        store = results.run(spec.run_id)
        manifest = store.read_manifest() if store.exists() else {}
        if manifest.get("status") != "complete":
            continue
        model = (
            CLASSIFIERS[classifier]
            .make(None, params, model_seed=spec.seeds.model, data_seed=spec.seeds.data)
            .named_steps["model"]
        )
        parts: dict[str, list[int]] = {"all": list(manifest["initial_ids"])}
        if split is not None:
            parts.update(first=list(parts["all"]), rest=list(parts["all"]))
        for record in store.load_rounds(repair=False):
            if record["round"] in scores:
                measured: dict[tuple, tuple] = {}  # parts with the same items are fitted once
                for part, ids in parts.items():
                    if tuple(ids) not in measured:
                        fitted = clone(model).fit(pool[ids], task.oracle(ids))
                        p, r, f, _ = precision_recall_fscore_support(
                            task.test_labels,
                            fitted.predict(test),
                            labels=list(task.minority),
                            zero_division=0,
                        )
                        measured[tuple(ids)] = (p.mean(), r.mean(), f.mean())
                    scores[record["round"]].setdefault(part, []).append(measured[tuple(ids)])
            queried = list(record.get("queried_ids") or [])
            parts["all"] += queried
            if split is not None:
                parts["first"] += queried[:split]
                parts["rest"] += queried[split:]
    return {
        r: {
            part: dict(zip(("precision", "recall", "f1"), np.mean(v, axis=0).tolist(), strict=True))
            | {"runs": len(v)}
            for part, v in by_part.items()
        }
        for r, by_part in scores.items()
        if by_part
    }


def refit_markdown(result: Mapping[str, Mapping[int, Mapping[str, dict]]]) -> str:
    """One row per configuration, round and part of :func:`refit`'s results."""
    lines = [
        "| configuration | round | labelled set | runs | precision | recall | F1 |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, by_round in result.items():
        for r, by_part in by_round.items():
            for part, m in by_part.items():
                lines.append(
                    f"| {name} | {r} | {part} | {m['runs']} | {m['precision']:.3f} | "
                    f"{m['recall']:.3f} | {m['f1']:.3f} |"
                )
    return "\n".join(lines)


def pool_size_check(
    configs: Mapping[str, Configuration],
    sizes: Sequence[int] = (10_000, 100_000),
    *,
    rounds: int = 10,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict:
    """Selection time per round of each configuration on synthetic clustered pools of the
    given sizes (:mod:`benchmarks.asv.suite.synthetic`: d = 384, 1% minority, the cached HNSW
    indexes the asv suite uses), run by the library's loop (:func:`~skanchor.experiments.loop.
    simulate`): 100 initial labels (5 minority), ``rounds`` rounds of 25, the default
    classifier. Returns ``{configuration: {size: quartiles of the per-round times}}``."""
    from benchmarks.asv.suite import synthetic
    from skanchor.experiments.features import TaskFeatures
    from skanchor.experiments.loop import Protocol, simulate
    from skanchor.experiments.seeds import Seeds

    out: dict[str, dict[int, dict]] = {name: {} for name in configs}
    for n in sizes:
        X, y, spec = synthetic.synthetic_pool(n)
        X = np.ascontiguousarray(X)
        index, _ = synthetic.get_index(X, spec, log=log)
        index.set_params(num_threads=1)
        labels = np.where(y == 1, "minority", "others").astype(object)
        test = np.sort(np.random.default_rng([seed, n]).choice(n, 2000, replace=False))
        blank = np.full(n, "", dtype=object)
        task = Task(
            f"synthetic-{n}",
            pool_texts=blank,
            pool_labels=labels,
            test_texts=blank[test],
            test_labels=labels[test],
            minority=("minority",),
            classes=("minority", "others"),
        )
        features = TaskFeatures(np.vstack([X, X[test]]), n, index)
        protocol = Protocol(budget=100 + 25 * rounds)
        for name, conf in configs.items():
            method = get_method(conf.method).name
            strategy = METHODS[method].strategy or conf.strategy
            records, _ = simulate(
                RunSpec(method, strategy, conf.classifier, Seeds.from_int(seed)),
                task,
                features,
                protocol,
                method_params=conf.method_params,
                strategy_params=conf.strategy_params,
                classifier_params=conf.classifier_params,
            )
            times = [r["time_selection"] for r in records if r["time_selection"] is not None]
            out[name][n] = quartiles(times)
            log(f"pool size {n:,} / {name}: {1e3 * out[name][n]['median']:.1f} ms per round")
    return out


def pool_size_markdown(result: Mapping[str, Mapping[int, dict]]) -> str:
    """The pool-size check as a markdown table (ms per round, and the ratios)."""
    sizes = sorted({n for row in result.values() for n in row})
    head = " | ".join(f"{n:,} (ms)" for n in sizes)
    lines = [
        f"| configuration | {head} | largest ÷ smallest | ÷ {REFERENCE} at {sizes[-1]:,} |",
        "|---|" + "---:|" * (len(sizes) + 2),
    ]
    ref = result.get(REFERENCE, {})
    for name, row in result.items():
        cells = " | ".join(_cell({k: 1e3 * v for k, v in row[n].items()}, 1) for n in sizes)
        growth = row[sizes[-1]]["median"] / row[sizes[0]]["median"]
        vs_ref = (
            f"{row[sizes[-1]]['median'] / ref[sizes[-1]]['median']:.2f}"
            if sizes[-1] in ref
            else "-"
        )
        lines.append(f"| {name} | {cells} | {growth:.2f} | {vs_ref} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------


def _json_arg(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{name: value}}, got {text!r}")
    return value


def chosen_configs(args: argparse.Namespace) -> dict[str, Configuration]:
    """``--configs`` (default: the baselines) plus the ad-hoc ones of ``--methods`` x
    ``--strategies`` (named ``<method>-<strategy>``, or ``--name`` when there is one)."""
    names = args.configs or list(BASELINES)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration {unknown[0]!r}; valid: {', '.join(CONFIGS)}")
    chosen = {n: CONFIGS[n] for n in names}
    if args.methods or args.strategies:
        pairs = [
            (m, s) for m in (args.methods or ["anchoral"]) for s in (args.strategies or ["entropy"])
        ]
        if args.name and len(pairs) > 1:
            raise SystemExit("--name names one configuration; give one method and one strategy")
        for method, strategy in pairs:
            name = args.name or f"{method}-{strategy}"
            chosen[name] = Configuration(
                method,
                strategy,
                method_params=args.method_params,
                strategy_params=args.strategy_params,
                classifier_params=args.classifier_params,
                description="from the command line",
            )
    return chosen


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.discovery",
        description="Which configuration finds the most minority items (issue 12)?",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "embed": "embed the tasks' texts into the shared cache",
        "run": "run (or resume) the configurations, then summarise",
        "summary": "summarise the runs made so far",
        "poolsize": "selection time per round at 10k vs 100k pool items",
        "refit": "minority precision and recall of the classifier refitted on the runs' labels",
        "list": "tasks, halves and configurations",
    }
    for command, text in commands.items():
        p = sub.add_parser(command, help=text, description=text)
        if command in ("embed", "run", "summary"):
            p.add_argument("--half", choices=("tuning", "report", "all"), default="tuning")
            p.add_argument("--tasks", nargs="+", help="task names instead of a half")
        if command == "refit":
            p.add_argument("--task", required=True, help="one task name")
            p.add_argument("--rounds", type=int, nargs="+", required=True)
            p.add_argument("--split", type=int, help="also the first N of each batch / the rest")
        if command in ("run", "summary", "poolsize", "refit"):
            p.add_argument("--configs", nargs="+", help=f"default: {' '.join(BASELINES)}")
            p.add_argument("--methods", nargs="+", help="ad-hoc configurations: methods ...")
            p.add_argument("--strategies", nargs="+", help="... x strategies")
            p.add_argument("--name", help="name of the one ad-hoc configuration")
            for kind in ("method", "strategy", "classifier"):
                p.add_argument(
                    f"--{kind}-params",
                    type=_json_arg,
                    default={},
                    metavar="JSON",
                    help=f"{kind} parameters of the ad-hoc configurations, merged over a "
                    "preset's own (a key set to null passes None)",
                )
        if command in ("run", "summary", "refit"):
            p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
            p.add_argument("--results-dir", type=Path, default=default_results_dir())
        if command in ("run", "summary"):
            p.add_argument("--out", type=Path, help="summary folder (default RESULTS/summary-HALF)")
            p.add_argument("--no-plots", action="store_true")
            p.add_argument(
                "--paired-with",
                metavar="NAME",
                help="also compare every other configuration with NAME seed by seed",
            )
        if command == "poolsize":
            p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
            p.add_argument("--rounds", type=int, default=10)
            p.add_argument("--out", type=Path, help="JSON file for the result")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "list":
        for name, spec in TASKS.items():
            half = "tuning" if name in TUNING else "report"
            print(f"{name:16s} {half:7s} {json.dumps(spec)}")
        for name, conf in CONFIGS.items():
            print(f"{name:16s} {conf.method}/{conf.strategy}: {conf.description}")
        return 0
    if args.command == "poolsize":
        configs = chosen_configs(args)
        configs.setdefault(REFERENCE, CONFIGS[REFERENCE])
        result = pool_size_check(configs, args.sizes, rounds=args.rounds)
        print(pool_size_markdown(result))
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(
                json.dumps({"loadavg": os.getloadavg(), "result": _jsonable(result)}, indent=2)
            )
        return 0
    if args.command == "refit":
        select_tasks(names=[args.task])  # a known task, or a clear error
        result = {
            name: refit(
                args.results_dir,
                args.task,
                name,
                conf,
                args.rounds,
                split=args.split,
                seeds=args.seeds,
            )
            for name, conf in chosen_configs(args).items()
        }
        print(refit_markdown(result))
        return 0
    names = select_tasks(args.half, args.tasks)
    if args.command == "embed":
        embed(names, log=_log_to(None))
        return 0
    configs = chosen_configs(args)
    label = args.half if not args.tasks else "tasks"
    out = args.out or args.results_dir / f"summary-{label}"
    if args.paired_with is not None and args.paired_with not in configs:  # before hours of runs
        raise SystemExit(f"--paired-with {args.paired_with!r}: not among {', '.join(configs)}")
    if args.command == "run":
        run(names, configs, seeds=args.seeds, root=args.results_dir, log=_log_to(None))
    report = summarise(
        args.results_dir,
        names,
        configs,
        out,
        seeds=args.seeds,
        plots=not args.no_plots,
        paired_with=args.paired_with,
    )
    print(markdown(report))
    print(f"\nwritten: {out / 'summary.md'}, {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
