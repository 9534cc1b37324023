#!/usr/bin/env python
"""AnchorAL anchoring overhead: ``AnchorSubpool.select`` against raw hnswlib ``knn_query``.

For each pool size N of synthetic clustered unit vectors (d = 384 by default) this script
measures, in one run:

1. **Anchoring overhead per query** of ``AnchorSubpool(HNSWIndex, n_anchors=10,
   n_neighbours=50, max_size=1000)`` with two classes, over a simulated active-learning run:
   about 1,000 labelled items to start (100 minority + 900 majority), then each round the 25
   items picked by entropy sampling on AnchorAL's subpool are labelled and the filter selects
   again (``pool_ids`` = the sorted unlabelled ids, as the query strategy passes them). The
   filter's own phase timings (``info["timings"]``) and the wall time of ``select`` are kept;
   medians and IQRs are over rounds, the first (warm-up) round excluded.
2. **The floor**: raw ``hnswlib.Index.knn_query`` on the very same graph (``HNSWIndex.index_``,
   so the same masked items), for exactly the same anchor vectors, ``k = 50`` and the same
   ``ef``; the ratio ours / raw.
3. **Search width trade-off**: for each ``ef`` in ``--ef``, recall@50 of the anchors'
   neighbour lists against :class:`~skanchor.index.ExactIndex` (same masks) and the times;
   the smallest ``ef`` with recall >= 0.95 is reported.
4. **No-Op baseline**: a full-pool entropy query (``LogisticRegression`` fitted on the
   labelled vectors, ``entropy_sampling`` over every unlabelled vector) beside AnchorAL's full
   query (``select`` + entropy sampling on the <= 1,000 subpool vectors).
5. Index build (or cache load) time, process peak memory (``ru_maxrss``), vector bytes and
   graph size.

Each pool size runs in its own child process, so the peak memory is per size. Built HNSW
indexes are cached in ``--cache-dir`` (``HNSWIndex.save`` / ``load``); the vectors are
regenerated from the seed. ``--build-only`` builds the cache and exits (for a long build
under ``nohup``). Timings are reported, never asserted: this is a benchmark, not a test.

Run ``python -m benchmarks.anchoring_overhead --help`` (from the repository root) for the
options.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The pool generator and index cache shared with compare.py, transformer_selection.py,
# discovery.py and the asv suite.
from benchmarks.asv.suite.synthetic import DATA_VERSION, make_pool
from benchmarks.asv.suite.synthetic import cache_key as _cache_key
from benchmarks.asv.suite.synthetic import get_index as _get_index
from benchmarks.asv.suite.synthetic import pool_spec as _pool_spec
from benchmarks.benchlib import (
    Timer,
    code_fingerprint,
    current_rss_bytes,
    machine_info,
    other_load,
    peak_rss_bytes,
    stats,
)
from benchmarks.benchlib import cpu_snapshot as _cpu_snapshot

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

__all__ = ["DATA_VERSION", "current_rss_bytes", "make_pool"]


PHASES = ("anchor_selection", "search", "aggregation")
MICRO = (  # sub-steps timed outside select, on the same inputs
    "vectors_s",
    "kmeans_plusplus_class0_s",
    "kmeans_plusplus_class1_s",
    "class_anchors_s",
    "contains_s",
    "set_mask_unchanged_s",
    "index_search_s",
    "raw_knn_s",
)


def pool_spec(n: int, args: argparse.Namespace) -> dict:
    """The synthetic pool's parameters from this script's options (``synthetic.pool_spec``)."""
    return _pool_spec(
        n,
        dim=args.dim,
        seed=args.seed,
        clusters=args.clusters,
        minority_clusters=args.minority_clusters,
        minority_fraction=args.minority_fraction,
        min_minority=args.min_minority,
        subspace=args.subspace,
        local_spread=args.local_spread,
        noise=args.noise,
    )


def cache_key(spec: dict, args: argparse.Namespace) -> str:
    return _cache_key(spec, args.M, args.ef_construction)


def get_index(X: np.ndarray, spec: dict, args: argparse.Namespace, log) -> tuple:
    """The HNSWIndex over X: loaded from the cache, or built (and cached). Returns
    (index, build_info dict)."""
    return _get_index(
        X,
        spec,
        cache_dir=args.cache_dir,
        M=args.M,
        ef_construction=args.ef_construction,
        ef=args.main_ef,
        build_threads=args.build_threads,
        no_cache=args.no_cache,
        log=log,
    )


# ----------------------------------------------------------------------------------------------
# One pool size (runs in a child process)
# ----------------------------------------------------------------------------------------------


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(
        np.mean([np.intersect1d(f, t).size / k for f, t in zip(found, truth, strict=True)])
    )


def run_size(n: int, args: argparse.Namespace, log) -> dict:
    from sklearn.cluster import kmeans_plusplus
    from sklearn.linear_model import LogisticRegression

    from skanchor.anchors import select_class_anchors
    from skanchor.index import ExactIndex
    from skanchor.strategies import entropy_sampling
    from skanchor.subpool import AnchorSubpool

    res: dict = {"n": n}
    spec = pool_spec(n, args)
    res["spec"] = spec
    with Timer() as t:
        X, y = make_pool(spec)
    res["generate_s"] = t.s
    res["vectors_bytes"] = int(X.nbytes)
    res["rss_after_generate_bytes"] = current_rss_bytes()
    log(f"N={n}: generated {X.shape} in {t.s:.1f} s, {int(y.sum())} minority items")

    index, build = get_index(X, spec, args, log)
    res["build"] = build
    res["graph_file_bytes"] = int(index.index_.index_file_size())
    res["peak_rss_after_index_bytes"] = peak_rss_bytes()
    res["rss_after_index_bytes"] = current_rss_bytes()
    if args.build_only:
        return res

    index.set_params(num_threads=args.query_threads)
    index.set_ef(args.main_ef)
    raw = index.index_  # the underlying hnswlib.Index: same graph, same deleted marks
    k = args.n_neighbours

    with Timer() as t:
        exact = ExactIndex(dim=spec["dim"]).add(X, ids=np.arange(n, dtype=np.int64))
    res["exact_build_s"] = t.s

    # -- initial labelled set ------------------------------------------------------------------
    rng = np.random.default_rng([args.seed, n, 7])
    minority = np.flatnonzero(y == 1)
    majority = np.flatnonzero(y == 0)
    labelled = np.sort(
        np.concatenate(
            [
                rng.choice(minority, args.init_minority, replace=False),
                rng.choice(majority, args.init_majority, replace=False),
            ]
        )
    )
    is_labelled = np.zeros(n, dtype=bool)
    is_labelled[labelled] = True
    exact.mask(labelled)

    anchor_rng = np.random.RandomState(args.seed)  # the filter's stream: we can rewind it
    filt = AnchorSubpool(
        index,
        n_anchors=args.n_anchors,
        n_neighbours=k,
        max_size=args.max_size,
        random_state=anchor_rng,
    )
    model = LogisticRegression(max_iter=2000)

    rounds = []
    efs = list(dict.fromkeys(args.ef))
    for r in range(args.rounds + 1):
        gc.collect()
        rec: dict = {"round": r, "n_labelled": int(labelled.size)}
        snap0 = _cpu_snapshot()
        labels = y[labelled]
        pool_ids = np.flatnonzero(~is_labelled).astype(np.int64)  # sorted unlabelled ids
        model.fit(X[labelled], labels)

        # (1) AnchorAL full query, first select of the round (realistic: masks 25 new items)
        rng_state = anchor_rng.get_state()
        with Timer() as t_sel:
            sub = filt.select(labelled, labels, pool_ids=pool_ids)
        with Timer() as t_ent:
            Xs = X[sub.ids]
            pos, _ = entropy_sampling(model, Xs, args.batch)
        picks = sub.ids[pos]
        rec["select_s"] = t_sel.s
        rec["phases_s"] = dict(sub.info["timings"])
        rec["anchoral_entropy_s"] = t_ent.s
        rec["anchoral_query_s"] = t_sel.s + t_ent.s
        rec["subpool_size"] = len(sub)
        rec["n_candidates"] = int(sub.info["n_candidates"])
        anchors = np.asarray(sub.info["anchors"], dtype=np.int64)
        rec["n_anchors"] = int(anchors.size)
        A = index.vectors(anchors)  # the anchor vectors select searched with

        # ground truth neighbours under the same mask
        with Timer() as t:
            truth, _ = exact.search(A, k)
        rec["exact_search_s"] = t.s

        # (2)+(3) same anchors, same k, same masks: ours vs raw knn_query, per ef
        rec["per_ef"] = {}
        for ef in efs:
            index.set_ef(ef)
            raw_t, sel_t, srch_t, ph = [], [], [], {p: [] for p in PHASES}
            raw_fail = 0
            same_anchors = True
            raw_labels = ours_ids = None
            for _ in range(args.reps):
                raw.set_ef(max(ef, k))
                try:
                    with Timer() as t:
                        raw_labels, _ = raw.knn_query(A, k=k, num_threads=args.query_threads)
                    raw_t.append(t.s)
                except RuntimeError:
                    raw_fail += 1
                anchor_rng.set_state(rng_state)
                with Timer() as t:
                    sub2 = filt.select(labelled, labels, pool_ids=pool_ids)
                sel_t.append(t.s)
                for p in PHASES:
                    ph[p].append(sub2.info["timings"][p])
                same_anchors &= bool(np.array_equal(sub2.info["anchors"], anchors))
                with Timer() as t:
                    ours_ids, _ = index.search(A, k)
                srch_t.append(t.s)
            index.set_ef(args.main_ef)
            rec["per_ef"][str(ef)] = {
                "raw_knn_s": float(np.median(raw_t)) if raw_t else None,
                "raw_failures": raw_fail,
                "select_s": float(np.median(sel_t)),
                "phases_s": {p: float(np.median(v)) for p, v in ph.items()},
                "search_s": float(np.median(srch_t)),
                "recall_ours": recall_at_k(ours_ids, truth),
                "recall_raw": None if raw_labels is None else recall_at_k(raw_labels, truth),
                "same_anchors": same_anchors,
            }
        anchor_rng.set_state(rng_state)  # leave the stream as one select of this round left it
        anchor_rng.randint(np.iinfo(np.int32).max)

        # (4) No-Op: entropy over the whole unlabelled pool (the gather is not timed)
        if r == 0 or r % args.noop_every == 0:
            X_pool = X[pool_ids]
            with Timer() as t:
                entropy_sampling(model, X_pool, args.batch)
            rec["noop_query_s"] = t.s
            del X_pool

        # micro-attribution of the anchor-selection phase (outside select, same inputs)
        # (state as select left it: the labelled set is masked, so set_mask changes nothing)
        micro = {key: [] for key in MICRO}
        for _ in range(args.reps):
            with Timer() as t:
                V = index.vectors(labelled)
            micro["vectors_s"].append(t.s)
            for c in (0, 1):
                Vc = V[labels == c]
                with Timer() as t:
                    kmeans_plusplus(Vc.astype(np.float64), args.n_anchors, random_state=1)
                micro[f"kmeans_plusplus_class{c}_s"].append(t.s)
            with Timer() as t:
                select_class_anchors(labels, V, args.n_anchors, "kmeans++", random_state=1)
            micro["class_anchors_s"].append(t.s)
            with Timer() as t:
                index.contains(labelled)
            micro["contains_s"].append(t.s)
            if hasattr(index, "set_mask"):
                with Timer() as t:
                    index.set_mask(labelled)
                micro["set_mask_unchanged_s"].append(t.s)
            with Timer() as t:
                index.search(A, k)
            micro["index_search_s"].append(t.s)
            with Timer() as t:
                raw.knn_query(A, k=k, num_threads=args.query_threads)
            micro["raw_knn_s"].append(t.s)
        rec["micro_s"] = {key: float(np.median(v)) if v else None for key, v in micro.items()}

        rec["picked_minority"] = int(y[picks].sum())
        rec["other_busy_cores"] = other_load(snap0, _cpu_snapshot())
        rec["loadavg_1m"] = os.getloadavg()[0]
        rounds.append(rec)
        raw_main = rec["per_ef"][str(args.main_ef)]["raw_knn_s"] or float("nan")
        log(
            f"N={n} round {r}: select {1e3 * t_sel.s:.2f} ms "
            f"(raw@{args.main_ef} {1e3 * raw_main:.2f} ms), "
            f"noop {1e3 * rec.get('noop_query_s', float('nan')):.0f} ms, "
            f"picked {rec['picked_minority']} minority, "
            f"other processes busy {rec['other_busy_cores']:.2f} cores"
        )
        # label the picks
        labelled = np.sort(np.concatenate([labelled, picks]))
        is_labelled[picks] = True
        exact.mask(picks)

    res["rounds"] = rounds
    res["summary"] = summarise(rounds, args)
    res["peak_rss_bytes"] = peak_rss_bytes()

    if args.profile:
        res["profile"] = profile_select(filt, anchor_rng, labelled, y, is_labelled, args)
    return res


def run_size_limited(n: int, args: argparse.Namespace, log) -> dict:
    """run_size under ``--blas-threads`` (BLAS and OpenMP pools limited with threadpoolctl).

    On a 2-core machine, OpenMP/BLAS worker threads left spinning by the model fit that
    precedes each select compete with the next select (k-means++ calls BLAS): spikes of
    ~100 ms in anchor selection. One thread everywhere, like the single-threaded
    knn_query, removes that interaction; ``--blas-threads 0`` keeps the library defaults.
    """
    if args.build_only or not args.blas_threads:
        res = run_size(n, args, log)
    else:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=args.blas_threads):
            res = run_size(n, args, log)
    res["blas_threads"] = args.blas_threads
    return res


def summarise(rounds: list, args: argparse.Namespace) -> dict:
    body = rounds[1:] if len(rounds) > 1 else rounds  # drop the warm-up round
    ms = 1e3
    s: dict = {"rounds_used": len(body)}
    s["select_ms"] = stats([ms * r["select_s"] for r in body])
    s["phases_ms"] = {p: stats([ms * r["phases_s"][p] for r in body]) for p in PHASES}
    s["other_ms"] = stats([ms * (r["select_s"] - sum(r["phases_s"].values())) for r in body])
    s["anchoral_query_ms"] = stats([ms * r["anchoral_query_s"] for r in body])
    s["anchoral_entropy_ms"] = stats([ms * r["anchoral_entropy_s"] for r in body])
    s["noop_query_ms"] = stats([ms * r["noop_query_s"] for r in body if "noop_query_s" in r])
    s["subpool_size"] = stats([r["subpool_size"] for r in body])
    s["n_candidates"] = stats([r["n_candidates"] for r in body])
    s["exact_search_ms"] = stats([ms * r["exact_search_s"] for r in body])
    s["other_busy_cores"] = stats([r["other_busy_cores"] for r in body])
    s["micro_ms"] = {
        key: stats([ms * r["micro_s"][key] for r in body if r["micro_s"].get(key) is not None])
        for key in body[0]["micro_s"]
    }
    per_ef = {}
    for ef in dict.fromkeys(args.ef):
        e = [r["per_ef"][str(ef)] for r in body]
        raw = [ms * x["raw_knn_s"] for x in e if x["raw_knn_s"] is not None]
        d = {
            "raw_knn_ms": stats(raw),
            "select_repeat_ms": stats([ms * x["select_s"] for x in e]),
            "phases_repeat_ms": {p: stats([ms * x["phases_s"][p] for x in e]) for p in PHASES},
            "index_search_ms": stats([ms * x["search_s"] for x in e]),
            "recall_ours": stats([x["recall_ours"] for x in e]),
            "recall_raw": stats([x["recall_raw"] for x in e]),
            "raw_failures": int(sum(x["raw_failures"] for x in e)),
            "same_anchors_all_rounds": all(x["same_anchors"] for x in e),
            "ratio_select_repeat_over_raw": stats(
                [x["select_s"] / x["raw_knn_s"] for x in e if x["raw_knn_s"]]
            ),
            "ratio_search_phase_over_raw": stats(
                [x["phases_s"]["search"] / x["raw_knn_s"] for x in e if x["raw_knn_s"]]
            ),
        }
        if ef == args.main_ef:
            d["ratio_select_first_over_raw"] = stats(
                [
                    r["select_s"] / x["raw_knn_s"]
                    for r, x in zip(body, e, strict=True)
                    if x["raw_knn_s"]
                ]
            )
        per_ef[str(ef)] = d
    s["per_ef"] = per_ef
    ok = [
        int(ef)
        for ef, d in per_ef.items()
        if d["recall_ours"].get("n") and d["recall_ours"]["mean"] >= args.target_recall
    ]
    s["smallest_ef_meeting_recall"] = min(ok) if ok else None
    if s["noop_query_ms"].get("n") and s["anchoral_query_ms"].get("n"):
        s["noop_over_anchoral"] = s["noop_query_ms"]["median"] / s["anchoral_query_ms"]["median"]
    return s


def profile_select(filt, anchor_rng, labelled, y, is_labelled, args) -> dict:
    """cProfile of repeated steady-state selects (same anchors) on the final state."""
    labels = y[labelled]
    pool_ids = np.flatnonzero(~is_labelled).astype(np.int64)
    filt.select(labelled, labels, pool_ids=pool_ids)  # sync the mask first
    state = anchor_rng.get_state()
    prof = cProfile.Profile()
    n_calls = args.profile_calls
    for _ in range(n_calls):
        anchor_rng.set_state(state)
        prof.enable()
        filt.select(labelled, labels, pool_ids=pool_ids)
        prof.disable()
    st = pstats.Stats(prof)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({func})",
                "file": file,
                "ncalls_per_select": nc / n_calls,
                "tottime_ms_per_select": 1e3 * tt / n_calls,
                "cumtime_ms_per_select": 1e3 * ct / n_calls,
            }
        )
    by_tot = sorted(rows, key=lambda r: -r["tottime_ms_per_select"])[: args.profile_top]
    by_cum = sorted(rows, key=lambda r: -r["cumtime_ms_per_select"])[: args.profile_top]
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(args.profile_top)
    return {
        "calls": n_calls,
        "note": "cProfile inflates Python-heavy code; compare with the un-profiled timings",
        "top_tottime": by_tot,
        "top_cumtime": by_cum,
        "text": text.getvalue(),
    }


# ----------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------


def _fmt(st: dict, scale: float = 1.0, digits: int = 2) -> str:
    if not st or not st.get("n"):
        return "n/a"
    return f"{st['median'] * scale:.{digits}f} ± {st['iqr'] * scale / 2:.{digits}f}"


def _gib(b) -> str:
    return "n/a" if b is None else f"{b / 2**30:.2f}"


def markdown(results: dict) -> str:
    args = results["args"]
    main_ef = str(args["main_ef"])
    out = []
    out.append(
        f"Times in ms per query (one `select` = {args['n_anchors']} anchors x 2 classes, "
        f"k = {args['n_neighbours']}), median ± IQR/2 over rounds (warm-up round excluded); "
        f"query threads = {args['query_threads']}, build threads = {args['build_threads']}, "
        f"BLAS/OpenMP threads = {args.get('blas_threads') or 'library default'}, "
        f"main ef = {main_ef}.\n"
    )
    out.append(
        "| N | build s | peak RSS GiB (index built/loaded / whole run) | vectors GiB |"
        " graph file GiB | anchor sel. | search |"
        " aggregation | other | **ours (select)** | raw knn_query | **ours / raw** |"
        " No-Op entropy | AnchorAL query | **No-Op / AnchorAL** |"
    )
    out.append("|" + "---|" * 15)
    for r in results["sizes"]:
        if "summary" not in r:
            continue
        s = r["summary"]
        e = s["per_ef"].get(main_ef, {})
        b = r["build"]
        build = f"{b['build_s']:.0f}" + (" (cached)" if b.get("cached") else "")
        out.append(
            f"| {r['n']:,} | {build} | {_gib(r['peak_rss_after_index_bytes'])} /"
            f" {_gib(r['peak_rss_bytes'])} | {_gib(r['vectors_bytes'])}"
            f" | {_gib(r['graph_file_bytes'])}"
            f" | {_fmt(s['phases_ms']['anchor_selection'])} | {_fmt(s['phases_ms']['search'])}"
            f" | {_fmt(s['phases_ms']['aggregation'])} | {_fmt(s['other_ms'])}"
            f" | {_fmt(s['select_ms'])} | {_fmt(e.get('raw_knn_ms', {}))}"
            f" | {_fmt(e.get('ratio_select_first_over_raw', {}))}"
            f" | {_fmt(s['noop_query_ms'], digits=0)} | {_fmt(s['anchoral_query_ms'])}"
            f" | {s.get('noop_over_anchoral', float('nan')):.2f} |"
        )
    out.append("")
    out.append(
        "Search width: recall@k of the anchors' neighbour lists vs ExactIndex (same masks), "
        "and times with the same anchors (steady state: `select` repeated with the anchor "
        "stream rewound, interleaved with raw `knn_query`).\n"
    )
    out.append(
        "| N | ef | recall@k (mean) | raw knn_query | index.search | ours search phase |"
        " ours select | select / raw | search phase / raw |"
    )
    out.append("|" + "---|" * 9)
    for r in results["sizes"]:
        if "summary" not in r:
            continue
        s = r["summary"]
        for ef, e in s["per_ef"].items():
            mark = " ←" if s.get("smallest_ef_meeting_recall") == int(ef) else ""
            rec = e["recall_ours"]
            out.append(
                f"| {r['n']:,} | {ef}{mark} | {rec.get('mean', float('nan')):.4f}"
                f" | {_fmt(e['raw_knn_ms'])} | {_fmt(e['index_search_ms'])}"
                f" | {_fmt(e['phases_repeat_ms']['search'])} | {_fmt(e['select_repeat_ms'])}"
                f" | {_fmt(e['ratio_select_repeat_over_raw'])}"
                f" | {_fmt(e['ratio_search_phase_over_raw'])} |"
            )
    out.append("")
    out.append(
        f"← smallest ef with mean recall@k >= {args['target_recall']}. "
        "Anchor-selection attribution (outside select, same inputs), ms:\n"
    )
    out.append(
        "| N | index.vectors(labelled) | kmeans_plusplus majority (900+ rows) |"
        " kmeans_plusplus minority (100+ rows) | select_class_anchors (both) |"
        " index.contains(labelled) | index.set_mask(labelled), unchanged |"
        " index.search | raw knn_query |"
    )
    out.append("|" + "---|" * 9)
    for r in results["sizes"]:
        if "summary" not in r:
            continue
        m = r["summary"]["micro_ms"]
        out.append(
            f"| {r['n']:,} | "
            + " | ".join(
                _fmt(m.get(key, {}), digits=3 if "contains" in key or "mask" in key else 2)
                for key in MICRO
            )
            + " |"
        )
    out.append("")
    out.append(
        "| N | timed rounds | labelled (first → last) | subpool size | candidates |"
        " minority among picks | AnchorAL entropy on subpool | exact search (ground truth) |"
        " other processes' load (cores) |"
    )
    out.append("|" + "---|" * 9)
    for r in results["sizes"]:
        if "summary" not in r:
            continue
        s = r["summary"]
        body = r["rounds"][1:] or r["rounds"]
        picked = sum(x["picked_minority"] for x in body) / max(1, len(body) * args["batch"])
        out.append(
            f"| {r['n']:,} | {s['rounds_used']} | {body[0]['n_labelled']} → "
            f"{body[-1]['n_labelled']} | {_fmt(s['subpool_size'], digits=0)}"
            f" | {_fmt(s['n_candidates'], digits=0)} | {picked:.0%}"
            f" | {_fmt(s['anchoral_entropy_ms'])} | {_fmt(s['exact_search_ms'], digits=0)}"
            f" | {_fmt(s['other_busy_cores'])} |"
        )
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--rounds", type=int, default=20, help="timed rounds (plus one warm-up)")
    p.add_argument("--reps", type=int, default=5, help="repeats per round for the ef sweep")
    p.add_argument("--ef", type=int, nargs="+", default=[50, 100, 200, 400])
    p.add_argument("--main-ef", type=int, default=200, help="ef of the simulated run (paper)")
    p.add_argument("--out", default=str(HERE / "results" / "anchoring_overhead.json"))
    p.add_argument("--cache-dir", default=str(HERE / ".cache"))
    p.add_argument("--no-cache", action="store_true", help="always build, never save")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    p.add_argument("--build-only", action="store_true", help="build/cache indexes and exit")
    p.add_argument("--profile", action="store_true", help="cProfile steady-state selects")
    p.add_argument("--profile-calls", type=int, default=50)
    p.add_argument("--profile-top", type=int, default=25)
    p.add_argument("--in-process", action="store_true", help="no child process per size")
    # index and filter
    p.add_argument("--M", type=int, default=64)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--build-threads", type=int, default=2)
    p.add_argument("--query-threads", type=int, default=1)
    p.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="BLAS/OpenMP threads (threadpoolctl) in the measuring process; 0 = library default",
    )
    p.add_argument("--n-anchors", type=int, default=10)
    p.add_argument("--n-neighbours", type=int, default=50)
    p.add_argument("--max-size", type=int, default=1000)
    p.add_argument("--batch", type=int, default=25, help="items labelled per round")
    p.add_argument("--init-minority", type=int, default=100)
    p.add_argument("--init-majority", type=int, default=900)
    p.add_argument("--noop-every", type=int, default=1, help="time the No-Op every k rounds")
    p.add_argument("--target-recall", type=float, default=0.95)
    # data
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clusters", type=int, default=300)
    p.add_argument("--minority-clusters", type=int, default=5)
    p.add_argument("--minority-fraction", type=float, default=0.01)
    p.add_argument("--min-minority", type=int, default=400)
    p.add_argument("--subspace", type=int, default=24)
    p.add_argument("--local-spread", type=float, default=0.8)
    p.add_argument("--noise", type=float, default=0.3)
    # internal
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [5_000]
        args.rounds = min(args.rounds, 4)
        args.reps = min(args.reps, 3)
        args.ef = [50, 200]
        args.clusters = 50
        args.profile_calls = min(args.profile_calls, 10)
        args.cache_dir = str(Path(args.cache_dir) / "quick")
    if args.main_ef not in args.ef:
        args.ef = [*args.ef, args.main_ef]
    return args


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker is not None:  # child: one pool size
        res = run_size_limited(args.worker, args, _log)
        Path(args.worker_out).write_text(json.dumps(res))
        return 0

    results = {
        "benchmark": "anchoring_overhead",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine_info(),
        "code": code_fingerprint(),
        "args": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
        "sizes": [],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in args.sizes:
        if args.in_process:
            res = run_size_limited(n, args, _log)
        else:
            tmp = out.with_name(f"{out.stem}.n{n}.part.json")
            cmd = [sys.executable, "-m", "benchmarks.anchoring_overhead", *sys.argv[1:]]
            cmd += ["--worker", str(n), "--worker-out", str(tmp.resolve())]
            proc = subprocess.run(cmd, check=False, cwd=ROOT)
            if proc.returncode != 0:
                _log(f"N={n}: worker failed with exit code {proc.returncode}")
                results["sizes"].append({"n": n, "error": proc.returncode})
                continue
            res = json.loads(tmp.read_text())
            tmp.unlink()
        results["sizes"].append(res)
        out.write_text(json.dumps(results, indent=1))  # keep partial results
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write_text(json.dumps(results, indent=1))
    if not args.build_only:
        print(markdown(results))
    else:
        for r in results["sizes"]:
            b = r.get("build", {})
            print(
                f"N={r['n']}: build {b.get('build_s', float('nan')):.1f} s, "
                f"cached={b.get('cached')}, path={b.get('cache_path')}"
            )
    _log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
