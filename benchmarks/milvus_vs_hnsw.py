"""Query time and recall@k of HNSWIndex (hnswlib) vs MilvusIndex (Milvus Lite), and the cost
of the two masking modes of MilvusIndex (scalar-field filter vs deletion).

Synthetic clustered unit vectors; recall is measured against ExactIndex on the live items,
after masking ``--masked`` random items (the labelled set). Both engines get the same HNSW
parameters. Prints a markdown table and writes JSON.

    python -m benchmarks.milvus_vs_hnsw --n 100000 --dim 64 \
        --out benchmarks/results/milvus_100k.json
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.benchlib import write_result
from skanchor.index import ExactIndex, HNSWIndex, MilvusIndex


def clustered(n: int, dim: int, n_clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    labels = rng.integers(0, n_clusters, n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32)


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(
        np.mean([np.intersect1d(g, w).size / w.size for g, w in zip(got, want, strict=True)])
    )


def timed_search(index, queries: np.ndarray, k: int, repeats: int) -> tuple[float, np.ndarray]:
    index.search(queries[:1], k)  # warm-up
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        ids, _ = index.search(queries, k)
        best = min(best, time.perf_counter() - start)
    return best / len(queries) * 1e3, ids


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--M", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=100)
    p.add_argument("--ef", type=int, default=200)
    p.add_argument("--masked", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="hnswlib threads")
    p.add_argument("--engines", default="hnsw,filter,delete", help="subset to run")
    p.add_argument("--out", type=Path)
    args = p.parse_args()

    X = clustered(args.n, args.dim, 100, seed=0)
    rng = np.random.default_rng(1)
    masked = rng.choice(args.n, args.masked, replace=False)
    queries = X[rng.choice(args.n, args.queries, replace=False)] + 0.1 * rng.normal(
        size=(args.queries, args.dim)
    ).astype(np.float32)

    exact = ExactIndex().add(X)
    exact.mask(masked)
    want, _ = exact.search(queries, args.k)
    rows = []
    load_before = os.getloadavg()

    hp = {"M": args.M, "ef_construction": args.ef_construction, "ef": args.ef}
    engines = args.engines.split(",")
    if "hnsw" in engines:
        rows.append(run_hnsw(X, masked, queries, want, hp, args))
    with tempfile.TemporaryDirectory() as tmp:
        for masking in ("filter", "delete"):
            if masking in engines:
                rows.append(run_milvus(X, masked, queries, want, hp, args, tmp, masking))
    report(args, rows, load_before)


def run_hnsw(X, masked, queries, want, hp, args):
    t0 = time.perf_counter()
    hnsw = HNSWIndex(num_threads=args.threads, **hp).add(X)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    hnsw.mask(masked)
    mask_s = time.perf_counter() - t0
    ms, got = timed_search(hnsw, queries, args.k, args.repeats)
    return ("HNSWIndex (hnswlib)", "mark_deleted", build, mask_s, ms, recall(got, want))


def run_milvus(X, masked, queries, want, hp, args, tmp, masking):
    uri = os.path.join(tmp, f"{masking}.db")
    t0 = time.perf_counter()
    milvus = MilvusIndex(uri, masking=masking, batch_size=20_000, **hp).add(X)
    milvus.client_.flush(milvus.collection_name)
    milvus.search(queries[:1], args.k)  # first search builds pending segment indexes
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    milvus.mask(masked)
    mask_s = time.perf_counter() - t0
    ms, got = timed_search(milvus, queries, args.k, args.repeats)
    milvus.close()
    return ("MilvusIndex (Milvus Lite)", masking, build, mask_s, ms, recall(got, want))


def report(args, rows, load_before):
    load_after = os.getloadavg()
    header = (
        f"n={args.n:,} dim={args.dim} queries={args.queries} k={args.k} M={args.M} "
        f"ef_construction={args.ef_construction} ef={args.ef} masked={args.masked}"
    )
    print(header)
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    print("| index | masking | build+insert (s) | mask (s) | query (ms/query) | recall@k |")
    print("|---|---|---:|---:|---:|---:|")
    for name, masking, build, mask_s, ms, rec in rows:
        print(f"| {name} | {masking} | {build:.1f} | {mask_s:.2f} | {ms:.2f} | {rec:.3f} |")
    keys = ["index", "masking", "build_s", "mask_s", "query_ms", "recall"]
    write_result(
        args, load_before, load_after, rows=[dict(zip(keys, r, strict=True)) for r in rows]
    )


if __name__ == "__main__":
    main()
