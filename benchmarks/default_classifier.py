"""Which ``logreg`` settings make minority F1 meaningful from round one? (issue 12 §1)

The real protocol of ``skanchor run`` (100 initial labels with 5 per minority class, 25 per
round, frozen MiniLM vectors from the shared embedding cache, the task options and
``PROTOCOL`` of :mod:`benchmarks.discovery`) on its **tuning** tasks only, at a budget of
1,000 labels, with AnchorAL, No-Op and Random sampling, entropy, 3 seeds, and one results
folder per (task, variant) of the classifier. Each task is embedded and indexed once
(``prepare``) and its variants run through ``run_experiment``, what ``skanchor run`` calls:
variant V on task T is ``skanchor run`` with T's options, ``--budget 1000 --methods anchoral
noop random --set embedder.max_seq_length=128`` and ``--set logreg.NAME=VALUE`` for each
parameter of V (:func:`command` prints it). Then prints, per task and variant, the median over
seeds of the minority-F1 AUC, the final minority and majority F1 and the minority items found,
and the median of each over the tasks. Runs are resumable: run the same command again to
finish or extend them.

Usage, from the repository root::

    python -m benchmarks.default_classifier run --out /tmp/default-classifier --jobs 2
    python -m benchmarks.default_classifier table --out /tmp/default-classifier
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.discovery import PROTOCOL, TASKS, TUNING

#: Classifier variants: name -> ``logreg`` parameters (``--set logreg.NAME=VALUE``). Every
#: variant sets every parameter, so a change of the registry default changes none of them.
VARIANTS: dict[str, dict] = {
    "C10": {"C": 10.0, "class_weight": None, "threshold": None},  # the old default
    "C10-threshold": {"C": 10.0, "class_weight": None, "threshold": "cv"},
    "C1-balanced": {"C": 1.0, "class_weight": "balanced", "threshold": None},
    "C10-balanced": {"C": 10.0, "class_weight": "balanced", "threshold": None},
    "C100-balanced": {"C": 100.0, "class_weight": "balanced", "threshold": None},
    "C1-balanced-threshold": {"C": 1.0, "class_weight": "balanced", "threshold": "cv"},
    "C10-balanced-threshold": {"C": 10.0, "class_weight": "balanced", "threshold": "cv"},
}
METHODS = ("anchoral", "noop", "random")
BUDGET = 1000
METRICS = {
    "auc_minority_f1": "min-F1 AUC",
    "final_minority_f1": "final min-F1",
    "final_majority_f1": "final maj-F1",
    "minority_found": "found",
}


def _json(value: object) -> str:

    return json.dumps(value)


def command(task: str, variant: str, out: Path, seeds: list[int]) -> list[str]:
    """The ``skanchor run`` command line equivalent to one (task, variant) of :func:`measure`."""
    options = []
    for key, value in TASKS[task].items():
        if key != "budget":  # the budget is this study's
            options += [f"--{key.replace('_', '-')}", *map(str, _as_list(value))]
    settings = [("embedder", k, v) for k, v in PROTOCOL.get("embedder_params", {}).items()]
    settings += [("logreg", k, v) for k, v in VARIANTS[variant].items()]
    args = [
        sys.executable,
        "-m",
        "skanchor.cli",
        "run",
        *options,
        "--budget",
        str(BUDGET),
        "--methods",
        *METHODS,
        "--strategies",
        "entropy",
        "--classifiers",
        "logreg",
        "--seeds",
        *map(str, seeds),
        "--out",
        str(out / task / variant),
        "--resume",
        "--no-plots",
        "--quiet",
    ]
    for owner, name, value in settings:
        args += ["--set", f"{owner}.{name}={value if isinstance(value, str) else _json(value)}"]
    return args


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _config(task: str, seeds: list[int]) -> object:
    """The experiment of ``task`` with the default classifier settings."""
    from skanchor.experiments import ExperimentConfig

    options = {k: v for k, v in TASKS[task].items() if k != "budget"}  # the budget is ours
    return ExperimentConfig.from_dict(
        {
            **options,
            **PROTOCOL,
            "budget": BUDGET,
            "methods": list(METHODS),
            "strategies": ["entropy"],
            "classifiers": ["logreg"],
            "seeds": seeds,
        }
    )


def measure(task: str, variants: list[str], out: Path, seeds: list[int]) -> None:
    """Embed and index ``task`` once, then run every variant on it (resumable)."""
    from skanchor.experiments import prepare, run_experiment

    base = _config(task, seeds)
    prepared, features = prepare(base, progress=False)
    for variant in variants:
        t0 = time.perf_counter()
        config = base.replace(classifier_params={"logreg": VARIANTS[variant]})
        result = run_experiment(
            config,
            out / task / variant,
            resume=True,
            task=prepared,
            features=features,
            progress=False,
        )
        statuses = sorted(set(result.statuses.values()))
        print(f"{task:15s} {variant:24s} {statuses} {time.perf_counter() - t0:7.1f} s", flush=True)


def run(out: Path, tasks: list[str], variants: list[str], seeds: list[int], jobs: int) -> None:
    """One process per task (``jobs`` at a time, ``nice -n 10``); logs in ``out/log``."""
    out.mkdir(parents=True, exist_ok=True)
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**os.environ, **threads}

    def one(task: str) -> tuple[str, int, float]:
        t0 = time.perf_counter()
        log = out / "log" / f"{task}.txt"
        log.parent.mkdir(exist_ok=True)
        worker = [sys.executable, "-m", "benchmarks.default_classifier", "task", "--tasks", task]
        worker += ["--out", str(out), "--variants", *variants, "--seeds", *map(str, seeds)]
        with open(log, "a") as f:
            code = subprocess.call(
                ["nice", "-n", "10", *worker],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return task, code, time.perf_counter() - t0

    print(f"{len(tasks)} tasks x {len(variants)} variants, load {os.getloadavg()}", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        for task, code, seconds in pool.map(one, tasks):
            print(f"{task:15s} exit {code} {seconds:7.1f} s", flush=True)


def table(out: Path) -> str:
    """Markdown tables: per task, variant and method; then the medians over the tasks."""
    import pandas as pd

    from skanchor.experiments.report import load_rounds, summary_table

    rows = []
    for task_dir in sorted(p for p in out.iterdir() if p.name in TASKS):
        for variant_dir in sorted(p for p in task_dir.iterdir() if p.name in VARIANTS):
            if not (variant_dir / "experiment.json").is_file():
                continue
            summary = summary_table(load_rounds(variant_dir))
            for row in summary.to_dict("records"):
                rows.append({"task": task_dir.name, "variant": variant_dir.name, **row})
    if not rows:
        return "no results yet"
    df = pd.DataFrame(rows)
    order = {v: i for i, v in enumerate(VARIANTS)}
    df = df.sort_values(
        ["task", "variant"], key=lambda s: s.map(order) if s.name == "variant" else s
    )
    lines = []
    for method in METHODS:
        part = df[df["method"] == method]
        if part.empty:
            continue
        lines.append(f"\n**{method}** (median over seeds; runs complete / started)\n")
        lines.append("| task | variant | runs | " + " | ".join(METRICS.values()) + " |")
        lines.append("|---|---|---|" + "---|" * len(METRICS))
        for row in part.to_dict("records"):
            cells = [f"{row[m]:.2f}" if m != "minority_found" else f"{row[m]:.0f}" for m in METRICS]
            lines.append(
                f"| {row['task']} | {row['variant']} | {row['complete']}/{row['runs']} | "
                + " | ".join(cells)
                + " |"
            )
    lines.append("\n**median over tasks** (of the per-task medians over seeds)\n")
    lines.append("| variant | method | tasks | " + " | ".join(METRICS.values()) + " |")
    lines.append("|---|---|---|" + "---|" * len(METRICS))
    for (variant, method), part in df.groupby(["variant", "method"], sort=False):
        cells = [f"{part[m].median():.2f}" for m in METRICS]
        lines.append(f"| {variant} | {method} | {len(part)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "task", "table", "commands"])
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--tasks", nargs="+", choices=TUNING, default=list(TUNING))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="(task, variant) runs in parallel")
    args = parser.parse_args(argv)
    if args.action == "task":  # one worker of "run"
        for task in args.tasks:
            measure(task, args.variants, args.out, args.seeds)
        return 0
    if args.action == "commands":  # the equivalent skanchor run command lines
        for task in args.tasks:
            for variant in args.variants:
                print("skanchor", shlex.join(command(task, variant, args.out, args.seeds)[3:]))
        return 0
    if args.action == "run":
        run(args.out, args.tasks, args.variants, args.seeds, args.jobs)
    print(table(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
