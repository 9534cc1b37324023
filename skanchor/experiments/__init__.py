"""Simulated active-learning experiments: the paper's comparison on your data (§4-6).

One module per concept:

- :mod:`~skanchor.experiments.tasks` — :class:`Task` (pool, oracle, test set, minority) and
  :func:`make_task` (App. B.2 recipes);
- :mod:`~skanchor.experiments.loaders` — corpora (packaged BBC News, local parquet files,
  the Hugging Face hub, user files) and named tasks, :func:`build_task`;
- :mod:`~skanchor.experiments.features` — embeddings and the index, once per task;
- :mod:`~skanchor.experiments.components` — methods (pool filters) and classifiers by name;
- :mod:`~skanchor.experiments.seeds` — restorable random streams;
- :mod:`~skanchor.experiments.config` — :class:`ExperimentConfig` and the :class:`Protocol`;
- :mod:`~skanchor.experiments.loop` — the simulated annotation loop, :func:`simulate`;
- :mod:`~skanchor.experiments.store` — the results directory, manifests, resume;
- :mod:`~skanchor.experiments.runner` — :func:`run_experiment`;
- :mod:`~skanchor.experiments.classifiers` —
  :class:`~skanchor.experiments.classifiers.PriorShiftClassifier` (decision offsets
  tuned on the labelled set);
- :mod:`~skanchor.experiments.rounds` — the round table of a results directory;
- :mod:`~skanchor.experiments.metrics`, :mod:`~skanchor.experiments.report`,
  :mod:`~skanchor.experiments.plots` — Table 2 and the figures.

The command line (``skanchor demo | run | report | list``) is :mod:`skanchor.cli`.
"""

from skanchor.experiments.classifiers import PriorShiftClassifier
from skanchor.experiments.config import ExperimentConfig, Protocol, RunSpec
from skanchor.experiments.loaders import DATASETS, TASKS, build_task, load_corpus
from skanchor.experiments.loop import simulate
from skanchor.experiments.report import summary_table, write_report
from skanchor.experiments.rounds import load_rounds
from skanchor.experiments.runner import prepare, run_experiment
from skanchor.experiments.seeds import Seeds
from skanchor.experiments.tasks import Corpus, Task, make_task

__all__ = [
    "DATASETS",
    "TASKS",
    "Corpus",
    "PriorShiftClassifier",
    "ExperimentConfig",
    "Protocol",
    "RunSpec",
    "Seeds",
    "Task",
    "build_task",
    "load_corpus",
    "load_rounds",
    "make_task",
    "prepare",
    "run_experiment",
    "simulate",
    "summary_table",
    "write_report",
]
