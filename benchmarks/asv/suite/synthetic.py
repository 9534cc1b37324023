"""Synthetic pools and their cached HNSW indexes: the fixtures every speed benchmark shares.

The asv suite (this package) and the one-off scripts (``python -m benchmarks.compare``,
``benchmarks.anchoring_overhead``, ``benchmarks.transformer_selection``,
``benchmarks.discovery poolsize``) import this one module, so they measure the same pools and
load the same cached indexes. It needs only numpy and skanchor, as asv requires of its suite.

Everything expensive lives in :data:`CACHE_DIR` (``benchmarks/.cache``, git-ignored;
``$SKANCHOR_BENCH_CACHE`` moves it):

- ``hnsw_n{N}_d384_M64_efc200_seed0_c300_v1/``: a saved :class:`skanchor.HNSWIndex` over the
  synthetic pool of size N (``HNSWIndex.save``; a 1M build takes ~19 min on 2 cores);
- ``vectors_n{N}_..._v1.npy`` / ``labels_...npy``: the synthetic vectors themselves, so that
  readers can ``np.load(..., mmap_mode="r")`` them instead of regenerating 1M rows.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from skanchor._io import atomic_path

CACHE_DIR = Path(
    os.environ.get("SKANCHOR_BENCH_CACHE", Path(__file__).resolve().parents[2] / ".cache")
)

DATA_VERSION = 1  # bump when make_pool changes: cache keys include it


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


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
    for f, a in ((fx, X), (fy, y)):
        with atomic_path(f) as tmp:
            np.save(tmp, a)
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
    log: Callable[[str], None] | None = None,
) -> tuple:
    """The :class:`~skanchor.HNSWIndex` over ``X``: loaded from the cache, or built (and
    cached). Returns ``(index, build_info)``. With ``build=False`` a missing cache raises
    ``FileNotFoundError`` instead of building (the asv suite never builds the 1M index)."""
    from skanchor.index import HNSWIndex

    log = log or (lambda msg: None)
    path = index_path(spec, cache_dir=cache_dir, M=M, ef_construction=ef_construction)
    info_file = path / "build_info.json"
    if not no_cache and info_file.is_file():
        t0 = time.perf_counter()
        index = HNSWIndex.load(path)
        load_s = time.perf_counter() - t0
        info = json.loads(info_file.read_text())
        info.update(cached=True, load_s=load_s, cache_path=str(path))
        log(f"loaded cached index {path} in {load_s:.1f} s (built in {info['build_s']:.1f} s)")
        return index, info
    if not build:
        raise FileNotFoundError(f"no cached index at {path}")
    log(
        f"building HNSW (N={spec['n']}, M={M}, ef_construction={ef_construction}, "
        f"num_threads={build_threads}) ..."
    )
    t0 = time.perf_counter()
    index = HNSWIndex(
        dim=spec["dim"],
        M=M,
        ef_construction=ef_construction,
        ef=ef,
        num_threads=build_threads,
        random_state=0,
    ).add(np.asarray(X), ids=np.arange(len(X), dtype=np.int64))
    build_s = time.perf_counter() - t0
    info = {
        "build_s": build_s,
        "build_threads": build_threads,
        "M": M,
        "ef_construction": ef_construction,
        "n": spec["n"],
        "dim": spec["dim"],
        "peak_rss_bytes_after_build": peak_rss_bytes(),
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "spec": spec,
    }
    log(f"built in {build_s:.1f} s")
    if not no_cache:
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        index.save(tmp)
        (tmp / "build_info.json").write_text(json.dumps(info, indent=2))
        shutil.rmtree(path, ignore_errors=True)
        tmp.rename(path)
        log(f"saved to {path}")
    info.update(cached=False, load_s=None, cache_path=str(path))
    return index, info
