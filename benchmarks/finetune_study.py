#!/usr/bin/env python
"""Does the paper's ordering appear with a fine-tuned classifier on a CPU? (issue 12 §4)

AnchorAL vs SEALS vs RandSub vs No-Op, entropy sampling, the ``transformer-top`` classifier
(:class:`skanchor.models.TopLayersClassifier`: the top layer of the packaged all-MiniLM-L6-v2
and a head fine-tuned every round over cached frozen states), on one TUNING task of
``benchmarks/discovery.py`` (default ``sms-spam``), 3 seeds, budget 400 (100 initial labels
with 5 minority, 25 per round), frozen MiniLM vectors for the index (HNSW) — through
``skanchor run``, so the runs are resumable: each round is appended to its run's
``rounds.jsonl`` as it completes, and ``run`` again continues where the runs stopped.

The results folder (``benchmarks/results-finetune/<task>/``: ``experiment.json``,
``runs/*/{manifest.json,rounds.jsonl}``, ``summary.csv``, ``summary.md``; no plots, no caches)
is small and committed, so the study can span sessions. ``run`` goes seed by seed (every method
on seed 0, then on seed 1, ...), so a study cut short still compares the methods on the same
seeds. Embeddings come from the shared
cache (``~/.cache/skanchor/embeddings``), the classifier's frozen states from
``~/.cache/skanchor/states``.

    python -m benchmarks.finetune_study run              # start or resume (hours on 2 cores)
    python -m benchmarks.finetune_study summary          # the table so far
    python -m benchmarks.finetune_study run --dry-run    # print the skanchor command only
    python -m benchmarks.finetune_study run --task reuters-ship --budget 1000  # own folder

The classifier's settings are passed explicitly (``--set transformer-top.*``), so they are part
of each run's recorded identity: a resumed run with other settings is refused, never mixed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: The study's fixed protocol (issue 12 §4: 3 seeds, budget >= 400).
METHODS = ("anchoral", "seals", "randsub", "noop")
SEEDS = (0, 1, 2)
BUDGET = 400
#: TopLayersClassifier settings, all of them explicit so that they are recorded in every
#: run's identity (a change of the class's defaults cannot slip into a resumed run).
CLASSIFIER = {
    "n_trainable_layers": 1,
    "max_length": 64,
    "pooling": "mean",
    "normalize": True,
    "head_init": "probe",
    "probe_C": 10.0,
    "class_weight": "balanced",
    "lr": 1e-4,
    "max_epochs": 10,
    "max_steps": 64,
    "batch_size": 32,
    "dropout": 0.1,
}


def command(
    task: str, out: Path, resume: bool, seeds: tuple = SEEDS, budget: int = BUDGET
) -> list[str]:
    """The ``skanchor run`` command line of the study, on ``seeds``."""
    from benchmarks.discovery import TASKS, TUNING

    if task not in TUNING:
        raise SystemExit(f"{task!r} is not a TUNING task: {', '.join(TUNING)}")
    options = TASKS[task]
    rate = options["rate"]
    cache = Path.home() / ".cache" / "skanchor"
    cmd = [sys.executable, "-m", "skanchor.cli", "run", "--dataset", options["dataset"]]
    cmd += ["--minority", *options["minority"], "--rate", str(rate)]
    cmd += ["--budget", str(budget), "--seeds", *map(str, seeds), "--methods", *METHODS]
    cmd += ["--strategies", "entropy", "--classifiers", "transformer-top"]
    cmd += ["--cache-dir", str(cache / "embeddings"), "--no-plots", "--format", "markdown"]
    for key, value in {**CLASSIFIER, "cache_dir": str(cache / "states")}.items():
        cmd += ["--set", f"transformer-top.{key}={json.dumps(value)}"]
    cmd += ["--out", str(out)]
    if resume:
        cmd.append("--resume")
    return cmd


def commands(task: str, out: Path, budget: int = BUDGET) -> list[list[str]]:
    """The study's ``skanchor run`` calls, seed by seed: the first ``n`` seeds for n = 1, 2, ...
    (each call resumes the one before and adds the next seed's runs of every method)."""
    resume = (out / "experiment.json").is_file()
    return [
        command(task, out, resume or n > 1, SEEDS[:n], budget) for n in range(1, len(SEEDS) + 1)
    ]


def default_out(task: str, budget: int = BUDGET) -> Path:
    """``results-finetune/<task>`` at the study's budget, ``<task>-b<budget>`` at another."""
    return HERE / "results-finetune" / (task if budget == BUDGET else f"{task}-b{budget}")


def _budget(text: str) -> int:
    value = int(text)
    if value < BUDGET:
        raise argparse.ArgumentTypeError(f"the study's budget is at least {BUDGET}, got {value}")
    return value


def summary(out: Path) -> str:
    """A markdown table of the study so far (runs in progress included, cut at their last
    complete round), also written to ``<out>/study.md``."""
    from skanchor.experiments.report import load_rounds, summary_table

    rounds = load_rounds(out)
    table = summary_table(rounds)
    per_round = rounds.groupby("method")[["time_train", "time_test", "time_selection"]].median()
    lines = [
        "| method | runs (complete) | labels | minority found | minority-F1 AUC | final "
        "minority F1 | train s/round | selection s/round |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, row in table.iterrows():
        times = per_round.loc[row["method"]]
        lines.append(
            f"| {row['label']} | {row['runs']} ({row['complete']}) | {row['budget']:.0f} | "
            f"{row['minority_found']:.0f} ± {row['minority_found_iqr']:.0f} | "
            f"{row['auc_minority_f1']:.3f} ± {row['auc_minority_f1_iqr']:.3f} | "
            f"{row['final_minority_f1']:.3f} ± {row['final_minority_f1_iqr']:.3f} | "
            f"{times['time_train']:.1f} | {times['time_selection']:.2f} |"
        )
    lines.append(
        f"\nBudget-matched at round {int(table['bm_round'].iloc[0])} "
        f"({int(table['bm_budget'].iloc[0])} labels): minority found "
        + ", ".join(f"{r['label']} {r['bm_minority_found']:.0f}" for _, r in table.iterrows())
        + "; minority-F1 AUC "
        + ", ".join(f"{r['label']} {r['bm_auc_minority_f1']:.3f}" for _, r in table.iterrows())
        + ". Medians ± IQR over seeds."
    )
    text = "\n".join(lines)
    (out / "study.md").write_text(text + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("run", "summary"))
    parser.add_argument("--task", default="sms-spam")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--budget", type=_budget, default=BUDGET, help=f"at least {BUDGET}")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or default_out(args.task, args.budget)
    if args.action == "summary":
        print(summary(out))
        return 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for cmd in commands(args.task, out, args.budget):
        print(shlex.join(cmd), flush=True)
        if not args.dry_run and (code := subprocess.call(cmd, cwd=REPO, env=env)):
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
