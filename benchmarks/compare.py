#!/usr/bin/env python
"""Side-by-side comparison: skanchor's pool filters against the paper's baselines and the peer
libraries, in one run on one machine, with the same embeddings and the same fast classifier.

Methods (``--methods``; all use ``LogisticRegression`` (``--class-weight``) on the same vectors
and query 25 items per round by predictive entropy):

==================== =========================================================================
``skanchor-anchoral`` ``AnchoredQueryStrategy(AnchorSubpool(HNSWIndex, A=10, K=50, M=1000))``
``skanchor-randsub``  ``RandomSubpool(max_size=10_000)`` (the paper's RandSub, M̄ = 10k)
``skanchor-seals``    ``SEALSSubpool(n_neighbours=50)``
``skanchor-noop``     ``FullPool`` (entropy over the whole pool)
``smalltext-anchor``  small-text ``AnchorSubsampling(PredictionEntropy(), subsample_size=1000,
                      num_anchors=10, k=50)`` (its own hnswlib index, built in the first query)
``smalltext-seals``   small-text ``SEALS(PredictionEntropy(), k=50)``
``modal-entropy``     modAL ``uncertainty.entropy_sampling`` on the whole pool
``skactiveml-subsample`` scikit-activeml ``SubSamplingWrapper(UncertaintySampling("entropy"),
                      max_candidates=10_000)``
==================== =========================================================================

Each method runs in its own child process (so peak memory is per method): per-query
selection time at N = 10k / 100k / 1M synthetic clustered vectors (the pools of
:mod:`benchmarks.asv.suite.synthetic`, d = 384; cached under ``benchmarks/.cache``), starting
from 1,000 labelled items, ``--rounds`` rounds of 25. The first query is kept apart (small-text
builds its HNSW index inside it; skanchor's index is built once ahead and its build time is
reported separately); the steady-state median is over the later rounds. Peak RSS
(``ru_maxrss``) of the child and the bytes of vectors + HNSW graph are recorded.

Quality on real tasks (minority found, minority-F1 AUC) is measured by
:mod:`benchmarks.discovery`, which runs small-text's ``AnchorSubsampling`` through the
library's own loop next to the paper's baselines.

A method that fails (e.g. a peer on current numpy / scikit-learn) is reported with its error.
Peers run in ``--peers-python`` (default ``benchmarks/.peers-venv/bin/python`` when it exists,
else this interpreter); see ``benchmarks/install-peers.sh``.

    python -m benchmarks.compare                       # everything (~40-60 min on 2 cores)
    python -m benchmarks.compare --quick               # smoke run (~3 min)
    python -m benchmarks.compare --sizes 10000 100000 --methods skanchor-anchoral smalltext-anchor

Prints markdown tables and writes JSON (``--out``, default
``benchmarks/results/compare.json``). Timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from benchmarks import benchlib
from benchmarks.asv.suite import synthetic
from benchmarks.benchlib import Timer, stats

HERE = Path(__file__).resolve().parent

SKANCHOR = ("skanchor-anchoral", "skanchor-randsub", "skanchor-seals", "skanchor-noop")
PEERS = (
    "smalltext-anchor",
    "smalltext-seals",
    "smalltext-anchor-vec",
    "smalltext-seals-vec",
    "smalltext-anchor-vec-prebuilt",
    "modal-entropy",
    "skactiveml-subsample",
)
METHODS = SKANCHOR + PEERS
#: Peers that build their own HNSW index inside the first query: not run at 1M by default
#: (a 1M x 384 build with M=64, ef_construction=200 takes ~19 min on 2 cores).
BUILDS_IN_QUERY = (
    "smalltext-anchor",
    "smalltext-seals",
    "smalltext-anchor-vec",
    "smalltext-seals-vec",
)
BATCH = 25
A, K, M_SUB, M_RANDSUB = 10, 50, 1000, 10_000


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# The methods: one small adapter each, ``query(labelled_ids, labels, pool_ids) -> ids``.
# ``fit(labelled_ids, labels)`` (not timed) refits the shared classifier for the round.
# ----------------------------------------------------------------------------------------------


#: ``--class-weight``: None (scikit-learn's default) or "balanced", for every method alike.
CLASS_WEIGHT = None


def _lr():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, class_weight=CLASS_WEIGHT)


class Method:
    name = "?"
    library = "?"
    index = None  # a skanchor HNSWIndex when the method uses one (its bytes count in memory)

    def __init__(self, X: np.ndarray, seed: int, index_factory):
        self.X = X
        self.seed = seed
        self.index_factory = index_factory

    def fit(self, labelled: np.ndarray, labels: np.ndarray) -> None:
        self.model = _lr().fit(self.X[labelled], labels)

    def query(self, labelled, labels, pool_ids) -> np.ndarray:
        raise NotImplementedError


class SkanchorMethod(Method):
    library = "skanchor"

    def __init__(self, X, seed, index_factory):
        super().__init__(X, seed, index_factory)
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        from skanchor import AnchoredQueryStrategy, AnchorSubpool, RandomSubpool
        from skanchor.subpool import FullPool, SEALSSubpool

        self.index = index_factory()
        self.index.set_mask(np.empty(0, dtype=np.int64))
        filt = {
            "skanchor-anchoral": lambda: AnchorSubpool(
                self.index, n_anchors=A, n_neighbours=K, max_size=M_SUB, random_state=seed
            ),
            "skanchor-randsub": lambda: RandomSubpool(
                self.index, max_size=M_RANDSUB, random_state=seed
            ),
            "skanchor-seals": lambda: SEALSSubpool(self.index, n_neighbours=K),
            "skanchor-noop": lambda: FullPool(self.index),
        }[self.name]()
        self.strategy = AnchoredQueryStrategy(filt, strategy="entropy", random_state=seed)
        X_ = X
        self._features = FunctionTransformer(lambda ids: X_[np.asarray(ids).ravel()])
        self._make_pipeline = make_pipeline

    def fit(self, labelled, labels):
        super().fit(labelled, labels)
        # the classifier takes ids (the README's recommended pool identity); same fitted LR
        self.pipe = self._make_pipeline(self._features, self.model)

    def query(self, labelled, labels, pool_ids):
        positions, _ = self.strategy(
            self.pipe, pool_ids, n_instances=BATCH, labelled_ids=labelled, labels=labels
        )
        return pool_ids[np.asarray(positions)]


def _skanchor_class(name):
    return type(name, (SkanchorMethod,), {"name": name})


class SmallTextMethod(Method):
    library = "small-text"

    def __init__(self, X, seed, index_factory):
        super().__init__(X, seed, index_factory)
        from scipy.stats import entropy
        from small_text import SklearnClassifier, SklearnDataset
        from small_text.classifiers.classification import EmbeddingMixin
        from small_text.query_strategies import SEALS, AnchorSubsampling, PredictionEntropy

        class VectorisedEntropy(PredictionEntropy):
            """small-text's ``PredictionEntropy`` with ``scipy.stats.entropy`` applied once to
            the (N, C) matrix instead of once per row through ``np.apply_along_axis``: the same
            scores, so the same selections, without the per-row Python overhead (~1 ms/row on
            scipy 1.17). Like the stock class it still predicts the whole dataset."""

            def get_confidence(self, clf, dataset, _indices_unlabeled, _indices_labeled, _y):
                return entropy(clf.predict_proba(dataset), axis=1)

        class EmbeddingSklearnClassifier(SklearnClassifier, EmbeddingMixin):
            """small-text's sklearn adapter; ``embed`` returns the fixed sentence embeddings."""

            def embed(self, data_set, pbar=None, **kw):
                return data_set.x

        self._clf_cls = EmbeddingSklearnClassifier
        self.dataset = SklearnDataset(np.asarray(X), np.zeros(len(X), dtype=np.int64))
        base = VectorisedEntropy() if "-vec" in self.name else PredictionEntropy()
        if self.name.startswith("smalltext-anchor"):
            self.qs = AnchorSubsampling(base, subsample_size=M_SUB, num_anchors=A, k=K)
        else:
            self.qs = SEALS(base, k=K)
        # AnchorSubsampling draws k-means++ from an unseeded RandomState(): not reproducible

        if self.name.endswith("-prebuilt"):
            # Steady state without small-text's in-query index build: hand it the cached
            # hnswlib graph skanchor loads (same vectors, M=64, ef_construction=200; cosine
            # space, which ranks unit vectors as its default l2 space does), with the initial
            # labelled items marked deleted as its own build would have left them out.
            self._prebuilt = index_factory().index_
            self._prebuilt.set_ef(200)  # small-text's default ef

    def fit(self, labelled, labels):
        super().fit(labelled, labels)
        self.clf = self._clf_cls(self.model, num_classes=2)
        if getattr(self, "_prebuilt", None) is not None and self.qs.nn is None:
            for i in labelled.tolist():
                self._prebuilt.mark_deleted(i)
            self.qs.nn = self._prebuilt
            self.qs.indices_unlabeled = set(np.setdiff1d(np.arange(len(self.X)), labelled).tolist())

    def query(self, labelled, labels, pool_ids):
        return np.asarray(
            self.qs.query(self.clf, self.dataset, pool_ids, labelled, labels, n=BATCH, pbar=None)
        )


def _smalltext_class(name):
    return type(name, (SmallTextMethod,), {"name": name})


class ModalEntropy(Method):
    name = "modal-entropy"
    library = "modAL"

    def __init__(self, X, seed, index_factory):
        super().__init__(X, seed, index_factory)
        from modAL.uncertainty import entropy_sampling

        self.fn = entropy_sampling

    def query(self, labelled, labels, pool_ids):
        X_pool = self._X_pool  # gathered before the timer (modAL users keep X_pool around)
        out = self.fn(self.model, X_pool, n_instances=BATCH)
        idx = out[0] if isinstance(out, tuple) else out
        return pool_ids[np.asarray(idx)]

    def prepare(self, pool_ids):
        self._X_pool = self.X[pool_ids]


class SkactivemlSubsample(Method):
    name = "skactiveml-subsample"
    library = "scikit-activeml"

    def __init__(self, X, seed, index_factory):
        super().__init__(X, seed, index_factory)
        from skactiveml.pool import SubSamplingWrapper, UncertaintySampling

        self.qs = SubSamplingWrapper(
            UncertaintySampling(method="entropy", random_state=seed),
            max_candidates=M_RANDSUB,
            random_state=seed,
        )
        self.Xa = np.asarray(X)

    def fit(self, labelled, labels):
        from skactiveml.classifier import SklearnClassifier

        y = np.full(len(self.X), np.nan)
        y[labelled] = labels
        self.y = y
        self.clf = SklearnClassifier(_lr(), classes=[0, 1], random_state=self.seed)
        self.clf.fit(self.X[labelled], labels)
        self.model = self.clf  # what the task loop evaluates (predict on the test split)

    def query(self, labelled, labels, pool_ids):
        idx = self.qs.query(self.Xa, self.y, clf=self.clf, fit_clf=False, batch_size=BATCH)
        return np.asarray(idx, dtype=np.int64)


REGISTRY = {
    **{n: _skanchor_class(n) for n in SKANCHOR},
    **{n: _smalltext_class(n) for n in PEERS if n.startswith("smalltext")},
    "modal-entropy": ModalEntropy,
    "skactiveml-subsample": SkactivemlSubsample,
}

LIB_VERSION = {
    "skanchor": "skanchor",
    "small-text": "small-text",
    "modAL": "modAL-python",
    "scikit-activeml": "scikit-activeml",
}


def _one_query(method, labelled, labels, pool_ids) -> tuple[np.ndarray, float]:
    if hasattr(method, "prepare"):
        method.prepare(pool_ids)
    with Timer() as t:
        picks = method.query(labelled, labels, pool_ids)
    picks = np.unique(np.asarray(picks, dtype=np.int64))
    if picks.size != BATCH or np.isin(picks, labelled).any():
        raise RuntimeError(f"{method.name} returned {picks.size} ids, some labelled or repeated")
    return picks, t.s


# ----------------------------------------------------------------------------------------------
# Workers (child processes)
# ----------------------------------------------------------------------------------------------


def worker_speed(name: str, n: int, args) -> dict:
    """Per-query selection time on the synthetic pool of size n."""
    res = {"method": name, "n": n}
    X, y, spec = synthetic.synthetic_pool(n)
    res["vectors_bytes"] = int(X.nbytes)
    X = np.ascontiguousarray(X)  # read into memory: every method gets the same in-RAM array
    res["rss_after_vectors_bytes"] = benchlib.current_rss_bytes()

    def index_factory():
        index, info = synthetic.get_index(X, spec, build=False, log=_log)
        index.set_params(num_threads=1)
        res["index_load_s"] = info["load_s"]
        res["index_build_s"] = info["build_s"]
        res["graph_file_bytes"] = int(index.index_.index_file_size())
        return index

    cls = REGISTRY[name]
    res["library"] = cls.library
    method = cls(X, args.seed, index_factory)
    res["rss_after_setup_bytes"] = benchlib.current_rss_bytes()

    rng = np.random.default_rng([args.seed, n, 7])
    labelled = np.sort(
        np.concatenate(
            [
                rng.choice(np.flatnonzero(y == 1), 100, replace=False),
                rng.choice(np.flatnonzero(y == 0), 900, replace=False),
            ]
        )
    )
    times, loads, found = [], [], 0
    rounds = args.rounds
    if name in ("smalltext-anchor", "smalltext-seals") and n >= 100_000:
        rounds = min(rounds, args.slow_rounds)  # ~100 s per query at 100k: see the module doc
    for r in range(rounds):
        pool_ids = np.setdiff1d(np.arange(n, dtype=np.int64), labelled)
        method.fit(labelled, y[labelled])
        snap = benchlib.cpu_snapshot()
        picks, s = _one_query(method, labelled, y[labelled], pool_ids)
        loads.append(benchlib.other_load(snap, benchlib.cpu_snapshot()))
        times.append(s)
        found += int(y[picks].sum())
        _log(f"{name} N={n} round {r}: {1e3 * s:.1f} ms")
        labelled = np.sort(np.concatenate([labelled, picks]))
        if r == 0 and s > args.max_first_query_s:
            res["stopped_early"] = f"first query took {s:.0f} s > --max-first-query-s"
            break
    res["first_query_s"] = times[0]
    res["query_s"] = times
    res["steady_query_ms"] = stats([1e3 * t for t in times[1:]])
    res["minority_picked"] = found
    res["other_busy_cores"] = stats(loads)
    res["peak_rss_bytes"] = benchlib.peak_rss_bytes()
    return res


def run_worker(args) -> int:
    from threadpoolctl import threadpool_limits

    global CLASS_WEIGHT
    CLASS_WEIGHT = None if args.class_weight == "none" else args.class_weight
    out = {"versions": {}, "python": sys.executable, "class_weight": args.class_weight}
    for lib, dist in LIB_VERSION.items():
        out["versions"][lib] = benchlib.package_version(dist)
    t0 = time.time()
    try:
        with threadpool_limits(limits=args.blas_threads or None):
            out.update(worker_speed(args.method, args.n, args))
    except Exception as exc:  # a peer that fails is reported, not dropped
        out.update(
            method=args.method,
            n=args.n,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
        _log(f"{args.method}: {out['error']}")
    out["wall_s"] = time.time() - t0
    Path(args.worker_out).write_text(json.dumps(out))
    return 0


# ----------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------


def _child(args, argv_extra: list[str], python: str, tmp: Path, timeout: float) -> dict:
    cmd = [python, "-m", "benchmarks.compare", *argv_extra, "--worker-out", str(tmp.resolve())]
    cmd += ["--seed", str(args.seed), "--rounds", str(args.rounds)]
    cmd += ["--blas-threads", str(args.blas_threads)]
    cmd += ["--max-first-query-s", str(args.max_first_query_s)]
    cmd += ["--slow-rounds", str(args.slow_rounds), "--class-weight", args.class_weight]
    try:
        proc = subprocess.run(cmd, check=False, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0 or not tmp.is_file():
        return {"error": f"worker exited with code {proc.returncode}"}
    res = json.loads(tmp.read_text())
    tmp.unlink()
    return res


def peers_python(args) -> str:
    if args.peers_python:
        return args.peers_python
    venv = HERE / ".peers-venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    if args.report:
        merged = merge([json.loads(Path(f).read_text()) for f in args.report])
        Path(args.out).write_text(json.dumps(merged, indent=1))
        print(markdown(merged))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "benchmark": "compare",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": benchlib.machine_info(),
        "code": benchlib.code_fingerprint(),
        "args": vars(args),
        "speed": [],
    }
    peers_py = peers_python(args)
    results["peers_python"] = peers_py
    tmp = out.with_name(out.stem + ".part.json")

    def run_child(name: str, n: int) -> None:
        """Run one method in its own process; its record joins ``results["speed"]`` (saved)."""
        py = sys.executable if name in SKANCHOR else peers_py
        _log(f"speed: {name} n={n}")
        worker = ["--worker", "speed", "--method", name, "--n", str(n)]
        r = _child(args, worker, py, tmp, args.timeout)
        r.setdefault("method", name)
        r.setdefault("n", n)
        results["speed"].append(r)
        out.write_text(json.dumps(results, indent=1))

    for n in args.sizes:
        spec = synthetic.pool_spec(n)
        if not synthetic.have_index(spec):
            _log(f"N={n}: no cached index; building it (once) ...")
            X, _, _ = synthetic.synthetic_pool(n)
            synthetic.get_index(np.ascontiguousarray(X), spec, log=_log)
        synthetic.synthetic_pool(n)  # make sure the .npy cache exists before the children
        for name in args.methods:
            if n >= 1_000_000 and name in BUILDS_IN_QUERY and not args.peers_1m:
                results["speed"].append(
                    {
                        "method": name,
                        "n": n,
                        "skipped": "builds its own HNSW index inside the first query "
                        "(~19 min for 1M x 384 on 2 cores); run with --peers-1m",
                    }
                )
                continue
            run_child(name, n)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    _log(f"wrote {out}")
    return 0


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------


def _gib(b) -> str:
    return "n/a" if not b else f"{b / 2**30:.2f}"


def _ms(x, digits=1) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:,.{digits}f}"


def markdown(results: dict) -> str:
    lines = []
    speed = results.get("speed", [])
    if speed:
        lines.append(
            "Per-query selection time (ms; query = filter + entropy over what it keeps; the "
            "classifier fit is not timed). *first* = first query of the run (small-text builds "
            "its HNSW index there); *steady* = median (IQR/2) of the later rounds.\n"
        )
        lines.append(
            "| method | N | first query | steady query | vs skanchor-anchoral (steady) |"
            " peak RSS GiB | method's own peak GiB | vectors + graph GiB |"
            " peak / (vectors + graph) | note |"
        )
        lines.append("|" + "---|" * 10)
        ref = {
            r["n"]: r["steady_query_ms"]["median"]
            for r in speed
            if r["method"] == "skanchor-anchoral" and r.get("steady_query_ms", {}).get("n")
        }
        for r in speed:
            n = r["n"]
            if "skipped" in r or "error" in r:
                msg = r.get("skipped") or r["error"]
                lines.append(f"| {r['method']} | {n:,} |" + " - |" * 8 + f" {msg} |")
                continue
            st = r["steady_query_ms"]
            med = st.get("median")
            steady = f"{med:,.1f} ± {st['iqr'] / 2:,.1f}" if st.get("n") else "n/a"
            ratio = f"{med / ref[n]:.1f}x" if med and n in ref else "n/a"
            peak = r["peak_rss_bytes"]
            own = peak - r["rss_after_vectors_bytes"]
            if r.get("graph_file_bytes"):  # a skanchor method: the cached index is loaded
                base = r["vectors_bytes"] + r["graph_file_bytes"]
                mem = f"{_gib(base)} | {peak / base:.2f}"
            else:  # peers build their own index (or none) inside the query
                mem = f"{_gib(r['vectors_bytes'])} (vectors) | n/a"
            note = r.get("stopped_early", "")
            lines.append(
                f"| {r['method']} | {n:,} | {_ms(1e3 * r['first_query_s'])} | {steady} | {ratio}"
                f" | {_gib(peak)} | {_gib(own)} | {mem} | {note} |"
            )
        lines.append("")
    return "\n".join(lines)


def merge(runs: list[dict]) -> dict:
    """Several result files of this script as one (their speed rows, in order)."""
    out = dict(runs[0])
    out["speed"] = [r for run in runs for r in run.get("speed", [])]
    out["merged_from"] = [
        {k: run.get(k) for k in ("command", "started", "finished")} for run in runs
    ]
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument(
        "--class-weight",
        choices=("none", "balanced"),
        default="none",
        help="class_weight of the shared LogisticRegression",
    )
    p.add_argument("--rounds", type=int, default=6, help="speed: rounds per method (1st apart)")
    p.add_argument("--seed", type=int, default=0, help="speed: seed of the initial labelled set")
    p.add_argument("--max-first-query-s", type=float, default=600.0)
    p.add_argument(
        "--slow-rounds", type=int, default=3, help="rounds of stock small-text at N >= 100k"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="per child process, seconds")
    p.add_argument("--peers-1m", action="store_true", help="also run small-text at N >= 1M")
    p.add_argument("--peers-python", default=None)
    p.add_argument(
        "--blas-threads", type=int, default=1, help="BLAS/OpenMP threads in each child; 0 = all"
    )
    p.add_argument("--out", default=str(HERE / "results" / "compare.json"))
    p.add_argument(
        "--report", nargs="+", metavar="JSON", help="merge earlier result files, print, exit"
    )
    p.add_argument("--quick", action="store_true", help="10k only, 3 rounds")
    p.add_argument("--worker", choices=("speed",), help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [10_000]
        args.rounds = min(args.rounds, 3)
    return args


if __name__ == "__main__":
    sys.exit(main())
