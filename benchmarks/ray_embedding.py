"""Embedding throughput: Ray Data (local Ray, N actors) vs the single-process SentenceEmbedder,
on the same texts and model (the packaged MiniLM by default, CPU).

The texts are written to parquet shards first; the Ray time covers the whole
``embed_parquet`` call (Ray start, actor start-up and model loads, reads, writes), the
single-process time covers ``fit`` + ``transform``. Vectors of both are compared.

    python -m benchmarks.ray_embedding --texts 4000 --workers 2 \
        --out benchmarks/results/ray_embedding.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.benchlib import write_result


def corpus(n: int, seed: int = 0) -> list[str]:
    """Synthetic sentences of 10-60 words (the cost of embedding depends on length only)."""
    rng = np.random.default_rng(seed)
    words = (
        "the a market stocks fell rose team won lost match film was good bad plot actor "
        "money bank government election minister music album band game player season"
    ).split()
    return [" ".join(rng.choice(words, size=rng.integers(10, 60))) for _ in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=4000)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cpus-per-worker", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--model", default=None, help="default: the packaged offline MiniLM")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from skanchor.embed import OFFLINE_MODEL, SentenceEmbedder
    from skanchor.integrations.ray import embed_parquet, read_embeddings

    model = args.model or OFFLINE_MODEL
    texts = corpus(args.texts)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "texts"
        src.mkdir()
        bounds = np.linspace(0, len(texts), args.shards + 1).astype(int)
        for s in range(args.shards):
            part = texts[bounds[s] : bounds[s + 1]]
            pq.write_table(pa.table({"text": part}), src / f"part-{s:04d}.parquet")

        t0 = time.perf_counter()
        single = SentenceEmbedder(model, device="cpu", batch_size=args.batch_size).fit()
        expected = single.transform(texts)
        elapsed = time.perf_counter() - t0
        rows.append(("SentenceEmbedder (1 process)", torch.get_num_threads(), elapsed))

        t0 = time.perf_counter()
        embed_parquet(
            src,
            Path(tmp) / "emb",
            model,
            id_column=None,
            num_workers=args.workers,
            cpus_per_worker=args.cpus_per_worker,
            encode_batch_size=args.batch_size,
        )
        elapsed = time.perf_counter() - t0
        got = np.concatenate([v for _, v in read_embeddings(Path(tmp) / "emb")])
        max_diff = float(np.abs(got - expected).max())
        rows.append((f"embed_parquet (Ray, {args.workers} local actors)", "-", elapsed))

    load_after = os.getloadavg()
    print(f"texts={len(texts)} shards={args.shards} model={model} cpus={os.cpu_count()}")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print(f"max |Ray - single| = {max_diff:.2e}")
    print("| embedder | torch threads | wall (s) | texts/s |")
    print("|---|---:|---:|---:|")
    for name, threads, elapsed in rows:
        print(f"| {name} | {threads} | {elapsed:.1f} | {len(texts) / elapsed:.0f} |")
    write_result(
        args,
        load_before,
        load_after,
        max_abs_diff=max_diff,
        rows=[
            {"embedder": n, "torch_threads": t, "wall_s": e, "texts_per_s": len(texts) / e}
            for n, t, e in rows
        ],
    )


if __name__ == "__main__":
    main()
