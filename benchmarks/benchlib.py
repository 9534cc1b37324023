"""Measuring helpers of the one-off benchmark scripts (``python -m benchmarks.<script>``).

Timers, robust statistics, CPU load of other processes, memory, the machine's description and
the JSON record every script writes. The synthetic pools and their cached indexes are in
:mod:`benchmarks.asv.suite.synthetic` (shared with the asv suite); the real tasks and their
vectors come from the library (:mod:`benchmarks.discovery` builds them with
``skanchor.experiments`` and the shared embedding cache).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from benchmarks.asv.suite.synthetic import peak_rss_bytes

__all__ = [
    "Timer",
    "code_fingerprint",
    "cpu_snapshot",
    "current_rss_bytes",
    "machine_info",
    "other_load",
    "package_version",
    "peak_rss_bytes",
    "stats",
    "write_result",
]

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# Measuring helpers
# ----------------------------------------------------------------------------------------------


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


def package_version(dist: str) -> str | None:
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
        "hnswlib": package_version("hnswlib"),
        "versions": {
            d: package_version(d)
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
