"""The results directory: written as results come, safe to kill, never silently overwritten.

Layout::

    RESULTS_DIR/
      experiment.json        configuration, task (name, fingerprint, class counts), versions
      .lock                  held (filelock) while a process writes here
      runs/<run id>/         one folder per method x strategy x classifier x seeds
        manifest.json        run configuration, versions, status, progress, initial set
        rounds.jsonl         one JSON record per completed round, appended and fsync'ed
      summary.csv            written by ``skanchor report`` / at the end of a run
      summary.md
      plots/*.png

A record is only appended once its round is complete (trained, evaluated, items queried and
labelled), so a process killed at any point leaves complete records plus at most one
truncated last line, which :meth:`RunStore.load_rounds` detects and cuts off. Manifests are
replaced atomically (``skanchor._io.atomic_write``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from skanchor._io import atomic_write

__all__ = ["FORMAT", "ResultsDir", "ResultsDirError", "RunStore", "package_versions"]

FORMAT = "skanchor.results"
FORMAT_VERSION = 1
EXPERIMENT_FILE = "experiment.json"
MANIFEST_FILE = "manifest.json"
ROUNDS_FILE = "rounds.jsonl"

_PACKAGES = (
    "skanchor",
    "numpy",
    "scipy",
    "scikit-learn",
    "hnswlib",
    "pandas",
    "torch",
    "transformers",
    "sentence-transformers",
    "skorch",
    "datasets",
)


class ResultsDirError(RuntimeError):
    """A results directory cannot be used as asked (exists, locked, other configuration)."""


def package_versions() -> dict[str, str | None]:
    """Python, platform and the versions of the packages that shape the results."""
    versions: dict[str, str | None] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old or the new file."""

    def write(f: Any) -> None:
        json.dump(data, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")

    atomic_write(path, write, text=True)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ResultsDirError(f"{path} is not valid JSON: {exc}") from None


class RunStore:
    """One run's folder: ``manifest.json`` and the append-only ``rounds.jsonl``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.manifest_path = self.path / MANIFEST_FILE
        self.rounds_path = self.path / ROUNDS_FILE

    @property
    def run_id(self) -> str:
        return self.path.name

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> dict:
        return read_json(self.manifest_path)

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.manifest_path, {**manifest, "updated": _now()})

    def update_manifest(self, **changes: Any) -> dict:
        manifest = {**self.read_manifest(), **changes}
        self.write_manifest(manifest)
        return manifest

    @staticmethod
    def status(manifest: dict, records: list[dict]) -> str | None:
        """The run's status: its manifest's, except ``"damaged"`` for a run marked complete
        whose ``rounds.jsonl`` (``records``) holds fewer rounds than it finished with (rounds
        lost afterwards: the report flags it and a resume goes on from the last one)."""
        status = manifest.get("status")
        if status == "complete" and len(records) < manifest.get("rounds_total", 0):
            return "damaged"
        return status

    def load_rounds(self, *, repair: bool = True) -> list[dict]:
        """The complete round records, in order.

        A last line without its newline or that is not valid JSON is what a kill leaves
        behind: it is dropped (and cut from the file when ``repair``). A bad line before
        the last one means the file was damaged otherwise, which is an error.
        """
        if not self.rounds_path.is_file():
            return []
        data = self.rounds_path.read_bytes()
        lines = data.split(b"\n")
        records: list[dict] = []
        good_bytes = 0
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last and line == b"":
                break
            try:
                if last:  # no newline after it: the write was cut short
                    raise ValueError("truncated")
                record = json.loads(line)
            except ValueError:
                if last or all(not rest.strip() for rest in lines[i + 1 :]):
                    break
                raise ResultsDirError(
                    f"{self.rounds_path}: line {i + 1} is damaged and is not the last line"
                ) from None
            records.append(record)
            good_bytes += len(line) + 1
        if good_bytes != len(data) and repair:
            with open(self.rounds_path, "r+b") as f:
                f.truncate(good_bytes)
                f.flush()
                os.fsync(f.fileno())
        for expected, record in enumerate(records):
            if record.get("round") != expected:
                raise ResultsDirError(
                    f"{self.rounds_path}: record {expected + 1} is round {record.get('round')!r}, "
                    f"expected {expected}"
                )
        return records

    def append_round(self, record: dict) -> None:
        """Append one record as a JSON line, flushed and fsync'ed before returning."""
        line = json.dumps(record, default=_json_default, allow_nan=True) + "\n"
        with open(self.rounds_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def reset(self) -> None:
        """Delete the run's records and manifest (to start it again)."""
        for path in (self.rounds_path, self.manifest_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


class ResultsDir:
    """A results directory (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.experiment_path = self.path / EXPERIMENT_FILE
        self.runs_path = self.path / "runs"

    # -- opening -----------------------------------------------------------------------
    def is_results_dir(self) -> bool:
        return self.experiment_path.is_file()

    def check_writable(self, *, resume: bool, overwrite: bool) -> str:
        """Decide how a run may use this directory, before anything is written.

        Returns ``"new"`` (absent or empty), ``"resume"`` or ``"overwrite"``; raises
        :class:`ResultsDirError` when it holds results and neither flag allows reusing it,
        or when it is not a results directory and is not empty (never deleted).
        """
        if resume and overwrite:
            raise ResultsDirError("choose one of resume and overwrite, not both")
        if self.path.exists() and not self.path.is_dir():
            raise ResultsDirError(f"{self.path} exists and is not a directory")
        if not self.path.exists() or not any(p.name != ".lock" for p in self.path.iterdir()):
            return "new"  # absent, empty, or killed before it held anything
        if not self.is_results_dir():
            raise ResultsDirError(
                f"{self.path} is not empty and holds no skanchor results ({EXPERIMENT_FILE}); "
                "choose another directory (it is never deleted)"
            )
        if resume:
            return "resume"
        if overwrite:
            return "overwrite"
        raise ResultsDirError(
            f"results directory {self.path} already exists: pass --resume to continue its "
            "runs, --overwrite to replace it, or choose another directory"
        )

    def clear(self) -> None:
        """Delete a results directory's contents (only if it is one)."""
        if not self.is_results_dir():
            raise ResultsDirError(f"{self.path} holds no skanchor results; not deleting it")
        # experiment.json goes last: a clear cut short still marks a results directory
        children = sorted(self.path.iterdir(), key=lambda p: p.name == EXPERIMENT_FILE)
        for child in children:
            if child.name == ".lock":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the directory while writing to it.

        A second process (or a second holder in this one) is refused at once with a
        :class:`ResultsDirError`. The lock is the operating system's (``filelock``: ``flock``
        on POSIX, ``msvcrt.locking`` on Windows), so it is released if the holder is killed.
        """
        from filelock import FileLock, Timeout

        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path / ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise ResultsDirError(f"another skanchor process is writing to {self.path}") from None
        try:
            yield
        finally:
            lock.release()

    # -- experiment record ---------------------------------------------------------------
    def read_experiment(self) -> dict:
        data = read_json(self.experiment_path)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ResultsDirError(f"{self.experiment_path} is not a skanchor results file")
        if data.get("format_version") != FORMAT_VERSION:
            raise ResultsDirError(
                f"{self.experiment_path} has format version {data.get('format_version')!r}; "
                f"this skanchor reads {FORMAT_VERSION}"
            )
        return data

    def write_experiment(self, data: dict) -> None:
        write_json_atomic(
            self.experiment_path,
            {"format": FORMAT, "format_version": FORMAT_VERSION, **data, "updated": _now()},
        )

    # -- runs ----------------------------------------------------------------------------
    def run(self, run_id: str) -> RunStore:
        return RunStore(self.runs_path / run_id)

    def runs(self) -> list[RunStore]:
        """Every run folder that has a manifest, sorted by run id."""
        if not self.runs_path.is_dir():
            return []
        return [
            RunStore(p) for p in sorted(self.runs_path.iterdir()) if (p / MANIFEST_FILE).is_file()
        ]
