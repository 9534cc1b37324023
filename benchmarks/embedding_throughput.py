#!/usr/bin/env python
"""Embedding throughput: ``SentenceEmbedder`` against a direct ``SentenceTransformer.encode``.

On the same real texts and the same loaded model (the packaged all-MiniLM-L6-v2,
``OFFLINE_MODEL``, on CPU), one run measures, interleaved repeat by repeat:

1. **raw**: ``model.encode(texts, batch_size=B, normalize_embeddings=True)`` on the model
   object that ``SentenceEmbedder`` loaded (so both sides run the very same weights);
2. **ours**: ``SentenceEmbedder(...).transform(texts)`` without a cache (target: at least
   0.95 of raw's throughput);
3. **cold cache**: a fresh embedder on an empty cache directory (every text a miss: hashing,
   lookup, embedding, shard write);
4. **warm cache, new handle**: a fresh embedder on that directory, as the next run or another
   process sees it (reads and checks the shard from disk, then looks every text up);
5. **warm cache, in memory**: the same embedder again (lookups only).

The texts are distinct (duplicates are dropped before sampling; the embedder embeds a
duplicate once, which would flatter it). Each cached run uses a freshly fitted embedder;
fitting (model load) and the one-off model fingerprint (``model_key_``, a pass over the
weights) are timed separately, outside the per-text numbers. Medians over ``--repeats``;
the ratio "paired" is the median of per-repeat ratios, which cancels slow drifts in machine
load. The CPU time other processes used during each measurement is recorded (``other_load``,
in cores) because the machine may be shared. Timings are reported, never asserted.

Texts (``--texts``): ``auto`` takes ``sms-spam`` from the local corpora (``$SKANCHOR_DATA``)
when present, else the packaged BBC News (``bbc-news``), cut to its first ``--max-chars``
(300 by default for that fallback: full BBC articles run at about 5 texts/s on 2 busy cores,
far over the time budget). Any dataset name of ``skanchor.experiments.DATASETS`` or a data
file (``skanchor.experiments.load_corpus``) also works.

``python -m benchmarks.embedding_throughput`` takes about 3 minutes on 2 idle cores (about
100 short texts/s); much longer when other processes hold the cores (23 minutes when they
used 1.5 of 2 cores). ``--quick`` is a smoke run of about 30 s on idle cores. Output: a
markdown table on stdout and JSON in ``--out`` (default
``benchmarks/results/embedding_throughput.json``, git-ignored).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import benchlib
from benchmarks.benchlib import cpu_snapshot

HERE = Path(__file__).resolve().parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the packaged model needs no network
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CONFIGS = ("raw", "ours", "cold_cache", "warm_cache_new_handle", "warm_cache_in_memory")
LABELS = {
    "raw": "raw `SentenceTransformer.encode`",
    "ours": "`SentenceEmbedder.transform`, no cache",
    "cold_cache": "cold cache (all misses + write)",
    "warm_cache_new_handle": "warm cache, new handle (read shard + hits)",
    "warm_cache_in_memory": "warm cache, in memory (hits)",
}


# ----------------------------------------------------------------------------------------------
# Texts
# ----------------------------------------------------------------------------------------------


def load_texts(args: argparse.Namespace) -> tuple[list[str], dict]:
    """``--n-texts`` distinct texts of the chosen corpus (seeded sample) and a description."""
    from skanchor.experiments import load_corpus

    max_chars = args.max_chars
    if args.texts == "auto":
        try:
            loaded = load_corpus("sms-spam")[0]
        except FileNotFoundError:  # no local corpora: the packaged BBC News, cut short
            loaded = load_corpus("bbc-news")[0]
            max_chars = 300 if max_chars is None else max_chars
    else:
        loaded = load_corpus(args.texts)[0]
    source = loaded.name
    corpus, origin = loaded.texts.tolist(), f"{loaded.name}: {loaded.description}"
    if max_chars is not None:
        corpus = [t[:max_chars] for t in corpus]
    unique = list(dict.fromkeys(corpus))
    n = min(args.n_texts, len(unique))
    rng = np.random.default_rng(args.seed)
    texts = [unique[i] for i in rng.choice(len(unique), size=n, replace=False)]
    lengths = np.array([len(t) for t in texts])
    return texts, {
        "source": source,
        "origin": origin,
        "max_chars": max_chars,
        "n_corpus": len(corpus),
        "n_distinct": len(unique),
        "n_texts": n,
        "chars_mean": float(lengths.mean()),
        "chars_median": float(np.median(lengths)),
        "chars_max": int(lengths.max()),
    }


# ----------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------


def timed(fn):
    """Run ``fn()``; return (result, seconds, cores used by other processes meanwhile)."""
    gc.collect()
    before = cpu_snapshot()
    result = fn()
    after = cpu_snapshot()
    wall = after[0] - before[0]
    # /proc/stat counts clock ticks (10 ms): meaningless over much less than a second
    other = ((after[1] - before[1]) - (after[2] - before[2])) / wall if wall > 0.5 else np.nan
    return result, wall, float(other)


def machine_info(threads: int) -> dict:
    """benchlib's machine description (CPU, memory, versions, BLAS) plus torch's threads."""
    return {**benchlib.machine_info(), "torch_threads": threads}


def run(args: argparse.Namespace, log) -> dict:
    import torch

    from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder

    if args.threads:
        torch.set_num_threads(args.threads)
    loadavg_start = os.getloadavg()
    texts, text_info = load_texts(args)
    log(
        f"{text_info['n_texts']} distinct texts from {text_info['origin']} "
        f"(mean {text_info['chars_mean']:.0f} chars, max_chars={text_info['max_chars']})"
    )
    params = {"device": "cpu", "batch_size": args.batch_size, "progress_bar": False}

    def fitted(cache=None):
        return SentenceEmbedder(OFFLINE_MODEL, cache=cache, **params).fit()

    (plain, fit_s, _) = timed(fitted)
    model = plain.model_
    log(f"model loaded in {fit_s:.2f} s; torch threads {torch.get_num_threads()}")

    def raw():
        return model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)

    # warm-up both paths (first calls allocate, tokenizer caches, ...)
    model.encode(texts[:64], batch_size=args.batch_size, normalize_embeddings=True)
    plain.transform(texts[:64])

    root = Path(tempfile.mkdtemp(prefix="skanchor-embed-bench-"))
    times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    loads: dict[str, list[float]] = {c: [] for c in CONFIGS}
    fingerprint_s: list[float] = []
    checks: dict[str, float] = {}
    try:
        for rep in range(args.repeats):
            # raw and ours alternate which goes first, so neither always runs warmer
            pair = ("raw", "ours") if rep % 2 == 0 else ("ours", "raw")
            for config in pair:
                fn = raw if config == "raw" else (lambda: plain.transform(texts))
                vectors, seconds, other = timed(fn)
                times[config].append(seconds)
                loads[config].append(other)
                if config == "raw":
                    raw_vectors = vectors
                else:
                    ours_vectors = vectors
            checks["max_abs_diff_ours_vs_raw"] = max(
                checks.get("max_abs_diff_ours_vs_raw", 0.0),
                float(np.abs(ours_vectors - raw_vectors).max()),
            )

            cache_dir = root / f"rep{rep}"
            cold = fitted(cache_dir)
            cold.model_.encode(texts[:8], batch_size=args.batch_size)  # warm the fresh model
            _, seconds, _ = timed(lambda cold=cold: cold.model_key_)
            fingerprint_s.append(seconds)
            cold_vectors, seconds, other = timed(lambda cold=cold: cold.transform(texts))
            assert cold.cache_info_.misses == len(texts), cold.cache_info_
            times["cold_cache"].append(seconds)
            loads["cold_cache"].append(other)

            warm = fitted(cache_dir)
            warm.model_.encode(texts[:8], batch_size=args.batch_size)
            _ = warm.model_key_  # the fingerprint is per fit, timed above
            warm_vectors, seconds, other = timed(lambda warm=warm: warm.transform(texts))
            assert warm.cache_info_.hits == len(texts), warm.cache_info_
            times["warm_cache_new_handle"].append(seconds)
            loads["warm_cache_new_handle"].append(other)

            _, seconds, other = timed(lambda warm=warm: warm.transform(texts))
            times["warm_cache_in_memory"].append(seconds)
            loads["warm_cache_in_memory"].append(other)
            checks["max_abs_diff_cold_vs_ours"] = max(
                checks.get("max_abs_diff_cold_vs_ours", 0.0),
                float(np.abs(cold_vectors - ours_vectors).max()),
            )
            checks["warm_equals_cold"] = bool(np.array_equal(warm_vectors, cold_vectors))
            checks["cache_bytes"] = sum(f.stat().st_size for f in cache_dir.rglob("*"))
            del cold, warm
            log(
                f"repeat {rep + 1}/{args.repeats}: "
                + ", ".join(f"{c} {len(texts) / times[c][-1]:.1f}/s" for c in CONFIGS)
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = len(texts)
    summary = {}
    for config in CONFIGS:
        t = np.array(times[config])
        summary[config] = {
            "seconds": t.tolist(),
            "median_s": float(np.median(t)),
            "texts_per_s": float(n / np.median(t)),
            "texts_per_s_all": (n / t).tolist(),
            "other_load_cores": loads[config],
            "ratio_vs_raw": float(np.median(times["raw"]) / np.median(t)),
            "ratio_vs_raw_paired": float(np.median(np.array(times["raw"]) / t)),
        }
    return {
        "benchmark": "embedding_throughput",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "args": dict(vars(args)),
        "model": OFFLINE_MODEL,
        "model_path": plain.model_path_,
        "max_seq_length": plain.max_seq_length_,
        "texts": text_info,
        "machine": machine_info(torch.get_num_threads()),
        "loadavg_start": loadavg_start,
        "loadavg_end": os.getloadavg(),
        "fit_s": fit_s,
        "fingerprint_s": fingerprint_s,
        "checks": checks,
        "results": summary,
        "target_ratio": 0.95,
    }


def markdown(res: dict) -> str:
    r, t, m = res["results"], res["texts"], res["machine"]
    lines = [
        f"Texts: {t['n_texts']} distinct from {t['source']} (mean {t['chars_mean']:.0f} chars, "
        f"median {t['chars_median']:.0f}, max {t['chars_max']}; max_chars={t['max_chars']}). "
        f"Model: {res['model']} (max_seq_length {res['max_seq_length']}), CPU, "
        f"batch_size {res['args']['batch_size']}, torch threads {m['torch_threads']}, "
        f"{res['args']['repeats']} repeats.",
        "",
        "| configuration | texts/s (median) | per repeat | ratio vs raw | paired ratio |"
        " other load (cores) |",
        "|---|---:|---|---:|---:|---|",
    ]
    for config in CONFIGS:
        s = r[config]
        per = ", ".join(f"{v:.1f}" if v < 100 else f"{v:.0f}" for v in s["texts_per_s_all"])
        other = ", ".join("n/a" if np.isnan(v) else f"{v:.1f}" for v in s["other_load_cores"])
        lines.append(
            f"| {LABELS[config]} | {s['texts_per_s']:.1f} | {per} | "
            f"{s['ratio_vs_raw']:.3f} | {s['ratio_vs_raw_paired']:.3f} | {other} |"
        )
    c = res["checks"]
    ratio = r["ours"]["ratio_vs_raw_paired"]
    verdict = "met" if ratio >= res["target_ratio"] else "MISSED"
    lines += [
        "",
        f"Target ours/raw >= {res['target_ratio']}: {verdict} (paired {ratio:.3f}). "
        f"Model load {res['fit_s']:.2f} s; fingerprint (once per fit) median "
        f"{np.median(res['fingerprint_s']):.2f} s; cache on disk {c['cache_bytes'] / 1e6:.1f} MB; "
        f"max |ours - raw| {c['max_abs_diff_ours_vs_raw']:.1e}; warm == cold: "
        f"{c['warm_equals_cold']}. Load average (1 min) at start / end: "
        f"{res['loadavg_start'][0]:.1f} / {res['loadavg_end'][0]:.1f} on {m['cores']} cores.",
    ]
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--texts",
        default="auto",
        help="auto, a dataset name (sms-spam, bbc-news, reuters, ...) or a data file",
    )
    p.add_argument("--n-texts", type=int, default=2000)
    p.add_argument("--max-chars", type=int, default=None, help="cut each text to this length")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run: 300 texts, 1 repeat")
    p.add_argument("--out", type=Path, default=HERE / "results" / "embedding_throughput.json")
    args = p.parse_args(argv)
    if args.quick:
        args.n_texts, args.repeats = min(args.n_texts, 300), 1
    return args


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    res = run(args, _log)
    res["total_s"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    res["args"]["out"] = str(args.out)
    args.out.write_text(json.dumps(res, indent=2, default=str))
    print(markdown(res))
    _log(f"done in {res['total_s']:.0f} s; JSON in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
